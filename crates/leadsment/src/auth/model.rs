//! What the store keeps about sign-in: sessions, the outcome of presenting a refresh token,
//! and single-use emailed links.

use serde::Serialize;

use crate::auth::users::{User, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SessionId(pub i64);

/// One sign-in on one device: the family of its refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// "Keep me signed in": the refresh cookie lasts 30 days instead of the browser session.
    pub persistent: bool,
    pub user_agent: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// How long a session lives without being refreshed, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct SessionTtl {
    pub persistent_ms: i64,
    pub transient_ms: i64,
    /// The most a session lives from its start, refreshes included.
    pub max_age_ms: i64,
}

impl SessionTtl {
    pub fn for_session(&self, persistent: bool) -> i64 {
        if persistent {
            self.persistent_ms
        } else {
            self.transient_ms
        }
    }

    /// When a session started at `created_at` and refreshed at `now` expires: its lifetime
    /// from now, but never past the absolute cap.
    pub fn expiry(&self, persistent: bool, created_at: i64, now: i64) -> i64 {
        (now + self.for_session(persistent)).min(created_at + self.max_age_ms)
    }
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now used, and its child (the one derived from it) is the
    /// session's current token.
    Rotated { session: Session, user: User },
    /// The token was used moments ago (racing tabs) and its child is still current: the same
    /// child is handed out again.
    Replayed { session: Session, user: User },
    /// The token had been used before: its whole family (the session) is now revoked.
    ReuseDetected { session_id: SessionId },
    /// Unknown, expired or revoked.
    Invalid,
}

/// What an emailed (or printed) single-use link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Create the first platform administrator.
    Setup,
    /// Confirm the address given at sign-up.
    Verify,
    /// Choose a new password after forgetting it.
    Reset,
    /// Set the first password of an account made with `leadsment user create`.
    SetPassword,
    /// Move the account to a new address; the link goes to the new one.
    EmailChange,
    /// Sign in once without the password: the way in while failed attempts (perhaps
    /// someone else's) block the account.
    SignIn,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::Verify => "verify",
            LinkPurpose::Reset => "reset",
            LinkPurpose::SetPassword => "set_password",
            LinkPurpose::EmailChange => "email_change",
            LinkPurpose::SignIn => "sign_in",
        }
    }

    /// How long a link stays valid, in milliseconds.
    pub fn ttl_ms(self) -> i64 {
        const MIN: i64 = 60 * 1000;
        match self {
            LinkPurpose::Setup => 24 * 60 * MIN,
            LinkPurpose::Verify => 24 * 60 * MIN,
            LinkPurpose::Reset => 60 * MIN,
            LinkPurpose::SetPassword => 24 * 60 * MIN,
            LinkPurpose::EmailChange => 60 * MIN,
            // As long as the mail cap's window: any link an attacker has the owner sent
            // stays usable until the cap lets another through.
            LinkPurpose::SignIn => 60 * MIN,
        }
    }
}

/// A valid link's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub user_id: Option<UserId>,
    pub email: Option<String>,
    pub expires_at: i64,
}
