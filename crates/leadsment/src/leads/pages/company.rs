//! `GET /w/{workspace_id}/sites/{site_id}/companies/{company_id}`: one company on one site.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::format::{ago, at, class_help, class_label, clock, count, duration};
use super::{Footer, SitePage, site_page};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::roles::Role;
use crate::accounts::sites::Site;
use crate::leads::LeadsState;
use crate::leads::company::{self, CompanyView, Step};
use crate::leads::exclusions::{Exclusion, Kind};
use crate::leads::score::Line;
use crate::store::now_ms;
use crate::web::error::AppError;
use crate::web::page;

pub struct VisitItem {
    pub when: String,
    pub entry: String,
    pub campaign: String,
    pub device: String,
    pub duration: String,
    pub steps: Vec<StepItem>,
    /// The visit has more events than shown.
    pub steps_truncated: bool,
}

pub struct StepItem {
    pub time: String,
    pub is_page: bool,
    pub name: String,
    pub path: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "leads/company.html")]
struct CompanyPage {
    chrome: Chrome,
    site: Site,
    base: String,
    name: String,
    org: String,
    domain: String,
    country: String,
    asn: String,
    class: &'static str,
    class_help: String,
    score: u8,
    band: &'static str,
    lines: Vec<Line>,
    totals: Vec<(&'static str, String)>,
    first_seen: String,
    visits: Vec<VisitItem>,
    truncated: bool,
    showing_all: bool,
    /// The events a visit shows at most.
    visit_events: usize,
    company_id: i64,
    workspace_id: i64,
    /// The exclusions hiding the company: each with its id and how it reads.
    hidden_by: Vec<(i64, String)>,
    /// Who may hide or unhide it (admins and up).
    can_change: bool,
    footer: Footer,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CompanyQuery {
    /// `all` shows up to 1,000 visits instead of the latest 50.
    visits: Option<String>,
    /// After hiding or unhiding it: `hidden` or `unhidden`.
    done: Option<String>,
}

pub async fn page(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((workspace_id, site_id, company_id)): Path<(i64, i64, i64)>,
    Query(q): Query<CompanyQuery>,
) -> Result<Response, AppError> {
    let all = q.visits.as_deref() == Some("all");
    let len = if all {
        company::TIMELINE_ALL
    } else {
        company::TIMELINE_VISITS
    };
    let SitePage {
        site,
        tz,
        mut chrome,
    } = site_page(&ctx, site_id, "companies").await?;
    chrome.notice = match q.done.as_deref() {
        Some("hidden") => Some(
            "The company is hidden: it is in no feed, figure, CSV or score of this \
             workspace until you unhide it."
                .to_owned(),
        ),
        Some("unhidden") => Some("The company is shown again, with its whole history.".to_owned()),
        _ => None,
    };
    let now = now_ms();
    let view = company::company(&state.accounts.db, site.id, company_id, now, len)
        .await?
        .ok_or_else(|| AppError::not_found("No such company has visited this site."))?;
    let mut page = build(
        chrome,
        site,
        workspace_id,
        view,
        now,
        &tz,
        Footer::of(&state),
    );
    page.showing_all = all;
    page.company_id = company_id;
    page.can_change = ctx.member.membership.role.allows(Role::Admin);
    page::ok(&page)
}

fn build(
    chrome: Chrome,
    site: Site,
    workspace_id: i64,
    v: CompanyView,
    now: i64,
    tz: &jiff::tz::TimeZone,
    footer: Footer,
) -> CompanyPage {
    let (class, help) = class_label(&v.company.class);
    let class_help = class_help(help, v.company.class_reason.as_deref());
    let t = &v.totals;
    CompanyPage {
        chrome,
        base: format!("/w/{workspace_id}/sites/{}", site.id.0),
        site,
        name: v.company.name,
        org: v.company.org.unwrap_or_default(),
        domain: v.company.domain.unwrap_or_default(),
        country: v.company.country.unwrap_or_default(),
        asn: v.company.asn.map(|a| format!("AS{a}")).unwrap_or_default(),
        class,
        class_help,
        score: v.score.value,
        band: v.score.band(),
        lines: v.score.lines,
        totals: vec![
            ("Visits", count(t.visits)),
            ("Visitors", count(t.visitors)),
            ("Pageviews", count(t.pageviews)),
            ("Engaged", duration(t.engaged_ms)),
            ("Last visit", ago(now, t.last_seen_at)),
        ],
        first_seen: at(tz, t.first_seen_at),
        truncated: v.truncated,
        showing_all: false,
        visit_events: company::VISIT_EVENTS,
        company_id: 0,
        workspace_id,
        hidden_by: v.hidden_by.iter().map(|e| (e.id, describe(e))).collect(),
        can_change: false,
        visits: v
            .visits
            .into_iter()
            .map(|visit| {
                let r = &visit.visit;
                let entry = match &r.source {
                    Some(s) => format!("{s} ({})", r.channel),
                    None => r.channel.clone(),
                };
                let campaign = [&r.utm_source, &r.utm_medium, &r.utm_campaign]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" / ");
                VisitItem {
                    when: at(tz, r.started_at),
                    entry,
                    campaign,
                    device: [
                        r.device.as_str(),
                        r.browser.as_deref().unwrap_or(""),
                        r.os.as_deref().unwrap_or(""),
                        r.country.as_deref().unwrap_or(""),
                    ]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · "),
                    duration: duration(r.last_seen_at - r.started_at),
                    steps_truncated: visit.steps_truncated,
                    steps: visit
                        .steps
                        .into_iter()
                        .map(|s| match s {
                            Step::Page {
                                ts,
                                path,
                                engaged_ms,
                            } => StepItem {
                                time: clock(tz, ts),
                                is_page: true,
                                name: String::new(),
                                path,
                                detail: if engaged_ms > 0 {
                                    duration(engaged_ms)
                                } else {
                                    String::new()
                                },
                            },
                            Step::Event {
                                ts,
                                name,
                                path,
                                props,
                            } => StepItem {
                                time: clock(tz, ts),
                                is_page: false,
                                name,
                                path,
                                detail: props
                                    .into_iter()
                                    .map(|(k, v)| format!("{k}: {v}"))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            },
                        })
                        .collect(),
                }
            })
            .collect(),
        footer,
    }
}

/// How the company page names an exclusion hiding the company.
fn describe(e: &Exclusion) -> String {
    match (e.kind, crate::leads::exclusions::company_id_of(&e.value)) {
        (Kind::Organisation, Some(_)) => "this company".to_owned(),
        (Kind::Organisation, None) => format!("the organisation {}", e.value),
        (Kind::Domain, _) => format!("the domain {}", e.value),
        (Kind::Asn, _) => format!("the network AS{}", e.value),
    }
}
