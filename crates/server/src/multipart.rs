//! Reading a `multipart/form-data` body into memory with limits: files up to the upload limit
//! (413 above it, found while reading, not after), text fields up to 64 KiB, at most 16 parts.

use std::str::FromStr;

use actix_multipart::{Multipart, MultipartError};
use bytes::{Bytes, BytesMut};
use confab_core::Code;
use futures_util::StreamExt;

use crate::error::ApiError;

const MAX_TEXT_BYTES: usize = 64 * 1024;
const MAX_PARTS: usize = 16;

/// A read form: text fields, and parts sent as files (those with a filename).
#[derive(Default)]
pub struct Form {
    texts: Vec<(String, String)>,
    files: Vec<(String, Bytes)>,
}

fn bad_form(error: MultipartError) -> ApiError {
    match error {
        MultipartError::ContentTypeMissing | MultipartError::ContentTypeIncompatible => {
            ApiError::new(
                Code::UnsupportedMediaType,
                "the body must be multipart/form-data",
            )
        }
        other => ApiError::new(
            Code::InvalidBody,
            format!("invalid multipart body: {other}"),
        ),
    }
}

impl Form {
    pub async fn read(mut multipart: Multipart, max_file_bytes: u64) -> Result<Self, ApiError> {
        let mut form = Form::default();
        let mut parts = 0;
        while let Some(field) = multipart.next().await {
            let mut field = field.map_err(bad_form)?;
            parts += 1;
            if parts > MAX_PARTS {
                return Err(ApiError::new(
                    Code::InvalidBody,
                    format!("a form may have at most {MAX_PARTS} parts"),
                ));
            }
            let name = field.name().unwrap_or_default().to_owned();
            let is_file = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .is_some();
            let limit = if is_file {
                usize::try_from(max_file_bytes).unwrap_or(usize::MAX)
            } else {
                MAX_TEXT_BYTES
            };
            let mut bytes = BytesMut::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(bad_form)?;
                if bytes.len() + chunk.len() > limit {
                    return Err(if is_file {
                        confab_chats::ChatsError::FileTooLarge(max_file_bytes).into()
                    } else {
                        ApiError::new(
                            Code::InvalidBody,
                            format!("the form field {name} is longer than {MAX_TEXT_BYTES} bytes"),
                        )
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            if is_file {
                form.files.push((name, bytes.freeze()));
            } else {
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    ApiError::new(Code::InvalidBody, format!("{name} is not UTF-8 text"))
                })?;
                form.texts.push((name, text));
            }
        }
        Ok(form)
    }

    /// The first file sent under any of `names` (`image` and OpenAI's `image[]`).
    pub fn take_file(&mut self, names: &[&str]) -> Option<Bytes> {
        let at = self
            .files
            .iter()
            .position(|(name, _)| names.contains(&name.as_str()))?;
        Some(self.files.swap_remove(at).1)
    }

    /// A text field; an empty one counts as absent.
    pub fn text(&self, name: &str) -> Option<String> {
        self.texts
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    }

    /// A text field parsed as `T`; 400 `invalid_request` naming the field if it does not parse.
    pub fn parse<T: FromStr>(&self, name: &'static str) -> Result<Option<T>, ApiError> {
        self.text(name)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ApiError::new(Code::InvalidRequest, format!("{name} has an invalid value"))
                        .with_param(name)
                })
            })
            .transpose()
    }
}
