//! Stability AI. The upstream model name picks the API:
//! `core` / `ultra` / `sd3*` use Stable Image (`/v2beta/stable-image/generate/...`, multipart,
//! one image per call); anything else is a v1 engine id (`/v1/generation/{engine}/...`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::http::{json_body, send};
use crate::{
    ChatRequest, ChatStream, CheckReport, Completion, GeneratedImage, ImageEditRequest,
    ImageRequest, Provider, ProviderError, Target, Timeouts,
};

pub struct Stability {
    clients: Clients,
    timeouts: Timeouts,
}

enum Api<'a> {
    /// The path segment after `generate/`, and the `model` field sd3 needs.
    StableImage {
        endpoint: &'a str,
        model: Option<&'a str>,
    },
    V1 {
        engine: &'a str,
    },
}

fn api_for(model: &str) -> Api<'_> {
    match model {
        "core" | "ultra" => Api::StableImage {
            endpoint: model,
            model: None,
        },
        m if m.starts_with("sd3") => Api::StableImage {
            endpoint: "sd3",
            model: Some(m),
        },
        engine => Api::V1 { engine },
    }
}

/// `1024x768` -> (1024, 768).
fn dimensions(size: Option<&str>) -> Option<(u32, u32)> {
    let (w, h) = size?.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

impl Stability {
    pub(crate) fn new(clients: Clients, timeouts: Timeouts) -> Self {
        Self { clients, timeouts }
    }

    fn url(target: &Target, path: &str) -> String {
        format!("{}{path}", target.base_url.trim_end_matches('/'))
    }

    async fn stable_image(
        &self,
        target: &Target,
        endpoint: &str,
        form: Form,
    ) -> Result<GeneratedImage, ProviderError> {
        let request = self
            .clients
            .client()
            .post(Self::url(
                target,
                &format!("/v2beta/stable-image/generate/{endpoint}"),
            ))
            .bearer_auth(&target.api_key)
            .header(reqwest::header::ACCEPT, "application/json")
            .multipart(form);
        let response = send(request, self.timeouts.request).await?;
        let body: StableImageResponse = json_body(response, self.timeouts.request).await?;
        if body.finish_reason.as_deref() == Some("CONTENT_FILTERED") {
            return Err(ProviderError::BadRequest {
                status: 400,
                message: "the image was filtered by the provider".into(),
            });
        }
        Ok(GeneratedImage {
            bytes: decode(&body.image)?,
            content_type: "image/png".into(),
            revised_prompt: None,
            seed: body.seed,
        })
    }

    /// Stable Image draws one image per call: `n` calls, each with a fresh form.
    async fn stable_images(
        &self,
        target: &Target,
        endpoint: &str,
        n: u32,
        form: impl Fn() -> Result<Form, ProviderError>,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        let mut images = Vec::with_capacity(n as usize);
        for _ in 0..n {
            images.push(self.stable_image(target, endpoint, form()?).await?);
        }
        Ok(images)
    }

    async fn v1_artifacts(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        let request = request.header(reqwest::header::ACCEPT, "application/json");
        let response = send(request, self.timeouts.request).await?;
        let body: V1Response = json_body(response, self.timeouts.request).await?;
        body.artifacts
            .into_iter()
            .map(|artifact| {
                Ok(GeneratedImage {
                    bytes: decode(&artifact.base64)?,
                    content_type: "image/png".into(),
                    revised_prompt: None,
                    seed: artifact.seed,
                })
            })
            .collect()
    }
}

fn decode(b64: &str) -> Result<Bytes, ProviderError> {
    STANDARD
        .decode(b64)
        .map(Bytes::from)
        .map_err(|e| ProviderError::Malformed(e.to_string()))
}

/// The fields every Stable Image call shares; sd3 also needs its `model` and `mode`.
fn stable_image_form(
    prompt: &str,
    negative: Option<&str>,
    model: Option<&str>,
    mode: &'static str,
    seed: Option<u64>,
) -> Form {
    let mut form = Form::new()
        .text("prompt", prompt.to_owned())
        .text("output_format", "png");
    if let Some(negative) = negative {
        form = form.text("negative_prompt", negative.to_owned());
    }
    if let Some(model) = model {
        form = form.text("model", model.to_owned()).text("mode", mode);
    }
    if let Some(seed) = seed {
        form = form.text("seed", seed.to_string());
    }
    form
}

fn text_prompts(prompt: &str, negative: Option<&str>) -> Vec<Value> {
    let mut prompts = vec![json!({"text": prompt, "weight": 1.0})];
    if let Some(negative) = negative {
        prompts.push(json!({"text": negative, "weight": -1.0}));
    }
    prompts
}

#[async_trait::async_trait]
impl Provider for Stability {
    async fn stream_chat(&self, _: &Target, _: &ChatRequest) -> Result<ChatStream, ProviderError> {
        Err(ProviderError::Unsupported("chat"))
    }

    async fn complete(&self, _: &Target, _: &ChatRequest) -> Result<Completion, ProviderError> {
        Err(ProviderError::Unsupported("chat"))
    }

    async fn generate_images(
        &self,
        target: &Target,
        request: &ImageRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        match api_for(&target.model) {
            Api::StableImage { endpoint, model } => {
                self.stable_images(target, endpoint, request.n, || {
                    let mut form = stable_image_form(
                        &request.prompt,
                        request.negative_prompt.as_deref(),
                        model,
                        "text-to-image",
                        request.seed,
                    );
                    if let Some(ratio) = &request.aspect_ratio {
                        form = form.text("aspect_ratio", ratio.clone());
                    }
                    Ok(form)
                })
                .await
            }
            Api::V1 { engine } => {
                let mut body = json!({
                    "text_prompts": text_prompts(&request.prompt, request.negative_prompt.as_deref()),
                    "samples": request.n,
                });
                if let Some((width, height)) = dimensions(request.size.as_deref()) {
                    body["width"] = json!(width);
                    body["height"] = json!(height);
                }
                if let Some(seed) = request.seed {
                    body["seed"] = json!(seed);
                }
                let http = self
                    .clients
                    .client()
                    .post(Self::url(
                        target,
                        &format!("/v1/generation/{engine}/text-to-image"),
                    ))
                    .bearer_auth(&target.api_key)
                    .json(&body);
                self.v1_artifacts(http).await
            }
        }
    }

    async fn edit_images(
        &self,
        target: &Target,
        request: &ImageEditRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        let strength = request.strength.unwrap_or(0.6);
        let image_part = || {
            Part::bytes(request.image.to_vec())
                .file_name("image")
                .mime_str(&request.image_content_type)
                .map_err(|e| ProviderError::Malformed(e.to_string()))
        };
        match api_for(&target.model) {
            Api::StableImage { endpoint, model } => {
                self.stable_images(target, endpoint, request.n, || {
                    Ok(stable_image_form(
                        &request.prompt,
                        request.negative_prompt.as_deref(),
                        model,
                        "image-to-image",
                        request.seed,
                    )
                    .part("image", image_part()?)
                    .text("strength", strength.to_string()))
                })
                .await
            }
            Api::V1 { engine } => {
                let mut form = Form::new()
                    .part("init_image", image_part()?)
                    .text("init_image_mode", "IMAGE_STRENGTH")
                    // v1 weighs how much of the source survives; ours, how far to move.
                    .text("image_strength", (1.0 - strength).to_string())
                    .text("text_prompts[0][text]", request.prompt.clone())
                    .text("text_prompts[0][weight]", "1")
                    .text("samples", request.n.to_string());
                if let Some(negative) = &request.negative_prompt {
                    form = form
                        .text("text_prompts[1][text]", negative.clone())
                        .text("text_prompts[1][weight]", "-1");
                }
                let http = self
                    .clients
                    .client()
                    .post(Self::url(
                        target,
                        &format!("/v1/generation/{engine}/image-to-image"),
                    ))
                    .bearer_auth(&target.api_key)
                    .multipart(form);
                self.v1_artifacts(http).await
            }
        }
    }

    async fn check(&self, target: &Target) -> Result<CheckReport, ProviderError> {
        let limit = self.timeouts.request.min(self.timeouts.first_byte);
        let balance_request = self
            .clients
            .client()
            .get(Self::url(target, "/v1/user/balance"))
            .bearer_auth(&target.api_key);
        let balance: Balance = json_body(send(balance_request, limit).await?, limit).await?;
        let engines_request = self
            .clients
            .client()
            .get(Self::url(target, "/v1/engines/list"))
            .bearer_auth(&target.api_key);
        let engines: Vec<Engine> = match send(engines_request, limit).await {
            Ok(response) => json_body(response, limit).await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        Ok(CheckReport {
            models: engines.into_iter().map(|e| e.id).collect(),
            balance: Some(balance.credits),
        })
    }
}

#[derive(Deserialize)]
struct StableImageResponse {
    image: String,
    finish_reason: Option<String>,
    seed: Option<u64>,
}

#[derive(Deserialize)]
struct V1Response {
    artifacts: Vec<Artifact>,
}

#[derive(Deserialize)]
struct Artifact {
    base64: String,
    seed: Option<u64>,
}

#[derive(Deserialize)]
struct Balance {
    credits: f64,
}

#[derive(Deserialize)]
struct Engine {
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_name_picks_the_api() {
        assert!(matches!(
            api_for("core"),
            Api::StableImage {
                endpoint: "core",
                model: None
            }
        ));
        assert!(matches!(
            api_for("sd3.5-large"),
            Api::StableImage {
                endpoint: "sd3",
                model: Some("sd3.5-large")
            }
        ));
        assert!(matches!(
            api_for("stable-diffusion-xl-1024-v1-0"),
            Api::V1 { .. }
        ));
        assert_eq!(dimensions(Some("1024x768")), Some((1024, 768)));
        assert_eq!(dimensions(Some("big")), None);
    }
}
