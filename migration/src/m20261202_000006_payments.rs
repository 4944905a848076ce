//! Payments: products, payment channels (secrets sealed), orders with a snapshot of what was
//! bought, every gateway event, and refunds. An order is paid once: `(channel_id, trade_no)` is
//! unique, and fulfilment is a conditional update of the order in the ledger's transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

async fn orders_index(
    manager: &SchemaManager<'_>,
    name: &str,
    cols: [PaymentOrders; 2],
) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name(name)
                .table(PaymentOrders::Table)
                .col(cols[0])
                .col(cols[1])
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Products::Id))
                    .col(string_len(Products::Title, 64))
                    .col(string_len(Products::Description, 1000))
                    .col(big_integer(Products::PriceCents))
                    .col(string_len(Products::Currency, 3))
                    .col(big_integer_null(Products::OriginalPriceCents))
                    .col(string_len_null(Products::Badge, 16))
                    .col(string_len(Products::GrantKind, 16))
                    .col(big_integer(Products::GrantAmount))
                    .col(string_len(Products::Status, 16))
                    .col(integer(Products::SortOrder))
                    .col(integer_null(Products::PerUserLimit))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Products::DeletedAt))
                    .check(Expr::col(Products::PriceCents).gt(0))
                    .check(Expr::col(Products::GrantAmount).gt(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PaymentChannels::Table)
                    .if_not_exists()
                    .col(big_pk_auto(PaymentChannels::Id))
                    .col(string_len(PaymentChannels::Kind, 16))
                    .col(string_len(PaymentChannels::Name, 64))
                    .col(json(PaymentChannels::PayTypes))
                    .col(json(PaymentChannels::Settings))
                    .col(text(PaymentChannels::SecretsSealed))
                    .col(boolean(PaymentChannels::Enabled))
                    .col(integer(PaymentChannels::SortOrder))
                    .col(timestamp_with_time_zone(PaymentChannels::CreatedAt))
                    .col(timestamp_with_time_zone(PaymentChannels::UpdatedAt))
                    .col(timestamp_with_time_zone_null(PaymentChannels::DeletedAt))
                    .to_owned(),
            )
            .await?;
        orders(manager).await?;
        events_and_refunds(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PaymentRefunds::Table.into_iden(),
            PaymentEvents::Table.into_iden(),
            PaymentOrders::Table.into_iden(),
            PaymentChannels::Table.into_iden(),
            Products::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn orders(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(PaymentOrders::Table)
                .if_not_exists()
                .col(big_pk_auto(PaymentOrders::Id))
                .col(string_len(PaymentOrders::OutTradeNo, 32).unique_key())
                .col(big_integer(PaymentOrders::UserId))
                .col(big_integer(PaymentOrders::ProductId))
                .col(big_integer(PaymentOrders::ChannelId))
                .col(string_len(PaymentOrders::PayType, 16))
                .col(integer(PaymentOrders::Quantity))
                .col(big_integer(PaymentOrders::AmountCents))
                .col(string_len(PaymentOrders::Currency, 3))
                .col(json(PaymentOrders::ProductSnapshot))
                .col(string_len(PaymentOrders::GrantKind, 16))
                .col(big_integer(PaymentOrders::GrantAmount))
                .col(string_len(PaymentOrders::Status, 24))
                .col(string_len_null(PaymentOrders::TradeNo, 128))
                .col(text_null(PaymentOrders::GatewayRef))
                .col(text_null(PaymentOrders::QrCode))
                .col(text_null(PaymentOrders::PayUrl))
                .col(timestamp_with_time_zone(PaymentOrders::ExpiresAt))
                .col(timestamp_with_time_zone_null(PaymentOrders::PaidAt))
                .col(boolean(PaymentOrders::ClosedAtGateway).default(false))
                .col(big_integer(PaymentOrders::RefundedCents).default(0))
                .col(big_integer(PaymentOrders::CreditsTakenBack).default(0))
                .col(big_integer(PaymentOrders::CreditsUnrecovered).default(0))
                .col(timestamp_with_time_zone(PaymentOrders::CreatedAt))
                .col(timestamp_with_time_zone(PaymentOrders::UpdatedAt))
                .check(Expr::col(PaymentOrders::AmountCents).gt(0))
                .check(
                    Expr::col(PaymentOrders::RefundedCents)
                        .lte(Expr::col(PaymentOrders::AmountCents)),
                )
                .foreign_key(&mut fk(
                    "fk_payment_orders_user",
                    (PaymentOrders::Table, PaymentOrders::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_payment_orders_product",
                    (PaymentOrders::Table, PaymentOrders::ProductId),
                    (Products::Table, Products::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_payment_orders_channel",
                    (PaymentOrders::Table, PaymentOrders::ChannelId),
                    (PaymentChannels::Table, PaymentChannels::Id),
                ))
                .to_owned(),
        )
        .await?;
    // One fulfilment per gateway trade: a second notify carrying the same trade cannot pay a
    // second order.
    manager
        .create_index(
            Index::create()
                .name("uq_payment_orders_trade")
                .table(PaymentOrders::Table)
                .col(PaymentOrders::ChannelId)
                .col(PaymentOrders::TradeNo)
                .unique()
                .to_owned(),
        )
        .await?;
    orders_index(
        manager,
        "idx_payment_orders_user",
        [PaymentOrders::UserId, PaymentOrders::Id],
    )
    .await?;
    orders_index(
        manager,
        "idx_payment_orders_status",
        [PaymentOrders::Status, PaymentOrders::ExpiresAt],
    )
    .await
}

async fn events_and_refunds(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(PaymentEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(PaymentEvents::Id))
                .col(big_integer(PaymentEvents::ChannelId))
                .col(big_integer_null(PaymentEvents::OrderId))
                .col(string_len(PaymentEvents::Kind, 16))
                .col(string_len(PaymentEvents::Outcome, 16))
                .col(string_len(PaymentEvents::Reason, 255))
                .col(string_len_null(PaymentEvents::TradeNo, 128))
                .col(big_integer_null(PaymentEvents::AmountCents))
                .col(json_null(PaymentEvents::Detail))
                .col(timestamp_with_time_zone(PaymentEvents::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_payment_events_channel",
                    (PaymentEvents::Table, PaymentEvents::ChannelId),
                    (PaymentChannels::Table, PaymentChannels::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_payment_events_order",
                    (PaymentEvents::Table, PaymentEvents::OrderId),
                    (PaymentOrders::Table, PaymentOrders::Id),
                ))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_payment_events_order")
                .table(PaymentEvents::Table)
                .col(PaymentEvents::OrderId)
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(PaymentRefunds::Table)
                .if_not_exists()
                .col(big_pk_auto(PaymentRefunds::Id))
                .col(big_integer(PaymentRefunds::OrderId))
                .col(string_len(PaymentRefunds::RefundNo, 32).unique_key())
                .col(big_integer(PaymentRefunds::AmountCents))
                .col(string_len(PaymentRefunds::Reason, 255))
                .col(string_len(PaymentRefunds::Status, 16))
                .col(string_len_null(PaymentRefunds::GatewayRefundId, 128))
                .col(big_integer(PaymentRefunds::CreditsTakenBack).default(0))
                .col(big_integer(PaymentRefunds::CreditsUnrecovered).default(0))
                .col(big_integer(PaymentRefunds::ActorId))
                .col(timestamp_with_time_zone(PaymentRefunds::CreatedAt))
                .col(timestamp_with_time_zone(PaymentRefunds::UpdatedAt))
                .check(Expr::col(PaymentRefunds::AmountCents).gt(0))
                .foreign_key(&mut fk(
                    "fk_payment_refunds_order",
                    (PaymentRefunds::Table, PaymentRefunds::OrderId),
                    (PaymentOrders::Table, PaymentOrders::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_payment_refunds_actor",
                    (PaymentRefunds::Table, PaymentRefunds::ActorId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_payment_refunds_order")
                .table(PaymentRefunds::Table)
                .col(PaymentRefunds::OrderId)
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Title,
    Description,
    PriceCents,
    Currency,
    OriginalPriceCents,
    Badge,
    GrantKind,
    GrantAmount,
    Status,
    SortOrder,
    PerUserLimit,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum PaymentChannels {
    Table,
    Id,
    Kind,
    Name,
    PayTypes,
    Settings,
    SecretsSealed,
    Enabled,
    SortOrder,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PaymentOrders {
    Table,
    Id,
    OutTradeNo,
    UserId,
    ProductId,
    ChannelId,
    PayType,
    Quantity,
    AmountCents,
    Currency,
    ProductSnapshot,
    GrantKind,
    GrantAmount,
    Status,
    TradeNo,
    GatewayRef,
    QrCode,
    PayUrl,
    ExpiresAt,
    PaidAt,
    ClosedAtGateway,
    RefundedCents,
    CreditsTakenBack,
    CreditsUnrecovered,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PaymentEvents {
    Table,
    Id,
    ChannelId,
    OrderId,
    Kind,
    Outcome,
    Reason,
    TradeNo,
    AmountCents,
    Detail,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PaymentRefunds {
    Table,
    Id,
    OrderId,
    RefundNo,
    AmountCents,
    Reason,
    Status,
    GatewayRefundId,
    CreditsTakenBack,
    CreditsUnrecovered,
    ActorId,
    CreatedAt,
    UpdatedAt,
}
