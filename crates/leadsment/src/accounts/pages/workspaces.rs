//! The workspaces list, a workspace's overview and its sites.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::account::NameForm;
use super::{DoneQuery, back, notice};
use crate::accounts::chrome::{Chrome, NavWorkspace};
use crate::accounts::context::SessionCtx;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::errors::AccountError;
use crate::accounts::roles::Role;
use crate::accounts::sites::{NewSite, Site};
use crate::accounts::{Access, AccountsState};
use crate::auth::CurrentUser;
use crate::auth::users::Name;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    use Access::Member as M;
    vec![
        Route::get("/workspaces", Access::SESSION, workspaces_page),
        Route::post("/workspaces", Access::SESSION, create_workspace),
        Route::get("/w/{workspace_id}", M(Role::Viewer), overview),
        Route::post("/w/{workspace_id}/sites", M(Role::Admin), add_site),
    ]
}

#[derive(Template)]
#[template(path = "app/workspaces.html")]
struct WorkspacesPage {
    chrome: Chrome,
    workspaces: Vec<NavWorkspace>,
    name: String,
    errors: Errors,
}

async fn workspaces_view(
    state: &AccountsState,
    current: &CurrentUser,
    csrf: &str,
) -> Result<WorkspacesPage, AppError> {
    // The switcher's list is the page's list.
    let chrome = Chrome::load(state, current, csrf, None, "workspaces").await?;
    Ok(WorkspacesPage {
        workspaces: chrome.workspaces.clone(),
        chrome,
        name: String::new(),
        errors: Errors::default(),
    })
}

async fn workspaces_page(ctx: SessionCtx) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    page::ok(&workspaces_view(&state, &current, &csrf).await?)
}

async fn create_workspace(
    ctx: SessionCtx,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    match Name::parse(&form.name, "company name") {
        Ok(name) => {
            let ws =
                crate::accounts::store::create_workspace(&state.db, name.as_str(), current.user.id)
                    .await?;
            Ok(back(&format!("/w/{}", ws.id.0), "created"))
        }
        Err(msg) => {
            let mut page = workspaces_view(&state, &current, &csrf).await?;
            page.errors.add("name", msg);
            page.name = form.name.chars().take(200).collect();
            page::render(StatusCode::BAD_REQUEST, &page)
        }
    }
}

struct SiteView {
    id: i64,
    domain: String,
    aliases: String,
    snippet: String,
    added: String,
}

#[derive(Template)]
#[template(path = "app/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    role: Role,
    sites: Vec<SiteView>,
    domain: String,
    errors: Errors,
    /// Where to prove and take a domain another workspace holds unverified.
    claim: Option<String>,
}

async fn overview_view(ctx: &WorkspaceCtx, done: Option<&str>) -> Result<OverviewPage, AppError> {
    let (state, member, current) = (&ctx.state, &ctx.member, &ctx.current);
    let csrf = ctx.csrf.as_str();
    let ws = &member.membership.workspace;
    let public = state.web.public_url_for("");
    let sites = crate::accounts::store::workspace_sites(&state.db, ws.id)
        .await?
        .into_iter()
        .map(|s: Site| SiteView {
            id: s.id.0,
            snippet: s.snippet(&public),
            aliases: s
                .aliases
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            domain: s.domain.to_string(),
            added: when(&s.created_at),
        })
        .collect();
    Ok(OverviewPage {
        chrome: Chrome::load(state, current, csrf, Some(ws.id.0), "overview")
            .await?
            .with_notice(notice(done)),
        workspace_id: ws.id.0,
        workspace: ws.name.clone(),
        role: member.membership.role,
        sites,
        domain: String::new(),
        errors: Errors::default(),
        claim: None,
    })
}

async fn overview(ctx: WorkspaceCtx, Query(q): Query<DoneQuery>) -> Result<Response, AppError> {
    page::ok(&overview_view(&ctx, q.done.as_deref()).await?)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SiteForm {
    domain: String,
}

async fn add_site(ctx: WorkspaceCtx, Form(form): Form<SiteForm>) -> Result<Response, AppError> {
    let (state, member, _current) = (&ctx.state, &ctx.member, &ctx.current);
    let ws = member.membership.workspace.id;
    let mut claim = None;
    let result = match NewSite::new(ws, &form.domain, &[]) {
        Ok(new) => match crate::accounts::store::create_site(&state.db, &new).await {
            Err(AccountError::HostTaken { host, owner: None }) => {
                // Never another tenant's name; a host they hold unverified may be taken.
                claim = super::ownership::claim_link(&ctx, &host, None).await?;
                Err(Ok(format!("{host} is already used by another site.")))
            }
            other => other.map_err(|e| match e.is_refusal() {
                true => Ok(e.to_string()),
                false => Err(e),
            }),
        },
        Err(e) => Err(Ok(e.to_string())),
    };
    match result {
        Ok(_) => Ok(back(&format!("/w/{}", ws.0), "site")),
        Err(Ok(msg)) => {
            let mut page = overview_view(&ctx, None).await?;
            page.errors.add("domain", msg);
            page.domain = form.domain.chars().take(300).collect();
            page.claim = claim;
            page::render(StatusCode::BAD_REQUEST, &page)
        }
        Err(Err(e)) => Err(e.into()),
    }
}
