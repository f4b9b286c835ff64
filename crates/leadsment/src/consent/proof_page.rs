//! `/admin/consents`, the platform administrators' view of the proof log: one decision looked
//! up by its consent ID (with the decision it replaced and any that replaced it), the latest
//! decisions with a count per action for the last 30 days, and `/admin/consents.csv`, every
//! decision of a range of UTC days, streamed page by page through the one CSV writer.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AdminState;
use super::Proof;
use super::choice::Action;
use super::store;
use crate::accounts::Access;
use crate::accounts::chrome::Chrome;
use crate::accounts::context::SessionCtx;
use crate::csv_out::{self, Cell, CsvOut};
use crate::store::now_ms;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

pub const PATH: &str = "/admin/consents";
pub const CSV_PATH: &str = "/admin/consents.csv";

/// How many of the latest decisions the page lists.
const LATEST_SHOWN: i64 = 50;
/// The days the counts per action cover.
const COUNT_DAYS: i64 = 30;
/// How many decisions the export reads, and sends, at a time.
pub const EXPORT_PAGE: i64 = 1_000;

pub const CSV_COLUMNS: [&str; 11] = [
    "consent_id",
    "previous_id",
    "time",
    "revision",
    "banner_version",
    "action",
    "analytics",
    "advertising",
    "gpc",
    "country",
    "browser",
];

pub fn routes() -> Vec<Route<AdminState, Access>> {
    let admin = Access::PLATFORM_ADMIN;
    vec![
        Route::get(PATH, admin, proof_page),
        Route::get(CSV_PATH, admin, download),
    ]
}

/// One decision as the page shows it.
struct ProofView {
    consent_id: String,
    previous_id: Option<String>,
    time: String,
    revision: String,
    banner_version: String,
    action: &'static str,
    analytics: &'static str,
    advertising: &'static str,
    gpc: &'static str,
    country: String,
    browser: String,
}

fn granted(on: bool) -> &'static str {
    if on { "granted" } else { "refused" }
}

fn action_title(a: Action) -> &'static str {
    match a {
        Action::AcceptAll => "Accept all",
        Action::RejectAll => "Reject all",
        Action::Save => "Saved a choice",
        Action::Close => "Closed (counts as reject)",
    }
}

impl From<&Proof> for ProofView {
    fn from(p: &Proof) -> ProofView {
        ProofView {
            consent_id: p.consent_id.clone(),
            previous_id: p.previous_id.clone(),
            time: jiff::Timestamp::from_millisecond(p.created_at)
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            revision: p.revision.clone(),
            banner_version: p.banner_version.clone(),
            action: action_title(p.action),
            analytics: granted(p.analytics),
            advertising: granted(p.advertising),
            gpc: if p.gpc { "sent" } else { "not sent" },
            country: p.country.clone().unwrap_or_else(|| "unknown".to_owned()),
            browser: p.browser.clone().unwrap_or_else(|| "unknown".to_owned()),
        }
    }
}

/// What a lookup found: the decisions under the ID (one, unless the log was written by hand)
/// and those that replaced it.
struct Found {
    decisions: Vec<ProofView>,
    replaced_by: Vec<ProofView>,
}

#[derive(Template)]
#[template(path = "app/admin_consents.html")]
struct ProofPage {
    chrome: Chrome,
    /// The consent ID as typed, for the lookup field.
    id: String,
    found: Option<Found>,
    /// A well-formed ID that no decision has.
    missing: bool,
    from: String,
    to: String,
    errors: Errors,
    counts: Vec<(&'static str, i64)>,
    count_days: i64,
    latest: Vec<ProofView>,
    retention_months: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PageQuery {
    id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Input as the page shows it back: at most 100 characters.
fn kept(s: &str) -> String {
    s.trim().chars().take(100).collect()
}

/// The page, with the lookup empty and the export's range the last 30 days.
async fn view(s: &AdminState, ctx: &SessionCtx) -> Result<ProofPage, AppError> {
    let db = &s.consent.db;
    let now = now_ms();
    let since = now - COUNT_DAYS * 86_400_000;
    let counted = store::counts_since(db, since).await?;
    let counts = [
        Action::AcceptAll,
        Action::RejectAll,
        Action::Save,
        Action::Close,
    ]
    .into_iter()
    .map(|a| {
        let n = counted.iter().find(|(c, _)| *c == a).map_or(0, |(_, n)| *n);
        (action_title(a), n)
    })
    .collect();
    let latest = store::latest(db, LATEST_SHOWN).await?;
    let today = jiff::Timestamp::from_millisecond(now)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let first = today
        .checked_sub(jiff::Span::new().days(COUNT_DAYS - 1))
        .unwrap_or(today);
    Ok(ProofPage {
        chrome: Chrome::load(&ctx.state, &ctx.current, &ctx.csrf, None, "admin-consents").await?,
        id: String::new(),
        found: None,
        missing: false,
        from: first.to_string(),
        to: today.to_string(),
        errors: Errors::default(),
        counts,
        count_days: COUNT_DAYS,
        latest: latest.iter().map(ProofView::from).collect(),
        retention_months: s.consent.settings.retention_months,
    })
}

/// A consent ID as the server makes them: `c_` and 22 base64url characters (128 bits).
fn well_formed(id: &str) -> bool {
    id.len() == 24
        && id.starts_with("c_")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `GET /admin/consents`, with `?id=` to look a decision up.
async fn proof_page(
    State(s): State<AdminState>,
    ctx: SessionCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let mut page = view(&s, &ctx).await?;
    let Some(id) = q.id.as_deref().map(str::trim).filter(|id| !id.is_empty()) else {
        return page::ok(&page);
    };
    page.id = kept(id);
    if !well_formed(id) {
        page.errors.add(
            "id",
            "A consent ID is c_ followed by 22 letters, digits, dashes or underscores, \
             such as c_Vq3T0mXo1LdR8aKs2bYw-g.",
        );
        return page::render(StatusCode::BAD_REQUEST, &page);
    }
    let db = &s.consent.db;
    let decisions = store::by_consent_id(db, id).await?;
    if decisions.is_empty() {
        page.missing = true;
    } else {
        let replaced_by = store::replaced_by(db, id).await?;
        page.found = Some(Found {
            decisions: decisions.iter().map(ProofView::from).collect(),
            replaced_by: replaced_by.iter().map(ProofView::from).collect(),
        });
    }
    page::ok(&page)
}

/// The export's range: its first and last UTC days, both included, or what is wrong, by
/// field.
fn range(q: &PageQuery) -> Result<(jiff::civil::Date, jiff::civil::Date), Errors> {
    let mut errors = Errors::default();
    let mut day = |field: &'static str, value: Option<&str>, what: &str| {
        let value = value.map(str::trim).unwrap_or("");
        if value.is_empty() {
            errors.add(field, format!("Enter the {what} day, such as 2026-11-30."));
            return None;
        }
        match value.parse::<jiff::civil::Date>() {
            Ok(d) if value.len() == 10 => Some(d),
            _ => {
                let shown = kept(value);
                errors.add(
                    field,
                    format!("“{shown}” is not a date: write the {what} day as YYYY-MM-DD, such as 2026-11-30."),
                );
                None
            }
        }
    };
    let from = day("from", q.from.as_deref(), "first");
    let to = day("to", q.to.as_deref(), "last");
    match (from, to) {
        (Some(from), Some(to)) if from > to => {
            errors.add("to", "The last day must be the first day or later.");
            Err(errors)
        }
        (Some(from), Some(to)) => Ok((from, to)),
        _ => Err(errors),
    }
}

/// The start of a UTC day, in milliseconds.
fn day_start(day: jiff::civil::Date) -> i64 {
    day.to_zoned(jiff::tz::TimeZone::UTC)
        .map_or(i64::MAX, |z| z.timestamp().as_millisecond())
}

/// `GET /admin/consents.csv?from=YYYY-MM-DD&to=YYYY-MM-DD`: the decisions of those UTC days,
/// both included, oldest first. A bad range is answered 400 with the page, the reason next to
/// the field.
async fn download(
    State(s): State<AdminState>,
    ctx: SessionCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let (first, last) = match range(&q) {
        Ok(range) => range,
        Err(errors) => {
            let mut page = view(&s, &ctx).await?;
            page.errors = errors;
            page.from = kept(q.from.as_deref().unwrap_or(""));
            page.to = kept(q.to.as_deref().unwrap_or(""));
            return page::render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let from = day_start(first);
    let to = last.tomorrow().map_or(i64::MAX, day_start);
    let db = s.consent.db.clone();
    let next_page = move |after: i64| {
        let db = db.clone();
        async move {
            let page = store::page_between(&db, from, to, after, EXPORT_PAGE).await?;
            let next = page.last().map_or(after, |(id, _)| *id);
            Ok::<_, crate::store::StoreError>((page, next))
        }
    };
    let body = csv_out::streamed(&CSV_COLUMNS, 0, next_page, write_row);
    let name = format!("attachment; filename=\"consents-{first}-{last}.csv\"");
    Ok(page::csv_download(&name, body))
}

fn write_row(out: &mut CsvOut<Vec<u8>>, (_, p): &(i64, Proof)) -> csv::Result<()> {
    let time = jiff::Timestamp::from_millisecond(p.created_at)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let yes = |on: bool| Cell::Text(Some(if on { "true" } else { "false" }));
    out.row([
        Cell::Text(Some(&p.consent_id)),
        Cell::Text(p.previous_id.as_deref()),
        Cell::Text(Some(&time)),
        Cell::Text(Some(&p.revision)),
        Cell::Text(Some(&p.banner_version)),
        Cell::Text(Some(p.action.as_str())),
        yes(p.analytics),
        yes(p.advertising),
        yes(p.gpc),
        Cell::Text(p.country.as_deref()),
        Cell::Text(p.browser.as_deref()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_ids_are_checked_before_any_query() {
        assert!(well_formed("c_AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(well_formed("c_Vq3T0mXo1LdR8aKs2bYw-g"));
        for bad in [
            "",
            "c_",
            "AAAAAAAAAAAAAAAAAAAAAAAA",
            "c_AAAAAAAAAAAAAAAAAAAAA",
            "c_AAAAAAAAAAAAAAAAAAAAAAA",
            "c_AAAAAAAAAAAAAAAAAAAAA=",
            "c_AAAAAAAAAAAAAAAAAAAAAé",
            "' OR 1=1 --",
        ] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_range_names_the_field_at_fault() {
        let q = |from: &str, to: &str| PageQuery {
            id: None,
            from: Some(from.to_owned()),
            to: Some(to.to_owned()),
        };
        let (a, b) = range(&q("2026-11-01", "2026-11-30")).unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2026-11-01".into(), "2026-11-30".into())
        );
        assert!(range(&q("2026-11-30", "2026-11-30")).is_ok());
        let e = range(&q("2026-13-01", "2026-11-30")).unwrap_err();
        assert!(e.has("from") && !e.has("to"));
        let e = range(&q("2026-11-01", "yesterday")).unwrap_err();
        assert!(e.has("to") && !e.has("from"));
        let e = range(&q("2026-12-01", "2026-11-30")).unwrap_err();
        assert!(e.has("to") && !e.has("from"));
        let e = range(&q("", "")).unwrap_err();
        assert!(e.has("from") && e.has("to"));
    }
}
