//! The ledger: every change of a balance is one entry, written in the same transaction as the
//! balance, keyed by a unique idempotency key. The balance moves with a conditional UPDATE, so
//! concurrent changes can never take it below what is held (and so never below zero), on
//! SQLite and PostgreSQL alike, across any number of instances.

use chrono::{DateTime, Utc};
use confab_core::{MAX_CREDITS, Page, PageRequest};
use confab_store::entity::{credit_account, ledger_entry};
use confab_store::fetch_page;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    SqlErr, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::CreditsError;

/// Why a balance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Adjustment,
    RegistrationReward,
    CheckIn,
    Redemption,
    Usage,
    Purchase,
    Refund,
}

impl EntryKind {
    pub const ALL: [EntryKind; 7] = [
        EntryKind::Adjustment,
        EntryKind::RegistrationReward,
        EntryKind::CheckIn,
        EntryKind::Redemption,
        EntryKind::Usage,
        EntryKind::Purchase,
        EntryKind::Refund,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Adjustment => "adjustment",
            EntryKind::RegistrationReward => "registration_reward",
            EntryKind::CheckIn => "check_in",
            EntryKind::Redemption => "redemption",
            EntryKind::Usage => "usage",
            EntryKind::Purchase => "purchase",
            EntryKind::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A change to write.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub user_id: i64,
    pub kind: EntryKind,
    /// Signed; never zero.
    pub amount: i64,
    pub reason: String,
    pub reference: Option<String>,
    /// Writing the same key again returns the first entry and changes nothing.
    pub idempotency_key: String,
    pub actor_id: Option<i64>,
}

/// One ledger entry: a change to a balance, never edited.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    /// The entry id.
    pub id: i64,
    /// Whose balance.
    pub user_id: i64,
    /// Why the balance changed.
    #[schema(value_type = EntryKind)]
    pub kind: String,
    /// Signed: credits added (positive) or taken (negative).
    pub amount: i64,
    /// The balance right after this entry.
    pub balance_after: i64,
    /// Why, for people.
    pub reason: String,
    /// What it refers to, e.g. a usage record, an order or a code.
    pub reference: Option<String>,
    /// The key that makes the change happen once.
    pub idempotency_key: String,
    /// The admin who made an adjustment.
    pub actor_id: Option<i64>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl From<ledger_entry::Model> for EntryView {
    fn from(row: ledger_entry::Model) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            kind: row.kind,
            amount: row.amount,
            balance_after: row.balance_after,
            reason: row.reason,
            reference: row.reference,
            idempotency_key: row.idempotency_key,
            actor_id: row.actor_id,
            created_at: row.created_at,
        }
    }
}

/// The result of [`apply`]: the entry, and whether it was written before (a replay).
#[derive(Debug, Clone)]
pub struct Applied {
    pub entry: EntryView,
    pub replayed: bool,
}

/// A balance, what is held for requests in flight, and the tier.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Credits {
    /// The sum of the ledger entries; never above 10^15.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub balance: i64,
    /// Reserved by requests in flight.
    pub held: i64,
    /// What a new request may spend: balance - held.
    pub available: i64,
    /// The tier in effect now (a lapsed paid tier shows as free).
    #[schema(value_type = crate::tiers::Tier)]
    pub tier: String,
    /// When a `vip` or `svip` tier ends; null for `free`.
    pub tier_expires_at: Option<DateTime<Utc>>,
}

impl Credits {
    /// The account as it is at `now`: a lapsed paid tier shows as free.
    fn of(row: credit_account::Model, now: DateTime<Utc>) -> Self {
        let tier = crate::tiers::Tier::of(&row.tier, row.tier_expires_at, now);
        Self {
            balance: row.balance,
            held: row.held,
            available: row.balance - row.held,
            tier: tier.as_str().to_owned(),
            tier_expires_at: row
                .tier_expires_at
                .filter(|_| tier != crate::tiers::Tier::Free),
        }
    }
}

/// A user's credits (zero when nothing was ever written).
pub async fn credits(db: &impl ConnectionTrait, user_id: i64) -> Result<Credits, CreditsError> {
    Ok(
        match credit_account::Entity::find_by_id(user_id).one(db).await? {
            Some(row) => Credits::of(row, Utc::now()),
            None => Credits {
                balance: 0,
                held: 0,
                available: 0,
                tier: "free".into(),
                tier_expires_at: None,
            },
        },
    )
}

fn check(entry: &NewEntry) -> Result<(), CreditsError> {
    if entry.amount == 0 || !(-MAX_CREDITS..=MAX_CREDITS).contains(&entry.amount) {
        return Err(CreditsError::Invalid(
            "amount",
            format!("amount must not be zero and must be between -{MAX_CREDITS} and {MAX_CREDITS}"),
        ));
    }
    if entry.reason.trim().is_empty() || entry.reason.chars().count() > 500 {
        return Err(CreditsError::Invalid(
            "reason",
            "reason must be 1 to 500 characters".into(),
        ));
    }
    // Stored keys are a prefix naming their source and the source's own key.
    if entry.idempotency_key.is_empty() || entry.idempotency_key.chars().count() > 256 {
        return Err(CreditsError::Invalid(
            "idempotency_key",
            "idempotency_key must be 1 to 256 characters".into(),
        ));
    }
    Ok(())
}

/// A key a client chose: 1 to 128 characters.
fn check_client_key(key: &str) -> Result<(), CreditsError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(CreditsError::Invalid(
            "idempotency_key",
            "idempotency_key must be 1 to 128 characters".into(),
        ));
    }
    Ok(())
}

/// The entry already written under this key, if its content matches; a different change under
/// the same key is a conflict.
async fn replay(
    db: &impl ConnectionTrait,
    entry: &NewEntry,
) -> Result<Option<EntryView>, CreditsError> {
    let found = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::IdempotencyKey.eq(&entry.idempotency_key))
        .one(db)
        .await?;
    match found {
        None => Ok(None),
        Some(row)
            if row.user_id == entry.user_id
                && row.amount == entry.amount
                && row.kind == entry.kind.as_str() =>
        {
            Ok(Some(row.into()))
        }
        Some(_) => Err(CreditsError::IdempotencyConflict),
    }
}

/// Writes one entry in its own transaction. Replaying a key returns the first entry.
pub async fn apply<C>(db: &C, entry: NewEntry, now: DateTime<Utc>) -> Result<Applied, CreditsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    check(&entry)?;
    if let Some(first) = replay(db, &entry).await? {
        return Ok(Applied {
            entry: first,
            replayed: true,
        });
    }
    let txn = db.begin().await?;
    match apply_in(&txn, &entry, now).await {
        Ok(view) => {
            txn.commit().await?;
            Ok(Applied {
                entry: view,
                replayed: false,
            })
        }
        // Another request wrote the same key between our check and our insert.
        Err(CreditsError::Database(error))
            if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
        {
            txn.rollback().await?;
            match replay(db, &entry).await? {
                Some(first) => Ok(Applied {
                    entry: first,
                    replayed: true,
                }),
                None => Err(CreditsError::Database(error)),
            }
        }
        Err(error) => Err(error),
    }
}

/// Writes one entry inside the caller's transaction (which must be rolled back on error).
/// The first statement writes, so on SQLite the transaction takes the write lock at once and
/// never fails upgrading a read lock.
pub async fn apply_in(
    txn: &impl ConnectionTrait,
    entry: &NewEntry,
    now: DateTime<Utc>,
) -> Result<EntryView, CreditsError> {
    ensure_account(txn, entry.user_id, now).await?;
    let mut update = credit_account::Entity::update_many()
        .col_expr(
            credit_account::Column::Balance,
            Expr::col(credit_account::Column::Balance).add(entry.amount),
        )
        .col_expr(credit_account::Column::UpdatedAt, Expr::value(now))
        .filter(credit_account::Column::UserId.eq(entry.user_id));
    if entry.amount < 0 {
        // Never below what running requests hold (and so never below zero).
        update = update.filter(
            Expr::col(credit_account::Column::Balance)
                .add(entry.amount)
                .gte(Expr::col(credit_account::Column::Held)),
        );
    } else {
        // Never above the maximum, compared without computing the sum, so the database
        // never meets an overflow (SQLite would store it as a REAL).
        update = update
            .filter(credit_account::Column::Balance.lte(MAX_CREDITS.saturating_sub(entry.amount)));
    }
    if update.exec(txn).await?.rows_affected == 0 {
        return Err(if entry.amount < 0 {
            CreditsError::InsufficientCredits
        } else {
            CreditsError::BalanceLimitExceeded
        });
    }
    let account = credit_account::Entity::find_by_id(entry.user_id)
        .one(txn)
        .await?
        .ok_or(CreditsError::InsufficientCredits)?;
    insert_entry(txn, entry, account.balance, now).await
}

/// Creates the user's account row (empty, free tier) unless it exists.
pub(crate) async fn ensure_account(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<(), CreditsError> {
    credit_account::Entity::insert(credit_account::ActiveModel {
        user_id: Set(user_id),
        balance: Set(0),
        held: Set(0),
        tier: Set("free".into()),
        tier_expires_at: Set(None),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([credit_account::Column::UserId])
    .exec(db)
    .await?;
    Ok(())
}

/// Admins act only on users that exist and are not deleted.
pub(crate) async fn ensure_user(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<(), CreditsError> {
    use confab_store::entity::user;
    match user::Entity::find_by_id(user_id).one(db).await? {
        Some(row) if row.deleted_at.is_none() => Ok(()),
        _ => Err(CreditsError::UserNotFound),
    }
}

/// Appends the entry for a balance change already made in this transaction.
pub(crate) async fn insert_entry(
    txn: &impl ConnectionTrait,
    entry: &NewEntry,
    balance_after: i64,
    now: DateTime<Utc>,
) -> Result<EntryView, CreditsError> {
    let row = ledger_entry::Entity::insert(ledger_entry::ActiveModel {
        id: NotSet,
        user_id: Set(entry.user_id),
        kind: Set(entry.kind.as_str().to_owned()),
        amount: Set(entry.amount),
        balance_after: Set(balance_after),
        reason: Set(entry.reason.clone()),
        reference: Set(entry.reference.clone()),
        idempotency_key: Set(entry.idempotency_key.clone()),
        actor_id: Set(entry.actor_id),
        created_ms: Set(now.timestamp_millis()),
        created_at: Set(now),
    })
    .exec_with_returning(txn)
    .await?;
    Ok(row.into())
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub user_id: Option<i64>,
    pub kind: Option<EntryKind>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Newest first.
pub async fn entries(
    db: &impl ConnectionTrait,
    filter: &LedgerFilter,
    page: PageRequest,
) -> Result<Page<EntryView>, CreditsError> {
    let mut select = ledger_entry::Entity::find().order_by_desc(ledger_entry::Column::Id);
    if let Some(user_id) = filter.user_id {
        select = select.filter(ledger_entry::Column::UserId.eq(user_id));
    }
    if let Some(kind) = filter.kind {
        select = select.filter(ledger_entry::Column::Kind.eq(kind.as_str()));
    }
    if let Some(from) = filter.from {
        select = select.filter(ledger_entry::Column::CreatedMs.gte(from.timestamp_millis()));
    }
    if let Some(to) = filter.to {
        select = select.filter(ledger_entry::Column::CreatedMs.lt(to.timestamp_millis()));
    }
    Ok(fetch_page(db, select, page).await?.map(EntryView::from))
}

/// An admin's adjustment of a user's balance (an entry like any other: the ledger is never
/// edited). Without an idempotency key each call is a new adjustment.
pub async fn adjust<C>(
    db: &C,
    user_id: i64,
    amount: i64,
    reason: String,
    idempotency_key: Option<String>,
    admin_id: i64,
    now: DateTime<Utc>,
) -> Result<Applied, CreditsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    if let Some(key) = &idempotency_key {
        check_client_key(key)?;
    }
    ensure_user(db, user_id).await?;
    let idempotency_key = match idempotency_key {
        Some(key) => format!("adjustment:{key}"),
        None => format!("adjustment:{}", uuid::Uuid::new_v4().simple()),
    };
    apply(
        db,
        NewEntry {
            user_id,
            kind: EntryKind::Adjustment,
            amount,
            reason,
            reference: None,
            idempotency_key,
            actor_id: Some(admin_id),
        },
        now,
    )
    .await
}
