//! API keys of a workspace, and the API that they open.

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::{Form, http::header};
use serde::Deserialize;
use serde_json::json;

use super::{DoneQuery, back, notice};
use crate::accounts::CurrentKey;
use crate::accounts::api_keys::{ApiKey, KEY_PREFIX, Scope};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::roles::Role;
use crate::accounts::sites::NewSite;
use crate::accounts::{Access, AccountsState};
use crate::auth::users::Name;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when, when_opt};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    use Access::{ApiKey as Key, Member as M};
    vec![
        Route::get("/w/{workspace_id}/api-keys", M(Role::Admin), keys_page),
        Route::post("/w/{workspace_id}/api-keys", M(Role::Admin), create_key),
        Route::post(
            "/w/{workspace_id}/api-keys/{key_id}/revoke",
            M(Role::Admin),
            revoke_key,
        ),
        Route::get(
            "/api/v1/workspaces/{workspace_id}/sites",
            Key(Scope::Read),
            api_sites,
        ),
        Route::post(
            "/api/v1/workspaces/{workspace_id}/sites",
            Key(Scope::Write),
            api_add_site,
        ),
    ]
}

struct KeyView {
    id: i64,
    name: String,
    prefix: String,
    scope: &'static str,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "app/api_keys.html")]
struct KeysPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    keys: Vec<KeyView>,
    /// A key just created: shown this once.
    new_key: Option<String>,
    name: String,
    errors: Errors,
}

async fn keys_view(ctx: &WorkspaceCtx, done: Option<&str>) -> Result<KeysPage, AppError> {
    let (state, member, current) = (&ctx.state, &ctx.member, &ctx.current);
    let csrf = ctx.csrf.as_str();
    let ws = &member.membership.workspace;
    let keys = crate::accounts::store::api_keys(&state.db, ws.id)
        .await?
        .into_iter()
        .map(|k: ApiKey| KeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scope: k.scope.as_str(),
            created: when(&k.created_at),
            last_used: when_opt(&k.last_used_at),
        })
        .collect();
    Ok(KeysPage {
        chrome: Chrome::load(state, current, csrf, Some(ws.id.0), "keys")
            .await?
            .with_notice(notice(done)),
        workspace_id: ws.id.0,
        workspace: ws.name.clone(),
        keys,
        new_key: None,
        name: String::new(),
        errors: Errors::default(),
    })
}

async fn keys_page(ctx: WorkspaceCtx, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    page::ok(&keys_view(&ctx, q.done.as_deref()).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct KeyForm {
    name: String,
    scope: String,
}

async fn create_key(ctx: WorkspaceCtx, Form(form): Form<KeyForm>) -> Result<Response, AppError> {
    let (state, member, current) = (&ctx.state, &ctx.member, &ctx.current);
    let mut page = keys_view(&ctx, None).await?;
    let name = page
        .errors
        .check("name", Name::parse(&form.name, "key name"));
    let scope = Scope::parse(&form.scope);
    if scope.is_none() {
        page.errors.add("scope", "Choose read or write.");
    }
    let (Some(name), Some(scope)) = (name, scope) else {
        page.name = form.name.chars().take(200).collect();
        return page::render(StatusCode::BAD_REQUEST, &page);
    };
    let secret = format!("{KEY_PREFIX}{}", crate::auth::tokens::random_token());
    let prefix: String = secret.chars().take(KEY_PREFIX.len() + 6).collect();
    crate::accounts::store::create_api_key(
        &state.db,
        member.membership.workspace.id,
        name.as_str(),
        &prefix,
        &crate::auth::tokens::digest(&secret),
        scope,
        current.user.id,
    )
    .await?;
    let mut page = keys_view(&ctx, None).await?;
    page.new_key = Some(secret);
    // The key is in this page only: keep it out of caches and history.
    let mut r = page::ok(&page)?;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

async fn revoke_key(
    WorkspaceCtx { state, member, .. }: WorkspaceCtx,
    Path((_, key_id)): Path<(i64, i64)>,
) -> Result<Response, AppError> {
    let ws = member.membership.workspace.id;
    if !crate::accounts::store::revoke_api_key(&state.db, ws, key_id).await? {
        return Err(AppError::not_found(
            "There is no such key in this workspace.",
        ));
    }
    Ok(back(&format!("/w/{}/api-keys", ws.0), "key_revoked"))
}

// --- the API that keys open ------------------------------------------------------------

async fn api_sites(
    State(state): State<AccountsState>,
    Extension(CurrentKey { key }): Extension<CurrentKey>,
) -> Result<Json<serde_json::Value>, AppError> {
    let sites = crate::accounts::store::workspace_sites(&state.db, key.workspace_id).await?;
    Ok(Json(json!({ "sites": sites })))
}

#[derive(Deserialize)]
pub struct ApiSite {
    domain: String,
    #[serde(default)]
    aliases: Vec<String>,
}

async fn api_add_site(
    State(state): State<AccountsState>,
    Extension(CurrentKey { key }): Extension<CurrentKey>,
    Json(body): Json<ApiSite>,
) -> Result<Response, AppError> {
    let new = NewSite::new(key.workspace_id, &body.domain, &body.aliases)
        .map_err(|e| AppError::bad_request("invalid_site", e.to_string()))?;
    let site = crate::accounts::store::create_site(&state.db, &new).await?;
    Ok((StatusCode::CREATED, Json(json!({ "site": site }))).into_response())
}
