//! Credits: one account row per user (balance, amount held, tier), the append-only ledger, and
//! the holds requests in flight keep on a balance.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CreditAccounts::Table)
                    .if_not_exists()
                    .col(big_integer(CreditAccounts::UserId).primary_key())
                    .col(big_integer(CreditAccounts::Balance))
                    .col(big_integer(CreditAccounts::Held))
                    .col(string_len(CreditAccounts::Tier, 16))
                    .col(timestamp_with_time_zone_null(CreditAccounts::TierExpiresAt))
                    .col(timestamp_with_time_zone(CreditAccounts::UpdatedAt))
                    .check(Expr::col(CreditAccounts::Balance).gte(Expr::col(CreditAccounts::Held)))
                    .check(Expr::col(CreditAccounts::Held).gte(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(LedgerEntries::Id))
                    .col(big_integer(LedgerEntries::UserId))
                    .col(string_len(LedgerEntries::Kind, 32))
                    .col(big_integer(LedgerEntries::Amount))
                    .col(big_integer(LedgerEntries::BalanceAfter))
                    .col(string_len(LedgerEntries::Reason, 500))
                    .col(string_len_null(LedgerEntries::Reference, 128))
                    .col(string_len(LedgerEntries::IdempotencyKey, 128).unique_key())
                    .col(big_integer_null(LedgerEntries::ActorId))
                    .col(big_integer(LedgerEntries::CreatedMs))
                    .col(timestamp_with_time_zone(LedgerEntries::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CreditHolds::Table)
                    .if_not_exists()
                    .col(big_pk_auto(CreditHolds::Id))
                    .col(big_integer(CreditHolds::UserId))
                    .col(big_integer(CreditHolds::Amount))
                    .col(string_len(CreditHolds::Reference, 128))
                    .col(string_len(CreditHolds::Status, 16))
                    .col(big_integer_null(CreditHolds::Charged))
                    .col(big_integer(CreditHolds::ExpiresMs))
                    .col(timestamp_with_time_zone(CreditHolds::CreatedAt))
                    .col(timestamp_with_time_zone_null(CreditHolds::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_holds_open")
                    .table(CreditHolds::Table)
                    .col(CreditHolds::Status)
                    .col(CreditHolds::ExpiresMs)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(big_integer(Messages::Cost).default(0))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_ledger_user",
                vec![LedgerEntries::UserId, LedgerEntries::Id],
            ),
            ("idx_ledger_created", vec![LedgerEntries::CreatedMs]),
        ] {
            let mut index = Index::create();
            index.name(name).table(LedgerEntries::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Cost)
                    .to_owned(),
            )
            .await?;
        for table in [
            CreditHolds::Table.into_iden(),
            LedgerEntries::Table.into_iden(),
            CreditAccounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum CreditAccounts {
    Table,
    UserId,
    Balance,
    Held,
    Tier,
    TierExpiresAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    UserId,
    Kind,
    Amount,
    BalanceAfter,
    Reason,
    Reference,
    IdempotencyKey,
    ActorId,
    CreatedMs,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CreditHolds {
    Table,
    Id,
    UserId,
    Amount,
    Reference,
    Status,
    Charged,
    ExpiresMs,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Cost,
}
