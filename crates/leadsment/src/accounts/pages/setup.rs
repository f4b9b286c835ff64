//! First run: the one-time setup link creates the first platform administrator.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::new_account::{NewAccountForm, Typed};
use crate::accounts::{Access, AccountsState};
use crate::auth::guard::PageCtx;
use crate::auth::links::make_link;
use crate::auth::model::LinkPurpose;
use crate::auth::pages::{TokenQuery, link_invalid, link_is_open, redirect_with, use_link};
use crate::auth::sessions::open_session;
use crate::store::Db;
use crate::web::Route;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};
use crate::web::settings::WebSettings;

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    Route::form("/auth/setup", Access::PUBLIC, setup_page, setup).into()
}

/// At start: while no platform administrator exists, print a one-time address that creates
/// the first one. There is no default password.
pub async fn announce_setup(web: &WebSettings, store: &Db) -> anyhow::Result<Option<String>> {
    if crate::auth::store::count_platform_admins(store).await? > 0 {
        return Ok(None);
    }
    let url = make_link(store, web, LinkPurpose::Setup, "/auth/setup", None, None).await?;
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
    typed: Typed,
    errors: Errors,
}

async fn setup_page(
    PageCtx { state, csrf }: PageCtx<AccountsState>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    if !link_is_open(&state.db, &q.token, LinkPurpose::Setup).await? {
        return link_invalid();
    }
    page::ok(&SetupPage {
        csrf,
        token: q.token,
        typed: Typed::default(),
        errors: Errors::default(),
    })
}

async fn setup(
    PageCtx { state, csrf }: PageCtx<AccountsState>,
    client: ClientAddr,
    headers: HeaderMap,
    Form(form): Form<NewAccountForm>,
) -> Result<Response, AppError> {
    state.forms_limiter.admit(client)?;
    // The link is looked at first, so a made-up one costs no hash.
    if !setup_is_open(&state.db, &form.token).await? {
        return link_invalid();
    }
    let account = match form.check() {
        Ok(account) => account,
        Err(errors) => return refused(&state, csrf, &form, errors).await,
    };
    let new = account.user(&state.hasher, true, true).await?;
    // Used up only now; another request may have used it meanwhile.
    if crate::auth::store::count_platform_admins(&state.db).await? > 0
        || use_link(&state.db, &form.token, LinkPurpose::Setup)
            .await?
            .is_none()
    {
        return link_invalid();
    }
    let (user, workspace) = crate::accounts::store::create_first_administrator(
        &state.db,
        &new,
        account.workspace.as_str(),
    )
    .await?;
    let c = open_session(&state, &user, false, &headers).await?;
    Ok(redirect_with(&format!("/w/{}", workspace.id.0), &c))
}

/// Whether `token` is an unused setup link while no administrator exists yet.
async fn setup_is_open(store: &Db, token: &str) -> Result<bool, AppError> {
    Ok(crate::auth::store::count_platform_admins(store).await? == 0
        && link_is_open(store, token, LinkPurpose::Setup).await?)
}

/// The form again, with what was wrong next to each field, while the link still works.
async fn refused(
    state: &AccountsState,
    csrf: String,
    form: &NewAccountForm,
    errors: Errors,
) -> Result<Response, AppError> {
    if !link_is_open(&state.db, &form.token, LinkPurpose::Setup).await? {
        return link_invalid();
    }
    let (token, typed) = (form.token.clone(), form.typed());
    page::render(
        StatusCode::BAD_REQUEST,
        &SetupPage {
            csrf,
            token,
            typed,
            errors,
        },
    )
}
