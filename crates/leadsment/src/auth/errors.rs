//! What can go wrong when a user's identity changes, in the words users read.

use axum::http::StatusCode;

use crate::store::StoreError;
use crate::web::error::AppError;

/// Creating a user or changing an email: the address may belong to another account.
#[derive(Debug, thiserror::Error)]
pub enum EmailTaken {
    #[error("Another account already uses this email address.")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EmailTaken {
    fn from(e: sqlx::Error) -> Self {
        EmailTaken::Store(e.into())
    }
}

impl From<EmailTaken> for AppError {
    fn from(e: EmailTaken) -> AppError {
        match e {
            EmailTaken::Store(e) => e.into(),
            taken => AppError::new(StatusCode::CONFLICT, "conflict", taken.to_string()),
        }
    }
}
