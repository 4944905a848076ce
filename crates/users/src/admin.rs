//! What admins do to accounts.

use confab_core::{Page, PageRequest};
use confab_store::entity::user;
use confab_store::{fetch_page, like};
use sea_orm::sea_query::{Condition, Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};

use crate::sessions::{reason, revoke_user_sessions};
use crate::validate::parse_nickname;
use crate::{Accounts, Role, User, UserStatus, UsersError};

/// Filters of the admin user list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Matches part of the username, email or nickname, case-insensitively.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// An admin's change to an account. Only active/disabled can be set here; deletion has its own
/// operation because it also anonymises.
#[derive(Debug, Clone, Default)]
pub struct AdminUserPatch {
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    pub nickname: Option<String>,
}

impl Accounts {
    pub async fn list_users(
        &self,
        db: &impl ConnectionTrait,
        filter: UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, UsersError> {
        let mut condition = Condition::all();
        if let Some(search) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let search = search.to_lowercase();
            let like =
                |column: user::Column| like::contains(Func::lower(Expr::col(column)), &search);
            condition = condition.add(
                Condition::any()
                    .add(like(user::Column::UsernameKey))
                    .add(like(user::Column::EmailKey))
                    .add(like(user::Column::Nickname)),
            );
        }
        if let Some(role) = filter.role {
            condition = condition.add(user::Column::Role.eq(role.as_str()));
        }
        if let Some(status) = filter.status {
            condition = condition.add(user::Column::Status.eq(status.as_str()));
        }
        let query = user::Entity::find()
            .filter(condition)
            .order_by_asc(user::Column::Id);
        Ok(fetch_page(db, query, page).await?.map(User::from))
    }

    pub async fn admin_update_user<C>(
        &self,
        db: &C,
        id: i64,
        patch: AdminUserPatch,
    ) -> Result<User, UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        if patch.status == Some(UserStatus::Deleted) {
            return Err(UsersError::InvalidField(
                "status",
                "status must be active or disabled; use DELETE to delete",
            ));
        }
        let nickname = patch.nickname.as_deref().map(parse_nickname).transpose()?;
        let now = self.now();
        let txn = db.begin().await?;
        // Write first (touch the row), then read it: keeps SQLite from a failed lock upgrade and
        // makes a concurrent demotion of the other admin wait for this one on PostgreSQL.
        let touched = user::Entity::update_many()
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::Status.ne(UserStatus::Deleted.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        if touched == 0 {
            return Err(UsersError::NotFound);
        }
        let row = self.find_row(&txn, id).await?;
        let current = User::from(row);
        let loses_admin = current.role == Role::Admin
            && current.status == UserStatus::Active
            && (patch.role == Some(Role::User) || patch.status == Some(UserStatus::Disabled));
        if loses_admin {
            self.ensure_other_admin(&txn, id).await?;
        }
        let mut model = user::ActiveModel {
            id: Set(id),
            ..Default::default()
        };
        if let Some(role) = patch.role {
            model.role = Set(role.as_str().to_owned());
        }
        if let Some(status) = patch.status {
            model.status = Set(status.as_str().to_owned());
        }
        if let Some(nickname) = nickname {
            model.nickname = Set(Some(nickname));
        }
        let updated = model.update(&txn).await?;
        if patch.status == Some(UserStatus::Disabled) {
            revoke_user_sessions(&txn, id, None, reason::ACCOUNT_DISABLED, now).await?;
        }
        txn.commit().await?;
        self.changed().await;
        Ok(updated.into())
    }

    /// Soft delete: the account is disabled for good and its personal data removed; its id and
    /// the records that refer to it stay.
    pub async fn admin_delete_user<C>(&self, db: &C, id: i64) -> Result<(), UsersError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let now = self.now();
        let txn = db.begin().await?;
        let anonymised = format!("deleted-{id}");
        let touched = user::Entity::update_many()
            .col_expr(user::Column::Username, Expr::value(anonymised.clone()))
            .col_expr(user::Column::UsernameKey, Expr::value(anonymised))
            .col_expr(user::Column::Email, Expr::value(Option::<String>::None))
            .col_expr(user::Column::EmailKey, Expr::value(Option::<String>::None))
            .col_expr(user::Column::Nickname, Expr::value(Option::<String>::None))
            .col_expr(user::Column::AvatarUrl, Expr::value(Option::<String>::None))
            .col_expr(
                user::Column::LastLoginIp,
                Expr::value(Option::<String>::None),
            )
            // Not a valid PHC string: no password can ever match it.
            .col_expr(user::Column::PasswordHash, Expr::value("!deleted"))
            .col_expr(
                user::Column::Status,
                Expr::value(UserStatus::Deleted.as_str()),
            )
            .col_expr(user::Column::DeletedAt, Expr::value(now))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::Status.ne(UserStatus::Deleted.as_str()))
            .exec(&txn)
            .await?
            .rows_affected;
        if touched == 0 {
            return Err(UsersError::NotFound);
        }
        let row = self.find_row(&txn, id).await?;
        if row.role == Role::Admin.as_str() {
            self.ensure_other_admin(&txn, id).await?;
        }
        revoke_user_sessions(&txn, id, None, reason::ACCOUNT_DELETED, now).await?;
        txn.commit().await?;
        self.changed().await;
        Ok(())
    }

    /// Ends every session of a user; returns how many were live.
    pub async fn admin_revoke_sessions(
        &self,
        db: &impl ConnectionTrait,
        id: i64,
    ) -> Result<u64, UsersError> {
        self.find_row(db, id).await?;
        let revoked = revoke_user_sessions(db, id, None, reason::ADMIN_REVOKED, self.now()).await?;
        self.changed().await;
        Ok(revoked)
    }

    async fn ensure_other_admin(
        &self,
        db: &impl ConnectionTrait,
        except: i64,
    ) -> Result<(), UsersError> {
        let others = user::Entity::find()
            .filter(user::Column::Role.eq(Role::Admin.as_str()))
            .filter(user::Column::Status.eq(UserStatus::Active.as_str()))
            .filter(user::Column::Id.ne(except))
            .count(db)
            .await?;
        if others == 0 {
            Err(UsersError::LastAdmin)
        } else {
            Ok(())
        }
    }
}
