//! The account page: name, password, email address, sessions, deletion.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{DoneQuery, back, notice};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::SessionCtx;
use crate::accounts::{Access, AccountsState};
use crate::auth::confirm::{Confirmation, confirm_password};
use crate::auth::links::send_verification;
use crate::auth::model::{LinkPurpose, Session, SessionId};
use crate::auth::throttle::too_many;
use crate::auth::users::{Email, Name, Password, User};
use crate::auth::{CurrentUser, cookies, mail};
use crate::web::Route;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    vec![
        Route::get("/account", Access::SESSION, account_page),
        Route::post("/account/name", Access::SESSION, change_name),
        Route::post("/account/password", Access::SESSION, change_password),
        Route::post("/account/email", Access::SESSION, change_email),
        Route::post("/account/verify", Access::SESSION, resend_verification),
        Route::post(
            "/account/sessions/{session_id}/revoke",
            Access::SESSION,
            revoke_session,
        ),
        Route::post(
            "/account/sign-out-everywhere",
            Access::SESSION,
            sign_out_everywhere,
        ),
        Route::post("/account/delete", Access::SESSION, delete_account),
    ]
}

struct SessionView {
    id: i64,
    device: String,
    created: String,
    last_seen: String,
    persistent: bool,
    current: bool,
}

/// A short description of a browser from its user agent, for people to recognise sessions.
fn device(ua: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| v);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(k, _)| ua.contains(k))
    .map(|(_, v)| v);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => o.to_owned(),
        (None, None) if ua.is_empty() => "Unknown device".to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

fn session_views(sessions: Vec<Session>, current: SessionId) -> Vec<SessionView> {
    sessions
        .into_iter()
        .map(|s| SessionView {
            id: s.id.0,
            device: device(&s.user_agent),
            created: when(&s.created_at),
            last_seen: when(&s.last_seen_at),
            persistent: s.persistent,
            current: s.id == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "app/account.html")]
struct AccountPage {
    chrome: Chrome,
    user: User,
    sessions: Vec<SessionView>,
    errors: Errors,
    name: String,
    new_email: String,
    access_minutes: u64,
}

async fn account_view(
    state: &AccountsState,
    current: &CurrentUser,
    csrf: &str,
    done: Option<&str>,
) -> Result<AccountPage, AppError> {
    let chrome = Chrome::load(state, current, csrf, None, "account")
        .await?
        .with_notice(notice(done));
    let sessions = crate::auth::store::sessions(&state.db, current.user.id).await?;
    Ok(AccountPage {
        chrome,
        user: current.user.clone(),
        sessions: session_views(sessions, current.session.id),
        errors: Errors::default(),
        name: current.user.name.clone(),
        new_email: String::new(),
        access_minutes: state.settings.access_token_ttl.as_secs().div_ceil(60),
    })
}

async fn account_page(ctx: SessionCtx, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    page::ok(&account_view(&state, &current, &csrf, q.done.as_deref()).await?)
}

async fn account_error(
    state: &AccountsState,
    current: &CurrentUser,
    csrf: &str,
    status: StatusCode,
    edit: impl FnOnce(&mut AccountPage),
) -> Result<Response, AppError> {
    let mut page = account_view(state, current, csrf, None).await?;
    edit(&mut page);
    page::render(status, &page)
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    pub(super) name: String,
}

async fn change_name(ctx: SessionCtx, Form(form): Form<NameForm>) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    match Name::parse(&form.name, "name") {
        Ok(name) => {
            crate::auth::store::set_user_name(&state.db, current.user.id, name.as_str()).await?;
            Ok(back("/account", "name"))
        }
        Err(msg) => {
            account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
                p.errors.add("name", msg);
                p.name = form.name.chars().take(200).collect();
            })
            .await
        }
    }
}

/// The user's password, asked again: `Ok(true)` when right, `Ok(false)` when wrong, and
/// `Err` with the page answered 429 (the message next to `field`) when throttled.
async fn check_password(
    state: &AccountsState,
    client: ClientAddr,
    current: &CurrentUser,
    csrf: &str,
    given: &str,
    field: &'static str,
) -> Result<Result<bool, Response>, AppError> {
    match confirm_password(state, client, &current.user, given).await? {
        Confirmation::Confirmed => Ok(Ok(true)),
        Confirmation::Wrong => Ok(Ok(false)),
        Confirmation::Throttled { wait_ms, what } => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            let page = account_error(state, current, csrf, status, |p| {
                p.errors
                    .add(field, Confirmation::throttled_message(wait_ms, what))
            })
            .await?;
            Ok(Err(too_many(wait_ms, page)))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    new: String,
}

async fn change_password(
    ctx: SessionCtx,
    client: ClientAddr,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    let mut errors = Errors::default();
    let checked = check_password(&state, client, &current, &csrf, &form.current, "current");
    match checked.await? {
        Ok(true) => {}
        Ok(false) => errors.add("current", "This is not your current password."),
        Err(throttled) => return Ok(throttled),
    }
    let new = errors.check("new", Password::parse(&form.new));
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
            p.errors = errors
        })
        .await;
    };
    let hash = state.hasher.hash(&new).await?;
    crate::auth::store::set_password(&state.db, current.user.id, &hash).await?;
    crate::auth::store::revoke_sessions(&state.db, current.user.id, Some(current.session.id))
        .await?;
    crate::auth::store::drop_links(&state.db, current.user.id).await?;
    Ok(back("/account", "password"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailChangeForm {
    email: String,
    password: String,
}

async fn change_email(
    ctx: SessionCtx,
    client: ClientAddr,
    Form(form): Form<EmailChangeForm>,
) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    let mut errors = Errors::default();
    let email = errors.check("email", Email::parse(&form.email));
    if email
        .as_ref()
        .is_some_and(|e| e.as_str() == current.user.email)
    {
        errors.add("email", "This is already your address.");
    }
    let field = "email_password";
    match check_password(&state, client, &current, &csrf, &form.password, field).await? {
        Ok(true) => {}
        Ok(false) => errors.add(field, "This is not your current password."),
        Err(throttled) => return Ok(throttled),
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        let typed: String = form.email.chars().take(300).collect();
        return account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
            p.errors = errors;
            p.new_email = typed;
        })
        .await;
    };
    state.mail_limiter.admit(client)?;
    // The link goes to the new address, which proves it; the old one is told. Past the new
    // address's hourly cap, no link is made and none is sent.
    if !state.mailer.admit_notice(email.as_str()) {
        return Ok(back("/account", "email_sent"));
    }
    let (purpose, path) = (LinkPurpose::EmailChange, "/auth/confirm-email");
    let link = state
        .link(purpose, path, current.user.id, Some(email.as_str()))
        .await?;
    state.auth.mailer.queue(mail::Job::Send(mail::Email {
        to: email.as_str().to_owned(),
        subject: "Confirm your new address for Leadsment".to_owned(),
        body: format!(
            "Hello {},\n\nOpen this link to sign in with this address from now on (it works once, for one hour):\n\n{link}\n",
            mail::quoted(&current.user.name)
        ),
        link: Some(link),
    }));
    state.auth.mailer.send_notice_later(mail::Email {
        to: current.user.email.clone(),
        subject: "Your Leadsment address is about to change".to_owned(),
        body: format!(
            "Someone signed in to your account asked to move it to {email}. If it was not you, change your password now.\n"
        ),
        link: None,
    });
    Ok(back("/account", "email_sent"))
}

async fn resend_verification(ctx: SessionCtx, client: ClientAddr) -> Result<Response, AppError> {
    let (state, current, _) = ctx.parts();
    if !current.user.email_verified {
        state.mail_limiter.admit(client)?;
        send_verification(&state, &current.user).await?;
    }
    Ok(back("/account", "verify_sent"))
}

async fn revoke_session(
    ctx: SessionCtx,
    Path(session_id): Path<i64>,
) -> Result<Response, AppError> {
    let (state, current, _) = ctx.parts();
    // Only the user's own sessions: another's id matches nothing.
    if !crate::auth::store::revoke_session(&state.db, current.user.id, SessionId(session_id))
        .await?
    {
        return Err(AppError::not_found("There is no such active session."));
    }
    if current.session.id.0 == session_id {
        return Ok(signed_out_response("/auth/sign-in?signed_out=1"));
    }
    Ok(back("/account", "revoked"))
}

fn signed_out_response(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in &cookies::cleared() {
        cookies::set(&mut r, c);
    }
    r
}

async fn sign_out_everywhere(ctx: SessionCtx) -> Result<Response, AppError> {
    let (state, current, _) = ctx.parts();
    crate::auth::store::revoke_sessions(&state.db, current.user.id, None).await?;
    crate::auth::store::drop_links(&state.db, current.user.id).await?;
    Ok(signed_out_response("/auth/sign-in?done=everywhere"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteAccountForm {
    password: String,
}

async fn delete_account(
    ctx: SessionCtx,
    client: ClientAddr,
    Form(form): Form<DeleteAccountForm>,
) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    let field = "delete_password";
    match check_password(&state, client, &current, &csrf, &form.password, field).await? {
        Ok(true) => {}
        Ok(false) => {
            return account_error(&state, &current, &csrf, StatusCode::BAD_REQUEST, |p| {
                p.errors.add(field, "This is not your current password.")
            })
            .await;
        }
        Err(throttled) => return Ok(throttled),
    }
    match crate::accounts::members::delete_user(&state.db, current.user.id).await {
        Ok(()) => Ok(signed_out_response("/auth/sign-in?done=deleted")),
        Err(refusal) if refusal.is_refusal() => {
            account_error(&state, &current, &csrf, StatusCode::CONFLICT, |p| {
                p.errors.add("delete_password", refusal.to_string())
            })
            .await
        }
        Err(e) => Err(e.into()),
    }
}
