//! Accepting an invitation to a workspace.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::{Access, AccountsState};
use crate::auth::guard::{PageCtx, authenticate};
use crate::auth::pages::{TokenQuery, link_invalid, redirect_with, with_next};
use crate::auth::sessions::open_session;
use crate::auth::store::NewUser;
use crate::auth::tokens::digest;
use crate::auth::users::{Name, Password};
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    Route::form("/invite", Access::PUBLIC, invite_page, accept_invite).into()
}

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
    state: &AccountsState,
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
        None if crate::auth::store::user_by_email(&state.db, &inv.email)
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
    PageCtx { state, csrf }: PageCtx<AccountsState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    match invite_context(&state, &headers, &q.token, csrf).await? {
        Some(p) => page::ok(&p),
        None => link_invalid(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InviteForm {
    token: String,
    name: String,
    password: String,
}

async fn accept_invite(
    PageCtx { state, csrf }: PageCtx<AccountsState>,
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
            let pw_hash = state.hasher.hash(&pw).await?;
            let user = match crate::auth::store::create_user(
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
                Err(crate::auth::errors::EmailTaken::Taken) => {
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
