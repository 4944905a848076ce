//! AES-256-GCM for secrets kept at rest (provider keys, payment secrets), with openssl.
//!
//! Stored form: `v1:` + base64(nonce(12) || ciphertext || tag(16)). A fresh random nonce per
//! encryption; the purpose string is bound as associated data so a ciphertext from one column
//! cannot be replayed into another.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes (64 hex characters)")]
    BadKey,
    #[error("the ciphertext is malformed")]
    Malformed,
    #[error("the ciphertext does not authenticate under this master key")]
    Unauthentic,
    #[error("openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// What is stored of a high-entropy secret (refresh tokens, API keys, card codes): its SHA-256,
/// hex. Enough for random values of 80 bits and more; low-entropy codes use a keyed hash.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(openssl::sha::sha256(secret.as_bytes()))
}

/// Encrypts and decrypts small secrets under the server's master key.
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// From 64 hex characters.
    pub fn from_hex(hex_key: &str) -> Result<Self, CryptoError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self::new(key))
    }

    pub fn seal(&self, purpose: &str, plaintext: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            purpose.as_bytes(),
            plaintext.as_bytes(),
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    pub fn open(&self, purpose: &str, sealed: &str) -> Result<String, CryptoError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(CryptoError::Malformed)?;
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| CryptoError::Malformed)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let plaintext = decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            purpose.as_bytes(),
            ciphertext,
            tag,
        )
        .map_err(|_| CryptoError::Unauthentic)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_fresh_nonces() {
        let secret_box = SecretBox::new([7; 32]);
        let a = secret_box.seal("provider_key", "sk-secret").unwrap();
        let b = secret_box.seal("provider_key", "sk-secret").unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.contains("sk-secret"));
        assert_eq!(secret_box.open("provider_key", &a).unwrap(), "sk-secret");
    }

    #[test]
    fn wrong_key_purpose_or_tamper_fails() {
        let secret_box = SecretBox::new([7; 32]);
        let sealed = secret_box.seal("provider_key", "sk-secret").unwrap();
        assert!(
            SecretBox::new([8; 32])
                .open("provider_key", &sealed)
                .is_err()
        );
        assert!(secret_box.open("payment", &sealed).is_err());
        let mut raw = STANDARD.decode(&sealed[3..]).unwrap();
        raw[14] ^= 1;
        let tampered = format!("v1:{}", STANDARD.encode(raw));
        assert!(secret_box.open("provider_key", &tampered).is_err());
        assert!(secret_box.open("provider_key", "v1:AAAA").is_err());
    }
}
