//! First run: the one-time setup link creates the first platform administrator.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use crate::accounts::{Access, AccountsState};
use crate::auth::guard::Csrf;
use crate::auth::links::make_link;
use crate::auth::model::LinkPurpose;
use crate::auth::pages::{TokenQuery, link_invalid, link_is_open, redirect_with};
use crate::auth::password;
use crate::auth::sessions::open_session;
use crate::auth::store::NewUser;
use crate::auth::tokens::digest;
use crate::auth::users::{Email, Name, Password};
use crate::store::Db;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};
use crate::web::settings::WebSettings;

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    Route::form("/auth/setup", Access::Public, setup_page, setup).into()
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
    name: String,
    email: String,
    workspace: String,
    errors: Errors,
}

async fn setup_page(
    State(state): State<AccountsState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    if !link_is_open(&state.db, &q.token, LinkPurpose::Setup).await? {
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
    State(state): State<AccountsState>,
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
        if !link_is_open(&state.db, &form.token, LinkPurpose::Setup).await? {
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
    if crate::auth::store::count_platform_admins(&state.db).await? > 0
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
