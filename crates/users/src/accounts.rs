//! Creating accounts, logging in, and what users change about themselves.

use confab_store::entity::{setting, user};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

use crate::codes::CodePurpose;
use crate::sessions::{Principal, TokenPair, reason, revoke_user_sessions};
use crate::validate::{EmailAddress, NewPassword, Username, parse_avatar_url, parse_nickname};
use confab_credits::CreditsError;
use confab_credits::ledger::{self, EntryKind, NewEntry};

use crate::{Accounts, ClientInfo, Role, User, UserStatus, UsersError, password, settings};

/// A new account as asked for.
#[derive(Debug, Clone)]
pub struct Registration {
    pub username: String,
    pub password: String,
    pub email: Option<String>,
    /// The emailed code, when the site requires email verification.
    pub code: Option<String>,
    pub nickname: Option<String>,
}

/// Changes a user makes to their own profile. `Some("")` clears a field.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
}

struct ValidAccount {
    username: Username,
    password: NewPassword,
    email: Option<EmailAddress>,
    nickname: Option<String>,
}

fn validate_account(
    username: &str,
    password: &str,
    email: Option<&str>,
    nickname: Option<&str>,
) -> Result<ValidAccount, UsersError> {
    Ok(ValidAccount {
        username: Username::parse(username)?,
        password: NewPassword::parse(password)?,
        email: email
            .filter(|raw| !raw.trim().is_empty())
            .map(EmailAddress::parse)
            .transpose()?,
        nickname: nickname
            .filter(|raw| !raw.trim().is_empty())
            .map(parse_nickname)
            .transpose()?,
    })
}

impl Accounts {
    /// Creates the first admin. Works only while no user exists; after that, 409.
    pub async fn setup<C>(
        &self,
        db: &C,
        username: &str,
        password: &str,
        email: Option<&str>,
    ) -> Result<User, UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let account = validate_account(username, password, email, None)?;
        if user::Entity::find().count(db).await? > 0 {
            return Err(UsersError::AlreadyInitialized);
        }
        let hash = password::hash(account.password.as_str().to_owned()).await?;
        let now = self.now();
        let txn = db.begin().await?;
        // The marker's primary key admits one setup; a concurrent one fails here and waits for
        // nothing else (the insert is the transaction's first statement).
        setting::Entity::insert(setting::ActiveModel {
            key: Set(settings::SETUP_MARKER.to_owned()),
            value: Set(serde_json::Value::String(now.to_rfc3339())),
            updated_at: Set(now),
        })
        .exec(&txn)
        .await
        .map_err(|err| match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => UsersError::AlreadyInitialized,
            _ => UsersError::Database(err),
        })?;
        if user::Entity::find().count(&txn).await? > 0 {
            return Err(UsersError::AlreadyInitialized);
        }
        let row = self
            .insert_user(&txn, &account, hash, Role::Admin, false)
            .await?;
        txn.commit().await?;
        tracing::info!(user_id = row.id, "first admin created");
        Ok(row.into())
    }

    /// Registers a user account, with an emailed code when the site requires verification.
    pub async fn register<C>(&self, db: &C, input: Registration) -> Result<User, UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let site = settings::load(db).await?;
        if !site.registration_enabled {
            return Err(UsersError::RegistrationClosed);
        }
        let account = validate_account(
            &input.username,
            &input.password,
            input.email.as_deref(),
            input.nickname.as_deref(),
        )?;
        let verified_code = if site.require_email_verification {
            let email = account
                .email
                .as_ref()
                .ok_or(UsersError::EmailCodeRequired("email"))?;
            let code = input
                .code
                .as_deref()
                .filter(|code| !code.trim().is_empty())
                .ok_or(UsersError::EmailCodeRequired("code"))?;
            self.ensure_available(db, &account).await?;
            Some(
                self.check_code(db, &email.key(), CodePurpose::Register, code)
                    .await?,
            )
        } else {
            self.ensure_available(db, &account).await?;
            None
        };
        let hash = password::hash(account.password.as_str().to_owned()).await?;
        let txn = db.begin().await?;
        if let Some(code_id) = verified_code {
            self.consume_code(&txn, code_id).await?;
        }
        let row = self
            .insert_user(&txn, &account, hash, Role::User, verified_code.is_some())
            .await?;
        if site.registration_reward > 0 {
            // In the same transaction: an account exists with its reward or not at all.
            let reward = NewEntry {
                user_id: row.id,
                kind: EntryKind::RegistrationReward,
                amount: site.registration_reward,
                reason: "registration reward".into(),
                reference: None,
                idempotency_key: format!("registration:{}", row.id),
                actor_id: None,
            };
            ledger::apply_in(&txn, &reward, chrono::Utc::now())
                .await
                .map_err(|error| match error {
                    CreditsError::Database(error) => UsersError::Database(error),
                    other => UsersError::Internal(other.to_string()),
                })?;
        }
        txn.commit().await?;
        Ok(row.into())
    }

    /// Logs in with a username or email and a password. Unknown accounts and wrong passwords
    /// answer alike, in the same time; repeated failures per account and per IP are refused.
    /// The attempt is counted before the password is checked, so no burst gets past the limit.
    pub async fn login_with_password<C>(
        &self,
        db: &C,
        identifier: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let identifier_key = identifier.trim().to_lowercase();
        let found = user::Entity::find()
            .filter(
                Condition::any()
                    .add(user::Column::UsernameKey.eq(identifier_key.as_str()))
                    .add(user::Column::EmailKey.eq(identifier_key.as_str())),
            )
            .one(db)
            .await?;
        let reservation = self
            .reserve_login(client, login_account_key(found.as_ref(), &identifier_key))
            .await?;
        let outcome = async {
            let hash = found.as_ref().map(|row| row.password_hash.clone());
            let matches = password::verify(password.to_owned(), hash).await?;
            let row = found
                .filter(|_| matches)
                .ok_or(UsersError::InvalidCredentials)?;
            match UserStatus::parse(&row.status) {
                Some(UserStatus::Active) => {}
                Some(UserStatus::Disabled) => return Err(UsersError::AccountDisabled),
                _ => return Err(UsersError::InvalidCredentials),
            }
            self.start_session(db, row, client).await
        }
        .await;
        self.settle_login(&reservation, &outcome).await;
        outcome
    }

    /// Logs in with an email and the code just sent to it.
    pub async fn login_with_code<C>(
        &self,
        db: &C,
        email: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let email = EmailAddress::parse(email)?;
        let found = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email.key()))
            .one(db)
            .await?;
        let reservation = self
            .reserve_login(client, login_account_key(found.as_ref(), &email.key()))
            .await?;
        let outcome = async {
            let code_id = self
                .check_code(db, &email.key(), CodePurpose::Login, code)
                .await?;
            let row = found.ok_or(UsersError::InvalidCode)?;
            match UserStatus::parse(&row.status) {
                Some(UserStatus::Active) => {}
                Some(UserStatus::Disabled) => return Err(UsersError::AccountDisabled),
                _ => return Err(UsersError::InvalidCode),
            }
            self.consume_code(db, code_id).await?;
            if row.email_verified_at.is_none() {
                user::ActiveModel {
                    id: Set(row.id),
                    email_verified_at: Set(Some(self.now())),
                    ..Default::default()
                }
                .update(db)
                .await?;
            }
            self.start_session(db, row, client).await
        }
        .await;
        self.settle_login(&reservation, &outcome).await;
        outcome
    }

    /// Sets a new password after checking the current one; every other session ends.
    pub async fn change_password<C>(
        &self,
        db: &C,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let new = NewPassword::parse(new)?;
        let account_key = format!("password:account:{}", principal.user.id);
        // Counted before the check, so concurrent guesses cannot get past the limit.
        self.limiter
            .attempt(
                &account_key,
                self.config.login_failures_per_account_and_ip,
                self.config.login_failure_window,
            )
            .await?;
        let row = match self.find_row(db, principal.user.id).await {
            Ok(row) => row,
            Err(error) => {
                self.limiter.release(&account_key).await;
                return Err(error);
            }
        };
        if !password::verify(current.to_owned(), Some(row.password_hash)).await? {
            return Err(UsersError::InvalidCredentials);
        }
        let hash = password::hash(new.as_str().to_owned()).await?;
        let txn = db.begin().await?;
        self.set_password_hash(&txn, principal.user.id, hash)
            .await?;
        revoke_user_sessions(
            &txn,
            principal.user.id,
            Some(principal.session_id),
            reason::PASSWORD_CHANGED,
            self.now(),
        )
        .await?;
        txn.commit().await?;
        self.changed().await;
        self.limiter.reset(&account_key).await;
        Ok(())
    }

    /// Sets a new password with an emailed code; every session of the account ends.
    pub async fn reset_password<C>(
        &self,
        db: &C,
        email: &str,
        code: &str,
        new: &str,
    ) -> Result<(), UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let email = EmailAddress::parse(email)?;
        let new = NewPassword::parse(new)?;
        let code_id = self
            .check_code(db, &email.key(), CodePurpose::PasswordReset, code)
            .await?;
        let row = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email.key()))
            .one(db)
            .await?
            .ok_or(UsersError::InvalidCode)?;
        let hash = password::hash(new.as_str().to_owned()).await?;
        let txn = db.begin().await?;
        self.consume_code(&txn, code_id).await?;
        self.set_password_hash(&txn, row.id, hash).await?;
        revoke_user_sessions(&txn, row.id, None, reason::PASSWORD_RESET, self.now()).await?;
        txn.commit().await?;
        self.changed().await;
        self.limiter.reset(&account_login_key(row.id)).await;
        Ok(())
    }

    /// Updates the caller's own nickname and avatar. Nothing else is changeable here.
    pub async fn update_profile(
        &self,
        db: &impl ConnectionTrait,
        user_id: i64,
        patch: ProfilePatch,
    ) -> Result<User, UsersError> {
        let mut model = user::ActiveModel {
            id: Set(user_id),
            updated_at: Set(self.now()),
            ..Default::default()
        };
        if let Some(nickname) = patch.nickname {
            model.nickname = Set(optional(&nickname, parse_nickname)?);
        }
        if let Some(avatar) = patch.avatar_url {
            model.avatar_url = Set(optional(&avatar, parse_avatar_url)?);
        }
        let updated = model.update(db).await?;
        self.changed().await;
        Ok(updated.into())
    }

    pub async fn get_user(&self, db: &impl ConnectionTrait, id: i64) -> Result<User, UsersError> {
        Ok(self.find_row(db, id).await?.into())
    }

    pub(crate) async fn find_row(
        &self,
        db: &impl ConnectionTrait,
        id: i64,
    ) -> Result<user::Model, UsersError> {
        user::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or(UsersError::NotFound)
    }

    async fn set_password_hash(
        &self,
        db: &impl ConnectionTrait,
        user_id: i64,
        hash: String,
    ) -> Result<(), UsersError> {
        user::ActiveModel {
            id: Set(user_id),
            password_hash: Set(hash),
            updated_at: Set(self.now()),
            ..Default::default()
        }
        .update(db)
        .await?;
        Ok(())
    }

    async fn ensure_available(
        &self,
        db: &impl ConnectionTrait,
        account: &ValidAccount,
    ) -> Result<(), UsersError> {
        let taken = user::Entity::find()
            .filter(user::Column::UsernameKey.eq(account.username.key()))
            .count(db)
            .await?;
        if taken > 0 {
            return Err(UsersError::UsernameTaken);
        }
        if let Some(email) = &account.email {
            let taken = user::Entity::find()
                .filter(user::Column::EmailKey.eq(email.key()))
                .count(db)
                .await?;
            if taken > 0 {
                return Err(UsersError::EmailTaken);
            }
        }
        Ok(())
    }

    async fn insert_user(
        &self,
        db: &impl ConnectionTrait,
        account: &ValidAccount,
        password_hash: String,
        role: Role,
        email_verified: bool,
    ) -> Result<user::Model, UsersError> {
        let now = self.now();
        user::ActiveModel {
            username: Set(account.username.as_str().to_owned()),
            username_key: Set(account.username.key()),
            email: Set(account.email.as_ref().map(|e| e.as_str().to_owned())),
            email_key: Set(account.email.as_ref().map(EmailAddress::key)),
            password_hash: Set(password_hash),
            role: Set(role.as_str().to_owned()),
            status: Set(UserStatus::Active.as_str().to_owned()),
            nickname: Set(account.nickname.clone()),
            avatar_url: Set(None),
            email_verified_at: Set(email_verified.then_some(now)),
            last_login_at: Set(None),
            last_login_ip: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await
        .map_err(|err| UsersError::from_unique(err, UsersError::UsernameTaken))
    }

    /// Counts a login attempt per address, per account and address, and per account, before
    /// any credential is checked; refused (429) once any is full, giving back what it counted.
    async fn reserve_login(
        &self,
        client: &ClientInfo,
        account_key: String,
    ) -> Result<LoginReservation, UsersError> {
        let address = client.ip.as_deref().unwrap_or("unknown");
        let reservation = LoginReservation {
            ip_key: format!("login:ip:{address}"),
            pair_key: format!("{account_key}:ip:{address}"),
            account_key,
        };
        let counts = [
            (
                reservation.ip_key.as_str(),
                self.config.login_failures_per_ip,
            ),
            (
                reservation.pair_key.as_str(),
                self.config.login_failures_per_account_and_ip,
            ),
            (
                reservation.account_key.as_str(),
                self.config.login_failures_per_account,
            ),
        ];
        self.limiter
            .attempt_all(&counts, self.config.login_failure_window)
            .await?;
        Ok(reservation)
    }

    /// A wrong credential keeps its attempts counted; a login gives them back and starts its
    /// address's count for the account over (not the account's ceiling: an owner logging in
    /// does not reset what guessers elsewhere have used); anything else (a disabled account, a
    /// database error) was not a guess, so its attempts are given back.
    async fn settle_login<T>(
        &self,
        reservation: &LoginReservation,
        outcome: &Result<T, UsersError>,
    ) {
        match outcome {
            Err(UsersError::InvalidCredentials | UsersError::InvalidCode) => {}
            Ok(_) => {
                self.limiter.release(&reservation.ip_key).await;
                self.limiter.reset(&reservation.pair_key).await;
                self.limiter.release(&reservation.account_key).await;
            }
            Err(_) => {
                let keys = [
                    reservation.ip_key.as_str(),
                    reservation.pair_key.as_str(),
                    reservation.account_key.as_str(),
                ];
                self.limiter.release_all(&keys).await;
            }
        }
    }
}

/// The login attempts one request has counted.
struct LoginReservation {
    ip_key: String,
    pair_key: String,
    account_key: String,
}

/// An account is counted by its id, whichever name (username or email) it was called by; a
/// name with no account is counted by the name, so unknown and known accounts answer alike.
fn login_account_key(found: Option<&user::Model>, name_key: &str) -> String {
    match found {
        Some(row) => account_login_key(row.id),
        None => format!("login:unknown:{name_key}"),
    }
}

fn account_login_key(user_id: i64) -> String {
    format!("login:account:{user_id}")
}

/// Empty clears the field; anything else must parse.
fn optional(
    raw: &str,
    parse: fn(&str) -> Result<String, UsersError>,
) -> Result<Option<String>, UsersError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        parse(raw).map(Some)
    }
}
