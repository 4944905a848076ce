//! Card codes: an admin creates a batch (credits, or days of vip / svip) and receives the codes
//! once; only their SHA-256 and a short prefix (for search) are stored. Redeeming flips the
//! code from unused to used with one conditional UPDATE, so under any concurrency exactly one
//! user gets it, and the grant is written in the same transaction.

use chrono::{DateTime, Utc};
use confab_core::crypto::sha256_hex;
use confab_core::{Page, PageRequest};
use confab_store::entity::{redemption_batch, redemption_code};
use confab_store::{fetch_page, like};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::CreditsError;
use crate::ledger::{self, Credits, EntryKind, NewEntry};
use crate::tiers::{self, Tier};

pub const MAX_BATCH: u32 = 10_000;
/// Far below [`confab_core::MAX_CREDITS`]: a card is worth at most this much.
const MAX_CODE_CREDITS: i64 = 1_000_000_000;
const MAX_DAYS: i64 = 3_650;
/// Crockford's base32: no I, L, O or U, so codes survive being read aloud or retyped.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 20 characters of 5 bits: 100 random bits.
const CODE_LEN: usize = 20;
const PREFIX_LEN: usize = 4;

/// What a card code grants: credits, or days of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    Credits,
    VipDays,
    SvipDays,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Credits => "credits",
            CodeKind::VipDays => "vip_days",
            CodeKind::SvipDays => "svip_days",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [CodeKind::Credits, CodeKind::VipDays, CodeKind::SvipDays]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A batch of card codes to make.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBatch {
    /// What each code grants.
    pub kind: CodeKind,
    /// Credits (1 to 10^9) or days (1 to 3650) each code grants.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub amount: i64,
    /// 1 to 10,000 codes.
    #[schema(minimum = 1, maximum = 10_000)]
    pub quantity: u32,
    /// Codes cannot be redeemed after this.
    pub expires_at: Option<DateTime<Utc>>,
    /// Up to 200 characters, e.g. who the batch is for.
    #[schema(max_length = 200)]
    pub note: Option<String>,
}

/// A batch of card codes made together.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    /// The batch id.
    pub id: i64,
    /// What each code grants.
    pub kind: CodeKind,
    /// Credits, or days of the tier, each code grants.
    pub amount: i64,
    /// How many codes the batch holds.
    pub quantity: i32,
    /// Codes cannot be redeemed after this; null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The admin's note, e.g. who the batch is for.
    pub note: String,
    /// The admin who made it.
    pub created_by: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl From<redemption_batch::Model> for BatchView {
    fn from(row: redemption_batch::Model) -> Self {
        Self {
            id: row.id,
            kind: CodeKind::parse(&row.kind).unwrap_or(CodeKind::Credits),
            amount: row.amount,
            quantity: row.quantity,
            expires_at: row.expires_at,
            note: row.note,
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

/// A new batch and its codes: the only time the codes are shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedBatch {
    /// The batch just made.
    pub batch: BatchView,
    /// `XXXXX-XXXXX-XXXXX-XXXXX`; case, dashes and spaces do not matter when redeeming.
    pub codes: Vec<String>,
}

/// Where a card code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    Unused,
    Used,
    Voided,
    /// Unused and past its expiry.
    Expired,
}

/// One card code, as admins see it (never the code itself: it is stored hashed).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeView {
    /// The code id.
    pub id: i64,
    /// The batch it belongs to.
    pub batch_id: i64,
    /// The code's first characters, to find it.
    pub prefix: String,
    /// What it grants.
    pub kind: CodeKind,
    /// Credits or days it grants.
    pub amount: i64,
    /// Unused, redeemed, expired or voided.
    pub status: CodeStatus,
    /// It cannot be redeemed after this; null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who redeemed it.
    pub redeemed_by: Option<i64>,
    /// When it was redeemed.
    pub redeemed_at: Option<DateTime<Utc>>,
    /// When an admin voided it.
    pub voided_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl CodeView {
    fn of(row: redemption_code::Model, now: DateTime<Utc>) -> Self {
        let status = match row.status.as_str() {
            "used" => CodeStatus::Used,
            "voided" => CodeStatus::Voided,
            _ if row.expires_at.is_some_and(|expiry| expiry <= now) => CodeStatus::Expired,
            _ => CodeStatus::Unused,
        };
        Self {
            id: row.id,
            batch_id: row.batch_id,
            prefix: row.prefix,
            kind: CodeKind::parse(&row.kind).unwrap_or(CodeKind::Credits),
            amount: row.amount,
            status,
            expires_at: row.expires_at,
            redeemed_by: row.redeemed_by,
            redeemed_at: row.redeemed_at,
            voided_at: row.voided_at,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CodeFilter {
    pub batch_id: Option<i64>,
    pub status: Option<CodeStatus>,
    /// The first characters of a code (dashes and case ignored).
    pub prefix: Option<String>,
    pub redeemed_by: Option<i64>,
}

/// What a redemption granted, and the account after it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Redeemed {
    /// What the code granted.
    pub kind: CodeKind,
    /// Credits or days granted.
    pub amount: i64,
    /// The caller's balance afterwards.
    pub credits: Credits,
}

/// Upper case without dashes or spaces; Crockford's look-alikes read as digits.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn display(code: &str) -> String {
    code.as_bytes()
        .chunks(5)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn check_batch(new: &NewBatch, now: DateTime<Utc>) -> Result<String, CreditsError> {
    let invalid = |param, message: &str| Err(CreditsError::Invalid(param, message.to_owned()));
    let max = match new.kind {
        CodeKind::Credits => MAX_CODE_CREDITS,
        CodeKind::VipDays | CodeKind::SvipDays => MAX_DAYS,
    };
    if !(1..=max).contains(&new.amount) {
        return invalid(
            "amount",
            "amount must be 1 to 1000000000 credits, or 1 to 3650 days",
        );
    }
    if !(1..=MAX_BATCH).contains(&new.quantity) {
        return invalid("quantity", "quantity must be between 1 and 10000");
    }
    if new.expires_at.is_some_and(|expiry| expiry <= now) {
        return invalid("expires_at", "expires_at must be in the future");
    }
    let note = new.note.as_deref().unwrap_or_default().trim().to_owned();
    if note.chars().count() > 200 {
        return invalid("note", "note must be at most 200 characters");
    }
    Ok(note)
}

/// Creates the batch and its codes in one transaction and returns the codes (never again).
pub async fn create_batch<C>(
    db: &C,
    admin_id: i64,
    new: NewBatch,
    now: DateTime<Utc>,
) -> Result<CreatedBatch, CreditsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let note = check_batch(&new, now)?;
    let codes: Vec<String> = (0..new.quantity).map(|_| new_code()).collect();
    let txn = db.begin().await?;
    let batch = redemption_batch::ActiveModel {
        kind: Set(new.kind.as_str().to_owned()),
        amount: Set(new.amount),
        quantity: Set(i32::try_from(new.quantity).unwrap_or(i32::MAX)),
        expires_at: Set(new.expires_at),
        note: Set(note),
        created_by: Set(admin_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    // 500 rows a statement stays far below either database's bound-parameter limit.
    for chunk in codes.chunks(500) {
        let rows = chunk.iter().map(|code| redemption_code::ActiveModel {
            batch_id: Set(batch.id),
            code_hash: Set(sha256_hex(code)),
            prefix: Set(code[..PREFIX_LEN].to_owned()),
            kind: Set(batch.kind.clone()),
            amount: Set(batch.amount),
            expires_at: Set(batch.expires_at),
            status: Set("unused".into()),
            redeemed_by: Set(None),
            redeemed_at: Set(None),
            voided_at: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
        redemption_code::Entity::insert_many(rows)
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(CreatedBatch {
        batch: batch.into(),
        codes: codes.iter().map(|code| display(code)).collect(),
    })
}

/// Codes, newest first, with their status as of `now`.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &CodeFilter,
    page: PageRequest,
    now: DateTime<Utc>,
) -> Result<Page<CodeView>, CreditsError> {
    let mut query = redemption_code::Entity::find().order_by_desc(redemption_code::Column::Id);
    if let Some(batch_id) = filter.batch_id {
        query = query.filter(redemption_code::Column::BatchId.eq(batch_id));
    }
    if let Some(user_id) = filter.redeemed_by {
        query = query.filter(redemption_code::Column::RedeemedBy.eq(user_id));
    }
    if let Some(prefix) = &filter.prefix {
        let prefix: String = normalize(prefix).chars().take(PREFIX_LEN).collect();
        query = query.filter(like::starts_with(redemption_code::Column::Prefix, &prefix));
    }
    let unexpired = Condition::any()
        .add(redemption_code::Column::ExpiresAt.is_null())
        .add(redemption_code::Column::ExpiresAt.gt(now));
    query = match filter.status {
        None => query,
        Some(CodeStatus::Used) => query.filter(redemption_code::Column::Status.eq("used")),
        Some(CodeStatus::Voided) => query.filter(redemption_code::Column::Status.eq("voided")),
        Some(CodeStatus::Unused) => query
            .filter(redemption_code::Column::Status.eq("unused"))
            .filter(unexpired),
        Some(CodeStatus::Expired) => query
            .filter(redemption_code::Column::Status.eq("unused"))
            .filter(redemption_code::Column::ExpiresAt.lte(now)),
    };
    Ok(fetch_page(db, query, page)
        .await?
        .map(|row| CodeView::of(row, now)))
}

/// Batches, newest first.
pub async fn batches(
    db: &impl ConnectionTrait,
    page: PageRequest,
) -> Result<Page<BatchView>, CreditsError> {
    let query = redemption_batch::Entity::find().order_by_desc(redemption_batch::Column::Id);
    Ok(fetch_page(db, query, page).await?.map(BatchView::from))
}

/// Voids an unused code (voiding twice is harmless); a used code cannot be voided.
pub async fn void(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<CodeView, CreditsError> {
    redemption_code::Entity::update_many()
        .col_expr(redemption_code::Column::Status, Expr::value("voided"))
        .col_expr(redemption_code::Column::VoidedAt, Expr::value(now))
        .filter(redemption_code::Column::Id.eq(id))
        .filter(redemption_code::Column::Status.eq("unused"))
        .exec(db)
        .await?;
    let row = redemption_code::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(CreditsError::CodeNotFound)?;
    if row.status == "used" {
        return Err(CreditsError::CodeUsed);
    }
    Ok(CodeView::of(row, now))
}

/// Voids every unused code of a batch; returns how many.
pub async fn void_batch(
    db: &impl ConnectionTrait,
    batch_id: i64,
    now: DateTime<Utc>,
) -> Result<u64, CreditsError> {
    if redemption_batch::Entity::find_by_id(batch_id)
        .one(db)
        .await?
        .is_none()
    {
        return Err(CreditsError::CodeNotFound);
    }
    let voided = redemption_code::Entity::update_many()
        .col_expr(redemption_code::Column::Status, Expr::value("voided"))
        .col_expr(redemption_code::Column::VoidedAt, Expr::value(now))
        .filter(redemption_code::Column::BatchId.eq(batch_id))
        .filter(redemption_code::Column::Status.eq("unused"))
        .exec(db)
        .await?;
    Ok(voided.rows_affected)
}

/// Redeems a code for the user: exactly once, whoever else tries at the same moment. Unknown,
/// used, voided and expired codes each have their own error.
pub async fn redeem<C>(
    db: &C,
    user_id: i64,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Redeemed, CreditsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let normalized = normalize(code);
    if normalized.len() != CODE_LEN {
        return Err(CreditsError::CodeNotFound);
    }
    let hash = sha256_hex(&normalized);
    let txn = db.begin().await?;
    // The first statement writes: the one UPDATE that finds the code unused wins.
    let claimed = redemption_code::Entity::update_many()
        .col_expr(redemption_code::Column::Status, Expr::value("used"))
        .col_expr(redemption_code::Column::RedeemedBy, Expr::value(user_id))
        .col_expr(redemption_code::Column::RedeemedAt, Expr::value(now))
        .filter(redemption_code::Column::CodeHash.eq(hash.as_str()))
        .filter(redemption_code::Column::Status.eq("unused"))
        .filter(
            Condition::any()
                .add(redemption_code::Column::ExpiresAt.is_null())
                .add(redemption_code::Column::ExpiresAt.gt(now)),
        )
        .exec(&txn)
        .await?;
    let row = redemption_code::Entity::find()
        .filter(redemption_code::Column::CodeHash.eq(hash.as_str()))
        .one(&txn)
        .await?;
    let row = match row {
        Some(row) if claimed.rows_affected == 1 => row,
        seen => {
            txn.rollback().await?;
            return not_claimed(db, seen, user_id, now).await;
        }
    };
    let kind = CodeKind::parse(&row.kind).unwrap_or(CodeKind::Credits);
    match kind {
        CodeKind::Credits => {
            let entry = NewEntry {
                user_id,
                kind: EntryKind::Redemption,
                amount: row.amount,
                reason: format!("card code {}…", row.prefix),
                reference: Some(format!("redemption_code:{}", row.id)),
                idempotency_key: format!("redemption:{}", row.id),
                actor_id: None,
            };
            ledger::apply_in(&txn, &entry, now).await?;
        }
        CodeKind::VipDays => tiers::grant_days(&txn, user_id, Tier::Vip, row.amount, now).await?,
        CodeKind::SvipDays => tiers::grant_days(&txn, user_id, Tier::Svip, row.amount, now).await?,
    }
    txn.commit().await?;
    granted(db, &row, user_id).await
}

/// What the code in `row` granted, with the user's account as it is now.
async fn granted(
    db: &impl ConnectionTrait,
    row: &redemption_code::Model,
    user_id: i64,
) -> Result<Redeemed, CreditsError> {
    Ok(Redeemed {
        kind: CodeKind::parse(&row.kind).unwrap_or(CodeKind::Credits),
        amount: row.amount,
        credits: ledger::credits(db, user_id).await?,
    })
}

/// A code the claim did not take, as its transaction read it after the claim: the redeemer's
/// own retry (its first answer was lost) gets the same answer again; anyone else learns why not.
async fn not_claimed(
    db: &impl ConnectionTrait,
    row: Option<redemption_code::Model>,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Redeemed, CreditsError> {
    let Some(row) = row else {
        return Err(CreditsError::CodeNotFound);
    };
    Err(match row.status.as_str() {
        "used" if row.redeemed_by == Some(user_id) => return granted(db, &row, user_id).await,
        "used" => CreditsError::CodeUsed,
        "voided" => CreditsError::CodeVoided,
        _ if row.expires_at.is_some_and(|expiry| expiry <= now) => CreditsError::CodeExpired,
        // Claimed and then rolled back by a concurrent redeemer's failure: try again.
        _ => CreditsError::CodeUsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_whatever_the_typing() {
        let code = new_code();
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
        let shown = display(&code);
        assert_eq!(shown.len(), CODE_LEN + 3);
        assert_eq!(normalize(&shown.to_lowercase()), code);
        assert_eq!(normalize(" ab-cd o i l "), "ABCD011");
    }
}
