//! Emailed six-digit codes for registration, login and password reset.

use chrono::Duration;
use confab_store::entity::{user, verification_code};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use subtle::ConstantTimeEq;

use crate::mailer::Email;
use crate::service::keyed_hash;
use crate::validate::EmailAddress;
use crate::{Accounts, ClientInfo, UserStatus, UsersError};

/// What a code may be used for; a code for one purpose never works for another.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    Register,
    Login,
    PasswordReset,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Register => "register",
            CodePurpose::Login => "login",
            CodePurpose::PasswordReset => "password_reset",
        }
    }

    fn subject(self, site: &str) -> String {
        match self {
            CodePurpose::Register => format!("{site}: your registration code"),
            CodePurpose::Login => format!("{site}: your login code"),
            CodePurpose::PasswordReset => format!("{site}: your password reset code"),
        }
    }
}

impl Accounts {
    /// Issues a code and emails it. The answer is the same whether or not the address has an
    /// account, so it cannot be used to find out who is registered: a code is recorded either
    /// way (the resend cooldown applies alike) but only mailed where it can be used.
    pub async fn request_code(
        &self,
        db: &impl ConnectionTrait,
        email: &str,
        purpose: CodePurpose,
        client: &ClientInfo,
    ) -> Result<(), UsersError> {
        let email = EmailAddress::parse(email)?;
        let email_key = email.key();
        let now = self.now();

        let ip_key = format!("codes:ip:{}", client.ip.as_deref().unwrap_or("unknown"));
        self.limiter
            .attempt(
                &ip_key,
                self.config.code_requests_per_ip_per_hour,
                std::time::Duration::from_secs(3600),
            )
            .await?;

        // One code per address per cooldown, decided in one atomic step (shared by every
        // instance through Redis): two requests at once cannot both send.
        let cooldown_key = format!("codes:email:{email_key}");
        let cooldown = std::time::Duration::from_secs(
            u64::try_from(self.config.code_resend_cooldown_secs).unwrap_or(0),
        );
        if !cooldown.is_zero()
            && let Err(refusal) = self.limiter.attempt(&cooldown_key, 1, cooldown).await
        {
            // Refused before anything was sent: not a request the hourly count should hold.
            self.limiter.release(&ip_key).await;
            return Err(refusal.into());
        }

        // The codes in the database also tell, after a restart (the limiter may be in memory).
        let latest = verification_code::Entity::find()
            .filter(verification_code::Column::EmailKey.eq(email_key.as_str()))
            .order_by_desc(verification_code::Column::Id)
            .one(db)
            .await?;
        if let Some(latest) = latest {
            let ready_at =
                latest.created_at + Duration::seconds(self.config.code_resend_cooldown_secs);
            if ready_at > now {
                // Refused before anything was sent: not a request the hourly count should hold.
                self.limiter.release(&ip_key).await;
                let wait = std::cmp::Ord::max((ready_at - now).num_seconds(), 1);
                return Err(UsersError::RateLimited(wait.unsigned_abs()));
            }
        }

        let account = user::Entity::find()
            .filter(user::Column::EmailKey.eq(email_key.as_str()))
            .one(db)
            .await?;
        let deliver = match purpose {
            CodePurpose::Register => account.is_none(),
            CodePurpose::Login | CodePurpose::PasswordReset => account
                .is_some_and(|row| UserStatus::parse(&row.status) == Some(UserStatus::Active)),
        };

        // Only the newest code for an address and purpose works.
        verification_code::Entity::update_many()
            .col_expr(verification_code::Column::ConsumedAt, Expr::value(now))
            .filter(verification_code::Column::EmailKey.eq(email_key.as_str()))
            .filter(verification_code::Column::Purpose.eq(purpose.as_str()))
            .filter(verification_code::Column::ConsumedAt.is_null())
            .exec(db)
            .await?;
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let row = verification_code::ActiveModel {
            email_key: Set(email_key.clone()),
            purpose: Set(purpose.as_str().to_owned()),
            code_hash: Set(self.code_hash(&email_key, purpose, &code)),
            attempts: Set(0),
            created_at: Set(now),
            expires_at: Set(now + Duration::seconds(self.config.code_ttl_secs)),
            consumed_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;

        if !deliver {
            return Ok(());
        }
        let minutes = self.config.code_ttl_secs / 60;
        let message = Email {
            to: email.as_str().to_owned(),
            subject: purpose.subject(&self.config.site_name),
            body: format!(
                "Your {} code is {code}. It expires in {minutes} minutes. If you did not ask for it, ignore this message.\n",
                self.config.site_name
            ),
        };
        if let Err(err) = self.mailer.send(message).await {
            tracing::error!(error = %err, "verification email not sent");
            // Let the address ask again at once instead of waiting out a cooldown for nothing.
            self.limiter.reset(&cooldown_key).await;
            verification_code::Entity::delete_by_id(row.id)
                .exec(db)
                .await?;
            return Err(UsersError::EmailDelivery);
        }
        Ok(())
    }

    /// Checks a code without consuming it. Every guess is counted first, by one conditional
    /// update that admits it only while the code is live and has attempts left, so however
    /// many guesses arrive at once at most `code_max_attempts` are ever compared. The count is
    /// written outside any caller's transaction, so a rollback cannot undo it.
    /// Returns the code's id for [`Accounts::consume_code`].
    pub(crate) async fn check_code(
        &self,
        db: &impl ConnectionTrait,
        email_key: &str,
        purpose: CodePurpose,
        code: &str,
    ) -> Result<i64, UsersError> {
        let now = self.now();
        let Some(row) = verification_code::Entity::find()
            .filter(verification_code::Column::EmailKey.eq(email_key))
            .filter(verification_code::Column::Purpose.eq(purpose.as_str()))
            .filter(verification_code::Column::ConsumedAt.is_null())
            .order_by_desc(verification_code::Column::Id)
            .one(db)
            .await?
        else {
            return Err(UsersError::InvalidCode);
        };
        let admitted = verification_code::Entity::update_many()
            .col_expr(
                verification_code::Column::Attempts,
                Expr::col(verification_code::Column::Attempts).add(1),
            )
            .filter(verification_code::Column::Id.eq(row.id))
            .filter(verification_code::Column::ConsumedAt.is_null())
            .filter(verification_code::Column::ExpiresAt.gt(now))
            .filter(verification_code::Column::Attempts.lt(self.config.code_max_attempts))
            .exec(db)
            .await?
            .rows_affected;
        if admitted == 0 {
            return Err(UsersError::InvalidCode);
        }
        let expected = self.code_hash(email_key, purpose, code.trim());
        if bool::from(expected.as_bytes().ct_eq(row.code_hash.as_bytes())) {
            Ok(row.id)
        } else {
            Err(UsersError::InvalidCode)
        }
    }

    /// Marks a checked code used; of concurrent uses only one wins.
    pub(crate) async fn consume_code(
        &self,
        db: &impl ConnectionTrait,
        code_id: i64,
    ) -> Result<(), UsersError> {
        let consumed = verification_code::Entity::update_many()
            .col_expr(
                verification_code::Column::ConsumedAt,
                Expr::value(self.now()),
            )
            .filter(verification_code::Column::Id.eq(code_id))
            .filter(verification_code::Column::ConsumedAt.is_null())
            .exec(db)
            .await?
            .rows_affected;
        if consumed == 1 {
            Ok(())
        } else {
            Err(UsersError::InvalidCode)
        }
    }

    fn code_hash(&self, email_key: &str, purpose: CodePurpose, code: &str) -> String {
        keyed_hash(
            &self.code_key,
            &format!("{}:{email_key}:{code}", purpose.as_str()),
        )
    }
}
