use std::sync::Arc;

use confab_users::Accounts;
use sea_orm::DatabaseConnection;

/// What every handler can reach: the pool and the domain services.
pub struct AppState {
    pub db: DatabaseConnection,
    pub accounts: Arc<Accounts>,
    pub trust_forwarded_for: bool,
}
