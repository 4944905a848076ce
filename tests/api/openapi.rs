//! The committed document is what the server serves. Regenerate it with
//! `cargo run -p confab-server -- openapi > openapi/openapi.json`
//! (or run this test with `UPDATE_OPENAPI=1`).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn committed_openapi_matches_the_served_document() {
    let app = spawn_app().await;
    let served = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        let pretty = serde_json::to_string_pretty(&served).unwrap();
        std::fs::write(path, format!("{pretty}\n")).unwrap();
    }
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(path).expect("openapi/openapi.json is committed"),
    )
    .expect("openapi/openapi.json is JSON");
    assert!(
        committed == served,
        "openapi/openapi.json is stale: run `cargo run -p confab-server -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn every_documented_operation_has_responses_and_every_route_is_documented() {
    let app = spawn_app().await;
    let doc = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/api/v1/setup",
        "/api/v1/auth/register",
        "/api/v1/auth/verification-codes",
        "/api/v1/auth/login",
        "/api/v1/auth/token",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/check",
        "/api/v1/auth/password-reset",
        "/api/v1/me",
        "/api/v1/me/password",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{id}",
        "/api/v1/admin/users/{id}/revoke-sessions",
        "/api/v1/settings",
        "/api/v1/admin/settings",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["password"]["flows"]["password"]["tokenUrl"],
        "/api/v1/auth/token"
    );
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
}

/// Every `(METHOD, path)` the document describes.
fn documented(doc: &serde_json::Value) -> std::collections::BTreeSet<(String, String)> {
    let mut operations = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[tokio::test]
async fn the_document_describes_exactly_the_mounted_routes() {
    let app = spawn_app().await;
    let doc = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let documented = documented(&doc);
    let mounted: std::collections::BTreeSet<(String, String)> =
        confab_server::routes::mounted().into_iter().collect();
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not documented: {undocumented:?}"
    );
    assert!(
        unmounted.is_empty(),
        "documented but not mounted: {unmounted:?}"
    );
    assert!(mounted.len() > 90, "{}", mounted.len());
}

#[tokio::test]
async fn every_operation_has_a_unique_operation_id_and_a_tag() {
    let app = spawn_app().await;
    let doc = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: operationId {id} is not camelCase"
            );
            let tags = operation["tags"].as_array();
            assert!(
                tags.is_some_and(|t| !t.is_empty()),
                "{method} {path} has no tag"
            );
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn error_codes_are_an_enum_clients_can_switch_on() {
    let app = spawn_app().await;
    let doc = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let codes = doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
        .as_array()
        .expect("the error code is an enum");
    for code in [
        "invalid_credentials",
        "daily_limit_reached",
        "payment_gateway_error",
        "internal_error",
    ] {
        assert!(
            codes.iter().any(|c| c == code),
            "{code} missing from {codes:?}"
        );
    }
    assert_eq!(codes.len(), confab_core::Code::ALL.len());
}

/// Every `$ref` in the document names a schema it holds (generators refuse the file otherwise).
#[tokio::test]
async fn every_reference_resolves() {
    fn walk(node: &Value, schemas: &serde_json::Map<String, Value>, dangling: &mut Vec<String>) {
        match node {
            Value::Object(fields) => {
                if let Some(Value::String(target)) = fields.get("$ref") {
                    let name = target.trim_start_matches("#/components/schemas/");
                    if !schemas.contains_key(name) {
                        dangling.push(target.clone());
                    }
                }
                fields
                    .values()
                    .for_each(|value| walk(value, schemas, dangling));
            }
            Value::Array(items) => items
                .iter()
                .for_each(|value| walk(value, schemas, dangling)),
            _ => {}
        }
    }
    let app = spawn_app().await;
    let doc = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("the document has schemas");
    let mut dangling = Vec::new();
    walk(&doc, schemas, &mut dangling);
    assert!(dangling.is_empty(), "unresolved references: {dangling:?}");
}

/// Every schema and every property of the document says what it is.
#[tokio::test]
async fn every_schema_and_property_is_described() {
    let app = spawn_app().await;
    let doc = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let described = |node: &Value| node["description"].as_str().is_some_and(|d| !d.is_empty());
    let mut bare = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        if !described(schema) {
            bare.push(name.clone());
        }
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if !described(property) {
                bare.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(bare.is_empty(), "undescribed: {bare:?}");
}
