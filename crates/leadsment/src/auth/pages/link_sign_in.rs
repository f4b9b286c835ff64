//! The one-time sign-in link: the way in for the owner of an account that failed attempts
//! (perhaps someone else's) block. Asking for one answers the same whether the address has an
//! account or not; the link works once, for one hour, and only its page's button uses it.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::{
    ConfirmPage, EmailForm, TokenQuery, check_email, email_or_page, link_invalid, peek_link,
    redirect_with, use_link,
};
use crate::auth::guard::{Csrf, PageCtx};
use crate::auth::model::LinkPurpose;
use crate::auth::recovery::request_sign_in_link;
use crate::auth::sessions::open_session;
use crate::auth::users::User;
use crate::auth::{Access, AuthState};
use crate::web::Route;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

/// Where the form that asks for a link is, and where the link it mails goes.
pub const ASK_PATH: &str = "/auth/sign-in-link";
pub const USE_PATH: &str = "/auth/sign-in-link/use";

pub(super) fn routes() -> Vec<Route<AuthState, Access>> {
    [
        Route::form(ASK_PATH, Access::Public, ask_page, ask),
        Route::form(USE_PATH, Access::Public, use_page, sign_in_with_link),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[derive(Template)]
#[template(path = "auth/sign_in_link.html")]
struct AskPage {
    csrf: String,
    email: String,
    errors: Errors,
}

async fn ask_page(Extension(Csrf(csrf)): Extension<Csrf>) -> Result<Response, AppError> {
    page::ok(&AskPage {
        csrf,
        email: String::new(),
        errors: Errors::default(),
    })
}

async fn ask(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    client: ClientAddr,
    Form(form): Form<EmailForm>,
) -> Result<Response, AppError> {
    state.mail_limiter.admit(client)?;
    let email = match email_or_page(&form.email, |email, errors| AskPage {
        csrf,
        email,
        errors,
    })? {
        Ok(email) => email,
        Err(page) => return Ok(page),
    };
    request_sign_in_link(&state.db, &state.mailer, &state.web, &email).await?;
    check_email(
        &state,
        "Check your email",
        format!(
            "If an account uses {email}, a message with a sign-in link is on its way. The link works once, for one hour."
        ),
    )
}

/// The user a sign-in link is for, while the link is unused and unexpired.
async fn link_user(
    state: &AuthState,
    token: &str,
    consume: bool,
) -> Result<Option<User>, AppError> {
    let link = if consume {
        use_link(&state.db, token, LinkPurpose::SignIn).await?
    } else {
        peek_link(&state.db, token, LinkPurpose::SignIn).await?
    };
    let Some(user) = link.and_then(|l| l.user_id) else {
        return Ok(None);
    };
    Ok(crate::auth::store::user(&state.db, user).await?)
}

/// A GET shows whose account the link opens and a button; mail scanners that follow links
/// use nothing.
async fn use_page(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let Some(user) = link_user(&state, &q.token, false).await? else {
        return link_invalid();
    };
    page::ok(&ConfirmPage {
        csrf,
        title: "Sign in with this link",
        message: format!("Press the button to sign in as {}.", user.email),
        action: USE_PATH,
        button: "Sign in",
        token: q.token,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    token: String,
}

/// Uses the link: a session as a password sign-in opens, and the account's failed attempts
/// are forgotten. Works while they block the account; never twice.
async fn sign_in_with_link(
    axum::extract::State(state): axum::extract::State<AuthState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let Some(user) = link_user(&state, &form.token, true).await? else {
        return link_invalid();
    };
    crate::auth::store::clear_login_failures(&state.db, &state.keys.throttle_key(&user.email))
        .await?;
    let c = open_session(&state, &user, false, &headers).await?;
    Ok(redirect_with("/app", &c))
}
