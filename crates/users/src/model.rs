use chrono::{DateTime, Utc};
use confab_store::entity::user;

/// What an account may do. Stored as its lower-case name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Whether an account may sign in. `Deleted` accounts are anonymised and stay for their records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
    Deleted,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
            UserStatus::Deleted => "deleted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            "deleted" => Some(UserStatus::Deleted),
            _ => None,
        }
    }
}

/// An account as the rest of Confab sees it: no password hash, typed role and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub last_login_at: Option<DateTime<Utc>>,
    pub last_login_ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<user::Model> for User {
    fn from(row: user::Model) -> Self {
        User {
            id: row.id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified_at.is_some(),
            nickname: row.nickname,
            avatar_url: row.avatar_url,
            // Rows are only written through this crate; an unknown value can only come from a
            // hand edit, and the least privilege is the safe reading of it.
            role: Role::parse(&row.role).unwrap_or(Role::User),
            status: UserStatus::parse(&row.status).unwrap_or(UserStatus::Disabled),
            last_login_at: row.last_login_at,
            last_login_ip: row.last_login_ip,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
