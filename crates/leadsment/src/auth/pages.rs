//! The sign-in pages and endpoints: sign-in, sign-up, sign-out, refresh, forgotten password,
//! emailed links (verify, reset, email change), first-run setup and invitations.
//!
//! Emailed links open a page whose button confirms: a GET never uses a link, so mail scanners
//! that follow links cannot consume them.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;

use super::guard::{Csrf, authenticate};
use super::model::{LinkPurpose, RefreshOutcome};
use super::tokens::{self, AccessClaims, digest, random_token};
use super::{REFRESH_COOKIE, REFRESH_GRACE_MS, cookies, mail, password, safe_next, session_ttl};
use crate::accounts::errors::AccountError;
use crate::accounts::store::NewUser;
use crate::accounts::users::{Email, Name, Password, User};
use crate::auth::store::{NewSession, PresentedRefresh};
use crate::config::{Config, SignupMode};
use crate::store::{Db, now_ms};
use crate::web::error::AppError;
use crate::web::page::{self, Errors};
use crate::web::{Access, AppState, Route};

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/auth/sign-in", Access::Public, sign_in_page),
        Route::post("/auth/sign-in", Access::Public, sign_in),
        Route::get("/auth/sign-up", Access::Public, sign_up_page),
        Route::post("/auth/sign-up", Access::Public, sign_up),
        Route::post("/auth/sign-out", Access::Public, sign_out),
        Route::get("/auth/refresh", Access::Public, refresh_page),
        Route::post("/auth/refresh", Access::Public, refresh_api),
        Route::get("/auth/forgot", Access::Public, forgot_page),
        Route::post("/auth/forgot", Access::Public, forgot),
        Route::get("/auth/reset", Access::Public, reset_page),
        Route::post("/auth/reset", Access::Public, reset),
        Route::get("/auth/verify", Access::Public, verify_page),
        Route::post("/auth/verify", Access::Public, verify),
        Route::get("/auth/confirm-email", Access::Public, confirm_email_page),
        Route::post("/auth/confirm-email", Access::Public, confirm_email),
        Route::get("/auth/setup", Access::Public, setup_page),
        Route::post("/auth/setup", Access::Public, setup),
        Route::get("/invite", Access::Public, invite_page),
        Route::post("/invite", Access::Public, accept_invite),
    ]
}

// --- sessions ----------------------------------------------------------------------------

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}

fn access_cookie(
    state: &AppState,
    user: &User,
    session: super::model::SessionId,
) -> Cookie<'static> {
    let ttl = state.config.access_token_ttl.as_millis() as i64;
    let token = state.auth.keys.sign_access(&AccessClaims {
        sid: session.0,
        uid: user.id.0,
        exp: now_ms() + ttl,
    });
    cookies::access(token)
}

/// Opens a session for `user` and returns its two cookies.
pub async fn open_session(
    state: &AppState,
    user: &User,
    persistent: bool,
    headers: &HeaderMap,
) -> Result<[Cookie<'static>; 2], AppError> {
    let refresh = random_token();
    let session = crate::auth::store::create_session(
        &state.db,
        &NewSession {
            user_id: user.id,
            persistent,
            user_agent: user_agent(headers),
            refresh_hash: digest(&refresh),
            expires_at: now_ms() + session_ttl().for_session(persistent),
        },
    )
    .await?;
    Ok([
        access_cookie(state, user, session.id),
        cookies::refresh(refresh, persistent),
    ])
}

fn redirect_with(to: &str, cookies_to_set: &[Cookie<'_>]) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies_to_set {
        cookies::set(&mut r, c);
    }
    r
}

fn signed_out(to: &str) -> Response {
    redirect_with(to, &cookies::cleared())
}

fn with_next(path: &str, next: &str, extra: Option<&str>) -> String {
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
    next: Option<String>,
}

enum Refreshed {
    Ok(Box<[Cookie<'static>; 2]>),
    Failed,
}

async fn rotate(state: &AppState, headers: &HeaderMap) -> Result<Refreshed, AppError> {
    let Some(token) = cookies::get(headers, REFRESH_COOKIE) else {
        return Ok(Refreshed::Failed);
    };
    let child = state.auth.keys.refresh_child(&token);
    let outcome = crate::auth::store::refresh(
        &state.db,
        &PresentedRefresh {
            hash: digest(&token),
            child_hash: digest(&child),
            grace_ms: REFRESH_GRACE_MS,
            ttl: session_ttl(),
        },
    )
    .await?;
    match outcome {
        RefreshOutcome::Rotated { session, user } | RefreshOutcome::Replayed { session, user } => {
            Ok(Refreshed::Ok(Box::new([
                access_cookie(state, &user, session.id),
                cookies::refresh(child, session.persistent),
            ])))
        }
        RefreshOutcome::ReuseDetected { session_id } => {
            tracing::warn!(
                session = session_id.0,
                "a refresh token was used twice; its session has been revoked"
            );
            Ok(Refreshed::Failed)
        }
        RefreshOutcome::Invalid => Ok(Refreshed::Failed),
    }
}

/// `GET /auth/refresh?next=/path`: pages whose access token expired come here (the refresh
/// cookie is sent only to `/auth`) and go back, or on to sign-in.
async fn refresh_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let next = safe_next(q.next.as_deref());
    Ok(match rotate(&state, &headers).await? {
        Refreshed::Ok(c) => redirect_with(&next, &*c),
        Refreshed::Failed => signed_out(&with_next("/auth/sign-in", &next, None)),
    })
}

/// `POST /auth/refresh`, for scripts: 204 with new cookies, or 401.
async fn refresh_api(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    Ok(match rotate(&state, &headers).await? {
        Refreshed::Ok(c) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            for cookie in c.iter() {
                cookies::set(&mut r, cookie);
            }
            r
        }
        Refreshed::Failed => {
            let mut r =
                AppError::unauthorized("The session has ended; sign in again.").into_response();
            for cookie in &cookies::cleared() {
                cookies::set(&mut r, cookie);
            }
            r
        }
    })
}

/// `POST /auth/sign-out`: ends this session (found by the access token, even an expired one,
/// or by the refresh token).
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let by_access = cookies::get(&headers, super::ACCESS_COOKIE)
        .and_then(|t| state.auth.keys.verify_access(&t))
        .map(|c| c.session());
    let by_refresh = match cookies::get(&headers, REFRESH_COOKIE) {
        Some(t) => crate::auth::store::session_of_refresh(&state.db, &digest(&t)).await?,
        None => None,
    };
    for sid in [by_access, by_refresh].into_iter().flatten() {
        if let Some((session, _)) = crate::auth::store::active_session(&state.db, sid).await? {
            crate::auth::store::revoke_session(&state.db, session.user_id, sid).await?;
        }
    }
    Ok(signed_out("/auth/sign-in?signed_out=1"))
}

// --- sign-in -----------------------------------------------------------------------------

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
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
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
        signup_open: state.config.signup == SignupMode::Open,
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

fn too_many(wait_ms: i64, mut page_response: Response) -> Response {
    let secs = ((wait_ms + 999) / 1000).max(1);
    *page_response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        page_response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    page_response
}

fn wait_text(ms: i64) -> String {
    let secs = ((ms + 999) / 1000).max(1);
    if secs < 90 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", (secs + 59) / 60)
    }
}

async fn sign_in(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
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
        signup_open: state.config.signup == SignupMode::Open,
    };
    if let Err(wait) = state.auth.limiter.check(client.limiter_key()) {
        let ms = wait.as_millis() as i64;
        page.alert = Some(format!(
            "Too many sign-in attempts from your network. Try again in {}.",
            wait_text(ms)
        ));
        return Ok(too_many(
            ms,
            page::render(StatusCode::TOO_MANY_REQUESTS, &page)?,
        ));
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
    let key = state.auth.keys.throttle_key(email.as_str());
    if let Some(until) = crate::auth::store::login_blocked_until(&state.db, &key).await? {
        let ms = until - now_ms();
        page.alert = Some(format!(
            "Too many failed attempts for this account. Try again in {}.",
            wait_text(ms)
        ));
        return Ok(too_many(
            ms,
            page::render(StatusCode::TOO_MANY_REQUESTS, &page)?,
        ));
    }
    let found = crate::accounts::store::user_by_email(&state.db, email.as_str()).await?;
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    let ok = password::verify(&form.password, stored)
        .await
        .map_err(AppError::internal)?;
    let user = match (ok, found) {
        (true, Some(u)) => u.user,
        _ => {
            super::throttle::record_failure(&state.db, &key).await?;
            page.errors
                .add("password", "The email or password is not right.");
            return page::render(StatusCode::UNAUTHORIZED, &page);
        }
    };
    crate::auth::store::clear_login_failures(&state.db, &key).await?;
    let c = open_session(&state, &user, remember, &headers).await?;
    Ok(redirect_with(&next, &c))
}

// --- sign-up -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "auth/sign_up.html")]
struct SignUpPage {
    csrf: String,
    open: bool,
    name: String,
    email: String,
    workspace: String,
    errors: Errors,
}

async fn sign_up_page(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
) -> Result<Response, AppError> {
    page::ok(&SignUpPage {
        csrf,
        open: state.config.signup == SignupMode::Open,
        name: String::new(),
        email: String::new(),
        workspace: String::new(),
        errors: Errors::default(),
    })
}

#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    workspace: String,
}

#[derive(Template)]
#[template(path = "auth/check_email.html")]
struct CheckEmailPage {
    title: &'static str,
    message: String,
    logs_links: bool,
}

fn check_email(
    state: &AppState,
    title: &'static str,
    message: String,
) -> Result<Response, AppError> {
    page::ok(&CheckEmailPage {
        title,
        message,
        logs_links: state.auth.mailer.logs_links(),
    })
}

/// Creates a single-use link and returns its address.
pub async fn make_link(
    state: &AppState,
    purpose: LinkPurpose,
    path: &str,
    user: Option<crate::accounts::users::UserId>,
    email: Option<&str>,
) -> Result<String, AppError> {
    let token = random_token();
    crate::auth::store::create_link(
        &state.db,
        &digest(&token),
        purpose,
        user,
        email,
        now_ms() + purpose.ttl_ms(),
    )
    .await?;
    Ok(state
        .config
        .public_url_for(&format!("{path}?token={token}")))
}

async fn sign_up(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<SignUpForm>,
) -> Result<Response, AppError> {
    if state.config.signup != SignupMode::Open {
        return Err(AppError::forbidden(
            "Sign-up is by invitation on this server. Ask someone in your company to invite you.",
        ));
    }
    let mut errors = Errors::default();
    let name = errors.check("name", Name::parse(&form.name, "name"));
    let email = errors.check("email", Email::parse(&form.email));
    let pw = errors.check("password", Password::parse(&form.password));
    let ws = errors.check("workspace", Name::parse(&form.workspace, "company name"));
    let (Some(name), Some(email), Some(pw), Some(ws)) = (name, email, pw, ws) else {
        return page::render(
            StatusCode::BAD_REQUEST,
            &SignUpPage {
                csrf,
                open: true,
                name: form.name.chars().take(200).collect(),
                email: form.email.chars().take(300).collect(),
                workspace: form.workspace.chars().take(200).collect(),
                errors,
            },
        );
    };
    // Hash before looking the address up, so both answers take the same time.
    let hash = password::hash(&pw).await.map_err(AppError::internal)?;
    let message = format!(
        "If {} can receive email, a message is on its way: open its link to confirm the address, then sign in.",
        email
    );
    let new = NewUser {
        email: email.as_str().to_owned(),
        name: name.as_str().to_owned(),
        password_hash: Some(hash),
        email_verified: false,
        is_platform_admin: false,
    };
    match crate::accounts::store::create_user_with_workspace(&state.db, &new, ws.as_str()).await {
        Ok((user, _)) => {
            let link = make_link(
                &state,
                LinkPurpose::Verify,
                "/auth/verify",
                Some(user.id),
                None,
            )
            .await?;
            state.auth.mailer.send_later(mail::Email {
                to: user.email.clone(),
                subject: "Confirm your email address for Leadsment".to_owned(),
                body: format!(
                    "Hello {},\n\nConfirm your email address by opening this link (it works once, for 24 hours):\n\n{link}\n\nIf you did not sign up, ignore this message.\n",
                    user.name
                ),
                link: Some(link),
            });
        }
        Err(AccountError::EmailTaken) => {
            // The address has an account: tell its owner, and answer as for a new one.
            let link = state.config.public_url_for("/auth/forgot");
            state.auth.mailer.send_later(mail::Email {
                to: email.as_str().to_owned(),
                subject: "Someone tried to sign up with your address".to_owned(),
                body: format!(
                    "Someone (perhaps you) tried to create a Leadsment account with this address, which already has one.\n\nSign in, or if you forgot your password, choose a new one here:\n\n{link}\n"
                ),
                link: Some(link),
            });
        }
        Err(e) => return Err(e.into()),
    }
    check_email(&state, "Check your email", message)
}

// --- forgotten password ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    csrf: String,
    email: String,
    errors: Errors,
}

async fn forgot_page(Extension(Csrf(csrf)): Extension<Csrf>) -> Result<Response, AppError> {
    page::ok(&ForgotPage {
        csrf,
        email: String::new(),
        errors: Errors::default(),
    })
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<EmailForm>,
) -> Result<Response, AppError> {
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(msg) => {
            let mut errors = Errors::default();
            errors.add("email", msg);
            return page::render(
                StatusCode::BAD_REQUEST,
                &ForgotPage {
                    csrf,
                    email: form.email.chars().take(300).collect(),
                    errors,
                },
            );
        }
    };
    if let Some(found) = crate::accounts::store::user_by_email(&state.db, email.as_str()).await? {
        let link = make_link(
            &state,
            LinkPurpose::Reset,
            "/auth/reset",
            Some(found.user.id),
            None,
        )
        .await?;
        state.auth.mailer.send_later(mail::Email {
            to: found.user.email.clone(),
            subject: "Choose a new Leadsment password".to_owned(),
            body: format!(
                "Hello {},\n\nOpen this link to choose a new password (it works once, for one hour). Choosing one signs you out everywhere:\n\n{link}\n\nIf you did not ask for this, ignore this message; your password stays as it is.\n",
                found.user.name
            ),
            link: Some(link),
        });
    }
    check_email(
        &state,
        "Check your email",
        format!(
            "If an account uses {email}, a message with a link to choose a new password is on its way. The link works once, for one hour."
        ),
    )
}

// --- emailed links -----------------------------------------------------------------------

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

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

#[derive(Template)]
#[template(path = "auth/notice.html")]
struct NoticePage {
    title: String,
    message: String,
    link: &'static str,
    link_text: &'static str,
}

fn link_invalid() -> Result<Response, AppError> {
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

async fn verify_page(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    if crate::auth::store::peek_link(&state.db, &digest(&q.token), LinkPurpose::Verify)
        .await?
        .is_none()
    {
        return link_invalid();
    }
    page::ok(&ConfirmPage {
        csrf,
        title: "Confirm your email address",
        message: "Press the button to confirm that this address is yours.".to_owned(),
        action: "/auth/verify",
        button: "Confirm my email address",
        token: q.token,
    })
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

async fn verify(
    State(state): State<AppState>,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let Some(link) =
        crate::auth::store::consume_link(&state.db, &digest(&form.token), LinkPurpose::Verify)
            .await?
    else {
        return link_invalid();
    };
    if let Some(user) = link.user_id {
        crate::accounts::store::set_email_verified(&state.db, user).await?;
    }
    Ok(Redirect::to("/auth/sign-in?done=verified").into_response())
}

async fn confirm_email_page(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let Some(link) =
        crate::auth::store::peek_link(&state.db, &digest(&q.token), LinkPurpose::EmailChange)
            .await?
    else {
        return link_invalid();
    };
    page::ok(&ConfirmPage {
        csrf,
        title: "Confirm your new email address",
        message: format!(
            "Press the button to use {} to sign in from now on.",
            link.email.unwrap_or_default()
        ),
        action: "/auth/confirm-email",
        button: "Use this address",
        token: q.token,
    })
}

async fn confirm_email(
    State(state): State<AppState>,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let Some(link) =
        crate::auth::store::consume_link(&state.db, &digest(&form.token), LinkPurpose::EmailChange)
            .await?
    else {
        return link_invalid();
    };
    let (Some(user), Some(email)) = (link.user_id, link.email) else {
        return link_invalid();
    };
    match crate::accounts::store::change_email(&state.db, user, &email).await {
        Ok(()) => {}
        Err(refusal @ AccountError::EmailTaken) => {
            let msg = refusal.to_string();
            return page::render(
                StatusCode::CONFLICT,
                &NoticePage {
                    title: "The address was not changed".to_owned(),
                    message: msg,
                    link: "/account",
                    link_text: "Back to your account",
                },
            );
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to("/account?done=email").into_response())
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    csrf: String,
    title: &'static str,
    token: String,
    errors: Errors,
}

/// A reset link, or the set-password link of an account made on the command line.
async fn password_link(
    store: &Db,
    token: &str,
    consume: bool,
) -> Result<Option<(LinkPurpose, super::model::LinkToken)>, AppError> {
    for purpose in [LinkPurpose::Reset, LinkPurpose::SetPassword] {
        let found = if consume {
            crate::auth::store::consume_link(store, &digest(token), purpose).await?
        } else {
            crate::auth::store::peek_link(store, &digest(token), purpose).await?
        };
        if let Some(link) = found {
            return Ok(Some((purpose, link)));
        }
    }
    Ok(None)
}

fn reset_title(purpose: LinkPurpose) -> &'static str {
    if purpose == LinkPurpose::SetPassword {
        "Set your password"
    } else {
        "Choose a new password"
    }
}

async fn reset_page(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let Some((purpose, _)) = password_link(&state.db, &q.token, false).await? else {
        return link_invalid();
    };
    page::ok(&ResetPage {
        csrf,
        title: reset_title(purpose),
        token: q.token,
        errors: Errors::default(),
    })
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    let pw = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(msg) => {
            // The link is not used up by a password that was refused.
            let Some((purpose, _)) = password_link(&state.db, &form.token, false).await? else {
                return link_invalid();
            };
            let mut errors = Errors::default();
            errors.add("password", msg);
            return page::render(
                StatusCode::BAD_REQUEST,
                &ResetPage {
                    csrf,
                    title: reset_title(purpose),
                    token: form.token,
                    errors,
                },
            );
        }
    };
    let hash = password::hash(&pw).await.map_err(AppError::internal)?;
    let Some((_, link)) = password_link(&state.db, &form.token, true).await? else {
        return link_invalid();
    };
    let Some(user_id) = link.user_id else {
        return link_invalid();
    };
    crate::accounts::store::set_password(&state.db, user_id, &hash).await?;
    // Whoever could read the inbox now owns the account: it is verified, and every session
    // (perhaps an intruder's) ends.
    crate::accounts::store::set_email_verified(&state.db, user_id).await?;
    crate::auth::store::revoke_sessions(&state.db, user_id, None).await?;
    if let Some(user) = crate::accounts::store::user(&state.db, user_id).await? {
        crate::auth::store::clear_login_failures(
            &state.db,
            &state.auth.keys.throttle_key(&user.email),
        )
        .await?;
    }
    Ok(signed_out("/auth/sign-in?done=password"))
}

// --- first run ---------------------------------------------------------------------------

/// At start: while no platform administrator exists, print a one-time address that creates
/// the first one. There is no default password.
pub async fn announce_setup(config: &Config, store: &Db) -> anyhow::Result<Option<String>> {
    if crate::accounts::store::count_platform_admins(store).await? > 0 {
        return Ok(None);
    }
    let token = random_token();
    crate::auth::store::create_link(
        store,
        &digest(&token),
        LinkPurpose::Setup,
        None,
        None,
        now_ms() + LinkPurpose::Setup.ttl_ms(),
    )
    .await?;
    let url = config.public_url_for(&format!("/auth/setup?token={token}"));
    tracing::warn!(
        setup_url = %url,
        "no administrator exists yet: open this one-time address (valid 24 hours, until the next start) to create the first one"
    );
    Ok(Some(url))
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    csrf: String,
    token: String,
    name: String,
    email: String,
    workspace: String,
    errors: Errors,
}

async fn setup_page(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    if crate::auth::store::peek_link(&state.db, &digest(&q.token), LinkPurpose::Setup)
        .await?
        .is_none()
    {
        return link_invalid();
    }
    page::ok(&SetupPage {
        csrf,
        token: q.token,
        name: String::new(),
        email: String::new(),
        workspace: String::new(),
        errors: Errors::default(),
    })
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    workspace: String,
}

async fn setup(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    let mut errors = Errors::default();
    let name = errors.check("name", Name::parse(&form.name, "name"));
    let email = errors.check("email", Email::parse(&form.email));
    let pw = errors.check("password", Password::parse(&form.password));
    let ws = errors.check("workspace", Name::parse(&form.workspace, "company name"));
    let (Some(name), Some(email), Some(pw), Some(ws)) = (name, email, pw, ws) else {
        if crate::auth::store::peek_link(&state.db, &digest(&form.token), LinkPurpose::Setup)
            .await?
            .is_none()
        {
            return link_invalid();
        }
        return page::render(
            StatusCode::BAD_REQUEST,
            &SetupPage {
                csrf,
                token: form.token,
                name: form.name.chars().take(200).collect(),
                email: form.email.chars().take(300).collect(),
                workspace: form.workspace.chars().take(200).collect(),
                errors,
            },
        );
    };
    let hash = password::hash(&pw).await.map_err(AppError::internal)?;
    if crate::accounts::store::count_platform_admins(&state.db).await? > 0
        || crate::auth::store::consume_link(&state.db, &digest(&form.token), LinkPurpose::Setup)
            .await?
            .is_none()
    {
        return link_invalid();
    }
    let (user, workspace) = crate::accounts::store::create_user_with_workspace(
        &state.db,
        &NewUser {
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            password_hash: Some(hash),
            email_verified: true,
            is_platform_admin: true,
        },
        ws.as_str(),
    )
    .await?;
    let c = open_session(&state, &user, false, &headers).await?;
    Ok(redirect_with(&format!("/w/{}", workspace.id.0), &c))
}

// --- invitations -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "auth/invite.html")]
struct InvitePage {
    csrf: String,
    token: String,
    workspace: String,
    role: &'static str,
    email: String,
    /// `join` (signed in as the invited address), `other` (signed in as someone else),
    /// `sign_in` (the address has an account), `create` (a new account).
    mode: &'static str,
    signed_in_as: String,
    name: String,
    errors: Errors,
}

async fn invite_context(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    csrf: String,
) -> Result<Option<InvitePage>, AppError> {
    let Some((inv, ws)) =
        crate::accounts::store::invitation_by_token(&state.db, &digest(token)).await?
    else {
        return Ok(None);
    };
    let current = authenticate(state, headers).await?;
    let (mode, signed_in_as) = match &current {
        Some(c) if c.user.email == inv.email => ("join", c.user.email.clone()),
        Some(c) => ("other", c.user.email.clone()),
        None if crate::accounts::store::user_by_email(&state.db, &inv.email)
            .await?
            .is_some() =>
        {
            ("sign_in", String::new())
        }
        None => ("create", String::new()),
    };
    Ok(Some(InvitePage {
        csrf,
        token: token.to_owned(),
        workspace: ws.name,
        role: inv.role.label(),
        email: inv.email,
        mode,
        signed_in_as,
        name: String::new(),
        errors: Errors::default(),
    }))
}

impl InvitePage {
    fn sign_in_href(&self) -> String {
        with_next(
            "/auth/sign-in",
            &format!("/invite?token={}", self.token),
            None,
        )
    }
}

async fn invite_page(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    match invite_context(&state, &headers, &q.token, csrf).await? {
        Some(p) => page::ok(&p),
        None => link_invalid(),
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

async fn accept_invite(
    State(state): State<AppState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let Some(mut page) = invite_context(&state, &headers, &form.token, csrf).await? else {
        return link_invalid();
    };
    let hash = digest(&form.token);
    match page.mode {
        "join" => {
            let Some(current) = authenticate(&state, &headers).await? else {
                return link_invalid();
            };
            match crate::accounts::store::accept_invitation(&state.db, &hash, current.user.id)
                .await?
            {
                Some(ws) => Ok(Redirect::to(&format!("/w/{}", ws.0)).into_response()),
                None => link_invalid(),
            }
        }
        "create" => {
            let name = page.errors.check("name", Name::parse(&form.name, "name"));
            let pw = page
                .errors
                .check("password", Password::parse(&form.password));
            let (Some(name), Some(pw)) = (name, pw) else {
                page.name = form.name.chars().take(200).collect();
                return page::render(StatusCode::BAD_REQUEST, &page);
            };
            let pw_hash = password::hash(&pw).await.map_err(AppError::internal)?;
            let user = match crate::accounts::store::create_user(
                &state.db,
                &NewUser {
                    email: page.email.clone(),
                    name: name.as_str().to_owned(),
                    password_hash: Some(pw_hash),
                    // The invitation reached this address.
                    email_verified: true,
                    is_platform_admin: false,
                },
            )
            .await
            {
                Ok(u) => u,
                Err(AccountError::EmailTaken) => {
                    return Ok(Redirect::to(&page.sign_in_href()).into_response());
                }
                Err(e) => return Err(e.into()),
            };
            let Some(ws) =
                crate::accounts::store::accept_invitation(&state.db, &hash, user.id).await?
            else {
                return link_invalid();
            };
            let c = open_session(&state, &user, false, &headers).await?;
            Ok(redirect_with(&format!("/w/{}", ws.0), &c))
        }
        "sign_in" => Ok(Redirect::to(&page.sign_in_href()).into_response()),
        _ => page::render(StatusCode::CONFLICT, &page),
    }
}

/// Helper for other modules: a digest of a fresh secret, and the secret.
pub fn fresh_secret() -> (String, Vec<u8>) {
    let t = tokens::random_token();
    let d = digest(&t);
    (t, d)
}
