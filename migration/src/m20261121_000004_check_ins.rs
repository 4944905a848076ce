//! Daily check-ins: one row per user and calendar day (in the site's time zone).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CheckIns::Table)
                    .if_not_exists()
                    .col(big_pk_auto(CheckIns::Id))
                    .col(big_integer(CheckIns::UserId))
                    .col(string_len(CheckIns::Day, 10))
                    .col(integer(CheckIns::Streak))
                    .col(big_integer(CheckIns::Reward))
                    .col(timestamp_with_time_zone(CheckIns::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // Once per user and day, whatever the concurrency.
        manager
            .create_index(
                Index::create()
                    .name("idx_check_ins_user_day")
                    .table(CheckIns::Table)
                    .col(CheckIns::UserId)
                    .col(CheckIns::Day)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CheckIns::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CheckIns {
    Table,
    Id,
    UserId,
    Day,
    Streak,
    Reward,
    CreatedAt,
}
