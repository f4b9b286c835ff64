//! `GET /w/{workspace_id}/sites/{site_id}/live`: who is on the site now. The page holds the
//! `<section id="live">` that its script fetches again every 30 seconds, from the same
//! address with `?fragment=1`, which answers with the section alone.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::format::{ago, class_help, class_label, clock, count};
use super::{Footer, SitePage, site_of, site_page, zone};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::sites::Site;
use crate::leads::LeadsState;
use crate::leads::live::{self, Live, LiveGroup, Who};
use crate::store::now_ms;
use crate::web::error::AppError;
use crate::web::page;
use crate::web::security::CspNonce;

/// The visitors listed under one organisation; the rest are counted.
const VISITORS_SHOWN: usize = 10;

pub struct VisitorItem {
    pub path: String,
    pub ago: String,
    pub time: String,
}

pub struct GroupItem {
    pub name: String,
    /// The company page, for a named organisation.
    pub href: String,
    pub class: &'static str,
    pub class_help: String,
    pub visitors: String,
    pub shown: Vec<VisitorItem>,
    pub more: usize,
    pub ago: String,
}

/// The part the script replaces.
#[derive(Template)]
#[template(path = "leads/live_section.html")]
struct LiveSection {
    src: String,
    refresh: String,
    groups: Vec<GroupItem>,
    visitors: String,
    companies: String,
    updated: String,
    time_zone: String,
    domain: String,
    truncated: bool,
}

#[derive(Template)]
#[template(path = "leads/live.html")]
struct LivePage {
    chrome: Chrome,
    site: Site,
    section: String,
    nonce: String,
    footer: Footer,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LiveQuery {
    /// Any value: the section alone, for the page's script.
    fragment: Option<String>,
}

pub async fn page(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Extension(nonce): Extension<CspNonce>,
    Path((workspace_id, site_id)): Path<(i64, i64)>,
    Query(q): Query<LiveQuery>,
) -> Result<Response, AppError> {
    let base = format!("/w/{workspace_id}/sites/{site_id}");
    if q.fragment.is_some() {
        // The section alone: no frame to load.
        let site = site_of(&ctx, site_id).await?;
        let tz = zone(&site);
        let now = now_ms();
        let data = live::live(&state.accounts.db, site.id, now).await?;
        return page::ok(&build(&base, &site, data, now, &tz));
    }
    let SitePage { site, tz, chrome } = site_page(&ctx, site_id, "live").await?;
    let now = now_ms();
    let data = live::live(&state.accounts.db, site.id, now).await?;
    let section = build(&base, &site, data, now, &tz)
        .render()
        .map_err(AppError::internal)?;
    page::ok(&LivePage {
        chrome,
        site,
        section,
        nonce: nonce.0,
        footer: Footer::of(&state),
    })
}

fn build(base: &str, site: &Site, data: Live, now: i64, tz: &jiff::tz::TimeZone) -> LiveSection {
    let people: usize = data.groups.iter().map(|g| g.visitors.len()).sum();
    let companies = data
        .groups
        .iter()
        .filter(|g| matches!(g.who, Who::Company { .. }))
        .count();
    LiveSection {
        src: format!("{base}/live?fragment=1"),
        refresh: format!("{base}/live"),
        visitors: plural(people, "visitor", "visitors"),
        companies: plural(companies, "organisation", "organisations"),
        updated: clock(tz, now),
        time_zone: site.time_zone.clone(),
        domain: site.domain.to_string(),
        truncated: data.truncated,
        groups: data
            .groups
            .into_iter()
            .map(|g| item(base, g, now, tz))
            .collect(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", count(n as i64), if n == 1 { one } else { many })
}

fn item(base: &str, g: LiveGroup, now: i64, tz: &jiff::tz::TimeZone) -> GroupItem {
    let last = g.last_seen_at();
    let (name, href, class, help) = match g.who {
        Who::Company {
            id,
            name,
            class,
            class_reason,
        } => {
            let (label, help) = class_label(&class);
            (
                name,
                format!("{base}/companies/{id}"),
                label,
                class_help(help, class_reason.as_deref()),
            )
        }
        Who::AccessProviders => (
            "Home and mobile lines".to_owned(),
            String::new(),
            "ISP or mobile",
            "Internet providers' home, office and mobile lines: the person is not identified."
                .to_owned(),
        ),
        Who::Unknown => (
            "Unknown networks".to_owned(),
            String::new(),
            "Unknown",
            class_label("unknown").1.to_owned(),
        ),
    };
    let total = g.visitors.len();
    GroupItem {
        name,
        href,
        class,
        class_help: help,
        visitors: count(total as i64),
        more: total.saturating_sub(VISITORS_SHOWN),
        shown: g
            .visitors
            .into_iter()
            .take(VISITORS_SHOWN)
            .map(|v| VisitorItem {
                path: v.path,
                ago: ago(now, v.last_seen_at),
                time: clock(tz, v.last_seen_at),
            })
            .collect(),
        ago: ago(now, last),
    }
}
