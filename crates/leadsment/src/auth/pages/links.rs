//! The pages that emailed links open: verify an address, confirm a new one, choose a
//! password. A GET shows a button; only the POST uses the link.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::{
    ConfirmPage, NoticePage, TokenQuery, link_invalid, link_is_open, peek_link, signed_out,
    use_link,
};
use crate::auth::guard::{CurrentUser, PageCtx};
use crate::auth::model::LinkPurpose;
use crate::auth::tokens::digest;
use crate::auth::users::Password;
use crate::auth::{Access, AuthState};
use crate::store::Db;
use crate::web::Route;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

pub(super) fn routes() -> Vec<Route<AuthState, Access>> {
    [
        Route::form("/auth/reset", Access::Public, reset_page, reset),
        Route::form("/auth/verify", Access::Public, verify_page, verify),
        // Confirmed signed in as the user who asked: a link alone (an attacker who once knew
        // the password and asked for a move to his own address) is not enough.
        Route::form(
            "/auth/confirm-email",
            Access::Session,
            confirm_email_page,
            confirm_email,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

async fn verify_page(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    if !link_is_open(&state.db, &q.token, LinkPurpose::Verify).await? {
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    token: String,
}

async fn verify(
    State(state): State<AuthState>,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let Some(link) = use_link(&state.db, &form.token, LinkPurpose::Verify).await? else {
        return link_invalid();
    };
    if let Some(user) = link.user_id {
        crate::auth::store::set_email_verified(&state.db, user).await?;
    }
    Ok(Redirect::to("/auth/sign-in?done=verified").into_response())
}

async fn confirm_email_page(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    Extension(current): Extension<CurrentUser>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let Some(link) = peek_link(&state.db, &q.token, LinkPurpose::EmailChange).await? else {
        return link_invalid();
    };
    if link.user_id != Some(current.user.id) {
        return another_users_link();
    }
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
    State(state): State<AuthState>,
    Extension(current): Extension<CurrentUser>,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    // Looked at before it is used: another user's attempt leaves the link to its owner.
    let Some(link) = peek_link(&state.db, &form.token, LinkPurpose::EmailChange).await? else {
        return link_invalid();
    };
    if link.user_id != Some(current.user.id) {
        return another_users_link();
    }
    let Some(link) = use_link(&state.db, &form.token, LinkPurpose::EmailChange).await? else {
        return link_invalid();
    };
    let (Some(user), Some(email)) = (link.user_id, link.email) else {
        return link_invalid();
    };
    match crate::auth::store::change_email(&state.db, user, &email).await {
        Ok(()) => {}
        Err(refusal @ crate::auth::errors::EmailTaken::Taken) => {
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
    crate::auth::store::drop_links(&state.db, user).await?;
    Ok(Redirect::to("/account?done=email").into_response())
}

/// An email-change link opened in a browser signed in as someone else.
fn another_users_link() -> Result<Response, AppError> {
    page::render(
        StatusCode::BAD_REQUEST,
        &NoticePage {
            title: "This link is for another account".to_owned(),
            message: "Sign out, then sign in as the account that asked for the new address and \
                      open the link again."
                .to_owned(),
            link: "/account",
            link_text: "Back to your account",
        },
    )
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
) -> Result<Option<(LinkPurpose, crate::auth::model::LinkToken)>, AppError> {
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
    PageCtx { state, csrf }: PageCtx<AuthState>,
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    token: String,
    password: String,
}

async fn reset(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    client: ClientAddr,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    state.forms_limiter.admit(client)?;
    // The link is looked at first, so a made-up one costs no hash; it is used up only once
    // the new password is accepted and hashed.
    let Some((purpose, _)) = password_link(&state.db, &form.token, false).await? else {
        return link_invalid();
    };
    let pw = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(msg) => {
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
    let hash = state.hasher.hash(&pw).await?;
    let Some((_, link)) = password_link(&state.db, &form.token, true).await? else {
        return link_invalid();
    };
    let Some(user_id) = link.user_id else {
        return link_invalid();
    };
    crate::auth::store::set_password(&state.db, user_id, &hash).await?;
    // Whoever could read the inbox now owns the account: it is verified, and every session
    // (perhaps an intruder's) and every other link ends.
    crate::auth::store::drop_links(&state.db, user_id).await?;
    crate::auth::store::set_email_verified(&state.db, user_id).await?;
    crate::auth::store::revoke_sessions(&state.db, user_id, None).await?;
    if let Some(user) = crate::auth::store::user(&state.db, user_id).await? {
        crate::auth::store::clear_login_failures(&state.db, &state.keys.throttle_key(&user.email))
            .await?;
    }
    Ok(signed_out("/auth/sign-in?done=password"))
}
