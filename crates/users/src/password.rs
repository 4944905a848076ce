//! argon2id password hashing, run on the blocking pool so a login never stalls other requests.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::UsersError;

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    // The constants are within argon2's documented bounds, so `new` cannot fail; fall back to the
    // library default (which is the same profile) rather than panic.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash verified when the account does not exist, so "no such user" costs as much time as
/// "wrong password" and the two cannot be told apart.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_blocking("confab-dummy-password").ok());

fn hash_blocking(password: &str) -> Result<String, UsersError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| UsersError::Internal(format!("password hashing failed: {err}")))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub async fn hash(password: String) -> Result<String, UsersError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|err| UsersError::Internal(format!("hashing task failed: {err}")))?
}

/// Verifies `password` against `hash`, or against the dummy hash when there is no account.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, UsersError> {
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_blocking(&password, &hash),
        None => {
            if let Some(dummy) = DUMMY_HASH.as_deref() {
                verify_blocking(&password, dummy);
            }
            false
        }
    })
    .await
    .map_err(|err| UsersError::Internal(format!("verify task failed: {err}")))
}

/// Forces the dummy hash to be computed at start-up rather than on the first failed login.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let hashed = hash("correct horse battery".into()).await.unwrap();
        assert!(hashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".into(), Some(hashed.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(hashed)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
