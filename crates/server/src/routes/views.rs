//! Response shapes shared by several routes.

use chrono::{DateTime, Utc};
use confab_users::sessions::TokenPair;
use confab_users::{Role, User, UserStatus};
use serde::Serialize;
use utoipa::ToSchema;

/// Declares a list response (`items`, `total`, `page`, `page_size`) for one item type, and its
/// conversion from a domain [`confab_core::Page`]. OpenAPI needs a named schema per item type,
/// so each list gets its own struct; this keeps them one line each.
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        $crate::routes::views::page_schema!(
            /// One page of a list, with the total to page through.
            $name,
            $item
        );
    };
    ($(#[$meta:meta])+ $name:ident, $item:ty) => {
        $(#[$meta])+
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            /// This page's items.
            pub items: Vec<$item>,
            /// How many items match, on every page.
            #[schema(example = 42)]
            pub total: u64,
            /// Which page this is, from 1.
            #[schema(example = 1)]
            pub page: u64,
            /// Items per page.
            #[schema(example = 20)]
            pub page_size: u64,
        }

        impl From<confab_core::Page<$item>> for $name {
            fn from(page: confab_core::Page<$item>) -> Self {
                Self {
                    items: page.items,
                    total: page.total,
                    page: page.page,
                    page_size: page.page_size,
                }
            }
        }
    };
}
pub(crate) use page_schema;

/// An account as clients see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The account id.
    #[schema(example = 1)]
    pub id: i64,
    /// 3 to 32 letters, digits, `_`, `.`, `-`; unique ignoring case.
    #[schema(example = "alice")]
    pub username: String,
    /// The e-mail address, if any.
    #[schema(example = "alice@example.com")]
    pub email: Option<String>,
    /// Whether the email address was proven with a code.
    pub email_verified: bool,
    /// Shown instead of the username, if set.
    #[schema(example = "Alice")]
    pub nickname: Option<String>,
    /// An http(s) URL of a picture, if set.
    #[schema(example = "https://example.com/alice.png")]
    pub avatar_url: Option<String>,
    /// `user` or `admin`.
    pub role: Role,
    /// `active`, `disabled` or `deleted`.
    pub status: UserStatus,
    /// When the account last logged in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// From where.
    #[schema(example = "203.0.113.7")]
    pub last_login_ip: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            email_verified: user.email_verified,
            nickname: user.nickname,
            avatar_url: user.avatar_url,
            role: user.role,
            status: user.status,
            last_login_at: user.last_login_at,
            last_login_ip: user.last_login_ip,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A login or refresh result. `access_token` goes in `Authorization: Bearer`; keep
/// `refresh_token` to get the next pair (each refresh token works once).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer …`.
    #[schema(example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...")]
    pub access_token: String,
    /// Exchange at `/api/v1/auth/refresh` when the access token expires; once.
    #[schema(example = "Rk3s1xJ9m2...")]
    pub refresh_token: String,
    /// Always `bearer`.
    #[schema(schema_with = bearer_schema)]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// The signed-in account.
    pub user: UserView,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "bearer",
            expires_in: pair.expires_in,
            user: pair.user.into(),
        }
    }
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// This page's accounts.
    pub items: Vec<UserView>,
    /// How many accounts match.
    #[schema(example = 42)]
    pub total: u64,
    /// Which page this is, from 1.
    #[schema(example = 1)]
    pub page: u64,
    /// Items per page.
    #[schema(example = 20)]
    pub page_size: u64,
}

fn bearer_schema() -> utoipa::openapi::Object {
    confab_core::schema::constant("bearer", "Always `bearer`.")
}
