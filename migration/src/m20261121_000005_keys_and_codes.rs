//! Users' API keys (hashed secrets, limits and counters) and card codes (hashed, in batches).
//! Holds remember the key they were taken for, so a key's credit limit counts what is in flight.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(big_integer(ApiKeys::UserId))
                    .col(string_len(ApiKeys::Name, 64))
                    .col(string_len(ApiKeys::SecretHash, 64).unique_key())
                    .col(string_len(ApiKeys::Hint, 16))
                    .col(boolean(ApiKeys::Enabled))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(big_integer_null(ApiKeys::CreditLimit))
                    .col(big_integer(ApiKeys::CreditsUsed).default(0))
                    .col(big_integer(ApiKeys::CreditsHeld).default(0))
                    .col(big_integer_null(ApiKeys::DailyRequestLimit))
                    .col(big_integer(ApiKeys::RequestTotal).default(0))
                    .col(big_integer(ApiKeys::RequestToday).default(0))
                    .col(string_len(ApiKeys::RequestDay, 10).default(""))
                    .col(json_null(ApiKeys::AllowedModels))
                    .col(json_null(ApiKeys::AllowedIps))
                    .col(big_integer_null(ApiKeys::ChatId))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(string_len_null(ApiKeys::LastUsedIp, 64))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone(ApiKeys::UpdatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::DeletedAt))
                    .check(Expr::col(ApiKeys::CreditsHeld).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_user")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CreditHolds::Table)
                    .add_column(big_integer_null(CreditHolds::ApiKeyId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RedemptionBatches::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RedemptionBatches::Id))
                    .col(string_len(RedemptionBatches::Kind, 16))
                    .col(big_integer(RedemptionBatches::Amount))
                    .col(integer(RedemptionBatches::Quantity))
                    .col(timestamp_with_time_zone_null(RedemptionBatches::ExpiresAt))
                    .col(string_len(RedemptionBatches::Note, 200))
                    .col(big_integer(RedemptionBatches::CreatedBy))
                    .col(timestamp_with_time_zone(RedemptionBatches::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RedemptionCodes::Table)
                    .if_not_exists()
                    .col(big_pk_auto(RedemptionCodes::Id))
                    .col(big_integer(RedemptionCodes::BatchId))
                    .col(string_len(RedemptionCodes::CodeHash, 64).unique_key())
                    .col(string_len(RedemptionCodes::Prefix, 8))
                    .col(string_len(RedemptionCodes::Kind, 16))
                    .col(big_integer(RedemptionCodes::Amount))
                    .col(timestamp_with_time_zone_null(RedemptionCodes::ExpiresAt))
                    .col(string_len(RedemptionCodes::Status, 16))
                    .col(big_integer_null(RedemptionCodes::RedeemedBy))
                    .col(timestamp_with_time_zone_null(RedemptionCodes::RedeemedAt))
                    .col(timestamp_with_time_zone_null(RedemptionCodes::VoidedAt))
                    .col(timestamp_with_time_zone(RedemptionCodes::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_redemption_codes_batch", RedemptionCodes::BatchId),
            ("idx_redemption_codes_prefix", RedemptionCodes::Prefix),
            ("idx_redemption_codes_redeemer", RedemptionCodes::RedeemedBy),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(RedemptionCodes::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(CreditHolds::Table)
                    .drop_column(CreditHolds::ApiKeyId)
                    .to_owned(),
            )
            .await?;
        for table in [
            RedemptionCodes::Table.into_iden(),
            RedemptionBatches::Table.into_iden(),
            ApiKeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    UserId,
    Name,
    SecretHash,
    Hint,
    Enabled,
    ExpiresAt,
    CreditLimit,
    CreditsUsed,
    CreditsHeld,
    DailyRequestLimit,
    RequestTotal,
    RequestToday,
    RequestDay,
    AllowedModels,
    AllowedIps,
    ChatId,
    LastUsedAt,
    LastUsedIp,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum CreditHolds {
    Table,
    ApiKeyId,
}

#[derive(DeriveIden)]
enum RedemptionBatches {
    Table,
    Id,
    Kind,
    Amount,
    Quantity,
    ExpiresAt,
    Note,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RedemptionCodes {
    Table,
    Id,
    BatchId,
    CodeHash,
    Prefix,
    Kind,
    Amount,
    ExpiresAt,
    Status,
    RedeemedBy,
    RedeemedAt,
    VoidedAt,
    CreatedAt,
}
