//! The error answers every route of a kind can give, added to each operation from what the
//! operation itself declares (its security, parameters and body), so no route can forget one.
//! A route that already lists a status keeps its own description; the common codes missing
//! from it are appended.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};

/// What an operation declares, as far as its common errors go.
struct Traits {
    /// Needs a bearer credential (not optional).
    authenticated: bool,
    /// Accepts a user's API key (`sk-…`) as well as an access token.
    takes_api_keys: bool,
    admin: bool,
    has_query: bool,
    has_path: bool,
    /// The body's media type, if it has one.
    body: Option<String>,
}

fn schemes(requirement: &SecurityRequirement) -> Vec<String> {
    match serde_json::to_value(requirement) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

fn traits(path: &str, operation: &Operation) -> Traits {
    let requirements = operation.security.as_deref().unwrap_or_default();
    let named: Vec<Vec<String>> = requirements.iter().map(schemes).collect();
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let located = |place: ParameterIn| {
        parameters
            .iter()
            .any(|parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == place))
    };
    let body = operation.request_body.as_ref().and_then(|body| match body {
        RefOr::T(body) => body.content.keys().next().cloned(),
        RefOr::Ref(_) => None,
    });
    Traits {
        authenticated: !named.is_empty() && named.iter().all(|names| !names.is_empty()),
        takes_api_keys: named.iter().flatten().any(|name| name == "apiKey"),
        admin: path.starts_with("/api/v1/admin/"),
        has_query: located(ParameterIn::Query),
        has_path: located(ParameterIn::Path),
        body,
    }
}

/// The statuses and codes an operation with these traits can answer with.
fn common(traits: &Traits) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut answers: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    let mut add = |status: &'static str, codes: &[&'static str]| match answers
        .iter_mut()
        .find(|(known, _)| *known == status)
    {
        Some((_, known)) => known.extend(codes),
        None => answers.push((status, codes.to_vec())),
    };
    // A raw body (a gateway's notify) is read as bytes: nothing about it is refused up front.
    if let Some(media) = traits
        .body
        .as_deref()
        .filter(|media| *media != "text/plain")
    {
        let syntax = if media == "application/json" {
            "invalid_json"
        } else {
            "invalid_body"
        };
        add("400", &[syntax, "invalid_body"]);
        add("413", &["payload_too_large"]);
        add("415", &["unsupported_media_type"]);
    }
    if traits.has_query {
        add("400", &["invalid_query"]);
    }
    if traits.has_path {
        add("404", &["not_found"]);
    }
    if traits.authenticated {
        add(
            "401",
            &[
                "unauthorized",
                "invalid_token",
                "token_expired",
                "token_revoked",
            ],
        );
        add("403", &["account_disabled"]);
        if traits.takes_api_keys {
            add(
                "401",
                &["invalid_api_key", "api_key_expired", "api_key_disabled"],
            );
            add("403", &["ip_not_allowed", "chat_not_allowed"]);
            add("429", &["daily_limit_reached"]);
        } else {
            add("403", &["api_key_not_allowed"]);
        }
        if traits.admin {
            add("403", &["forbidden"]);
        }
    }
    answers
}

fn error_response(codes: &[&str]) -> Response {
    ResponseBuilder::new()
        .description(listed(codes))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn listed(codes: &[&str]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for code in codes {
        if !unique.contains(code) {
            unique.push(code);
        }
    }
    unique
        .iter()
        .map(|code| format!("`{code}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn complete(path: &str, operation: &mut Operation) {
    for (status, codes) in common(&traits(path, operation)) {
        match operation.responses.responses.get_mut(status) {
            Some(RefOr::T(response)) => {
                let missing: Vec<&str> = codes
                    .into_iter()
                    .filter(|code| !response.description.contains(&format!("`{code}`")))
                    .collect();
                if !missing.is_empty() {
                    response.description =
                        format!("{}; also {}", response.description, listed(&missing));
                }
            }
            Some(RefOr::Ref(_)) => {}
            None => {
                operation
                    .responses
                    .responses
                    .insert(status.to_owned(), RefOr::T(error_response(&codes)));
            }
        }
    }
}

/// Adds the common error answers to every operation of the document.
pub fn add_to(openapi: &mut OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete(path, operation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(traits: &Traits) -> Vec<&'static str> {
        let mut statuses: Vec<_> = common(traits)
            .into_iter()
            .map(|(status, _)| status)
            .collect();
        statuses.sort_unstable();
        statuses
    }

    #[test]
    fn an_admin_write_with_a_body_and_an_id_lists_every_kind_of_refusal() {
        let traits = Traits {
            authenticated: true,
            takes_api_keys: false,
            admin: true,
            has_query: false,
            has_path: true,
            body: Some("application/json".into()),
        };
        assert_eq!(
            statuses(&traits),
            ["400", "401", "403", "404", "413", "415"]
        );
        let codes: Vec<_> = common(&traits)
            .into_iter()
            .flat_map(|(_, codes)| codes)
            .collect();
        for code in [
            "invalid_json",
            "forbidden",
            "api_key_not_allowed",
            "not_found",
        ] {
            assert!(codes.contains(&code), "{code} missing from {codes:?}");
        }
    }

    #[test]
    fn a_public_read_lists_nothing_and_a_key_route_lists_key_refusals() {
        let public = Traits {
            authenticated: false,
            takes_api_keys: false,
            admin: false,
            has_query: false,
            has_path: false,
            body: None,
        };
        assert!(common(&public).is_empty());
        let keyed = Traits {
            authenticated: true,
            takes_api_keys: true,
            ..public
        };
        assert_eq!(statuses(&keyed), ["401", "403", "429"]);
    }
}
