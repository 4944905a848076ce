//! Text-to-image and image-to-image: validated, relayed to a key serving the model, every image
//! kept under the data directory (so a `url` outlives the provider's short-lived one), metered.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use confab_providers::{GeneratedImage, ImageEditRequest, ImageRequest, Usage};
use serde::Deserialize;

use crate::ChatsError;
use crate::catalog::{Modality, ModelView};
use crate::files::{FileStore, FileView, Purpose, sniff};
use crate::metering::{Billing, Caller, Record, admit, hold, record, record_failure};
use crate::relay::{Relay, elapsed_ms};

/// Most images one request may ask for (OpenAI's own limit).
pub const MAX_IMAGES: u32 = 10;
const MAX_PROMPT_CHARS: usize = 32_000;
/// Stability's accepted aspect ratios.
const ASPECT_RATIOS: [&str; 9] = [
    "1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21",
];

/// How generated images are answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// A `/files/{id}` URL on this server.
    #[default]
    Url,
    /// The image inline, base64-encoded (it is stored all the same).
    B64Json,
}

/// `POST /api/v1/images/generations` and `/v1/images/generations` (OpenAI's fields, plus
/// Stability's negative prompt, aspect ratio and seed). Other OpenAI fields (`user`, ...) are
/// accepted and ignored.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct GenerateImages {
    /// An image model of the catalog.
    #[schema(min_length = 1)]
    pub model: String,
    /// What to draw; up to 32,000 characters.
    #[schema(max_length = 32000, pattern = r"\S")]
    pub prompt: String,
    /// What the image should not show (Stability).
    pub negative_prompt: Option<String>,
    /// 1 to 10; default 1.
    #[schema(minimum = 1, maximum = 10)]
    pub n: Option<u32>,
    /// `WIDTHxHEIGHT` (64 to 4096 each) or `auto`.
    #[schema(
        pattern = r"^(auto|(6[4-9]|[7-9][0-9]|[1-9][0-9]{2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-6])x(6[4-9]|[7-9][0-9]|[1-9][0-9]{2}|[1-3][0-9]{3}|40[0-8][0-9]|409[0-6]))$"
    )]
    pub size: Option<String>,
    /// Passed to the provider (e.g. `hd`).
    pub quality: Option<String>,
    /// Passed to the provider (e.g. `vivid`).
    pub style: Option<String>,
    /// Stability: `1:1`, `16:9`, `21:9`, `2:3`, `3:2`, `4:5`, `5:4`, `9:16`, `9:21`.
    #[schema(pattern = r"^(1:1|16:9|21:9|2:3|3:2|4:5|5:4|9:16|9:21)$")]
    pub aspect_ratio: Option<String>,
    /// For repeatable results where the provider supports it.
    pub seed: Option<u64>,
    /// `url` (default) or `b64_json`.
    pub response_format: Option<ResponseFormat>,
}

/// `POST /api/v1/images/edits`, read from its multipart form.
#[derive(Debug, Clone)]
pub struct EditImages {
    pub model: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub image: Source,
    pub mask: Option<Bytes>,
    pub n: Option<u32>,
    pub size: Option<String>,
    /// 0 to 1: how far to move from the source (Stability).
    pub strength: Option<f64>,
    pub seed: Option<u64>,
    pub response_format: ResponseFormat,
}

/// The image to start from: sent along, or uploaded before.
#[derive(Debug, Clone)]
pub enum Source {
    Bytes(Bytes),
    File(String),
}

/// One stored image.
#[derive(Debug, Clone)]
pub struct Image {
    pub file: FileView,
    /// Set when the request asked for `b64_json`.
    pub b64_json: Option<String>,
    pub revised_prompt: Option<String>,
    pub seed: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Images {
    pub created: i64,
    pub model: String,
    pub images: Vec<Image>,
    /// Credits at the model's prices.
    pub cost: i64,
}

fn invalid(param: &'static str, message: impl Into<String>) -> ChatsError {
    ChatsError::Invalid(param, message.into())
}

fn check_prompt(prompt: &str) -> Result<(), ChatsError> {
    if prompt.trim().is_empty() {
        return Err(invalid("prompt", "prompt must not be empty"));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(invalid(
            "prompt",
            format!("prompt must be at most {MAX_PROMPT_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_n(n: Option<u32>) -> Result<u32, ChatsError> {
    match n.unwrap_or(1) {
        n @ 1..=MAX_IMAGES => Ok(n),
        _ => Err(invalid(
            "n",
            format!("n must be between 1 and {MAX_IMAGES}"),
        )),
    }
}

fn check_size(size: Option<&str>) -> Result<(), ChatsError> {
    let Some(size) = size else { return Ok(()) };
    if size == "auto" {
        return Ok(());
    }
    let side = |s: &str| s.parse::<u32>().is_ok_and(|v| (64..=4096).contains(&v));
    match size.split_once('x') {
        Some((w, h)) if side(w) && side(h) => Ok(()),
        _ => Err(invalid(
            "size",
            "size must be WIDTHxHEIGHT (64 to 4096 each) or auto",
        )),
    }
}

fn image_model(relay: &Relay, name: &str) -> Result<std::sync::Arc<ModelView>, ChatsError> {
    if name.is_empty() {
        return Err(invalid("model", "model is required"));
    }
    relay.model(name, Modality::Image)
}

/// Validates a generation request before any provider is called.
fn image_request(request: GenerateImages) -> Result<ImageRequest, ChatsError> {
    check_prompt(&request.prompt)?;
    let n = check_n(request.n)?;
    check_size(request.size.as_deref())?;
    if let Some(ratio) = &request.aspect_ratio
        && !ASPECT_RATIOS.contains(&ratio.as_str())
    {
        return Err(invalid(
            "aspect_ratio",
            format!("aspect_ratio must be one of {}", ASPECT_RATIOS.join(", ")),
        ));
    }
    Ok(ImageRequest {
        prompt: request.prompt,
        negative_prompt: request.negative_prompt,
        n,
        size: request.size,
        quality: request.quality,
        style: request.style,
        aspect_ratio: request.aspect_ratio,
        seed: request.seed,
    })
}

/// Text-to-image, finished and settled even if its client goes away.
pub async fn generate(
    relay: &Arc<Relay>,
    files: &FileStore,
    caller: Caller,
    request: GenerateImages,
) -> Result<Images, ChatsError> {
    let model = image_model(relay, &request.model)?;
    let format = request.response_format.unwrap_or_default();
    let request = image_request(request)?;
    let (worker, files) = (relay.clone(), files.clone());
    relay
        .detached(async move {
            let relay = &*worker;
            let metered = hold_images(relay, &caller, &model, request.n, "images").await?;
            let started_at = Instant::now();
            let result = relay.generate_images(&model, &request).await;
            finish(
                relay, &files, &caller, "images", &model, format, started_at, metered, result,
            )
            .await
        })
        .await
}

/// Image-to-image, finished and settled even if its client goes away.
pub async fn edit(
    relay: &Arc<Relay>,
    files: &FileStore,
    caller: Caller,
    request: EditImages,
) -> Result<Images, ChatsError> {
    let model = image_model(relay, &request.model)?;
    check_prompt(&request.prompt)?;
    let n = check_n(request.n)?;
    check_size(request.size.as_deref())?;
    if let Some(strength) = request.strength
        && !(0.0..=1.0).contains(&strength)
    {
        return Err(invalid("strength", "strength must be between 0 and 1"));
    }
    let image = match request.image {
        Source::Bytes(bytes) => bytes,
        Source::File(id) => Bytes::from(files.read_own(&relay.db, caller.user_id, &id).await?.1),
    };
    let image_content_type = files.accept_upload(&image)?;
    if let Some(mask) = &request.mask
        && sniff(mask) != Some("image/png")
    {
        return Err(ChatsError::UnsupportedFile);
    }
    let edit = ImageEditRequest {
        prompt: request.prompt,
        negative_prompt: request.negative_prompt,
        image,
        image_content_type: image_content_type.to_owned(),
        mask: request.mask,
        n,
        size: request.size,
        strength: request.strength,
        seed: request.seed,
    };
    let format = request.response_format;
    let (worker, files) = (relay.clone(), files.clone());
    relay
        .detached(async move {
            let relay = &*worker;
            let metered = hold_images(relay, &caller, &model, n, "image_edits").await?;
            let started_at = Instant::now();
            let result = relay.edit_images(&model, &edit).await;
            finish(
                relay,
                &files,
                &caller,
                "image_edits",
                &model,
                format,
                started_at,
                metered,
                result,
            )
            .await
        })
        .await
}

/// Admits the caller to the model, then holds the price of `n` images, before any provider is
/// called.
async fn hold_images(
    relay: &Relay,
    caller: &Caller,
    model: &ModelView,
    n: u32,
    endpoint: &str,
) -> Result<Billing, ChatsError> {
    let rate = admit(relay, caller, model).await?;
    let cost = rate
        .checked_cost(0, 0, n)
        .ok_or(ChatsError::CostTooHigh("n"))?;
    let hold = hold(relay, caller, cost, endpoint).await?;
    Ok(Billing { rate, hold })
}

/// Stores what the provider returned, charges it and leaves the usage record, success or not.
#[allow(clippy::too_many_arguments)]
async fn finish(
    relay: &Relay,
    files: &FileStore,
    caller: &Caller,
    endpoint: &'static str,
    model: &ModelView,
    format: ResponseFormat,
    started_at: Instant,
    billing: Billing,
    result: Result<(confab_keys::Lease, Vec<GeneratedImage>), ChatsError>,
) -> Result<Images, ChatsError> {
    let (lease, generated) = match result {
        Ok(done) => done,
        Err(error) => {
            record_failure(relay, billing, caller, endpoint, model, &error, started_at).await;
            return Err(error);
        }
    };
    relay.pool.succeeded(lease.key_id, 0).await;
    let count = u32::try_from(generated.len()).unwrap_or(u32::MAX);
    // The provider has produced (and billed) the images: charge and record them before
    // storing, so a storage failure still leaves the record.
    let cost = record(
        relay,
        billing,
        Record {
            caller,
            endpoint,
            model,
            key_id: Some(lease.key_id),
            usage: Usage::default(),
            images: count,
            ttft_ms: None,
            latency_ms: elapsed_ms(started_at),
            status: "complete",
            error_code: None,
        },
    )
    .await;
    let mut images = Vec::with_capacity(generated.len());
    for image in generated {
        let content_type = sniff(&image.bytes).unwrap_or(image.content_type.as_str());
        let file = files
            .save(
                &relay.db,
                caller.user_id,
                Purpose::Generated,
                content_type,
                &image.bytes,
            )
            .await?;
        images.push(Image {
            file,
            b64_json: (format == ResponseFormat::B64Json).then(|| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(&image.bytes)
            }),
            revised_prompt: image.revised_prompt,
            seed: image.seed,
        });
    }
    Ok(Images {
        created: chrono::Utc::now().timestamp(),
        model: model.name.clone(),
        images,
        cost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert!(check_size(None).is_ok());
        assert!(check_size(Some("auto")).is_ok());
        assert!(check_size(Some("1024x1792")).is_ok());
        for bad in ["1024", "10x10", "5000x1024", "axb", "1024x"] {
            assert!(check_size(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(check_n(None).ok(), Some(1));
        assert_eq!(check_n(Some(10)).ok(), Some(10));
        assert!(check_n(Some(0)).is_err());
        assert!(check_n(Some(11)).is_err());
    }
}
