//! A site's settings page, for the workspace's admins: its domain, aliases and time zone,
//! whether counting waits for consent, how long its traffic is kept (`crate::retention`), the
//! snippet to paste, and the networks whose visits it ignores. The page is made of sections,
//! each a form of its own that posts to the page with a hidden `section` naming it; a new
//! section (consent mode, ownership) adds its part of the template, its fields to
//! [`SettingsForm`] and its arm to [`submit`]. Other capabilities' sections (the lead score's
//! rules) come from [`SiteParts`](crate::accounts::parts::SiteParts): they render their own
//! HTML, post to their own routes, and show the page again through [`render_with`].

use std::sync::OnceLock;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{DoneQuery, back};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::errors::AccountError;
use crate::accounts::parts::SettingsSection;
use crate::accounts::roles::Role;
use crate::accounts::sites::{
    NewSite, NewSiteError, SITE_CHANGES_APPLY_WITHIN, Site, SiteId, parse_ignored_network,
    parse_time_zone,
};
use crate::accounts::{Access, AccountsState};
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

const PATH: &str = "/w/{workspace_id}/sites/{site_id}/settings";

/// More would be a list nobody reads, and every event is checked against each one.
const MAX_ALIASES: usize = 50;
const MAX_IGNORED_NETWORKS: usize = 100;

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    Route::form(PATH, Access::Member(Role::Admin), settings_page, submit).into()
}

#[derive(Template)]
#[template(path = "app/site_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    workspace_id: i64,
    workspace: String,
    site_id: i64,
    /// The saved domain, for the heading (the form's may hold what was typed).
    saved_domain: String,
    snippet: String,
    /// Whether the snippet waits for consent (`data-require-consent`).
    require_consent: bool,
    /// Months of traffic kept (`crate::retention`), as saved or typed.
    retention_months: String,
    retention_hint: String,
    domain: String,
    aliases: String,
    time_zone: String,
    time_zones: &'static [String],
    networks: Vec<String>,
    network: String,
    /// Seconds until a change reaches ingest.
    applies_within: u64,
    errors: Errors,
    /// Other capabilities' sections, after the page's own.
    sections: Vec<SettingsSection>,
    /// The Ownership section ([`super::ownership`]).
    ownership: super::ownership::OwnershipView,
    /// Where to prove and take a host the site form found taken by another workspace.
    claim: Option<String>,
}

/// The site in the path, if it belongs to the workspace in the path; 404 otherwise (the same
/// answer whether it exists elsewhere or not at all).
async fn path_site(ctx: &WorkspaceCtx, site_id: i64) -> Result<Site, AppError> {
    crate::accounts::store::workspace_site(&ctx.state.db, ctx.workspace().id, SiteId(site_id))
        .await?
        .ok_or_else(|| AppError::not_found("There is no such site in this workspace."))
}

async fn settings_view(
    ctx: &WorkspaceCtx,
    site: &Site,
    done: Option<&str>,
) -> Result<SettingsPage, AppError> {
    let sections = ctx.state.parts.settings_sections(ctx, site).await?;
    settings_view_with(ctx, site, done, sections).await
}

async fn settings_view_with(
    ctx: &WorkspaceCtx,
    site: &Site,
    done: Option<&str>,
    sections: Vec<SettingsSection>,
) -> Result<SettingsPage, AppError> {
    let (state, current) = (&ctx.state, &ctx.current);
    let ws = ctx.workspace();
    let months = crate::retention::store::site_months(&state.db, site.id.0)
        .await?
        .unwrap_or_default();
    let networks = crate::accounts::store::ignored_networks(&state.db, site.id)
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut chrome = Chrome::load(state, current, &ctx.csrf, Some(ws.id.0), "site-settings")
        .await?
        .with_site(site.id.0);
    chrome.views = state.parts.views(&state.db, site).await?;
    chrome.notice = notice(done).or_else(|| done.and_then(|d| state.parts.settings_notice(d)));
    Ok(SettingsPage {
        chrome,
        workspace_id: ws.id.0,
        workspace: ws.name.clone(),
        site_id: site.id.0,
        saved_domain: site.domain.to_string(),
        snippet: site.snippet(&state.web.public_url_for("")),
        require_consent: site.require_consent,
        retention_months: months.get().to_string(),
        retention_hint: format!(
            "From {} to {} months. Visits, events and the dashboard's figures older than this \
             are deleted every hour and cannot be brought back.",
            crate::retention::MIN_MONTHS,
            crate::retention::MAX_MONTHS
        ),
        domain: site.domain.to_string(),
        aliases: site
            .aliases
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        time_zone: site.time_zone.clone(),
        time_zones: time_zones(),
        networks,
        network: String::new(),
        applies_within: SITE_CHANGES_APPLY_WITHIN.as_secs(),
        errors: Errors::default(),
        sections,
        ownership: super::ownership::section(ctx, site).await?,
        claim: None,
    })
}

/// The settings page of the site in the path with `section` in place of its owner's usual
/// one (a form shown again with its errors or a preview), answered with `status`.
pub async fn render_with(
    ctx: &WorkspaceCtx,
    site_id: i64,
    section: SettingsSection,
    status: StatusCode,
) -> Result<Response, AppError> {
    let site = path_site(ctx, site_id).await?;
    let mut sections = ctx.state.parts.settings_sections(ctx, &site).await?;
    match sections.iter_mut().find(|s| s.id == section.id) {
        Some(slot) => *slot = section,
        None => sections.push(section),
    }
    page::render(
        status,
        &settings_view_with(ctx, &site, None, sections).await?,
    )
}

/// Messages after an action, chosen by a fixed key (never text from the address bar).
fn notice(done: Option<&str>) -> Option<String> {
    let secs = SITE_CHANGES_APPLY_WITHIN.as_secs();
    Some(match done? {
        "site" => format!("The site is saved. New visits see the change within {secs} seconds."),
        "consent_on" => "Counting now waits for consent. Paste the new snippet below into every \
                         page of the site, in place of the old one: until then your pages count \
                         without asking."
            .to_owned(),
        "consent_off" => "Counting no longer waits for consent. Paste the new snippet below into \
                          every page of the site, in place of the old one: until then your pages \
                          still wait for consent."
            .to_owned(),
        "retention" => "The retention is saved. Traffic older than it is deleted within the \
                        hour, and cannot be brought back."
            .to_owned(),
        "network_added" => {
            format!("The network is ignored: its visits stop being recorded within {secs} seconds.")
        }
        "network_removed" => format!(
            "The network is no longer ignored: its visits are recorded again within {secs} seconds."
        ),
        "checked" => "The hosts are checked: see each one's result under Ownership.".to_owned(),
        "taken" => format!(
            "The host is verified and now belongs to this site. Its visits count here within \
             {secs} seconds."
        ),
        _ => return None,
    })
}

/// The time zones to suggest: the IANA names of places (and UTC), without the legacy aliases
/// (`US/Eastern`, `Etc/GMT+5`) that the database also knows and accepts.
fn time_zones() -> &'static [String] {
    static ZONES: OnceLock<Vec<String>> = OnceLock::new();
    ZONES.get_or_init(|| {
        const REGIONS: [&str; 9] = [
            "Africa/",
            "America/",
            "Antarctica/",
            "Asia/",
            "Atlantic/",
            "Australia/",
            "Europe/",
            "Indian/",
            "Pacific/",
        ];
        let mut zones: Vec<String> = jiff::tz::db()
            .available()
            .map(|z| z.as_str().to_owned())
            .filter(|z| REGIONS.iter().any(|r| z.starts_with(r)))
            .collect();
        zones.push("UTC".to_owned());
        zones.sort();
        zones
    })
}

async fn settings_page(
    ctx: WorkspaceCtx,
    Path((_, site_id)): Path<(i64, i64)>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let site = path_site(&ctx, site_id).await?;
    page::ok(&settings_view(&ctx, &site, q.done.as_deref()).await?)
}

/// Every section's fields; each section reads its own.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettingsForm {
    section: String,
    domain: String,
    aliases: String,
    time_zone: String,
    network: String,
    /// The consent section's checkbox: present (`on`) when ticked.
    require_consent: Option<String>,
    retention_months: String,
}

async fn submit(
    ctx: WorkspaceCtx,
    Path((_, site_id)): Path<(i64, i64)>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    let site = path_site(&ctx, site_id).await?;
    match form.section.as_str() {
        "site" => save_site(&ctx, &site, &form).await,
        "consent" => save_consent(&ctx, &site, &form).await,
        "retention" => save_retention(&ctx, &site, &form).await,
        "add_network" => add_network(&ctx, &site, &form).await,
        "remove_network" => remove_network(&ctx, &site, &form).await,
        "check_ownership" => super::ownership::check_now(&ctx, &site).await,
        _ => Err(AppError::bad_request(
            "unknown_section",
            "This form is not one of the page's sections. Reload the page and try again.",
        )),
    }
}

fn settings_path(site: &Site) -> String {
    format!("/w/{}/sites/{}/settings", site.workspace_id.0, site.id.0)
}

/// Aliases as typed: separated by commas, spaces or lines.
fn split_aliases(typed: &str) -> Vec<String> {
    typed
        .split([',', ';', ' ', '\t', '\r', '\n'])
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks the site section; the site as it should become, or what was wrong, by field.
fn check_site(site: &Site, form: &SettingsForm) -> Result<NewSite, Errors> {
    let mut errors = Errors::default();
    let aliases = split_aliases(&form.aliases);
    if aliases.len() > MAX_ALIASES {
        errors.add(
            "aliases",
            format!("A site has at most {MAX_ALIASES} aliases."),
        );
    }
    let time_zone = parse_time_zone(&form.time_zone).map_err(|e| capitalised(&e.to_string()));
    let time_zone = errors.check("time_zone", time_zone);
    // Each message goes next to its field, which names what it is about.
    let new = match NewSite::new(site.workspace_id, &form.domain, &aliases) {
        Ok(new) => Some(new),
        Err(NewSiteError::Domain(e)) => {
            errors.add("domain", capitalised(&e.to_string()));
            None
        }
        Err(NewSiteError::Alias(e)) => {
            errors.add("aliases", capitalised(&e.to_string()));
            None
        }
        Err(e) => {
            errors.add("aliases", capitalised(&e.to_string()));
            None
        }
    };
    match (new, time_zone) {
        (Some(mut new), Some(zone)) if errors.is_empty() => {
            new.time_zone = zone;
            Ok(new)
        }
        _ => Err(errors),
    }
}

fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

async fn save_site(
    ctx: &WorkspaceCtx,
    site: &Site,
    form: &SettingsForm,
) -> Result<Response, AppError> {
    let mut claim = None;
    let (errors, status) = match check_site(site, form) {
        Err(errors) => (errors, StatusCode::BAD_REQUEST),
        Ok(new) => match crate::accounts::store::update_site(&ctx.state.db, site.id, &new).await {
            Ok(Some(_)) => return Ok(back(&settings_path(site), "site")),
            Ok(None) => {
                return Err(AppError::not_found(
                    "There is no such site in this workspace.",
                ));
            }
            Err(AccountError::HostTaken { host, owner }) => {
                let field = match host == new.domain.without_www() {
                    true => "domain",
                    false => "aliases",
                };
                let mut errors = Errors::default();
                errors.add(field, host_taken(&host, owner.as_deref()));
                // An alias held unverified elsewhere may be proven and taken.
                if let Some(typed) = new.aliases.iter().find(|a| a.without_www() == host) {
                    claim =
                        super::ownership::claim_link(ctx, typed.as_str(), Some(site.id)).await?;
                }
                (errors, StatusCode::CONFLICT)
            }
            Err(e) => return Err(e.into()),
        },
    };
    let mut page = settings_view(ctx, site, None).await?;
    page.errors = errors;
    page.domain = form.domain.chars().take(300).collect();
    page.aliases = form.aliases.chars().take(3000).collect();
    page.time_zone = form.time_zone.chars().take(100).collect();
    page.claim = claim;
    page::render(status, &page)
}

/// Switches waiting for consent on (the box ticked) or off (not sent).
async fn save_consent(
    ctx: &WorkspaceCtx,
    site: &Site,
    form: &SettingsForm,
) -> Result<Response, AppError> {
    let on = form.require_consent.is_some();
    let db = &ctx.state.db;
    if !crate::accounts::store::set_require_consent(db, site.workspace_id, site.id, on).await? {
        return Err(AppError::not_found(
            "There is no such site in this workspace.",
        ));
    }
    let done = if on { "consent_on" } else { "consent_off" };
    Ok(back(&settings_path(site), done))
}

/// Sets how many months of traffic the site keeps; anything else than a whole number in the
/// allowed range is refused next to the field, and nothing changes.
async fn save_retention(
    ctx: &WorkspaceCtx,
    site: &Site,
    form: &SettingsForm,
) -> Result<Response, AppError> {
    let db = &ctx.state.db;
    match crate::retention::Months::parse(&form.retention_months) {
        Ok(months) => {
            let (ws, id) = (site.workspace_id.0, site.id.0);
            if !crate::retention::store::set_site_months(db, ws, id, months).await? {
                return Err(AppError::not_found(
                    "There is no such site in this workspace.",
                ));
            }
            Ok(back(&settings_path(site), "retention"))
        }
        Err(e) => {
            let mut page = settings_view(ctx, site, None).await?;
            page.errors.add("retention_months", e.to_string());
            page.retention_months = form.retention_months.chars().take(20).collect();
            page::render(StatusCode::BAD_REQUEST, &page)
        }
    }
}

fn host_taken(host: &str, owner: Option<&str>) -> String {
    match owner {
        Some(owner) => format!(
            "{host} is already used by another site: {owner}, in this workspace. Remove it there first."
        ),
        None => format!("{host} is already used by another site."),
    }
}

async fn add_network(
    ctx: &WorkspaceCtx,
    site: &Site,
    form: &SettingsForm,
) -> Result<Response, AppError> {
    let db = &ctx.state.db;
    let mut errors = Errors::default();
    let network = errors.check("network", parse_ignored_network(&form.network));
    if let Some(net) = network {
        let listed = crate::accounts::store::ignored_networks(db, site.id).await?;
        if !listed.contains(&net) && listed.len() >= MAX_IGNORED_NETWORKS {
            errors.add(
                "network",
                format!(
                    "A site ignores at most {MAX_IGNORED_NETWORKS} networks. Remove one, or \
                     use a wider network that covers several."
                ),
            );
        } else {
            crate::accounts::store::add_ignored_network(db, site.id, net).await?;
            return Ok(back(&settings_path(site), "network_added"));
        }
    }
    let mut page = settings_view(ctx, site, None).await?;
    page.errors = errors;
    page.network = form.network.chars().take(100).collect();
    page::render(StatusCode::BAD_REQUEST, &page)
}

async fn remove_network(
    ctx: &WorkspaceCtx,
    site: &Site,
    form: &SettingsForm,
) -> Result<Response, AppError> {
    let not_listed = || AppError::not_found("That network is not on this site's list.");
    let net = parse_ignored_network(&form.network).map_err(|_| not_listed())?;
    if !crate::accounts::store::remove_ignored_network(&ctx.state.db, site.id, net).await? {
        return Err(not_listed());
    }
    Ok(back(&settings_path(site), "network_removed"))
}
