//! The leads part of the workspace API (`/api/v1/…`), opened by the workspace's API keys
//! with the read scope: the company feed with the page's filters and cursor, one company
//! with its score and visits, and the site's events. The answers are JSON; so are the
//! errors, each with a stable `error` code and, for a query parameter, its name
//! ([api.md](../../../../docs/api.md)). The OpenAPI document is [`super::openapi`].

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::LeadsState;
use super::company::{self, Step};
use super::feed::{self, FeedRow, Rows};
use super::filters::{self, Invalid, RawFilters};
use super::score::Score;
use super::store::{self, SiteEvent};
use crate::accounts::api_keys::{ApiKey, Scope};
use crate::accounts::sites::{Site, SiteId};
use crate::accounts::{Access, CurrentKey};
use crate::store::now_ms;
use crate::web::Route;
use crate::web::error::AppError;

/// The feed's query parameters, as the feed page reads them.
pub const FEED_PARAMETERS: &[&str] = &[
    "period",
    "from",
    "to",
    "class",
    "country",
    "source",
    "q",
    "min_score",
    "page",
    "sort",
    "cursor",
];
pub const COMPANY_PARAMETERS: &[&str] = &["visits"];
pub const EVENT_PARAMETERS: &[&str] = &["limit", "cursor"];

/// Events per page when the request names no `limit`, and the most it may name.
pub const EVENTS_DEFAULT: i64 = 100;
pub const EVENTS_MAX: i64 = 1_000;

pub fn routes() -> Vec<Route<LeadsState, Access>> {
    let read = Access::ApiKey(Scope::Read);
    vec![
        Route::get(
            "/api/v1/workspaces/{workspace_id}/sites/{site_id}/companies",
            read,
            companies,
        ),
        Route::get(
            "/api/v1/workspaces/{workspace_id}/sites/{site_id}/companies/{company_id}",
            read,
            company,
        ),
        Route::get(
            "/api/v1/workspaces/{workspace_id}/sites/{site_id}/events",
            read,
            events,
        ),
        Route::get("/api/v1/openapi.json", Access::PUBLIC, openapi),
    ]
}

async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

/// Refuses the first query parameter that the endpoint does not take, by name.
fn only(query: Option<&str>, known: &[&str]) -> Result<(), AppError> {
    for (k, _) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !known.contains(&k.as_ref()) {
            let name: String = k.chars().take(100).collect();
            return Err(AppError::bad_request(
                "unknown_filter",
                format!(
                    "Unknown query parameter `{name}`; this endpoint takes {}.",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .with_parameter(name));
        }
    }
    Ok(())
}

/// A refused parameter value: `bad_cursor` for the cursor, `invalid_filter` for the rest.
fn refused(parameter: &str, message: impl Into<String>) -> AppError {
    let code = if parameter == "cursor" {
        "bad_cursor"
    } else {
        "invalid_filter"
    };
    AppError::bad_request(code, message).with_parameter(parameter)
}

fn refused_filters(bad: Vec<Invalid>) -> AppError {
    let Some(first) = bad.first() else {
        return AppError::bad_request("invalid_filter", "The filters were refused.");
    };
    let message = bad
        .iter()
        .map(|b| b.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    refused(first.field, message)
}

/// The key's workspace's site in the path; any other site is 404, whatever its id.
async fn site_of(state: &LeadsState, key: &ApiKey, site_id: i64) -> Result<Site, AppError> {
    crate::accounts::store::workspace_site(&state.accounts.db, key.workspace_id, SiteId(site_id))
        .await?
        .ok_or_else(|| AppError::not_found("There is no such site in this workspace."))
}

/// Milliseconds since the epoch as RFC 3339, in UTC, always with three decimals (so the
/// times sort as text too).
pub fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

fn score(s: &Score) -> Value {
    json!({
        "value": s.value,
        "band": s.band(),
        "lines": s.lines.iter().map(|l| json!({"text": l.text, "points": l.points})).collect::<Vec<_>>(),
    })
}

fn feed_row(r: &FeedRow) -> Value {
    json!({
        "id": r.company_id,
        "name": r.name,
        "domain": r.domain,
        "country": r.country,
        "class": r.class,
        "class_reason": r.class_reason,
        "score": score(&r.score),
        "last_visit_at": time(r.last_visit_at),
        "visits": r.visits,
        "visitors": r.visitors,
        "pageviews": r.pageviews,
        "engaged_ms": r.engaged_ms,
        "top_pages": r.top_pages.iter().map(|(path, n)| json!({"path": path, "pageviews": n})).collect::<Vec<_>>(),
        "first_visit": r.first.as_ref().map(|f| json!({
            "started_at": time(f.started_at),
            "source": f.source,
            "channel": f.channel,
            "utm_campaign": f.utm_campaign,
        })),
    })
}

/// `GET …/sites/{site_id}/companies`: the feed, a page at a time.
async fn companies(
    State(state): State<LeadsState>,
    Extension(CurrentKey { key }): Extension<CurrentKey>,
    Path((_, site_id)): Path<(i64, i64)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    only(query.as_deref(), FEED_PARAMETERS)?;
    let site = site_of(&state, &key, site_id).await?;
    let tz = jiff::tz::TimeZone::get(&site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let now = now_ms();
    let raw = RawFilters::from_query(query.as_deref());
    let q = filters::parse(&raw, &tz, now).map_err(refused_filters)?;
    let feed = feed::feed(
        &state.accounts.db,
        &state.cache,
        site.id,
        &q,
        now,
        Rows::Page,
    )
    .await?;
    Ok(Json(json!({
        "period": {
            "key": q.period.range.key(),
            "start": time(q.period.start_ms),
            "end": time(q.period.end_ms),
            "time_zone": site.time_zone,
        },
        "total": feed.total,
        "companies": feed.rows.iter().map(feed_row).collect::<Vec<_>>(),
        "hosting_total": feed.hosting_total,
        "hosting": feed.hosting.iter().map(feed_row).collect::<Vec<_>>(),
        "next_cursor": feed.next.map(|c| c.encode()),
    })))
}

/// `GET …/sites/{site_id}/companies/{company_id}`: one company, as its page reads it.
async fn company(
    State(state): State<LeadsState>,
    Extension(CurrentKey { key }): Extension<CurrentKey>,
    Path((_, site_id, company_id)): Path<(i64, i64, i64)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    only(query.as_deref(), COMPANY_PARAMETERS)?;
    let mut len = company::TIMELINE_VISITS;
    for (k, v) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match (k.as_ref(), v.as_ref()) {
            ("visits", "all") => len = company::TIMELINE_ALL,
            ("visits", "latest") => len = company::TIMELINE_VISITS,
            _ => return Err(refused("visits", "visits: `latest` (50) or `all` (1,000)")),
        }
    }
    let site = site_of(&state, &key, site_id).await?;
    let now = now_ms();
    let v = company::company(&state.accounts.db, site.id, company_id, now, len)
        .await?
        .ok_or_else(|| AppError::not_found("No such company has visited this site."))?;
    let c = &v.company;
    let t = &v.totals;
    let visits: Vec<Value> = v
        .visits
        .iter()
        .map(|visit| {
            let r = &visit.visit;
            json!({
                "id": r.id,
                "started_at": time(r.started_at),
                "last_seen_at": time(r.last_seen_at),
                "entry_path": r.entry_path,
                "pageviews": r.pageviews,
                "engaged_ms": r.engaged_ms,
                "source": r.source,
                "channel": r.channel,
                "utm_source": r.utm_source,
                "utm_medium": r.utm_medium,
                "utm_campaign": r.utm_campaign,
                "country": r.country,
                "browser": r.browser,
                "os": r.os,
                "device": r.device,
                "steps": visit.steps.iter().map(step).collect::<Vec<_>>(),
                "steps_truncated": visit.steps_truncated,
            })
        })
        .collect();
    Ok(Json(json!({
        "company": {
            "id": c.id,
            "name": c.name,
            "org": c.org,
            "domain": c.domain,
            "asn": c.asn,
            "country": c.country,
            "class": c.class,
            "class_reason": c.class_reason,
        },
        "hidden": !v.hidden_by.is_empty(),
        "score": score(&v.score),
        "totals": {
            "visits": t.visits,
            "visitors": t.visitors,
            "pageviews": t.pageviews,
            "engaged_ms": t.engaged_ms,
            "first_visit_at": time(t.first_seen_at),
            "last_visit_at": time(t.last_seen_at),
        },
        "visits": visits,
        "truncated": v.truncated,
    })))
}

fn step(s: &Step) -> Value {
    match s {
        Step::Page {
            ts,
            path,
            engaged_ms,
        } => json!({"type": "page", "time": time(*ts), "path": path, "engaged_ms": engaged_ms}),
        Step::Event {
            ts,
            name,
            path,
            props,
        } => {
            let props: serde_json::Map<String, Value> = props
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({"type": "event", "time": time(*ts), "name": name, "path": path, "props": props})
        }
    }
}

/// The events cursor: the last event's time and id, opaque to clients.
fn encode_cursor(e: &SiteEvent) -> String {
    URL_SAFE_NO_PAD.encode(format!("e1|{}|{}", e.ts, e.id))
}

fn decode_cursor(s: &str) -> Option<(i64, i64)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s.trim()).ok()?).ok()?;
    let mut parts = raw.split('|');
    if parts.next()? != "e1" {
        return None;
    }
    let ts = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((ts, id))
}

/// `GET …/sites/{site_id}/events`: the site's events, newest first.
async fn events(
    State(state): State<LeadsState>,
    Extension(CurrentKey { key }): Extension<CurrentKey>,
    Path((_, site_id)): Path<(i64, i64)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AppError> {
    only(query.as_deref(), EVENT_PARAMETERS)?;
    let (mut limit, mut after) = (EVENTS_DEFAULT, (i64::MAX, i64::MAX));
    for (k, v) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "limit" => {
                limit = v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=EVENTS_MAX).contains(n))
                    .ok_or_else(|| {
                        refused(
                            "limit",
                            format!("limit: a whole number from 1 to {EVENTS_MAX}"),
                        )
                    })?;
            }
            _ => {
                after = decode_cursor(&v).ok_or_else(|| {
                    refused(
                        "cursor",
                        "cursor: this page marker is damaged or not an events cursor; start from the first page",
                    )
                })?;
            }
        }
    }
    let site = site_of(&state, &key, site_id).await?;
    let db = &state.accounts.db;
    let (mut rows, excluded) = futures_util::try_join!(
        store::site_events(db, site.id, after, limit + 1),
        store::exclusions::excluded(db, site.id),
    )?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    // The workspace's hidden companies are in no answer: their events are left out (a page
    // may then hold fewer than `limit`; `next_cursor` still goes on from where it stopped).
    let events: Vec<Value> = rows
        .iter()
        .filter(|e| e.company_id.is_none_or(|c| !excluded.contains(c)))
        .map(|e| {
            json!({
                "time": time(e.ts),
                "name": e.name,
                "path": e.path,
                "source": e.source,
                "company_id": e.company_id,
                "company_name": e.company_name,
                "visit_id": e.visit_id,
            })
        })
        .collect();
    Ok(Json(json!({ "events": events, "next_cursor": next })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_three_decimals() {
        assert_eq!(time(1_800_000_000_710), "2027-01-15T08:00:00.710Z");
        assert_eq!(time(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn events_cursors_round_trip_and_refuse_others() {
        let e = SiteEvent {
            id: 42,
            ts: 1_800_000_000_000,
            name: "pageview".into(),
            path: "/".into(),
            source: None,
            company_id: None,
            company_name: None,
            visit_id: 1,
        };
        assert_eq!(decode_cursor(&encode_cursor(&e)), Some((e.ts, 42)));
        assert_eq!(decode_cursor("nope"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("e1|1|2|3")), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("f1|1|2")), None);
    }

    #[test]
    fn unknown_parameters_are_named() {
        assert!(only(Some("limit=5&cursor=x"), EVENT_PARAMETERS).is_ok());
        let e = only(Some("limit=5&colour=red"), EVENT_PARAMETERS).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(format!("{e:?}").contains("colour"));
    }
}
