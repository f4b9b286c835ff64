//! A forgotten password: the reset link and the email that carries it.
//!
//! What a request touches, the store and the mail queue, is reached through two small traits,
//! so that a test can count the calls and see that a known and an unknown address cost the
//! same.

use async_trait::async_trait;

use super::mail::{self, Mailer};
use super::model::LinkPurpose;
use super::tokens::{digest, random_token};
use super::users::{Email, UserId, UserWithPassword};
use crate::store::{Db, StoreError, now_ms};
use crate::web::settings::WebSettings;

/// The queries a reset request makes.
#[async_trait]
pub trait RecoveryStore: Send + Sync {
    async fn user_by_email(&self, email: &str) -> Result<Option<UserWithPassword>, StoreError>;

    async fn create_link(
        &self,
        hash: &[u8],
        purpose: LinkPurpose,
        user: Option<UserId>,
        email: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl RecoveryStore for Db {
    async fn user_by_email(&self, email: &str) -> Result<Option<UserWithPassword>, StoreError> {
        super::store::user_by_email(self, email).await
    }

    async fn create_link(
        &self,
        hash: &[u8],
        purpose: LinkPurpose,
        user: Option<UserId>,
        email: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        super::store::create_link(self, hash, purpose, user, email, expires_at).await
    }
}

/// Where emails wait to be sent.
pub trait MailQueue: Send + Sync {
    fn queue(&self, job: mail::Job);
}

impl MailQueue for Mailer {
    fn queue(&self, job: mail::Job) {
        Mailer::queue(self, job);
    }
}

/// Sends the owner of `email`, if there is one, a link to choose a new password.
///
/// An unknown address costs the same: the same two queries (a link is stored for nobody,
/// its token thrown away, and it replaces the previous one for nobody, so they do not pile
/// up) and one job in the mail queue, which sends nothing.
pub async fn request_reset(
    store: &impl RecoveryStore,
    mail: &impl MailQueue,
    web: &WebSettings,
    email: &Email,
) -> Result<(), StoreError> {
    let found = store.user_by_email(email.as_str()).await?;
    let purpose = LinkPurpose::Reset;
    let token = random_token();
    let expires_at = now_ms() + purpose.ttl_ms();
    let user = found.as_ref().map(|f| f.user.id);
    store
        .create_link(&digest(&token), purpose, user, None, expires_at)
        .await?;
    let link = web.public_url_for(&format!("/auth/reset?token={token}"));
    let job = match found {
        Some(found) => mail::Job::Send(mail::Email {
            to: found.user.email,
            subject: "Choose a new Leadsment password".to_owned(),
            body: format!(
                "Hello {},\n\nOpen this link to choose a new password (it works once, for one hour). Choosing one signs you out everywhere:\n\n{link}\n\nIf you did not ask for this, ignore this message; your password stays as it is.\n",
                mail::quoted(&found.user.name)
            ),
            link: Some(link),
        }),
        None => mail::Job::Nothing,
    };
    mail.queue(job);
    Ok(())
}
