//! Secrets Confab makes for itself on first start and keeps in the data directory.

use std::io::Write;
use std::path::Path;

use rand::RngCore;

/// Reads `<dir>/<name>`, or creates it with 32 random bytes (hex) readable only by the owner.
pub fn load_or_create(dir: &Path, name: &str) -> std::io::Result<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= 32 => return Ok(existing.trim().to_owned()),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is shorter than 32 characters", path.display()),
            ));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(&path) {
        Ok(file) => file,
        // Another instance sharing the directory wrote it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Ok(std::fs::read_to_string(&path)?.trim().to_owned());
        }
        Err(err) => return Err(err),
    };
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new secret");
    Ok(secret)
}
