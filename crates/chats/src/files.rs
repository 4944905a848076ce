//! Uploaded and generated images: bytes under `<data dir>/files/<id>`, a row per file. An id is
//! 128 random bits, so knowing it is the permission to read the file (as with a provider's
//! signed image URL) and `/files/{id}` can be put straight into an `<img src>`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use confab_store::entity::file;
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ChatsError;

/// Why a file exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Upload,
    Generated,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Upload => "upload",
            Purpose::Generated => "generated",
        }
    }
}

/// A stored file (an upload or a generated image).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileView {
    /// 32 hex characters (128 random bits).
    pub id: String,
    /// `upload` or `generated`.
    #[schema(schema_with = purpose_schema)]
    pub purpose: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// Its size in bytes.
    pub size: i64,
    /// The SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Where the file is served, relative to the server (`/files/{id}`).
    pub path: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl From<file::Model> for FileView {
    fn from(row: file::Model) -> Self {
        Self {
            path: format!("/files/{}", row.id),
            id: row.id,
            purpose: row.purpose,
            content_type: row.content_type,
            size: row.size,
            sha256: row.sha256,
            created_at: row.created_at,
        }
    }
}

/// The image type a file's first bytes show, whatever its name or declared type says.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn new_id() -> String {
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    hex::encode(id)
}

/// Ids are exactly what [`new_id`] makes, so a path built from one stays in the directory.
fn is_file_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where files live, and how big an upload may be.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    max_upload_bytes: u64,
}

impl FileStore {
    /// Creates the directory if it does not exist.
    pub fn open(dir: PathBuf, max_upload_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            max_upload_bytes,
        })
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Checks an upload's size and type before anything is written.
    pub fn accept_upload(&self, bytes: &[u8]) -> Result<&'static str, ChatsError> {
        if bytes.len() as u64 > self.max_upload_bytes {
            return Err(ChatsError::FileTooLarge(self.max_upload_bytes));
        }
        sniff(bytes).ok_or(ChatsError::UnsupportedFile)
    }

    /// Writes the bytes (to a temporary name, then renamed, so a reader never sees half a
    /// file) and records them.
    pub async fn save(
        &self,
        db: &impl ConnectionTrait,
        user_id: i64,
        purpose: Purpose,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<FileView, ChatsError> {
        let id = new_id();
        let path = self.path(&id);
        let partial = self.dir.join(format!("{id}.partial"));
        tokio::fs::write(&partial, bytes).await?;
        tokio::fs::rename(&partial, &path).await?;
        let row = file::ActiveModel {
            id: Set(id),
            user_id: Set(user_id),
            purpose: Set(purpose.as_str().to_owned()),
            content_type: Set(content_type.to_owned()),
            size: Set(i64::try_from(bytes.len()).unwrap_or(i64::MAX)),
            sha256: Set(hex::encode(Sha256::digest(bytes))),
            created_at: Set(Utc::now()),
        };
        match row.insert(db).await {
            Ok(row) => Ok(row.into()),
            Err(error) => {
                remove(&path).await;
                Err(error.into())
            }
        }
    }

    /// A file's record and bytes.
    pub async fn read(
        &self,
        db: &impl ConnectionTrait,
        id: &str,
    ) -> Result<(FileView, Vec<u8>), ChatsError> {
        let row = find(db, id).await?;
        self.with_bytes(row).await
    }

    /// One of the caller's own files (another user's is not found).
    pub async fn read_own(
        &self,
        db: &impl ConnectionTrait,
        user_id: i64,
        id: &str,
    ) -> Result<(FileView, Vec<u8>), ChatsError> {
        let row = find(db, id).await?;
        if row.user_id != user_id {
            return Err(ChatsError::FileNotFound);
        }
        self.with_bytes(row).await
    }

    async fn with_bytes(&self, row: file::Model) -> Result<(FileView, Vec<u8>), ChatsError> {
        match tokio::fs::read(self.path(&row.id)).await {
            Ok(bytes) => Ok((row.into(), bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    file_id = row.id,
                    "a file's bytes are missing from the data directory"
                );
                Err(ChatsError::FileNotFound)
            }
            Err(error) => Err(error.into()),
        }
    }
}

async fn find(db: &impl ConnectionTrait, id: &str) -> Result<file::Model, ChatsError> {
    if !is_file_id(id) {
        return Err(ChatsError::FileNotFound);
    }
    file::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ChatsError::FileNotFound)
}

async fn remove(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await {
        tracing::warn!(%error, path = %path.display(), "could not remove an unrecorded file");
    }
}

fn purpose_schema() -> utoipa::openapi::Object {
    confab_core::schema::one_of(
        &["upload", "generated"],
        "`upload` (sent by the user) or `generated` (made by a model).",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0, 0]), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b"<svg"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn only_generated_ids_name_files() {
        assert!(is_file_id(&new_id()));
        assert!(!is_file_id("../../etc/passwd"));
        assert!(!is_file_id("ABCDEF0123456789abcdef0123456789"));
        assert!(!is_file_id("abc"));
    }
}
