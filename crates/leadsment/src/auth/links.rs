//! Single-use secrets: emailed links (verify, reset, email change, set password, setup) and
//! invitation tokens. Only a digest is stored; the token itself exists in the link alone.
//! Pages and the command line both make links here.

use super::model::LinkPurpose;
use super::tokens::{digest, random_token};
use super::{AuthState, mail};
use crate::auth::users::{User, UserId};
use crate::store::{Db, StoreError, now_ms};
use crate::web::settings::WebSettings;

/// Creates a single-use link to `path` and returns its address.
pub async fn make_link(
    db: &Db,
    web: &WebSettings,
    purpose: LinkPurpose,
    path: &str,
    user: Option<UserId>,
    email: Option<&str>,
) -> Result<String, StoreError> {
    let token = random_token();
    super::store::create_link(
        db,
        &digest(&token),
        purpose,
        user,
        email,
        now_ms() + purpose.ttl_ms(),
    )
    .await?;
    Ok(web.public_url_for(&format!("{path}?token={token}")))
}

/// A fresh secret and its digest (the digest is what gets stored).
pub fn fresh_secret() -> (String, Vec<u8>) {
    let t = random_token();
    let d = digest(&t);
    (t, d)
}

impl AuthState {
    /// [`make_link`] with this server's database and address.
    pub async fn link(
        &self,
        purpose: LinkPurpose,
        path: &str,
        user: UserId,
        email: Option<&str>,
    ) -> Result<String, StoreError> {
        make_link(&self.db, &self.web, purpose, path, Some(user), email).await
    }
}

/// Mails `user` a link that confirms their address (after sign-up, or again on request).
/// Past the address's hourly cap, nothing is made or sent, and the links already sent keep
/// working.
pub async fn send_verification(state: &AuthState, user: &User) -> Result<(), StoreError> {
    if !state.mailer.admit(&user.email) {
        return Ok(());
    }
    let (purpose, path) = (LinkPurpose::Verify, "/auth/verify");
    let link = state.link(purpose, path, user.id, None).await?;
    state.mailer.queue(mail::Job::Send(mail::Email {
        to: user.email.clone(),
        subject: "Confirm your email address for Leadsment".to_owned(),
        body: format!(
            "Hello {},\n\nConfirm your email address by opening this link (it works once, for 24 hours):\n\n{link}\n\nIf you did not sign up, ignore this message.\n",
            mail::quoted(&user.name)
        ),
        link: Some(link),
    }));
    Ok(())
}
