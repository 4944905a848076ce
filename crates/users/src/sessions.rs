//! Sessions: each login starts one (a refresh-token family); access tokens name it, so one
//! row decides whether every token of the family still works.

use chrono::Duration;
use confab_store::entity::{refresh_token, session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

use crate::auth_cache::CachedSession;
use crate::tokens::{new_refresh_token, sha256_hex};
use crate::{Accounts, ClientInfo, User, UserStatus, UsersError};

/// What a login or a refresh hands the client.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: User,
}

/// The authenticated caller of a request: the account as it is now, and the session used.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session_id: i64,
    /// When the access token presented stops working.
    pub token_expires_at: i64,
}

/// Why a session ended, kept on the row for audits.
pub mod reason {
    pub const LOGOUT: &str = "logout";
    pub const REFRESH_REUSE: &str = "refresh_reuse";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const ADMIN_REVOKED: &str = "admin_revoked";
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    pub const ACCOUNT_DELETED: &str = "account_deleted";
}

impl Accounts {
    /// Starts a session for a user who has just proven who they are.
    pub(crate) async fn start_session<C>(
        &self,
        db: &C,
        user: user::Model,
        client: &ClientInfo,
    ) -> Result<TokenPair, UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let now = self.now();
        let refresh = new_refresh_token();
        let txn = db.begin().await?;
        // Write first: on SQLite a transaction that reads before it writes can fail to upgrade.
        let session = session::ActiveModel {
            user_id: Set(user.id),
            created_at: Set(now),
            expires_at: Set(now + Duration::seconds(self.config.refresh_ttl_secs)),
            last_used_at: Set(now),
            revoked_at: Set(None),
            revoked_reason: Set(None),
            ip: Set(client.ip.clone()),
            user_agent: Set(client.user_agent.as_deref().map(truncate_user_agent)),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        insert_refresh_token(&txn, session.id, &refresh, now).await?;
        let user = user::ActiveModel {
            id: Set(user.id),
            last_login_at: Set(Some(now)),
            last_login_ip: Set(client.ip.clone()),
            ..Default::default()
        }
        .update(&txn)
        .await?;
        txn.commit().await?;
        // Only the last-login fields of cached accounts are behind: other instances are not
        // told (a login is frequent, and a new session is in no cache yet).
        self.sessions_cache.clear();

        let user = User::from(user);
        let access_token = self.keys.issue(
            user.id,
            user.role,
            session.id,
            now,
            self.config.access_ttl_secs,
        )?;
        Ok(TokenPair {
            access_token,
            refresh_token: refresh,
            expires_in: self.config.access_ttl_secs,
            user,
        })
    }

    /// Exchanges a refresh token for a new pair. Each token works once: presenting a used one
    /// again means it was stolen or replayed, so the whole family is revoked.
    pub async fn refresh<C>(&self, db: &C, presented: &str) -> Result<TokenPair, UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let now = self.now();
        let hash = sha256_hex(presented);
        let txn = db.begin().await?;
        // The conditional update is the race arbiter: of many concurrent uses exactly one sees
        // `used_at IS NULL` (PostgreSQL re-checks it after the row lock; SQLite serialises).
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::TokenHash.eq(hash.as_str()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        let Some(token) = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(hash.as_str()))
            .one(&txn)
            .await?
        else {
            return Err(UsersError::InvalidRefreshToken);
        };
        if claimed == 0 {
            revoke_session(&txn, token.session_id, reason::REFRESH_REUSE, now).await?;
            txn.commit().await?;
            self.changed().await;
            tracing::warn!(
                session_id = token.session_id,
                "refresh token reused; session revoked"
            );
            return Err(UsersError::InvalidRefreshToken);
        }
        let Some((session, Some(user))) = session::Entity::find_by_id(token.session_id)
            .find_also_related(user::Entity)
            .one(&txn)
            .await?
        else {
            return Err(UsersError::InvalidRefreshToken);
        };
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(UsersError::InvalidRefreshToken);
        }
        let user = User::from(user);
        match user.status {
            UserStatus::Active => {}
            UserStatus::Disabled => return Err(UsersError::AccountDisabled),
            UserStatus::Deleted => return Err(UsersError::InvalidRefreshToken),
        }
        let refresh = new_refresh_token();
        insert_refresh_token(&txn, session.id, &refresh, now).await?;
        session::ActiveModel {
            id: Set(session.id),
            last_used_at: Set(now),
            ..Default::default()
        }
        .update(&txn)
        .await?;
        txn.commit().await?;

        let access_token = self.keys.issue(
            user.id,
            user.role,
            session.id,
            now,
            self.config.access_ttl_secs,
        )?;
        Ok(TokenPair {
            access_token,
            refresh_token: refresh,
            expires_in: self.config.access_ttl_secs,
            user,
        })
    }

    /// Resolves a bearer access token to its caller, checking the session and the account as
    /// they are now: a logout, revocation, disable or role change applies to the next request.
    pub async fn authenticate(
        &self,
        db: &impl ConnectionTrait,
        token: &str,
    ) -> Result<Principal, UsersError> {
        let claims = self.keys.verify(token)?;
        self.sync_cached().await;
        let cached = match self.sessions_cache.get(claims.sid) {
            Some(cached) => cached,
            None => {
                let epoch = self.sessions_cache.epoch();
                let Some((session, Some(user))) = session::Entity::find_by_id(claims.sid)
                    .find_also_related(user::Entity)
                    .one(db)
                    .await?
                else {
                    return Err(UsersError::TokenRevoked);
                };
                let cached = CachedSession {
                    user: User::from(user),
                    session_user_id: session.user_id,
                    revoked: session.revoked_at.is_some(),
                    expires_at: session.expires_at,
                };
                self.sessions_cache
                    .insert(claims.sid, cached.clone(), epoch);
                cached
            }
        };
        if claims.sub.parse::<i64>() != Ok(cached.session_user_id) {
            return Err(UsersError::InvalidToken);
        }
        let user = cached.user;
        // The account's state first: a disabled user is told so, not just "log in again".
        match user.status {
            UserStatus::Active => {}
            UserStatus::Disabled => return Err(UsersError::AccountDisabled),
            UserStatus::Deleted => return Err(UsersError::TokenRevoked),
        }
        if cached.revoked || cached.expires_at <= self.now() {
            return Err(UsersError::TokenRevoked);
        }
        Ok(Principal {
            user,
            session_id: claims.sid,
            token_expires_at: claims.exp,
        })
    }

    /// Ends the caller's session: its access token and refresh family stop working at once.
    pub async fn logout(
        &self,
        db: &impl ConnectionTrait,
        principal: &Principal,
    ) -> Result<(), UsersError> {
        revoke_session(db, principal.session_id, reason::LOGOUT, self.now()).await?;
        self.changed().await;
        Ok(())
    }
}

async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    session_id: i64,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), UsersError> {
    refresh_token::ActiveModel {
        session_id: Set(session_id),
        token_hash: Set(sha256_hex(token)),
        created_at: Set(now),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

pub(crate) async fn revoke_session(
    db: &impl ConnectionTrait,
    session_id: i64,
    why: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, UsersError> {
    Ok(session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(session::Column::RevokedReason, Expr::value(why))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Revokes every live session of a user, except `keep` (the caller's own, on password change).
pub(crate) async fn revoke_user_sessions(
    db: &impl ConnectionTrait,
    user_id: i64,
    keep: Option<i64>,
    why: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, UsersError> {
    let mut update = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(session::Column::RevokedReason, Expr::value(why))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(session::Column::Id.ne(keep));
    }
    Ok(update.exec(db).await?.rows_affected)
}

fn truncate_user_agent(agent: &str) -> String {
    agent.chars().take(512).collect()
}
