//! Ownership on the pages: the site settings page's "Ownership" section (the workspace's
//! token, both ways to prove a host, each host's state and last check, "Check now"), and the
//! page that proves a host another workspace holds unverified and takes it ("Verify and
//! take"), mailing that workspace's owners what happened.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::back;
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::errors::AccountError;
use crate::accounts::ownership::{self, FILE_PATH, HostClaim, token_line};
use crate::accounts::roles::Role;
use crate::accounts::sites::{Hostname, NewSite, Site, SiteId};
use crate::accounts::store::{self, TakeInto};
use crate::accounts::{Access, AccountsState, WorkspaceId};
use crate::auth::mail;
use crate::store::now_ms;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, when};

const CLAIM_PATH: &str = "/w/{workspace_id}/claim";

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    Route::form(CLAIM_PATH, Access::Member(Role::Admin), claim_page, take).into()
}

/// One host in the Ownership section.
pub struct HostView {
    pub host: String,
    pub verified: bool,
    /// "Verified on …", "Unverified: events are taken until …", "Unverified: events are refused".
    pub state: String,
    /// The last check: when, then what was looked for and found, line by line.
    pub checked: Option<String>,
    pub sought: Vec<String>,
    pub found: Vec<String>,
}

/// The Ownership section's content.
pub struct OwnershipView {
    pub token_line: String,
    pub hosts: Vec<HostView>,
    pub file_path: &'static str,
    pub grace_hours: u64,
}

fn host_view(claim: HostClaim, now: i64) -> HostView {
    let state = match (claim.verified_at, claim.takes_events(now)) {
        (Some(at), _) => format!("Verified on {}", when(&at)),
        (None, true) => format!(
            "Not verified yet: events are taken until {}, then refused until it is",
            when(&claim.grace_ends_at())
        ),
        (None, false) => "Not verified: its events are refused until it is".to_owned(),
    };
    let (checked, sought, found) = match claim.last_check {
        Some(c) => (
            Some(format!("Last checked {} ({})", when(&c.at), c.how)),
            c.sought.lines().map(str::to_owned).collect(),
            c.found.lines().map(str::to_owned).collect(),
        ),
        None => (None, vec![], vec![]),
    };
    HostView {
        host: claim.host,
        verified: claim.verified_at.is_some(),
        state,
        checked,
        sought,
        found,
    }
}

/// The Ownership section of `site`'s settings page.
pub async fn section(ctx: &WorkspaceCtx, site: &Site) -> Result<OwnershipView, AppError> {
    let db = &ctx.state.db;
    let token = store::verify_token(db, site.workspace_id).await?;
    let now = now_ms();
    let hosts = store::host_claims(db, site.id)
        .await?
        .into_iter()
        .map(|c| host_view(c, now))
        .collect();
    Ok(OwnershipView {
        token_line: token_line(&token),
        hosts,
        file_path: FILE_PATH,
        grace_hours: ownership::GRACE.as_secs() / 3600,
    })
}

/// Takes one of the workspace's ownership checks ([`ownership::CHECKS_PER_HOUR`]), or
/// refuses with 429 and when to try again.
fn admit_check(ctx: &WorkspaceCtx) -> Result<(), AppError> {
    let ws = ctx.workspace().id.0;
    ctx.state.ownership_checks.check(ws).map_err(|wait| {
        let ms = crate::auth::throttle::wait_ms(wait);
        AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_checks",
            format!(
                "This workspace has used its {} ownership checks of the last hour. Try again in {}.",
                ownership::CHECKS_PER_HOUR,
                crate::auth::throttle::wait_text(ms)
            ),
        )
        .with_header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::auth::throttle::retry_after_secs(ms)),
        )
    })
}

/// "Check now": checks every unverified host of the site at once (each check is bounded, so
/// the answer is too), then shows the page with the results.
pub async fn check_now(ctx: &WorkspaceCtx, site: &Site) -> Result<Response, AppError> {
    admit_check(ctx)?;
    let claims = store::host_claims(&ctx.state.db, site.id).await?;
    let checks = claims.iter().filter(|c| !c.is_verified()).map(|c| {
        ownership::check_and_record(
            &ctx.state.db,
            ctx.state.probe.as_ref(),
            site.workspace_id,
            site.id,
            &c.host,
        )
    });
    for done in futures_util::future::join_all(checks).await {
        done?;
    }
    Ok(back(
        &format!(
            "/w/{}/sites/{}/settings#ownership",
            site.workspace_id.0, site.id.0
        ),
        "checked",
    ))
}

/// Where to prove and take `host` when another workspace holds it unverified; `None` when it
/// is free, verified, or this workspace's own (the form's message is enough then).
pub async fn claim_link(
    ctx: &WorkspaceCtx,
    host: &str,
    into_site: Option<SiteId>,
) -> Result<Option<String>, AppError> {
    let Ok(host) = Hostname::parse(host) else {
        return Ok(None);
    };
    let ws = ctx.workspace().id;
    Ok(match store::holder(&ctx.state.db, &host).await? {
        Some(h) if !h.verified && h.workspace != ws => Some(claim_url(ws, &host, into_site)),
        _ => None,
    })
}

fn claim_url(ws: WorkspaceId, host: &Hostname, site: Option<SiteId>) -> String {
    let mut url = format!("/w/{}/claim?host={}", ws.0, host.as_str());
    if let Some(site) = site {
        url.push_str(&format!("&site={}", site.0));
    }
    url
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ClaimForm {
    host: String,
    /// The site to add the host to as an alias; none for a new site.
    site: Option<i64>,
}

#[derive(Template)]
#[template(path = "app/claim.html")]
struct ClaimPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    host: String,
    /// The host as typed (an alias keeps its `www.`).
    typed: String,
    site_id: Option<i64>,
    into: String,
    token_line: String,
    file_path: &'static str,
    /// The last check's words, after a failed "Verify and take".
    sought: Vec<String>,
    found: Vec<String>,
    /// Set when the host cannot be taken (verified, or no longer held).
    refusal: Option<String>,
}

async fn claim_view(ctx: &WorkspaceCtx, form: &ClaimForm) -> Result<ClaimPage, AppError> {
    let ws = ctx.workspace();
    let host = Hostname::parse(&form.host).map_err(|e| {
        AppError::bad_request("invalid_host", format!("host: {e}")).with_field("host")
    })?;
    let into = match form.site {
        Some(id) => {
            let site = store::workspace_site(&ctx.state.db, ws.id, SiteId(id))
                .await?
                .ok_or_else(|| AppError::not_found("There is no such site in this workspace."))?;
            format!("an alias of your site {}", site.domain)
        }
        None => "a new site of this workspace".to_owned(),
    };
    let token = store::verify_token(&ctx.state.db, ws.id).await?;
    let refusal = match store::holder(&ctx.state.db, &host).await? {
        Some(h) if h.workspace == ws.id => Some(format!(
            "{} is already one of this workspace's sites' hosts.",
            host.without_www()
        )),
        Some(h) if h.verified => Some(format!(
            "{} is used by another site and verified as theirs; it cannot be taken.",
            host.without_www()
        )),
        Some(_) => None,
        None => Some(format!(
            "No site uses {} any more: add it as usual.",
            host.without_www()
        )),
    };
    let mut page = ClaimPage::empty(ctx, &token, form.site).await?;
    page.host = host.without_www().to_owned();
    page.typed = host.as_str().to_owned();
    page.into = into;
    page.refusal = refusal;
    Ok(page)
}

impl ClaimPage {
    /// The page without a host: the workspace's frame and token.
    async fn empty(
        ctx: &WorkspaceCtx,
        token: &str,
        site_id: Option<i64>,
    ) -> Result<ClaimPage, AppError> {
        let ws = ctx.workspace();
        Ok(ClaimPage {
            chrome: Chrome::load(
                &ctx.state,
                &ctx.current,
                &ctx.csrf,
                Some(ws.id.0),
                "overview",
            )
            .await?,
            workspace_id: ws.id.0,
            workspace: ws.name.clone(),
            host: String::new(),
            typed: String::new(),
            site_id,
            into: String::new(),
            token_line: token_line(token),
            file_path: FILE_PATH,
            sought: vec![],
            found: vec![],
            refusal: None,
        })
    }
}

async fn claim_page(ctx: WorkspaceCtx, Query(q): Query<ClaimForm>) -> Result<Response, AppError> {
    if q.host.trim().is_empty() {
        // Opened without a host: the page asks for one.
        let ws = ctx.workspace();
        let token = store::verify_token(&ctx.state.db, ws.id).await?;
        return page::ok(&ClaimPage::empty(&ctx, &token, q.site).await?);
    }
    page::ok(&claim_view(&ctx, &q).await?)
}

/// "Verify and take": checks the host against this workspace's token and, when it carries it,
/// moves it here in one transaction, then mails the old workspace's owners.
async fn take(ctx: WorkspaceCtx, Form(form): Form<ClaimForm>) -> Result<Response, AppError> {
    admit_check(&ctx)?;
    let mut page = claim_view(&ctx, &form).await?;
    if page.refusal.is_some() {
        return page::render(StatusCode::CONFLICT, &page);
    }
    let ws = ctx.workspace().id;
    let token = store::verify_token(&ctx.state.db, ws).await?;
    let result = ownership::check(ctx.state.probe.as_ref(), &page.host, &token).await;
    if !result.verified {
        page.sought = result.sought.lines().map(str::to_owned).collect();
        page.found = result.found.lines().map(str::to_owned).collect();
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let host = Hostname::parse(&page.typed)
        .map_err(|e| AppError::bad_request("invalid_host", e.to_string()))?;
    let into = match form.site {
        Some(id) => TakeInto::Alias(SiteId(id), host.clone()),
        None => TakeInto::NewSite(
            NewSite::new(ws, host.as_str(), &[])
                .map_err(|e| AppError::bad_request("invalid_host", e.to_string()))?,
        ),
    };
    let moved = match store::take_host(&ctx.state.db, ws, &host, &into).await {
        Ok(moved) => moved,
        Err(e @ (AccountError::HostTaken { .. } | AccountError::NotHeld { .. })) => {
            page.refusal = Some(format!("{e}."));
            return page::render(StatusCode::CONFLICT, &page);
        }
        Err(e) => return Err(e.into()),
    };
    let how = match result.how.as_str() {
        "dns" => "a DNS TXT record on the host",
        _ => "the file /.well-known/leadsment-verify.txt on the host",
    };
    mail_old_owners(&ctx.state, &moved, page.host.as_str(), how).await?;
    Ok(back(
        &format!("/w/{}/sites/{}/settings#ownership", ws.0, moved.site.0),
        "taken",
    ))
}

async fn mail_old_owners(
    state: &AccountsState,
    moved: &store::Moved,
    host: &str,
    how: &str,
) -> Result<(), AppError> {
    let members = store::members(&state.db, moved.from_workspace).await?;
    let renamed = match moved.from_domain_before == moved.from_domain_after {
        true => String::new(),
        false => format!(
            " It was the site's domain, so the site is now called {}; change it on the site's \
             settings page.",
            moved.from_domain_after
        ),
    };
    for owner in members.iter().filter(|m| m.role == Role::Owner) {
        state.auth.mailer.send_notice_later(mail::Email {
            to: owner.user.email.to_string(),
            subject: format!("{host} moved to another workspace on Leadsment"),
            body: format!(
                "Your site {site} on Leadsment claimed the host {host}, but it was never \
                 verified as yours. Another workspace proved that it controls {host}, through \
                 {how}, and the host now belongs to that workspace: events from {host} are \
                 counted there from now on.\n\nYour site keeps all its events and data.{renamed}\n\n\
                 If {host} is yours, publish your own workspace's token (shown on the site's \
                 settings page, under Ownership) on it and verify it: a verified host cannot be \
                 taken.\n",
                site = moved.from_domain_before,
            ),
            link: None,
        });
    }
    Ok(())
}
