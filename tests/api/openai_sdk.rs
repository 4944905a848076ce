//! The official `openai` Python package against a live Confab (tests/python/openai_sdk.py).
//! .ci/run installs it (tests/python/requirements.txt) and sets CONFAB_REQUIRE_OPENAI_SDK, so
//! there a missing package is a failure; elsewhere the test says it skipped.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Command;

use crate::chats::{add_key, add_model, app, chat_model};
use crate::fake_upstream::{DEFAULT_REPLY, FakeUpstream};
use crate::helpers::expect_status;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/openai_sdk.py");

async fn sdk_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import openai"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

#[tokio::test]
async fn the_official_openai_python_package_works_unchanged() {
    if !sdk_installed().await {
        assert!(
            std::env::var_os("CONFAB_REQUIRE_OPENAI_SDK").is_none(),
            "CONFAB_REQUIRE_OPENAI_SDK is set but python3 cannot import openai"
        );
        eprintln!(
            "skipped: `pip install -r tests/python/requirements.txt` to run the OpenAI SDK test"
        );
        return;
    }
    let app = app().await;
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    chat_model(&app, &admin).await;
    add_model(
        &app,
        &admin,
        json!({"name": "dall-e-3", "modality": "image", "price_per_image": 40}),
    )
    .await;
    add_key(
        &app,
        &admin,
        json!({"name": "oa", "kind": "openai", "base_url": fake.url,
        "api_key": "sk-sdk-0123456789", "models": ["gpt-4o-mini", "dall-e-3"]}),
    )
    .await;
    let user = app.funded_user(&admin, "sdk", 1_000_000).await;
    // As SDK users do: with one of their API keys.
    let key = expect_status(
        app.post("/api/v1/keys", json!({"name": "sdk"}), Some(&user.access))
            .await,
        StatusCode::CREATED,
    )
    .await;

    let output = Command::new("python3")
        .arg(SCRIPT)
        .env("CONFAB_BASE_URL", &app.address)
        .env("CONFAB_TOKEN", key["secret"].as_str().unwrap())
        .env("CONFAB_EXPECT_REPLY", DEFAULT_REPLY)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for check in [
        "models",
        "streamed_completion",
        "whole_completion",
        "images",
        "errors",
    ] {
        assert!(stdout.contains(&format!("ok {check}\n")), "{stdout}");
    }
    // The answers really came through the provider.
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "/v1/chat/completions")
            .count(),
        3
    );
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "/v1/images/generations")
            .count(),
        2
    );
}
