//! `/w/{workspace_id}/exclusions`: the organisations, domains and ASNs the workspace hides
//! from its dashboard. Every member reads the list; admins and up add and remove (a POST by
//! anyone else is 403). The company page's "Hide this company" and "Unhide" post here too,
//! and go back to the company.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::roles::Role;
use crate::accounts::sites::{Site, SiteId};
use crate::leads::LeadsState;
use crate::leads::exclusions::{self, Exclusion, Kind, MAX_EXCLUSIONS};
use crate::leads::store::exclusions as store;
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when};

#[derive(Template)]
#[template(path = "leads/exclusions.html")]
struct ExclusionsPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    can_change: bool,
    rows: Vec<Row>,
    sites: Vec<Site>,
    organisation: String,
    domain: String,
    asn: String,
    errors: Errors,
}

struct Row {
    id: i64,
    kind: &'static str,
    label: String,
    added: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DoneQuery {
    done: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ExclusionForm {
    section: String,
    kind: String,
    organisation: String,
    domain: String,
    asn: String,
    id: Option<i64>,
    /// From the company page: where to go back to.
    site_id: Option<i64>,
    company_id: Option<i64>,
}

fn notice(done: Option<&str>) -> Option<String> {
    Some(
        match done? {
            "added" => {
                "Excluded. The matching companies are gone from every feed, figure, CSV \
                        and score of this workspace, past visits included."
            }
            "exists" => "That exclusion was already on the list.",
            "removed" => "The exclusion is removed: its companies are back, with their history.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn view(
    state: &LeadsState,
    ctx: &WorkspaceCtx,
    done: Option<&str>,
) -> Result<ExclusionsPage, AppError> {
    let ws = ctx.workspace();
    let db = &state.accounts.db;
    let list = store::exclusions(db, ws.id).await?;
    let sites = crate::accounts::store::workspace_sites(db, ws.id).await?;
    let mut chrome = Chrome::load(
        &ctx.state,
        &ctx.current,
        &ctx.csrf,
        Some(ws.id.0),
        "exclusions",
    )
    .await?;
    chrome.notice = notice(done);
    Ok(ExclusionsPage {
        chrome,
        workspace_id: ws.id.0,
        workspace: ws.name.clone(),
        can_change: ctx.member.membership.role.allows(Role::Admin),
        rows: rows(db, &list).await?,
        sites,
        organisation: String::new(),
        domain: String::new(),
        asn: String::new(),
        errors: Errors::default(),
    })
}

/// The list as shown: a company hidden by id is named.
async fn rows(db: &crate::store::Db, list: &[Exclusion]) -> Result<Vec<Row>, AppError> {
    let ids: Vec<i64> = list
        .iter()
        .filter(|e| e.kind == Kind::Organisation)
        .filter_map(|e| exclusions::company_id_of(&e.value))
        .collect();
    let names = crate::leads::store::companies(db, &ids).await?;
    Ok(list
        .iter()
        .map(|e| {
            let label = match (e.kind, exclusions::company_id_of(&e.value)) {
                (Kind::Organisation, Some(id)) => match names.iter().find(|c| c.id == id) {
                    Some(c) => format!("{} (company {id})", c.name),
                    None => format!("Company {id}"),
                },
                _ => e.label(),
            };
            let by = e.created_by.as_deref().unwrap_or("a former member");
            Row {
                id: e.id,
                kind: match e.kind {
                    Kind::Organisation => "Organisation",
                    Kind::Domain => "Domain",
                    Kind::Asn => "ASN",
                },
                label,
                added: format!("{} by {by}", when(&e.created_at)),
            }
        })
        .collect())
}

pub async fn page(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    page::ok(&view(&state, &ctx, q.done.as_deref()).await?)
}

pub async fn submit(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Form(form): Form<ExclusionForm>,
) -> Result<Response, AppError> {
    let done = match form.section.as_str() {
        "add" => match add(&state, &ctx, &form).await? {
            Ok(done) => done,
            Err(errors) => {
                let mut page = view(&state, &ctx, None).await?;
                page.errors = errors;
                page.organisation = form.organisation.chars().take(300).collect();
                page.domain = form.domain.chars().take(300).collect();
                page.asn = form.asn.chars().take(100).collect();
                return page::render(StatusCode::BAD_REQUEST, &page);
            }
        },
        "remove" => {
            let ws = ctx.workspace().id;
            let removed = match form.id {
                Some(id) => store::remove_exclusion(&state.accounts.db, ws, id).await?,
                None => false,
            };
            if !removed {
                return Err(AppError::not_found(
                    "That exclusion is not on this workspace's list.",
                ));
            }
            "removed"
        }
        _ => {
            return Err(AppError::bad_request(
                "unknown_section",
                "This form is not one of the page's. Reload the page and try again.",
            ));
        }
    };
    forget(&state, &ctx).await?;
    Ok(Redirect::to(&back(&ctx, &form, done)).into_response())
}

/// Adds the typed exclusion: which notice to show, or the message for its field.
async fn add(
    state: &LeadsState,
    ctx: &WorkspaceCtx,
    form: &ExclusionForm,
) -> Result<Result<&'static str, Errors>, AppError> {
    let Some(kind) = Kind::parse(&form.kind) else {
        return Err(AppError::bad_request(
            "unknown_kind",
            "An exclusion is an organisation, a domain or an ASN.",
        ));
    };
    let (field, typed) = match kind {
        Kind::Organisation => ("organisation", &form.organisation),
        Kind::Domain => ("domain", &form.domain),
        Kind::Asn => ("asn", &form.asn),
    };
    let (db, ws) = (&state.accounts.db, ctx.workspace().id);
    let mut errors = Errors::default();
    let value = match (kind, form.site_id, form.company_id) {
        // "Hide this company": only a company that visited one of this workspace's sites
        // (any other id is 404, as if it did not exist: no company of another tenant is
        // named here).
        (Kind::Organisation, Some(site), Some(company)) => {
            let site = crate::accounts::store::workspace_site(db, ws, SiteId(site))
                .await?
                .ok_or_else(|| AppError::not_found("No such site."))?;
            crate::leads::store::company_on_site(db, site.id, company)
                .await?
                .ok_or_else(|| AppError::not_found("No such company on this site."))?;
            exclusions::by_company(company)
        }
        _ => match errors.check(field, exclusions::normalise(kind, typed)) {
            Some(value) => value,
            None => return Ok(Err(errors)),
        },
    };
    let by = Some(ctx.current.user.id.0);
    Ok(
        match store::add_exclusion(db, ws, kind, &value, by, MAX_EXCLUSIONS).await? {
            store::Added::Added => Ok("added"),
            store::Added::Exists => Ok("exists"),
            store::Added::Full => {
                errors.add(
                    field,
                    format!(
                        "A workspace has at most {MAX_EXCLUSIONS} exclusions. Remove one first."
                    ),
                );
                Err(errors)
            }
        },
    )
}

/// Drops what the cache holds of the workspace's sites: their figures change.
async fn forget(state: &LeadsState, ctx: &WorkspaceCtx) -> Result<(), AppError> {
    let sites =
        crate::accounts::store::workspace_sites(&state.accounts.db, ctx.workspace().id).await?;
    let ids: Vec<_> = sites.iter().map(|s| s.id).collect();
    state.cache.forget_sites(&ids);
    Ok(())
}

/// Back to the company page the form came from, or to the list.
fn back(ctx: &WorkspaceCtx, form: &ExclusionForm, done: &str) -> String {
    let ws = ctx.workspace().id.0;
    match (form.site_id, form.company_id) {
        (Some(site), Some(company)) => {
            let done = match done {
                "removed" => "unhidden",
                _ => "hidden",
            };
            format!("/w/{ws}/sites/{site}/companies/{company}?done={done}")
        }
        _ => format!("/w/{ws}/exclusions?done={done}"),
    }
}
