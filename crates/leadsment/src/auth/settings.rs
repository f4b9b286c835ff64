//! Sign-in's settings: who may sign up, the signing key, mail, token lifetime, and the limits
//! on sign-ins, password forms, password hashing and email. Documented in `docs/configuration.md`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::settings::{Base, ConfigError, Settings, at_least};

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Who may create an account: anyone, or only people with an invitation.
    pub signup: SignupMode,
    /// Key that signs access and CSRF tokens; when unset, one is made and kept in the database
    /// so that every node agrees.
    pub session_secret: Option<SecretString>,
    /// `smtp://`, `smtps://` (or `smtp://…?tls=required`) URL of the mail server; when unset,
    /// emailed links are written to the log.
    pub smtp_url: Option<SecretString>,
    /// The sender of Leadsment's emails.
    pub email_from: String,
    /// Lifetime of the access token, at most 15 minutes: how long a revoked session may
    /// still be used at most.
    pub access_token_ttl: Duration,
    /// Sign-in attempts allowed per client address and minute (the account page's password
    /// checks count too).
    pub login_attempts_per_minute: u32,
    /// The most a session lives from sign-in, however often it is refreshed.
    pub session_max_age: Duration,
    /// Sign-up, first-run setup, password-reset and reset-request forms allowed per client
    /// address and minute, together.
    pub account_forms_per_minute: u32,
    /// Password hashes and checks that may wait for a free core; more are answered 503.
    pub password_hash_queue: usize,
    /// Emails that may wait to be sent; more are dropped (and counted).
    pub mail_queue: usize,
    /// Emails one address receives at most in any hour, per node.
    pub mails_per_address_per_hour: u32,
    /// Submissions of the forms that send email allowed per client address and hour,
    /// together.
    pub mail_forms_per_hour: u32,
    /// Requests one API key may make a minute, per node.
    pub api_requests_per_key_per_minute: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    Open,
    Invite,
}

#[derive(Debug, Deserialize)]
pub struct RawAuthSettings {
    #[serde(default = "default_signup")]
    signup: SignupMode,
    #[serde(default)]
    session_secret: Option<SecretString>,
    #[serde(default)]
    smtp_url: Option<SecretString>,
    #[serde(default = "default_email_from")]
    email_from: String,
    #[serde(default = "default_access_ttl")]
    access_token_ttl_secs: u64,
    #[serde(default = "default_login_attempts")]
    login_attempts_per_minute: u32,
    #[serde(default = "default_session_max_age")]
    session_max_age_days: u64,
    #[serde(default = "default_account_forms")]
    account_forms_per_minute: u32,
    #[serde(default = "default_hash_queue")]
    password_hash_queue: usize,
    #[serde(default = "default_mail_queue")]
    mail_queue: usize,
    #[serde(default = "default_mails_per_address")]
    mails_per_address_per_hour: u32,
    #[serde(default = "default_mail_forms")]
    mail_forms_per_hour: u32,
    #[serde(default = "default_api_requests")]
    api_requests_per_key_per_minute: u32,
}

fn default_signup() -> SignupMode {
    SignupMode::Open
}
fn default_email_from() -> String {
    "Leadsment <leadsment@localhost>".to_owned()
}
fn default_access_ttl() -> u64 {
    900
}
fn default_login_attempts() -> u32 {
    20
}
fn default_session_max_age() -> u64 {
    30
}
fn default_account_forms() -> u32 {
    10
}
fn default_mail_queue() -> usize {
    1_000
}
fn default_mails_per_address() -> u32 {
    3
}
fn default_mail_forms() -> u32 {
    30
}
fn default_api_requests() -> u32 {
    600
}
fn default_hash_queue() -> usize {
    crate::auth::password::DEFAULT_QUEUE
}

/// More waiters than this would only hold requests that time out anyway.
const MAX_HASH_QUEUE: usize = 10_000;
/// A queue longer than this would take hours to send.
const MAX_MAIL_QUEUE: usize = 100_000;

impl Settings for AuthSettings {
    type Raw = RawAuthSettings;

    fn validate(raw: RawAuthSettings, _: &Base) -> Result<AuthSettings, ConfigError> {
        if let Some(secret) = &raw.session_secret
            && secret.expose_secret().len() < 32
        {
            return Err(ConfigError::key(
                "session_secret",
                "must be at least 32 characters long",
            ));
        }
        if let Some(url) = &raw.smtp_url {
            let u = url.expose_secret();
            if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
                return Err(ConfigError::key(
                    "smtp_url",
                    "must start with smtp:// or smtps://",
                ));
            }
        }
        if raw.email_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::key(
                "email_from",
                format!(
                    "`{}` is not an address such as Leadsment <stats@example.com>",
                    raw.email_from
                ),
            ));
        }
        if !(1..=900).contains(&raw.access_token_ttl_secs) {
            return Err(ConfigError::key(
                "access_token_ttl_secs",
                "must be between 1 and 900 (15 minutes)",
            ));
        }
        if !(1..=365).contains(&raw.session_max_age_days) {
            return Err(ConfigError::key(
                "session_max_age_days",
                "must be between 1 and 365",
            ));
        }
        if raw.password_hash_queue > MAX_HASH_QUEUE {
            return Err(ConfigError::key(
                "password_hash_queue",
                format!("must be at most {MAX_HASH_QUEUE}"),
            ));
        }
        if !(1..=MAX_MAIL_QUEUE).contains(&raw.mail_queue) {
            return Err(ConfigError::key(
                "mail_queue",
                format!("must be between 1 and {MAX_MAIL_QUEUE}"),
            ));
        }
        Ok(AuthSettings {
            session_max_age: Duration::from_secs(raw.session_max_age_days * 24 * 3600),
            signup: raw.signup,
            session_secret: raw.session_secret,
            smtp_url: raw.smtp_url,
            email_from: raw.email_from,
            access_token_ttl: Duration::from_secs(raw.access_token_ttl_secs),
            login_attempts_per_minute: at_least(
                "login_attempts_per_minute",
                raw.login_attempts_per_minute,
                1,
            )?,
            account_forms_per_minute: at_least(
                "account_forms_per_minute",
                raw.account_forms_per_minute,
                1,
            )?,
            password_hash_queue: raw.password_hash_queue,
            mail_queue: raw.mail_queue,
            mails_per_address_per_hour: at_least(
                "mails_per_address_per_hour",
                raw.mails_per_address_per_hour,
                1,
            )?,
            mail_forms_per_hour: at_least("mail_forms_per_hour", raw.mail_forms_per_hour, 1)?,
            api_requests_per_key_per_minute: at_least(
                "api_requests_per_key_per_minute",
                raw.api_requests_per_key_per_minute,
                1,
            )?,
        })
    }
}
