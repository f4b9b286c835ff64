//! `GET /w/{workspace_id}/sites/{site_id}/companies`: the company feed.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use ipintel::Class;

use super::format::{ago, at, class_help, class_label, count, duration};
use super::{Footer, SitePage, site_page};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::roles::Role;
use crate::accounts::sites::Site;
use crate::leads::LeadsState;
use crate::leads::feed::{self, Feed, FeedRow, Rows};
use crate::leads::filters::{self, FeedQuery, Invalid, RawFilters, Sort};
use crate::store::now_ms;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

/// The "Save this view" form when a submission was refused: the name as typed, what was
/// wrong, and the status to answer with.
#[derive(Default)]
pub struct SaveForm {
    pub name: String,
    pub errors: Errors,
    pub status: Option<StatusCode>,
}

/// A feed row as the page shows it.
pub struct RowView {
    pub href: String,
    pub name: String,
    pub domain: String,
    pub country: String,
    pub class: &'static str,
    pub class_help: String,
    pub score: u8,
    pub band: &'static str,
    pub why: String,
    pub last_visit: String,
    pub last_visit_ago: String,
    pub visits: String,
    pub visitors: String,
    pub pageviews: String,
    pub engaged: String,
    pub top_pages: Vec<(String, String)>,
    pub first_source: String,
}

pub struct ClassChoice {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "leads/feed.html")]
struct FeedPage {
    chrome: Chrome,
    site: Site,
    base: String,
    raw: RawFilters,
    period_key: String,
    period_label: String,
    classes: Vec<ClassChoice>,
    sorts: Vec<(&'static str, &'static str, bool)>,
    errors: Vec<Invalid>,
    rows: Vec<RowView>,
    hosting: Vec<RowView>,
    hosting_total: usize,
    hosting_link: String,
    total: usize,
    next: Option<String>,
    csv: String,
    show_all: String,
    is_first_page: bool,
    first_page: String,
    has_ipdb: bool,
    footer: Footer,
    /// Whether the user may save and delete views (members and up).
    can_save: bool,
    save: SaveForm,
    /// The view's query string as a saved feed stores it.
    save_query: String,
    /// The saved feed this view is, if any: its id and name.
    saved: Option<(i64, String)>,
    max_name: usize,
}

pub async fn page(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((workspace_id, site_id)): Path<(i64, i64)>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    render(
        &state,
        &ctx,
        (workspace_id, site_id),
        query,
        SaveForm::default(),
    )
    .await
}

/// The feed for `query`, with the save form as `save` left it (the save form's handler
/// answers a refused name with the same page).
pub async fn render(
    state: &LeadsState,
    ctx: &WorkspaceCtx,
    (workspace_id, site_id): (i64, i64),
    query: Option<String>,
    save: SaveForm,
) -> Result<Response, AppError> {
    let SitePage { site, tz, chrome } = site_page(ctx, site_id, "companies").await?;
    let chrome = chrome.with_notice(super::saved::notice(query.as_deref()));
    let raw = RawFilters::from_query(query.as_deref());
    let now = now_ms();
    let parsed = filters::parse(&raw, &tz, now);
    let base = format!("/w/{workspace_id}/sites/{site_id}");
    let chosen: Vec<&str> = raw.classes.iter().map(|c| c.trim()).collect();
    let mut view = FeedPage {
        chrome,
        base: base.clone(),
        period_key: if raw.period.trim().is_empty() {
            "30d".to_owned()
        } else {
            raw.period.trim().to_owned()
        },
        period_label: String::new(),
        classes: Class::ALL
            .iter()
            .map(|c| {
                let (label, help) = class_label(c.as_str());
                ClassChoice {
                    key: c.as_str(),
                    label,
                    help,
                    checked: if chosen.iter().any(|x| !x.is_empty()) {
                        chosen.contains(&c.as_str())
                    } else {
                        filters::DEFAULT_CLASSES.contains(c)
                    },
                }
            })
            .collect(),
        sorts: Vec::new(),
        errors: Vec::new(),
        rows: Vec::new(),
        hosting: Vec::new(),
        hosting_total: 0,
        hosting_link: String::new(),
        total: 0,
        next: None,
        csv: format!("{base}/companies.csv"),
        show_all: String::new(),
        is_first_page: raw.cursor.trim().is_empty(),
        first_page: String::new(),
        has_ipdb: state.ipdb.has_index(),
        footer: Footer::of(state),
        can_save: ctx.member.membership.role.allows(Role::Member),
        save_query: query.clone().unwrap_or_default(),
        saved: None,
        max_name: crate::leads::saved::MAX_NAME,
        save,
        site,
        raw,
    };
    let q = match parsed {
        Ok(q) => q,
        Err(errors) => {
            view.sorts = sorts(Sort::Score);
            view.errors = errors;
            return page::render(StatusCode::BAD_REQUEST, &view);
        }
    };
    let status = view.save.status.unwrap_or(StatusCode::OK);
    let feed = feed::feed(
        &state.accounts.db,
        &state.cache,
        view.site.id,
        &q,
        now,
        Rows::Page,
    )
    .await?;
    fill(&mut view, &q, feed, now, &tz);
    view.save_query = q.link();
    // Two saved feeds may hold one view: the first by name is the one the page is.
    if let Some(v) = view
        .chrome
        .views
        .iter_mut()
        .find(|v| v.href == view.first_page)
    {
        v.current = true;
    }
    view.saved = view
        .chrome
        .views
        .iter()
        .find(|v| v.current)
        .map(|v| (v.id, v.name.clone()));
    page::render(status, &view)
}

fn sorts(current: Sort) -> Vec<(&'static str, &'static str, bool)> {
    Sort::ALL
        .iter()
        .map(|s| (s.key(), s.label(), *s == current))
        .collect()
}

fn fill(view: &mut FeedPage, q: &FeedQuery, feed: Feed, now: i64, tz: &jiff::tz::TimeZone) {
    let link = q.link();
    let companies = format!("{}/companies", view.base);
    view.period_label = q.period.label();
    view.period_key = q.period.range.key().to_owned();
    view.sorts = sorts(q.sort);
    view.total = feed.total;
    view.hosting_total = feed.hosting_total;
    view.csv = format!("{}?{link}", view.csv);
    view.first_page = format!("{companies}?{link}");
    view.next = feed
        .next
        .map(|c| format!("{companies}?{link}&cursor={}", c.encode()));
    let mut all = q.clone();
    all.classes = Class::ALL.to_vec();
    all.classes_chosen = true;
    view.show_all = format!("{companies}?{}", all.link());
    let mut hosting = q.clone();
    hosting.classes = vec![Class::Hosting];
    hosting.classes_chosen = true;
    view.hosting_link = format!("{companies}?{}", hosting.link());
    let row = |r: FeedRow| row_view(&companies, &q.period, r, now, tz);
    view.rows = feed.rows.into_iter().map(row).collect();
    view.hosting = feed.hosting.into_iter().map(row).collect();
}

fn row_view(
    companies: &str,
    period: &crate::leads::period::Period,
    r: FeedRow,
    now: i64,
    tz: &jiff::tz::TimeZone,
) -> RowView {
    let (class, help) = class_label(&r.class);
    let class_help = class_help(help, r.class_reason.as_deref());
    let first_source = r
        .first
        .as_ref()
        .map(|f| match (&f.source, &f.utm_campaign) {
            (Some(s), Some(c)) => format!("{s} · {c}"),
            (Some(s), None) => s.clone(),
            (None, _) => f.channel.clone(),
        })
        .unwrap_or_default();
    let range = match &period.range {
        crate::leads::period::Range::Custom { from, to } => {
            format!("?period=custom&from={from}&to={to}")
        }
        _ => String::new(),
    };
    RowView {
        href: format!("{companies}/{}{range}", r.company_id),
        why: r
            .score
            .lines
            .iter()
            .map(|l| format!("{}: {}", l.text, l.points_text()))
            .collect::<Vec<_>>()
            .join("; "),
        band: r.score.band(),
        score: r.score.value,
        name: r.name,
        domain: r.domain.unwrap_or_default(),
        country: r.country.unwrap_or_default(),
        class,
        class_help,
        last_visit: at(tz, r.last_visit_at),
        last_visit_ago: ago(now, r.last_visit_at),
        visits: count(r.visits),
        visitors: count(r.visitors),
        pageviews: count(r.pageviews),
        engaged: duration(r.engaged_ms),
        top_pages: r
            .top_pages
            .into_iter()
            .map(|(p, n)| (p, count(n)))
            .collect(),
        first_source,
    }
}
