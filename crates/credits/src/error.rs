use confab_core::{Code, ErrorCode};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum CreditsError {
    #[error("database error")]
    Database(#[from] DbErr),
}

impl ErrorCode for CreditsError {
    fn code(&self) -> Code {
        match self {
            CreditsError::Database(_) => Code::Internal,
        }
    }
}
