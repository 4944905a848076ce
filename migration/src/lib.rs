//! Confab's schema, one migration per step. Runs on SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_accounts;
mod m20261121_000002_chats;
mod m20261121_000003_credits;
mod m20261121_000004_check_ins;
mod m20261121_000005_keys_and_codes;
mod m20261202_000006_payments;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_accounts::Migration),
            Box::new(m20261121_000002_chats::Migration),
            Box::new(m20261121_000003_credits::Migration),
            Box::new(m20261121_000004_check_ins::Migration),
            Box::new(m20261121_000005_keys_and_codes::Migration),
            Box::new(m20261202_000006_payments::Migration),
        ]
    }
}
