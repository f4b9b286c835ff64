//! Sign-in: passwords, sessions (a short-lived signed access token and a rotating, single-use
//! refresh token with reuse detection), CSRF protection, login throttling, emailed links, and
//! the pages for them. `docs/accounts.md` describes the whole.

pub mod confirm;
pub mod cookies;
pub mod errors;
pub mod guard;
pub mod links;
pub mod mail;
pub mod model;
pub mod outbox;
pub mod pages;
pub mod password;
pub mod recovery;
pub mod sessions;
pub mod settings;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;

use self::settings::AuthSettings;
use crate::store::Db;
use crate::web::settings::WebSettings;

pub use self::guard::{Access, CurrentUser};

/// The sign-in cookies, named once in the cookie registry (the seed policy's contract): the
/// short-lived signed access token; the opaque, single-use refresh token, sent only to
/// `/auth`; and the signed token every state-changing request must echo.
pub use crate::registry::{ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE};
/// Form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A refresh token presented again this soon after its use, while its child is still unused,
/// returns the same child (two tabs refreshing at once).
pub const REFRESH_GRACE_MS: i64 = 10_000;
/// "Keep me signed in": the session lasts this long after its last refresh.
pub const PERSISTENT_SESSION_MS: i64 = 30 * 24 * 3600 * 1000;
/// Otherwise the session (a browser-session cookie) ends after this long without a refresh.
pub const TRANSIENT_SESSION_MS: i64 = 12 * 3600 * 1000;

pub fn session_ttl(settings: &AuthSettings) -> model::SessionTtl {
    model::SessionTtl {
        persistent_ms: PERSISTENT_SESSION_MS,
        transient_ms: TRANSIENT_SESSION_MS,
        max_age_ms: settings.session_max_age.as_millis() as i64,
    }
}

/// Sign-in's state: the database, the settings it reads, the keys, the mail queue, the
/// per-address limiters and the password hasher. Cheap to clone; handlers of sign-in's routes receive it.
#[derive(Clone)]
pub struct AuthState(Arc<AuthInner>);

pub struct AuthInner {
    pub db: Db,
    /// The server's settings (its public address, for links and the CSRF origin check).
    pub web: Arc<WebSettings>,
    pub settings: AuthSettings,
    pub keys: tokens::Keys,
    /// Every email goes through its bounded queue and per-address cap.
    pub mailer: outbox::Outbox,
    pub limiter: throttle::AddressLimiter,
    /// Sign-up, setup, reset and reset-request forms, per client address.
    pub forms_limiter: throttle::AddressLimiter,
    /// The forms that send email, per client address and hour.
    pub mail_limiter: throttle::AddressLimiter,
    /// Requests per API key and minute (the workspace API).
    pub api_limiter: throttle::KeyLimiter,
    /// Failed API keys per client address and minute (`login_attempts_per_minute`, as
    /// failed sign-ins): guessing keys is guessing passwords.
    pub api_key_failures: throttle::FailureGate,
    /// Every password hash and check goes through it.
    pub hasher: password::Hasher,
}

impl std::ops::Deref for AuthState {
    type Target = AuthInner;
    fn deref(&self) -> &AuthInner {
        &self.0
    }
}

impl AuthState {
    /// Keys come from the configuration (`session_secret`) or else from the store, so every
    /// node signs and checks with the same ones.
    pub async fn load(
        settings: &AuthSettings,
        web: Arc<WebSettings>,
        db: Db,
    ) -> anyhow::Result<AuthState> {
        let master = match &settings.session_secret {
            Some(secret) => secret.expose_secret().as_bytes().to_vec(),
            None => crate::store::secrets::shared(&db, "auth-signing-key", 32)
                .await
                .context("cannot read the signing key from the database")?,
        };
        password::warm_up().await;
        let keys = tokens::Keys::derive(&master);
        let mailer = outbox::Outbox::start(
            mail::Mailer::from_settings(settings)?,
            keys.clone(),
            settings.mail_queue,
            settings.mails_per_address_per_hour,
        )
        .context("cannot set up the mail queue's metrics")?;
        Ok(AuthState(Arc::new(AuthInner {
            keys,
            mailer,
            mail_limiter: throttle::AddressLimiter::per_hour(settings.mail_forms_per_hour),
            limiter: throttle::AddressLimiter::new(settings.login_attempts_per_minute),
            forms_limiter: throttle::AddressLimiter::new(settings.account_forms_per_minute),
            api_limiter: throttle::KeyLimiter::new(settings.api_requests_per_key_per_minute),
            api_key_failures: throttle::FailureGate::new(settings.login_attempts_per_minute),
            hasher: password::Hasher::for_this_machine(settings.password_hash_queue)
                .context("cannot set up the password hasher's metrics")?,
            settings: settings.clone(),
            web,
            db,
        })))
    }
}

/// A local path to go back to after signing in; anything else (another host, `//evil`) is
/// replaced by the default.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && n.len() <= 512 =>
        {
            n.to_owned()
        }
        _ => "/app".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/w/3/members?x=1")), "/w/3/members?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/app", "{bad}");
        }
        assert_eq!(safe_next(None), "/app");
    }
}
