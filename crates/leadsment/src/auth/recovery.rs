//! A forgotten password, or an account blocked by failed sign-ins: the reset link, the
//! one-time sign-in link, and the emails that carry them.
//!
//! What a request touches, the store and the mail queue, is reached through two small traits,
//! so that a test can count the calls and see that a known and an unknown address cost the
//! same.

use async_trait::async_trait;

use super::mail;
use super::model::LinkPurpose;
use super::outbox::Outbox;
use super::tokens::{digest, random_token};
use super::users::{Email, User, UserId, UserWithPassword};
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
    /// Counts one message to `to` against its hourly cap; false when it has had its share.
    fn admit(&self, to: &str) -> bool;
    fn queue(&self, job: mail::Job);
}

impl MailQueue for Outbox {
    fn admit(&self, to: &str) -> bool {
        Outbox::admit(self, to)
    }
    fn queue(&self, job: mail::Job) {
        Outbox::queue(self, job);
    }
}

/// Sends the owner of `email`, if there is one, a link to choose a new password.
///
/// An unknown address costs the same: the same two queries (a link is stored for nobody,
/// its token thrown away, and it replaces the previous one for nobody, so they do not pile
/// up) and one job in the mail queue, which sends nothing. An address that has had its
/// emails for the hour is answered as an unknown one: no new link, so the links already in
/// its inbox keep working.
pub async fn request_reset(
    store: &impl RecoveryStore,
    mail: &impl MailQueue,
    web: &WebSettings,
    email: &Email,
) -> Result<(), StoreError> {
    let wanted = Wanted {
        purpose: LinkPurpose::Reset,
        path: "/auth/reset",
        for_user: |_: &User| true,
        compose: |user: &User, link: String| mail::Email {
            to: user.email.clone(),
            subject: "Choose a new Leadsment password".to_owned(),
            body: format!(
                "Hello {},\n\nOpen this link to choose a new password (it works once, for one hour). Choosing one signs you out everywhere:\n\n{link}\n\nIf you did not ask for this, ignore this message; your password stays as it is.\n",
                mail::quoted(&user.name)
            ),
            link: Some(link),
        },
    };
    request_link(store, mail, web, email, wanted).await
}

/// Sends the owner of `email`, if there is one and the address is confirmed, a link that
/// signs in once, even while failed attempts block the account. The same work and the same
/// answer as [`request_reset`] for an unknown address. An unconfirmed address gets nothing:
/// whoever made that account (perhaps not the owner of the inbox) chose its password, and a
/// link must not let the inbox's owner into an account someone else can still enter.
pub async fn request_sign_in_link(
    store: &impl RecoveryStore,
    mail: &impl MailQueue,
    web: &WebSettings,
    email: &Email,
) -> Result<(), StoreError> {
    let wanted = Wanted {
        purpose: LinkPurpose::SignIn,
        path: "/auth/sign-in-link/use",
        for_user: |user: &User| user.email_verified,
        compose: |user: &User, link: String| mail::Email {
            to: user.email.clone(),
            subject: "Your Leadsment sign-in link".to_owned(),
            body: format!(
                "Hello {},\n\nOpen this link to sign in to Leadsment (it works once, for one hour):\n\n{link}\n\nIf you did not ask for it, ignore this message: nobody can use the link without this inbox. Someone may be trying to guess your password; a long, unique one keeps them out.\n",
                mail::quoted(&user.name)
            ),
            link: Some(link),
        },
    };
    request_link(store, mail, web, email, wanted).await
}

/// A link to mail: what it is for, the page it opens, which accounts may get it and its
/// message.
struct Wanted<F, C> {
    purpose: LinkPurpose,
    path: &'static str,
    for_user: F,
    compose: C,
}

async fn request_link<F, C>(
    store: &impl RecoveryStore,
    mail: &impl MailQueue,
    web: &WebSettings,
    email: &Email,
    wanted: Wanted<F, C>,
) -> Result<(), StoreError>
where
    F: Fn(&User) -> bool,
    C: FnOnce(&User, String) -> mail::Email,
{
    let admitted = mail.admit(email.as_str());
    let found = store
        .user_by_email(email.as_str())
        .await?
        .map(|f| f.user)
        .filter(|user| admitted && (wanted.for_user)(user));
    let purpose = wanted.purpose;
    let token = random_token();
    let expires_at = now_ms() + purpose.ttl_ms();
    let user = found.as_ref().map(|u| u.id);
    store
        .create_link(&digest(&token), purpose, user, None, expires_at)
        .await?;
    let link = web.public_url_for(&format!("{}?token={token}", wanted.path));
    let job = match found {
        Some(user) => mail::Job::Send((wanted.compose)(&user, link)),
        None => mail::Job::Nothing,
    };
    mail.queue(job);
    Ok(())
}
