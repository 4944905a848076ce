//! Access tokens (HS256 JWTs with the algorithm pinned) and opaque refresh tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::{Role, UsersError};

/// The `typ` claim of an access token. Nothing else Confab signs carries it.
pub const ACCESS_TOKEN_TYPE: &str = "access";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id, as a string per RFC 7519.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub typ: String,
    pub role: Role,
    /// The session (refresh family) this token belongs to.
    pub sid: i64,
}

/// Signs and verifies access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    pub fn issue(
        &self,
        user_id: i64,
        role: Role,
        session_id: i64,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> Result<String, UsersError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            exp: now.timestamp() + ttl_secs,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            role,
            sid: session_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| UsersError::Internal(format!("token signing failed: {err}")))
    }

    /// Checks signature, algorithm, issuer, audience, time window and type.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, UsersError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => UsersError::TokenExpired,
                _ => UsersError::InvalidToken,
            })?;
        if data.claims.typ != ACCESS_TOKEN_TYPE {
            return Err(UsersError::InvalidToken);
        }
        Ok(data.claims)
    }
}

/// 256 random bits, URL-safe base64: the refresh token the client keeps.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub use confab_core::crypto::sha256_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", "confab", "confab-api");
        let token = keys.issue(7, Role::Admin, 3, Utc::now(), 900).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid, claims.role),
            ("7", 3, Role::Admin)
        );

        let other = TokenKeys::new(b"another-secret-another-secret-xx", "confab", "confab-api");
        assert!(matches!(
            other.verify(&token),
            Err(UsersError::InvalidToken)
        ));

        let old = keys
            .issue(
                7,
                Role::User,
                3,
                Utc::now() - chrono::Duration::hours(2),
                900,
            )
            .unwrap();
        assert!(matches!(keys.verify(&old), Err(UsersError::TokenExpired)));
    }

    #[test]
    fn refresh_tokens_are_long_and_distinct() {
        let a = new_refresh_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_refresh_token());
        assert_eq!(sha256_hex(&a).len(), 64);
    }
}
