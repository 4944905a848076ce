//! Images: text-to-image, image-to-image (multipart), uploads, and the stored files themselves.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use confab_chats::ChatsError;
use confab_chats::files::FileView;
use confab_chats::images::{self, EditImages, GenerateImages, Images, ResponseFormat, Source};
use confab_core::Code;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Consumer;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::multipart::Form;
use crate::state::AppState;

/// Room for a form's boundaries and text fields on top of the file itself.
const FORM_OVERHEAD_BYTES: u64 = 256 * 1024;

/// One generated image, stored here.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    /// The stored file's id.
    pub file_id: String,
    /// Where the stored image is served (unguessable; no token needed).
    pub url: String,
    /// Present when the request asked for `b64_json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    /// The prompt the provider actually used, when it rewrote it.
    pub revised_prompt: Option<String>,
    /// The seed used, where the provider says.
    pub seed: Option<u64>,
    /// The image type.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
}

/// What the images cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImagesUsage {
    /// Images generated.
    pub images: u32,
    /// Credits at the model's prices.
    pub cost: i64,
}

/// Generated images and what they cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImagesView {
    /// Unix seconds.
    pub created: i64,
    /// The catalog model used.
    pub model: String,
    /// The images.
    pub data: Vec<ImageView>,
    /// What they cost.
    pub usage: ImagesUsage,
}

/// A stored upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    #[serde(flatten)]
    pub file: FileView,
    pub url: String,
}

/// The form of `POST /api/v1/uploads`.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form read by `crate::multipart::Form`.
pub struct UploadForm {
    /// A PNG, JPEG or WebP image.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The form of `POST /api/v1/images/edits`.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form read by `crate::multipart::Form`.
pub struct EditForm {
    /// An image catalog model.
    #[schema(min_length = 1, example = "stable-image-core")]
    model: String,
    /// What to make of the image; 1 to 32,000 characters.
    #[schema(max_length = 32000, pattern = r"\S")]
    prompt: String,
    /// The source image (PNG, JPEG or WebP); or name an upload in `image_file_id`.
    #[schema(value_type = Option<String>, format = Binary)]
    image: Option<Vec<u8>>,
    /// An upload of the caller's (`POST /api/v1/uploads`) to start from instead of `image`.
    image_file_id: Option<String>,
    /// A PNG whose transparent pixels mark what to change.
    #[schema(value_type = Option<String>, format = Binary)]
    mask: Option<Vec<u8>>,
    /// What the image should not show (Stability).
    negative_prompt: Option<String>,
    /// 1 to 10; default 1.
    #[schema(minimum = 1, maximum = 10)]
    n: Option<u32>,
    /// `WIDTHxHEIGHT` (64 to 4096 each) or `auto`.
    size: Option<String>,
    /// 0 to 1: how far to move from the source (Stability).
    #[schema(minimum = 0, maximum = 1)]
    strength: Option<f64>,
    /// For repeatable results where the provider supports it.
    seed: Option<u64>,
    /// `url` (default) or `b64_json`.
    response_format: Option<ResponseFormat>,
}

fn view(images: Images, base: &str) -> ImagesView {
    let count = u32::try_from(images.images.len()).unwrap_or(u32::MAX);
    ImagesView {
        created: images.created,
        model: images.model,
        data: images
            .images
            .into_iter()
            .map(|image| ImageView {
                url: format!("{base}{}", image.file.path),
                file_id: image.file.id,
                b64_json: image.b64_json,
                revised_prompt: image.revised_prompt,
                seed: image.seed,
                content_type: image.file.content_type,
                size: image.file.size,
            })
            .collect(),
        usage: ImagesUsage {
            images: count,
            cost: images.cost,
        },
    }
}

/// Generate images from a prompt (OpenAI dall-e / gpt-image, Stability stable-image or v1
/// text-to-image, whichever serves the model). Every image is stored and served at `url`.
#[utoipa::path(post, path = "/api/v1/images/generations", operation_id = "generateImages", tag = "images", security(("bearer" = []), ("apiKey" = [])),
    request_body = GenerateImages,
    responses(
        (status = 200, description = "The images", body = ImagesView),
        (status = 400, description = "`invalid_request` (see `param`: prompt, n, size, aspect_ratio, model), `invalid_body`", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "`model_not_found`", body = ErrorBody),
        (status = 502, description = "`upstream_error`", body = ErrorBody),
        (status = 503, description = "`no_provider_available`", body = ErrorBody),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody)))]
pub async fn generations(
    state: web::Data<AppState>,
    caller: Consumer,
    body: Json<GenerateImages>,
) -> Result<HttpResponse, ApiError> {
    caller.unbound()?;
    let images = images::generate(
        &state.relay,
        &state.files,
        caller.usage(),
        body.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(images, &state.file_base)))
}

/// Rejects a body that cannot fit before reading it.
fn check_length(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = state.files.max_upload_bytes();
    match declared {
        Some(length) if length > limit.saturating_add(FORM_OVERHEAD_BYTES) => {
            Err(ChatsError::FileTooLarge(limit).into())
        }
        _ => Ok(()),
    }
}

/// Transform an image with a prompt (image-to-image), sent as `multipart/form-data`: `model`,
/// `prompt`, the source as an `image` file part (or `image_file_id` of an upload), an optional
/// PNG `mask`, `n`, `size`, `strength` (0 to 1, Stability), `seed`, `negative_prompt`,
/// `response_format` (`url` or `b64_json`).
#[utoipa::path(post, path = "/api/v1/images/edits", operation_id = "editImage", tag = "images", security(("bearer" = []), ("apiKey" = [])),
    request_body(content_type = "multipart/form-data", content = EditForm),
    responses(
        (status = 200, description = "The images", body = ImagesView),
        (status = 400, description = "`invalid_request` (see `param`: image, prompt, n, size, strength, model), `invalid_body`", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "`model_not_found`; `not_found` for an unknown `image_file_id`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: an image above `files.max_upload_bytes`", body = ErrorBody),
        (status = 415, description = "`unsupported_file_type` (not PNG, JPEG or WebP; a mask that is not PNG), `unsupported_media_type` (not multipart)", body = ErrorBody),
        (status = 502, description = "`upstream_error`", body = ErrorBody),
        (status = 503, description = "`no_provider_available`", body = ErrorBody),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody)))]
pub async fn edits(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Consumer,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    caller.unbound()?;
    check_length(&state, &req)?;
    let mut form = Form::read(payload, state.files.max_upload_bytes()).await?;
    let image = match (
        form.take_file(&["image", "image[]"]),
        form.text("image_file_id"),
    ) {
        (Some(bytes), _) => Source::Bytes(bytes),
        (None, Some(id)) => Source::File(id),
        (None, None) => {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "send the source image as an `image` file, or name an upload in `image_file_id`",
            )
            .with_param("image"));
        }
    };
    let response_format = match form.text("response_format").as_deref() {
        None | Some("url") => ResponseFormat::Url,
        Some("b64_json") => ResponseFormat::B64Json,
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "response_format must be url or b64_json",
            )
            .with_param("response_format"));
        }
    };
    let request = EditImages {
        model: form.text("model").unwrap_or_default(),
        prompt: form.text("prompt").unwrap_or_default(),
        negative_prompt: form.text("negative_prompt"),
        mask: form.take_file(&["mask"]),
        image,
        n: form.parse("n")?,
        size: form.text("size"),
        strength: form.parse("strength")?,
        seed: form.parse("seed")?,
        response_format,
    };
    let images = images::edit(&state.relay, &state.files, caller.usage(), request).await?;
    Ok(HttpResponse::Ok().json(view(images, &state.file_base)))
}

/// Upload an image (PNG, JPEG or WebP, told by its content; at most `files.max_upload_bytes`)
/// as the `file` part of a `multipart/form-data` body. Use its id as an edit's `image_file_id`,
/// or its url in a message.
#[utoipa::path(post, path = "/api/v1/uploads", operation_id = "uploadImage", tag = "images", security(("bearer" = []), ("apiKey" = [])),
    request_body(content_type = "multipart/form-data", content = UploadForm),
    responses(
        (status = 201, description = "Stored", body = UploadView),
        (status = 400, description = "`invalid_request` (no `file` part), `invalid_body`", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_file_type`, `unsupported_media_type`", body = ErrorBody)))]
pub async fn upload(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Consumer,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    caller.unbound()?;
    check_length(&state, &req)?;
    let mut form = Form::read(payload, state.files.max_upload_bytes()).await?;
    let bytes = form.take_file(&["file"]).ok_or_else(|| {
        ApiError::new(
            Code::InvalidRequest,
            "send the image as the `file` part of a multipart/form-data body",
        )
        .with_param("file")
    })?;
    let content_type = state.files.accept_upload(&bytes)?;
    let file = state
        .files
        .save(
            &state.db,
            caller.user_id,
            confab_chats::files::Purpose::Upload,
            content_type,
            &bytes,
        )
        .await?;
    Ok(HttpResponse::Created().json(UploadView {
        url: format!("{}{}", state.file_base, file.path),
        file,
    }))
}

/// A stored file. Its id is the permission (128 random bits), so this needs no token and can be
/// an `<img src>`.
#[utoipa::path(get, path = "/files/{id}", operation_id = "getFile", tag = "images",
    params(("id" = String, Path, description = "32 hex characters")),
    responses(
        (status = 200, description = "The file, with its content type", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn file(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (file, bytes) = state.files.read(&state.db, &id).await?;
    let etag = format!("\"{}\"", file.sha256);
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header((header::ETAG, etag))
        // A file never changes under its id.
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}
