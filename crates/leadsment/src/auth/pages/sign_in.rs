//! The sign-in page and its throttles.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::redirect_with;
use crate::auth::guard::{PageCtx, authenticate};
use crate::auth::safe_next;
use crate::auth::sessions::open_session;
use crate::auth::settings::SignupMode;
use crate::auth::throttle::{too_many, wait_ms, wait_text};
use crate::auth::users::{Email, Password};
use crate::auth::{Access, AuthState};
use crate::store::now_ms;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

pub(super) fn routes() -> Vec<Route<AuthState, Access>> {
    Route::form("/auth/sign-in", Access::Public, sign_in_page, sign_in).into()
}

#[derive(Template)]
#[template(path = "auth/sign_in.html")]
struct SignInPage {
    csrf: String,
    email: String,
    next: String,
    remember: bool,
    errors: Errors,
    notice: Option<&'static str>,
    alert: Option<String>,
    /// Failed attempts block the account: offer the emailed sign-in link.
    locked: bool,
    signup_open: bool,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
    expired: Option<String>,
    done: Option<String>,
}

async fn sign_in_page(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Result<Response, AppError> {
    let next = safe_next(q.next.as_deref());
    if authenticate(&state, &headers).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let notice = if q.signed_out.is_some() {
        Some("You are signed out.")
    } else if q.expired.is_some() {
        Some("Your session has ended. Sign in again.")
    } else {
        match q.done.as_deref() {
            Some("password") => Some(
                "Your password is changed and every session is signed out. Sign in with the new one.",
            ),
            Some("verified") => Some("Your email address is confirmed. Sign in to continue."),
            Some("email") => Some("Your email address is changed. Sign in with the new one."),
            Some("everywhere") => Some("You are signed out on every device."),
            Some("deleted") => Some("Your account is deleted."),
            _ => None,
        }
    };
    page::ok(&SignInPage {
        csrf,
        email: String::new(),
        next,
        remember: false,
        errors: Errors::default(),
        notice,
        alert: None,
        locked: false,
        signup_open: state.settings.signup == SignupMode::Open,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    remember: Option<String>,
    next: Option<String>,
}

/// 429 with the form saying whose attempts were too many and how long to wait.
fn throttled(mut page: SignInPage, what: &str, ms: i64) -> Result<Response, AppError> {
    page.alert = Some(format!("Too many {what}. Try again in {}.", wait_text(ms)));
    let rendered = page::render(StatusCode::TOO_MANY_REQUESTS, &page)?;
    Ok(too_many(ms, rendered))
}

async fn sign_in(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    client: crate::web::client_addr::ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    let remember = form.remember.is_some();
    let mut page = SignInPage {
        csrf,
        email: form.email.trim().chars().take(Email::MAX_LEN).collect(),
        next: next.clone(),
        remember,
        errors: Errors::default(),
        notice: None,
        alert: None,
        locked: false,
        signup_open: state.settings.signup == SignupMode::Open,
    };
    if let Err(wait) = state.limiter.check(client.limiter_key()) {
        let ms = wait_ms(wait);
        return throttled(page, "sign-in attempts from your network", ms);
    }
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(msg) => {
            page.errors.add("email", msg);
            return page::render(StatusCode::BAD_REQUEST, &page);
        }
    };
    if form.password.is_empty() {
        page.errors.add("password", "Enter your password.");
        return page::render(StatusCode::BAD_REQUEST, &page);
    }
    if form.password.chars().count() > Password::MAX_CHARS {
        page.errors
            .add("password", "The email or password is not right.");
        return page::render(StatusCode::UNAUTHORIZED, &page);
    }
    // The same throttle for known and unknown addresses: it reveals nothing.
    let key = state.keys.throttle_key(email.as_str());
    if let Some(until) = crate::auth::store::login_blocked_until(&state.db, &key).await? {
        // The owner is not locked out with everyone else: an emailed link lets them in (for
        // an unknown address the same offer, which sends nothing).
        page.locked = true;
        return throttled(page, "failed attempts for this account", until - now_ms());
    }
    let found = crate::auth::store::user_by_email(&state.db, email.as_str()).await?;
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    let ok = state.hasher.verify(&form.password, stored).await?;
    let user = match (ok, found) {
        (true, Some(u)) => u.user,
        _ => {
            crate::auth::throttle::record_failure(&state.db, &key).await?;
            page.errors
                .add("password", "The email or password is not right.");
            return page::render(StatusCode::UNAUTHORIZED, &page);
        }
    };
    crate::auth::store::clear_login_failures(&state.db, &key).await?;
    let c = open_session(&state, &user, remember, &headers).await?;
    Ok(redirect_with(&next, &c))
}
