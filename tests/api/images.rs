//! Images: generation through OpenAI, Azure and Stability, edits (multipart), uploads and the
//! stored files, against fake upstreams speaking each provider's wire format.

use base64::Engine;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::chats::{add_key, add_model, app, chat_model, usage_records};
use crate::fake_upstream::{Behavior, FakeUpstream, PNG_1X1, form_field};
use crate::helpers::{Session, TestApp, expect_error, expect_status, spawn_app_with};

const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01";
const JPEG: &[u8] = &[
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1,
];
const WEBP: &[u8] = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10";

fn b64_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

async fn generate(app: &TestApp, user: &Session, body: Value) -> reqwest::Response {
    app.post("/api/v1/images/generations", body, Some(&user.access))
        .await
}

async fn post_form(app: &TestApp, path: &str, form: Form, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn file(bytes: &'static [u8], name: &str) -> Part {
    Part::bytes(bytes).file_name(name.to_owned())
}

/// A dall-e-3 model (40 credits an image) served by an OpenAI key on `fake`.
async fn dalle(app: &TestApp, admin: &Session, fake: &FakeUpstream) {
    add_model(
        app,
        admin,
        json!({"name": "dall-e-3", "modality": "image", "price_per_image": 40}),
    )
    .await;
    add_key(
        app,
        admin,
        json!({"name": "oa", "kind": "openai", "base_url": fake.url,
        "api_key": "sk-images-0123456789", "models": ["dall-e-3", "dall-e-2"]}),
    )
    .await;
}

/// Fetches a stored image by its URL, without a token.
async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(url).send().await.unwrap()
}

#[tokio::test]
async fn openai_images_are_stored_and_served_by_url_or_inline() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    dalle(&app, &admin, &fake).await;
    let user = app.funded_user(&admin, "painter", 1_000_000).await;

    let body = expect_status(
        generate(
            &app,
            &user,
            json!({"model": "dall-e-3", "prompt": "a lighthouse at dusk",
            "n": 2, "size": "1024x1024", "quality": "hd"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["model"], "dall-e-3");
    assert_eq!(body["usage"], json!({"images": 2, "cost": 80}));
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["revised_prompt"], "a lighthouse at dusk");
    assert_eq!(data[0]["content_type"], "image/png");
    assert!(data[0].get("b64_json").is_none());
    assert_ne!(data[0]["file_id"], data[1]["file_id"]);
    let id = data[0]["file_id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "128 random bits in hex");
    let url = data[0]["url"].as_str().unwrap();
    assert_eq!(url, app.url(&format!("/files/{id}")));

    // The provider was asked for the bytes (no short-lived provider URLs are handed out).
    let sent = fake.requests().last().unwrap().json();
    assert_eq!(sent["model"], "dall-e-3");
    assert_eq!(sent["n"], 2);
    assert_eq!(sent["size"], "1024x1024");
    assert_eq!(sent["quality"], "hd");
    assert_eq!(sent["response_format"], "b64_json");

    // Served without a token, with its type, cacheable forever, revalidated by its hash.
    let served = fetch(&app, url).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert!(
        served.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = served.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG_1X1);
    let again = app
        .client
        .get(url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let inline = expect_status(
        generate(
            &app,
            &user,
            json!({"model": "dall-e-3", "prompt": "a fox",
            "response_format": "b64_json"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let image = &inline["data"][0];
    assert_eq!(b64_decode(image["b64_json"].as_str().unwrap()), PNG_1X1);
    // Inline images are kept too.
    assert_eq!(
        fetch(&app, image["url"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );

    let records = usage_records(&app, &admin, "endpoint=images", 2).await;
    assert!(records.iter().all(|r| r["model"] == "dall-e-3"
        && r["status"] == "complete"
        && r["user_id"] == user.user_id));
    let mut counts: Vec<(i64, i64)> = records
        .iter()
        .map(|r| (r["images"].as_i64().unwrap(), r["cost"].as_i64().unwrap()))
        .collect();
    counts.sort();
    assert_eq!(counts, [(1, 40), (2, 80)]);

    for bad in [
        "0123",
        "../../confab.db",
        "ffffffffffffffffffffffffffffffff",
    ] {
        expect_error(
            app.get(&format!("/files/{bad}"), None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn stability_and_azure_generate_in_their_own_wire_formats() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let stability = FakeUpstream::start().await;
    let azure = FakeUpstream::start().await;
    add_model(
        &app,
        &admin,
        json!({"name": "sd3-large", "modality": "image", "price_per_image": 65}),
    )
    .await;
    add_model(
        &app,
        &admin,
        json!({"name": "sdxl", "modality": "image", "price_per_image": 5,
        "upstream_names": {"stability": "stable-diffusion-xl-1024-v1-0"}}),
    )
    .await;
    add_model(
        &app,
        &admin,
        json!({"name": "dall-e-3", "modality": "image", "price_per_image": 40}),
    )
    .await;
    add_key(
        &app,
        &admin,
        json!({"name": "stab", "kind": "stability", "base_url": stability.url,
        "api_key": "sk-stability-0123456789", "models": ["sd3-large", "sdxl"]}),
    )
    .await;
    add_key(
        &app,
        &admin,
        json!({"name": "az", "kind": "azure_openai", "base_url": azure.url,
        "api_key": "azure-secret-0123456789", "api_version": "2024-10-21",
        "models": ["dall-e-3"], "deployments": {"dall-e-3": "paint"}}),
    )
    .await;
    let user = app.funded_user(&admin, "painter", 1_000_000).await;

    // Stable Image (v2beta): one multipart call per image.
    let body = expect_status(
        generate(
            &app,
            &user,
            json!({"model": "sd3-large", "prompt": "a red kite",
            "negative_prompt": "blurry", "aspect_ratio": "16:9", "n": 2, "seed": 7}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["usage"]["cost"], 130);
    let sent = stability.requests();
    assert_eq!(sent.len(), 2);
    let call = &sent[0];
    assert_eq!(call.path, "/v2beta/stable-image/generate/sd3");
    assert_eq!(call.bearer().as_deref(), Some("sk-stability-0123456789"));
    assert!(
        call.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );
    assert_eq!(
        form_field(&call.body, "prompt").as_deref(),
        Some("a red kite")
    );
    assert_eq!(
        form_field(&call.body, "negative_prompt").as_deref(),
        Some("blurry")
    );
    assert_eq!(
        form_field(&call.body, "aspect_ratio").as_deref(),
        Some("16:9")
    );
    assert_eq!(
        form_field(&call.body, "model").as_deref(),
        Some("sd3-large")
    );
    let served = fetch(&app, body["data"][0]["url"].as_str().unwrap()).await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG_1X1);

    // The v1 text-to-image API: JSON, base64 artifacts with their seeds.
    let body = expect_status(
        generate(
            &app,
            &user,
            json!({"model": "sdxl", "prompt": "a castle", "n": 3,
            "size": "1024x1024"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let seeds: Vec<u64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [1, 2, 3]);
    let call = stability.requests().last().unwrap().clone();
    assert_eq!(
        call.path,
        "/v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image"
    );
    let sent = call.json();
    assert_eq!(sent["samples"], 3);
    assert_eq!(sent["width"], 1024);
    assert_eq!(sent["text_prompts"][0]["text"], "a castle");

    // Azure: the deployment path, api-version and the api-key header.
    expect_status(
        generate(
            &app,
            &user,
            json!({"model": "dall-e-3", "prompt": "a harbour"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let call = azure.requests().last().unwrap().clone();
    assert_eq!(call.path, "/openai/deployments/paint/images/generations");
    assert!(call.query.contains("api-version=2024-10-21"));
    assert_eq!(call.header("api-key"), Some("azure-secret-0123456789"));
    assert!(call.header("authorization").is_none());
}

#[tokio::test]
async fn bad_image_requests_get_exact_errors() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    dalle(&app, &admin, &fake).await;
    chat_model(&app, &admin).await;
    let user = app.funded_user(&admin, "painter", 1_000_000).await;

    let cases = [
        (
            json!({"model": "dall-e-3", "prompt": "x", "n": 11}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("n"),
        ),
        (
            json!({"model": "dall-e-3", "prompt": "x", "n": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("n"),
        ),
        (
            json!({"model": "dall-e-3", "prompt": "   "}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("prompt"),
        ),
        (
            json!({"model": "dall-e-3", "prompt": "x", "size": "huge"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("size"),
        ),
        (
            json!({"model": "dall-e-3", "prompt": "x", "size": "8192x8192"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("size"),
        ),
        (
            json!({"model": "dall-e-3", "prompt": "x", "aspect_ratio": "7:3"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("aspect_ratio"),
        ),
        (
            json!({"model": "gpt-4o-mini", "prompt": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("model"),
        ),
        (
            json!({"model": "", "prompt": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("model"),
        ),
        (
            json!({"model": "midjourney", "prompt": "x"}),
            StatusCode::NOT_FOUND,
            "model_not_found",
            Some("model"),
        ),
        (
            json!({"model": "dall-e-3", "prompt": "x", "response_format": "png"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("response_format"),
        ),
        (
            json!({"model": "dall-e-3", "prompt": "x", "n": "two"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("n"),
        ),
        (
            json!({"prompt": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("model"),
        ),
    ];
    for (body, status, code, param) in cases {
        let error = expect_error(generate(&app, &user, body.clone()).await, status, code).await;
        assert_eq!(error["error"]["param"], json!(param), "{body}");
    }
    // The same rules on the OpenAI-compatible route.
    expect_error(
        app.post(
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "x", "n": 20}),
            Some(&user.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // An image model is not a chat model.
    let error = expect_error(
        app.post(
            "/v1/chat/completions",
            json!({"model": "dall-e-3",
            "messages": [{"role": "user", "content": "hi"}]}),
            Some(&user.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["param"], "model");
    expect_error(
        app.post(
            "/api/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "x"}),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Nothing reached the provider.
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn a_failing_image_provider_falls_over_then_fails_uncharged() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let first = FakeUpstream::start().await;
    let second = FakeUpstream::start().await;
    add_model(
        &app,
        &admin,
        json!({"name": "dall-e-3", "modality": "image", "price_per_image": 40}),
    )
    .await;
    for (name, fake, priority) in [("first", &first, 10), ("second", &second, 0)] {
        add_key(&app, &admin, json!({"name": name, "kind": "openai", "base_url": fake.url,
            "api_key": format!("sk-{name}-0123456789"), "models": ["dall-e-3"], "priority": priority}))
        .await;
    }
    let user = app.funded_user(&admin, "painter", 1_000_000).await;

    first.behave(Behavior::Status(500));
    let body = expect_status(
        generate(
            &app,
            &user,
            json!({"model": "dall-e-3", "prompt": "a boat"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!((first.hits(), second.hits()), (1, 1));

    second.behave(Behavior::Status(500));
    first.behave(Behavior::Status(500));
    // Let the first key's rest end, so both are tried again.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    expect_error(
        generate(
            &app,
            &user,
            json!({"model": "dall-e-3", "prompt": "a boat"}),
        )
        .await,
        StatusCode::BAD_GATEWAY,
        "upstream_error",
    )
    .await;
    let failed = usage_records(&app, &admin, "endpoint=images&status=failed", 1).await;
    assert_eq!(failed[0]["cost"], 0);
    assert_eq!(failed[0]["images"], 0);
    assert_eq!(failed[0]["error_code"], "upstream_error");
}

#[tokio::test]
async fn uploads_are_told_by_content_and_limited_in_size() {
    let app = spawn_app_with(|settings| settings.files.max_upload_bytes = 4096).await;
    let admin = app.setup_admin().await;
    let user = app.funded_user(&admin, "uploader", 1_000_000).await;

    for (bytes, declared_name, content_type) in [
        (PNG_1X1, "photo.jpg", "image/png"),
        (JPEG, "photo.png", "image/jpeg"),
        (WEBP, "photo", "image/webp"),
    ] {
        let form = Form::new().part("file", file(bytes, declared_name));
        let body = expect_status(
            post_form(&app, "/api/v1/uploads", form, &user.access).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(body["content_type"], content_type);
        assert_eq!(body["purpose"], "upload");
        assert_eq!(body["size"], bytes.len());
        let served = fetch(&app, body["url"].as_str().unwrap()).await;
        assert_eq!(served.headers()["content-type"], content_type);
        assert_eq!(served.bytes().await.unwrap().as_ref(), bytes);
    }

    let form = Form::new().part("file", file(GIF, "cat.png").mime_str("image/png").unwrap());
    expect_error(
        post_form(&app, "/api/v1/uploads", form, &user.access).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file_type",
    )
    .await;
    let mut big = PNG_1X1.to_vec();
    big.resize(4097, 0);
    let form = Form::new().part("file", Part::bytes(big).file_name("big.png"));
    expect_error(
        post_form(&app, "/api/v1/uploads", form, &user.access).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    // Far too large: refused from its Content-Length, before the body is read.
    let form = Form::new().part(
        "file",
        Part::bytes(vec![0u8; 2 << 20]).file_name("huge.png"),
    );
    expect_error(
        post_form(&app, "/api/v1/uploads", form, &user.access).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let form = Form::new().text("file", "not a file part");
    let error = expect_error(
        post_form(&app, "/api/v1/uploads", form, &user.access).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["param"], "file");
    expect_error(
        app.post("/api/v1/uploads", json!({"file": "x"}), Some(&user.access))
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let response = app
        .client
        .post(app.url("/api/v1/uploads"))
        .multipart(Form::new().part("file", file(PNG_1X1, "a.png")))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn edits_take_an_image_or_an_upload_and_reach_each_provider() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let openai = FakeUpstream::start().await;
    let stability = FakeUpstream::start().await;
    add_model(
        &app,
        &admin,
        json!({"name": "dall-e-2", "modality": "image", "price_per_image": 20}),
    )
    .await;
    add_model(
        &app,
        &admin,
        json!({"name": "sdxl", "modality": "image", "price_per_image": 5,
        "upstream_names": {"stability": "stable-diffusion-xl-1024-v1-0"}}),
    )
    .await;
    add_key(
        &app,
        &admin,
        json!({"name": "oa", "kind": "openai", "base_url": openai.url,
        "api_key": "sk-images-0123456789", "models": ["dall-e-2"]}),
    )
    .await;
    add_key(
        &app,
        &admin,
        json!({"name": "stab", "kind": "stability", "base_url": stability.url,
        "api_key": "sk-stability-0123456789", "models": ["sdxl"]}),
    )
    .await;
    let user = app.funded_user(&admin, "painter", 1_000_000).await;

    let form = Form::new()
        .text("model", "dall-e-2")
        .text("prompt", "add a hat")
        .text("n", "2")
        .text("size", "512x512")
        .part("image", file(PNG_1X1, "cat.png"))
        .part("mask", file(PNG_1X1, "mask.png"));
    let body = expect_status(
        post_form(&app, "/api/v1/images/edits", form, &user.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["usage"], json!({"images": 2, "cost": 40}));
    let call = openai.requests().last().unwrap().clone();
    assert_eq!(call.path, "/v1/images/edits");
    assert!(
        call.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );
    assert_eq!(
        form_field(&call.body, "prompt").as_deref(),
        Some("add a hat")
    );
    assert_eq!(form_field(&call.body, "n").as_deref(), Some("2"));
    assert!(form_field(&call.body, "mask").is_some());
    assert!(form_field(&call.body, "image").is_some());

    // Upload first, then edit by id on Stability's image-to-image.
    let upload = expect_status(
        post_form(
            &app,
            "/api/v1/uploads",
            Form::new().part("file", file(PNG_1X1, "src.png")),
            &user.access,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let form = Form::new()
        .text("model", "sdxl")
        .text("prompt", "as a watercolour")
        .text("strength", "0.25")
        .text("response_format", "b64_json")
        .text("image_file_id", upload["id"].as_str().unwrap().to_owned());
    let body = expect_status(
        post_form(&app, "/api/v1/images/edits", form, &user.access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        b64_decode(body["data"][0]["b64_json"].as_str().unwrap()),
        PNG_1X1
    );
    let call = stability.requests().last().unwrap().clone();
    assert_eq!(
        call.path,
        "/v1/generation/stable-diffusion-xl-1024-v1-0/image-to-image"
    );
    assert_eq!(
        form_field(&call.body, "text_prompts[0][text]").as_deref(),
        Some("as a watercolour")
    );
    assert_eq!(
        form_field(&call.body, "image_strength").as_deref(),
        Some("0.75")
    );
    assert!(form_field(&call.body, "init_image").is_some());
    let records = usage_records(&app, &admin, "endpoint=image_edits", 2).await;
    assert!(records.iter().all(|r| r["status"] == "complete"));

    // Another user's upload is not theirs to use.
    let other = app.funded_user(&admin, "other", 1_000_000).await;
    let form = Form::new()
        .text("model", "sdxl")
        .text("prompt", "x")
        .text("image_file_id", upload["id"].as_str().unwrap().to_owned());
    expect_error(
        post_form(&app, "/api/v1/images/edits", form, &other.access).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let base = || Form::new().text("model", "dall-e-2").text("prompt", "x");
    let cases: Vec<(Form, StatusCode, &str, Option<&str>)> = vec![
        (
            base().part("image", file(GIF, "a.png")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file_type",
            Some("file"),
        ),
        (
            base()
                .part("image", file(PNG_1X1, "a.png"))
                .part("mask", file(JPEG, "m.png")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file_type",
            Some("file"),
        ),
        (
            base(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("image"),
        ),
        (
            base().text("n", "11").part("image", file(PNG_1X1, "a.png")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("n"),
        ),
        (
            base()
                .text("n", "many")
                .part("image", file(PNG_1X1, "a.png")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("n"),
        ),
        (
            base()
                .text("strength", "1.5")
                .part("image", file(PNG_1X1, "a.png")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("strength"),
        ),
        (
            base()
                .text("response_format", "gif")
                .part("image", file(PNG_1X1, "a.png")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("response_format"),
        ),
        (
            Form::new()
                .text("model", "dall-e-2")
                .part("image", file(PNG_1X1, "a.png")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("prompt"),
        ),
        (
            Form::new()
                .text("model", "nope")
                .text("prompt", "x")
                .part("image", file(PNG_1X1, "a.png")),
            StatusCode::NOT_FOUND,
            "model_not_found",
            Some("model"),
        ),
    ];
    let hits = openai.hits();
    for (form, status, code, param) in cases {
        let error = expect_error(
            post_form(&app, "/api/v1/images/edits", form, &user.access).await,
            status,
            code,
        )
        .await;
        assert_eq!(error["error"]["param"], json!(param), "{code}");
    }
    assert_eq!(openai.hits(), hits, "no bad edit reached the provider");
}

#[tokio::test]
async fn the_openai_compatible_images_route_speaks_openais_shape() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    dalle(&app, &admin, &fake).await;
    let user = app.funded_user(&admin, "sdk", 1_000_000).await;

    let body = expect_status(
        app.post(
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "a kite",
            "n": 1, "size": "1024x1024", "user": "end-user-42"}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["created", "data"]);
    let image = body["data"][0].as_object().unwrap();
    let mut fields: Vec<&str> = image.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["revised_prompt", "url"]);
    let served = fetch(&app, image["url"].as_str().unwrap()).await;
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG_1X1);

    let body = expect_status(
        app.post(
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "a kite",
            "response_format": "b64_json"}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let image = body["data"][0].as_object().unwrap();
    assert!(image.get("url").is_none());
    assert_eq!(b64_decode(image["b64_json"].as_str().unwrap()), PNG_1X1);
}
