//! The sign-in pages and endpoints: sign-in, sign-out, refresh, forgotten password, the
//! one-time sign-in link and emailed links (verify, reset, email change). Pages that create a user with a workspace
//! (sign-up, first-run setup, invitations) belong to `accounts` and use the helpers here.
//!
//! Emailed links open a page whose button confirms: a GET never uses a link, so mail scanners
//! that follow links cannot consume them.

mod link_sign_in;
mod links;
mod recovery;
mod session;
mod sign_in;

use crate::registry::SetCookie;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::cookies;
use super::model::{LinkPurpose, LinkToken};
use crate::auth::{Access, AuthState};
use crate::store::Db;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self};

pub fn routes() -> Vec<Route<AuthState, Access>> {
    let mut routes = sign_in::routes();
    routes.extend(session::routes());
    routes.extend(recovery::routes());
    routes.extend(links::routes());
    routes.extend(link_sign_in::routes());
    routes
}

/// The page an emailed link opens: what pressing its one button will do. A GET never uses
/// the link; the button's POST does.
#[derive(Template)]
#[template(path = "auth/confirm.html")]
struct ConfirmPage {
    csrf: String,
    title: &'static str,
    message: String,
    action: &'static str,
    button: &'static str,
    token: String,
}

/// A form with one field, an email address (a forgotten password, a sign-in link).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    pub email: String,
}

/// The form's address (`Ok(Ok(email))`), or its page again (`Ok(Err(page))`, 400) with the
/// message next to the field and what was typed kept (at most 300 characters).
pub(super) fn email_or_page<P: Template>(
    raw: &str,
    page: impl FnOnce(String, page::Errors) -> P,
) -> Result<Result<crate::auth::users::Email, Response>, AppError> {
    match crate::auth::users::Email::parse(raw) {
        Ok(email) => Ok(Ok(email)),
        Err(msg) => {
            let mut errors = page::Errors::default();
            errors.add("email", msg);
            let page = page(raw.chars().take(300).collect(), errors);
            page::render(StatusCode::BAD_REQUEST, &page).map(Err)
        }
    }
}

pub fn redirect_with(to: &str, cookies_to_set: &[SetCookie]) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies_to_set {
        cookies::set(&mut r, c);
    }
    r
}

pub fn signed_out(to: &str) -> Response {
    redirect_with(to, &cookies::cleared())
}

pub fn with_next(path: &str, next: &str, extra: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if next != "/app" {
        q.append_pair("next", next);
    }
    if let Some(e) = extra {
        q.append_pair(e, "1");
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/check_email.html")]
struct CheckEmailPage {
    title: &'static str,
    message: String,
    logs_links: bool,
}

pub fn check_email(
    state: &AuthState,
    title: &'static str,
    message: String,
) -> Result<Response, AppError> {
    page::ok(&CheckEmailPage {
        title,
        message,
        logs_links: state.mailer.logs_links(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenQuery {
    pub token: String,
}

#[derive(Template)]
#[template(path = "auth/notice.html")]
struct NoticePage {
    title: String,
    message: String,
    link: &'static str,
    link_text: &'static str,
}

/// Whether the link `token` of `purpose` is unused and unexpired. Peeking does not use it:
/// the page a link opens only shows the button that does.
pub async fn link_is_open(db: &Db, token: &str, purpose: LinkPurpose) -> Result<bool, AppError> {
    Ok(peek_link(db, token, purpose).await?.is_some())
}

/// The link `token` of `purpose` if it is unused and unexpired, left unused.
pub async fn peek_link(db: &Db, token: &str, purpose: LinkPurpose) -> StoreResult<LinkToken> {
    super::store::peek_link(db, &super::tokens::digest(token), purpose).await
}

/// The link `token` of `purpose` if it is unused and unexpired, used up now.
pub async fn use_link(db: &Db, token: &str, purpose: LinkPurpose) -> StoreResult<LinkToken> {
    super::store::consume_link(db, &super::tokens::digest(token), purpose).await
}

type StoreResult<T> = Result<Option<T>, crate::store::StoreError>;

pub fn link_invalid() -> Result<Response, AppError> {
    page::render(
        StatusCode::BAD_REQUEST,
        &NoticePage {
            title: "This link does not work".to_owned(),
            message:
                "It has expired, was already used, or was copied incompletely. Ask for a new one."
                    .to_owned(),
            link: "/auth/sign-in",
            link_text: "Go to sign-in",
        },
    )
}
