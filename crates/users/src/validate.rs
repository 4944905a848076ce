//! Parsing at the edge: once a value is one of these types it is known to be valid.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::UsersError;

/// A username: 3 to 32 of ASCII letters, digits, `_`, `.`, `-`. Unique case-insensitively, so
/// it carries its lower-cased key too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsersError> {
        let valid_chars = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if (3..=32).contains(&raw.len()) && valid_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(UsersError::InvalidUsername)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    // The 20,000 most common passwords list shipped with Django (BSD licence), cut to the
    // entries long enough to pass the length rule.
    include_str!("common-passwords.txt").lines().collect()
});

/// A new password: 8 to 128 characters exactly as sent (no trimming, no composition rules),
/// not only blanks, and not one of the most common passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, UsersError> {
        // Blanks count as characters, so eight spaces would otherwise pass the length rule.
        if raw.trim().is_empty() {
            return Err(UsersError::BlankPassword);
        }
        let chars = raw.chars().count();
        if !(8..=128).contains(&chars) {
            return Err(UsersError::InvalidPassword);
        }
        if COMMON_PASSWORDS.contains(raw.to_lowercase().as_str()) {
            return Err(UsersError::PasswordTooCommon);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address as typed, with its lower-cased key for uniqueness and look-ups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, UsersError> {
        let raw = raw.trim();
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err(UsersError::InvalidEmail);
        };
        let valid = raw.len() <= 254
            && (1..=64).contains(&local.len())
            && !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !local.contains('@')
            && raw.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(UsersError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A display name: 1 to 64 characters after trimming, no control characters.
pub fn parse_nickname(raw: &str) -> Result<String, UsersError> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if (1..=64).contains(&chars) && !trimmed.chars().any(char::is_control) {
        Ok(trimmed.to_owned())
    } else {
        Err(UsersError::InvalidField(
            "nickname",
            "nickname must be 1 to 64 characters",
        ))
    }
}

/// An avatar URL: http or https, at most 2048 characters.
pub fn parse_avatar_url(raw: &str) -> Result<String, UsersError> {
    let trimmed = raw.trim();
    let has_scheme = trimmed.starts_with("https://") || trimmed.starts_with("http://");
    let host_len = trimmed.split("://").nth(1).map_or(0, str::len);
    if has_scheme
        && host_len > 0
        && trimmed.len() <= 2048
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Ok(trimmed.to_owned())
    } else {
        Err(UsersError::InvalidField(
            "avatar_url",
            "avatar_url must be an http(s) URL of at most 2048 characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("alice bob").is_err());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("Ünïcode").is_err());
        assert_eq!(Username::parse("Alice.B-2_x").unwrap().key(), "alice.b-2_x");
    }

    #[test]
    fn passwords_are_taken_as_sent() {
        assert!(matches!(
            NewPassword::parse("short"),
            Err(UsersError::InvalidPassword)
        ));
        assert!(matches!(
            NewPassword::parse("password1"),
            Err(UsersError::PasswordTooCommon)
        ));
        assert!(matches!(
            NewPassword::parse("PASSWORD1"),
            Err(UsersError::PasswordTooCommon)
        ));
        assert!(NewPassword::parse("  spaces count  ").is_ok());
        assert!(NewPassword::parse(&"é".repeat(128)).is_ok());
        assert!(NewPassword::parse(&"é".repeat(129)).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            EmailAddress::parse(" A@Example.com ").unwrap().key(),
            "a@example.com"
        );
        for bad in ["", "a", "a@b", "@b.com", "a@.com", "a b@c.com", "a@b.com."] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
