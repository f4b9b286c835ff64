//! `GET /w/{workspace_id}/sites/{site_id}`: a site's period against the one before it.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::chart::{self, Chart, Point};
use super::format::{change, count, percent};
use super::{Footer, SitePage, site_page};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::sites::Site;
use crate::leads::LeadsState;
use crate::leads::filters::RawFilters;
use crate::leads::overview::{self, Empty};
use crate::leads::pattern::PathPattern;
use crate::leads::period::Period;
use crate::leads::store::{By, Share, Totals};
use crate::store::now_ms;
use crate::web::error::AppError;
use crate::web::page;

/// One headline figure and its change.
pub struct Figure {
    pub label: &'static str,
    pub value: String,
    pub change: String,
    pub trend: &'static str,
    pub help: &'static str,
}

/// One row of a breakdown list.
pub struct ListRow {
    pub label: String,
    pub detail: String,
    pub value: String,
    /// Share of the largest row, for the bar behind it (0 to 100).
    pub bar: i64,
    /// A link into the feed filtered by this row, where there is one.
    pub link: Option<String>,
}

pub struct List {
    pub title: &'static str,
    pub column: &'static str,
    pub rows: Vec<ListRow>,
}

#[derive(Template)]
#[template(path = "leads/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    site: Site,
    base: String,
    period_key: &'static str,
    from: String,
    to: String,
    period_label: String,
    /// The feed for the same period.
    feed_link: String,
    errors: Vec<String>,
    figures: Vec<Figure>,
    chart: Option<Chart>,
    series: Vec<(String, String, String, String)>,
    lists: Vec<List>,
    /// What to do when there is nothing to show.
    empty: Option<Empty>,
    footer: Footer,
    snippet: String,
    has_ipdb: bool,
    /// What a bar of the chart covers: `hour` or `day`.
    unit: &'static str,
}

pub async fn page(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((workspace_id, site_id)): Path<(i64, i64)>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let SitePage { site, tz, chrome } = site_page(&ctx, site_id, "site").await?;
    let raw = RawFilters::from_query(query.as_deref());
    let parsed = raw.period(&tz, now_ms());
    let mut view = OverviewPage {
        chrome,
        base: format!("/w/{workspace_id}/sites/{site_id}"),
        period_key: "30d",
        from: raw.from.clone(),
        to: raw.to.clone(),
        feed_link: String::new(),
        period_label: String::new(),
        errors: Vec::new(),
        figures: Vec::new(),
        chart: None,
        series: Vec::new(),
        lists: Vec::new(),
        empty: None,
        footer: Footer::of(&state),
        snippet: site.snippet(&ctx.state.web.public_url_for("")),
        unit: "day",
        has_ipdb: state.ipdb.has_index(),
        site,
    };
    let period = match parsed {
        Ok(p) => p,
        Err(e) => {
            view.period_key = "custom";
            view.errors.push(e.0);
            return page::render(StatusCode::BAD_REQUEST, &view);
        }
    };
    fill(&state, &mut view, &period).await?;
    page::ok(&view)
}

async fn fill(state: &LeadsState, view: &mut OverviewPage, p: &Period) -> Result<(), AppError> {
    let o = overview::overview(&state.accounts.db, &state.cache, view.site.id, p, now_ms()).await?;
    view.period_key = p.range.key();
    view.period_label = p.label();
    if let crate::leads::period::Range::Custom { from, to } = &p.range {
        view.from = from.to_string();
        view.to = to.to_string();
    }
    view.figures = figures(&o.now, &o.before);
    view.empty = o.empty;
    if o.empty.is_some() {
        return Ok(());
    }
    if p.days() == 1 {
        view.unit = "hour";
    }
    let points: Vec<Point<'_>> = o
        .buckets
        .iter()
        .zip(&o.series)
        .map(|(b, t)| Point {
            label: &b.label,
            visitors: t.visitors,
            visits: t.visits,
            pageviews: t.pageviews,
        })
        .collect();
    view.chart = Some(chart::draw(&points));
    view.series = points
        .iter()
        .map(|p| {
            (
                p.label.to_owned(),
                count(p.visitors),
                count(p.visits),
                count(p.pageviews),
            )
        })
        .collect();

    let feed = format!("{}/companies?{}", view.base, period_link(p));
    view.feed_link = feed.clone();
    let top = o.pages.first().map(|r| r.pageviews).unwrap_or(1);
    view.lists.push(List {
        title: "Top pages",
        column: "Pageviews",
        rows: o
            .pages
            .into_iter()
            .map(|r| ListRow {
                // A path with a `*` would be read as a pattern, and one the feed refuses
                // would lead to an error: those get no link.
                link: (!r.path.contains('*') && PathPattern::parse(&r.path).is_ok()).then(|| {
                    format!(
                        "{feed}&page={}",
                        url::form_urlencoded::byte_serialize(r.path.as_bytes()).collect::<String>()
                    )
                }),
                bar: percent(r.pageviews, top),
                label: r.path,
                detail: String::new(),
                value: count(r.pageviews),
            })
            .collect(),
    });
    for (by, rows) in o.breakdowns {
        view.lists.push(breakdown_list(&feed, by, rows));
    }
    Ok(())
}

fn breakdown_list(feed: &str, by: By, rows: Vec<Share>) -> List {
    let title = match by {
        By::Source => "Sources",
        By::Channel => "Channels",
        By::Country => "Countries",
        By::Device => "Devices",
        By::Browser => "Browsers",
    };
    let top = rows.first().map(|r| r.visits).unwrap_or(1);
    List {
        title,
        column: "Visits",
        rows: rows
            .into_iter()
            .map(|r| {
                let value = r.value.clone().unwrap_or_default();
                let link = match by {
                    By::Source | By::Channel
                        if !value.is_empty() && value.chars().count() <= 100 =>
                    {
                        Some(format!(
                            "{feed}&source={}",
                            url::form_urlencoded::byte_serialize(value.as_bytes())
                                .collect::<String>()
                        ))
                    }
                    By::Country if !value.is_empty() => Some(format!("{feed}&country={value}")),
                    _ => None,
                };
                let label = match (by, r.value) {
                    (_, Some(v)) if !v.is_empty() => v,
                    (By::Source, _) => "Direct or none".to_owned(),
                    (By::Country, _) => "Not known".to_owned(),
                    _ => "Other".to_owned(),
                };
                ListRow {
                    label,
                    detail: r.detail.unwrap_or_default(),
                    value: count(r.visits),
                    bar: percent(r.visits, top),
                    link,
                }
            })
            .collect(),
    }
}

fn period_link(p: &Period) -> String {
    match &p.range {
        crate::leads::period::Range::Custom { from, to } => {
            format!("period=custom&from={from}&to={to}")
        }
        r => format!("period={}", r.key()),
    }
}

fn figures(now: &Totals, before: &Totals) -> Vec<Figure> {
    let fig = |label, a: i64, b: i64, help| {
        let (change, trend) = change(a, b);
        Figure {
            label,
            value: count(a),
            change,
            trend,
            help,
        }
    };
    let share_now = percent(now.business_visits, now.visits);
    let share_before = percent(before.business_visits, before.visits);
    let (share_change, share_trend) = match share_now - share_before {
        _ if now.visits == 0 && before.visits == 0 => (String::new(), "flat"),
        0 => ("±0 pts".to_owned(), "flat"),
        d if d > 0 => (format!("+{d} pts"), "up"),
        d => (format!("\u{2212}{} pts", -d), "down"),
    };
    vec![
        fig(
            "Visitors",
            now.visitors,
            before.visitors,
            "Distinct visitors. Leadsment keeps no cookie and changes its salt every day (UTC), so a person who comes back on another day counts again.",
        ),
        fig(
            "Visits",
            now.visits,
            before.visits,
            "Visits that began in the period; a visit ends after 30 minutes without activity.",
        ),
        fig(
            "Pageviews",
            now.pageviews,
            before.pageviews,
            "Pages viewed in the period.",
        ),
        Figure {
            label: "Identified as a business",
            value: format!("{share_now}%"),
            change: share_change,
            trend: share_trend,
            help: "The share of visits from a network that belongs to a company (not a home or mobile line, a cloud or an unknown network).",
        },
    ]
}
