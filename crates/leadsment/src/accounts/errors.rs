//! What can go wrong when accounts change, in the words users read.

use axum::http::StatusCode;

use crate::store::StoreError;
use crate::web::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("Another account already uses this email address.")]
    EmailTaken,
    /// A change that would leave a workspace without an owner.
    #[error("A workspace needs at least one owner: make someone else an owner first.")]
    LastOwner,
    /// Deleting a user who is the only owner of a workspace that has other members.
    #[error(
        "You are the only owner of the workspace “{workspace}”, which has other members: make \
         one of them an owner, or delete the workspace, first."
    )]
    SoleOwner { workspace: String },
    /// A host that another site claims (as its domain or an alias).
    #[error("`{host}` already belongs to {}", match owner { Some(o) => format!("the site {o}"), None => "another site".to_owned() })]
    HostTaken { host: String, owner: Option<String> },
    /// A host to take that no site holds any more: it can simply be added.
    #[error("no site uses `{host}` any more; add it as usual")]
    NotHeld { host: String },
    #[error("the site {domain} already exists")]
    SiteExists { domain: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Store(e.into())
    }
}

impl From<crate::auth::errors::EmailTaken> for AccountError {
    fn from(e: crate::auth::errors::EmailTaken) -> Self {
        match e {
            crate::auth::errors::EmailTaken::Taken => AccountError::EmailTaken,
            crate::auth::errors::EmailTaken::Store(e) => AccountError::Store(e),
        }
    }
}

impl AccountError {
    /// Whether this is a refusal to show the user (rather than a failure of the store).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, AccountError::Store(_))
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> AppError {
        match e {
            AccountError::Store(e) => e.into(),
            refusal => AppError::new(StatusCode::CONFLICT, "conflict", refusal.to_string()),
        }
    }
}
