//! Chats and providers: provider keys, the model catalog, chats, messages, usage records, files.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderKeys::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ProviderKeys::Id))
                    .col(string_len(ProviderKeys::Name, 64))
                    .col(string_len(ProviderKeys::Kind, 16))
                    .col(string_len(ProviderKeys::BaseUrl, 512))
                    .col(text(ProviderKeys::SecretCiphertext))
                    .col(string_len(ProviderKeys::SecretHint, 32))
                    .col(string_len_null(ProviderKeys::ApiVersion, 32))
                    .col(json(ProviderKeys::Models))
                    .col(json(ProviderKeys::Deployments))
                    .col(integer(ProviderKeys::Priority))
                    .col(integer(ProviderKeys::Weight))
                    .col(string_len(ProviderKeys::Status, 16))
                    .col(string_len_null(ProviderKeys::DisabledReason, 255))
                    .col(integer_null(ProviderKeys::RpmLimit))
                    .col(big_integer_null(ProviderKeys::DailyTokenLimit))
                    .col(string_len(ProviderKeys::Source, 16))
                    .col(big_integer(ProviderKeys::RequestCount))
                    .col(big_integer(ProviderKeys::PromptTokens))
                    .col(big_integer(ProviderKeys::CompletionTokens))
                    .col(timestamp_with_time_zone_null(ProviderKeys::LastUsedAt))
                    .col(timestamp_with_time_zone(ProviderKeys::CreatedAt))
                    .col(timestamp_with_time_zone(ProviderKeys::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Models::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Models::Id))
                    .col(string_len_uniq(Models::Name, 64))
                    .col(string_len(Models::Modality, 16))
                    .col(json(Models::UpstreamNames))
                    .col(string_len_null(Models::Description, 512))
                    .col(big_integer(Models::PricePerRequest))
                    .col(big_integer(Models::PricePer1kPrompt))
                    .col(big_integer(Models::PricePer1kCompletion))
                    .col(big_integer(Models::PricePerImage))
                    .col(integer(Models::MinTier))
                    .col(integer(Models::ContextWindow))
                    .col(integer(Models::MaxOutputTokens))
                    .col(boolean(Models::Enabled))
                    .col(integer(Models::SortOrder))
                    .col(timestamp_with_time_zone(Models::CreatedAt))
                    .col(timestamp_with_time_zone(Models::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Chats::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Chats::Id))
                    .col(big_integer(Chats::UserId))
                    .col(string_len(Chats::Title, 255))
                    .col(string_len_null(Chats::Model, 64))
                    .col(text_null(Chats::SystemPrompt))
                    .col(timestamp_with_time_zone(Chats::CreatedAt))
                    .col(timestamp_with_time_zone(Chats::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Chats::DeletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chats_user")
                            .from(Chats::Table, Chats::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chats_user")
                    .table(Chats::Table)
                    .col(Chats::UserId)
                    .col(Chats::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Messages::Id))
                    .col(big_integer(Messages::ChatId))
                    .col(big_integer(Messages::UserId))
                    .col(big_integer_null(Messages::ParentId))
                    .col(string_len(Messages::Role, 16))
                    .col(text(Messages::Content))
                    .col(string_len_null(Messages::Model, 64))
                    .col(json_null(Messages::Params))
                    .col(string_len(Messages::Status, 16))
                    .col(integer(Messages::PromptTokens))
                    .col(integer(Messages::CompletionTokens))
                    .col(integer_null(Messages::TtftMs))
                    .col(integer_null(Messages::TotalMs))
                    .col(big_integer_null(Messages::ProviderKeyId))
                    .col(string_len_null(Messages::ErrorCode, 64))
                    .col(text_null(Messages::Error))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_chat")
                            .from(Messages::Table, Messages::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_chat")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UsageRecords::Table)
                    .if_not_exists()
                    .col(big_pk_auto(UsageRecords::Id))
                    .col(big_integer(UsageRecords::UserId))
                    .col(big_integer_null(UsageRecords::ChatId))
                    .col(big_integer_null(UsageRecords::MessageId))
                    .col(big_integer_null(UsageRecords::ApiKeyId))
                    .col(string_len(UsageRecords::Endpoint, 32))
                    .col(string_len(UsageRecords::Model, 64))
                    .col(big_integer_null(UsageRecords::ProviderKeyId))
                    .col(integer(UsageRecords::PromptTokens))
                    .col(integer(UsageRecords::CompletionTokens))
                    .col(integer(UsageRecords::Images))
                    .col(integer_null(UsageRecords::TtftMs))
                    .col(integer(UsageRecords::LatencyMs))
                    .col(string_len(UsageRecords::Status, 16))
                    .col(string_len_null(UsageRecords::ErrorCode, 64))
                    .col(big_integer(UsageRecords::Cost))
                    .col(big_integer(UsageRecords::CreatedMs))
                    .col(timestamp_with_time_zone(UsageRecords::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_usage_user", UsageRecords::UserId),
            ("idx_usage_created", UsageRecords::CreatedMs),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(UsageRecords::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .if_not_exists()
                    .col(string_len(Files::Id, 64).primary_key())
                    .col(big_integer(Files::UserId))
                    .col(string_len(Files::Purpose, 16))
                    .col(string_len(Files::ContentType, 64))
                    .col(big_integer(Files::Size))
                    .col(string_len(Files::Sha256, 64))
                    .col(timestamp_with_time_zone(Files::CreatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Files::Table.into_iden(),
            UsageRecords::Table.into_iden(),
            Messages::Table.into_iden(),
            Chats::Table.into_iden(),
            Models::Table.into_iden(),
            ProviderKeys::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProviderKeys {
    Table,
    Id,
    Name,
    Kind,
    BaseUrl,
    SecretCiphertext,
    SecretHint,
    ApiVersion,
    Models,
    Deployments,
    Priority,
    Weight,
    Status,
    DisabledReason,
    RpmLimit,
    DailyTokenLimit,
    Source,
    RequestCount,
    PromptTokens,
    CompletionTokens,
    LastUsedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Models {
    Table,
    Id,
    Name,
    Modality,
    UpstreamNames,
    Description,
    PricePerRequest,
    #[sea_orm(iden = "price_per_1k_prompt")]
    PricePer1kPrompt,
    #[sea_orm(iden = "price_per_1k_completion")]
    PricePer1kCompletion,
    PricePerImage,
    MinTier,
    ContextWindow,
    MaxOutputTokens,
    Enabled,
    SortOrder,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    UserId,
    Title,
    Model,
    SystemPrompt,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ChatId,
    UserId,
    ParentId,
    Role,
    Content,
    Model,
    Params,
    Status,
    PromptTokens,
    CompletionTokens,
    TtftMs,
    TotalMs,
    ProviderKeyId,
    ErrorCode,
    Error,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    Id,
    UserId,
    ChatId,
    MessageId,
    ApiKeyId,
    Endpoint,
    Model,
    ProviderKeyId,
    PromptTokens,
    CompletionTokens,
    Images,
    TtftMs,
    LatencyMs,
    Status,
    ErrorCode,
    Cost,
    CreatedMs,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    UserId,
    Purpose,
    ContentType,
    Size,
    Sha256,
    CreatedAt,
}
