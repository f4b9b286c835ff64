//! A signed-in user's password, asked again before a change that needs it (the account page:
//! a new password, a new address, deleting the account). Sign-in's throttles apply and share
//! sign-in's counts, per client address and per account, so the page is no side door for
//! guessing a password with a session that was left open.

use super::AuthState;
use super::throttle::{record_failure, wait_ms};
use super::users::{Password, User};
use crate::store::now_ms;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;

pub enum Confirmation {
    Confirmed,
    Wrong,
    /// Too many attempts: wait this long. `what` says whose, for the message.
    Throttled {
        wait_ms: i64,
        what: &'static str,
    },
}

impl Confirmation {
    /// The message for [`Confirmation::Throttled`].
    pub fn throttled_message(wait_ms: i64, what: &str) -> String {
        format!(
            "Too many {what}. Try again in {}.",
            super::throttle::wait_text(wait_ms)
        )
    }
}

/// Whether `given` is `user`'s password. Throttled, no password is checked at all.
pub async fn confirm_password(
    state: &AuthState,
    client: ClientAddr,
    user: &User,
    given: &str,
) -> Result<Confirmation, AppError> {
    if let Err(wait) = state.limiter.check(client.limiter_key()) {
        return Ok(Confirmation::Throttled {
            wait_ms: wait_ms(wait),
            what: "password attempts from your network",
        });
    }
    let key = state.keys.throttle_key(&user.email);
    if let Some(until) = super::store::login_blocked_until(&state.db, &key).await? {
        return Ok(Confirmation::Throttled {
            wait_ms: until - now_ms(),
            what: "failed attempts for this account",
        });
    }
    // As at sign-in: an empty or impossible password is wrong without a hash, and not
    // counted.
    if given.is_empty() || given.chars().count() > Password::MAX_CHARS {
        return Ok(Confirmation::Wrong);
    }
    let stored = super::store::user_with_password(&state.db, user.id)
        .await?
        .and_then(|u| u.password_hash);
    if state.hasher.verify(given, stored).await? {
        super::store::clear_login_failures(&state.db, &key).await?;
        Ok(Confirmation::Confirmed)
    } else {
        record_failure(&state.db, &key).await?;
        Ok(Confirmation::Wrong)
    }
}
