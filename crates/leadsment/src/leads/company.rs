//! One company on one site: its details, its score and why, its totals, and a timeline of
//! every visit with each page, the time spent on it and the custom events.

use std::collections::HashMap;

use super::exclusions::Exclusion;
use super::score::{self, Score};
use super::store::{self, Company, EventRow, VisitRow};
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError};

/// The visits a timeline shows, newest first: at first, and at most.
pub const TIMELINE_VISITS: i64 = 50;
pub const TIMELINE_ALL: i64 = 1_000;
/// The events a visit of the timeline shows at most (pages, time reports and custom events,
/// from its start): a visit of a script gone wild stays a bounded answer.
pub const VISIT_EVENTS: usize = 200;

#[derive(Debug, Clone)]
pub struct CompanyView {
    pub company: Company,
    pub score: Score,
    pub totals: CompanyTotals,
    pub visits: Vec<VisitView>,
    /// True when there are more visits than the timeline shows.
    pub truncated: bool,
    /// The workspace's exclusions that hide it (none: it is shown everywhere).
    pub hidden_by: Vec<Exclusion>,
}

/// Everything the company did on the site, every visit counted.
pub type CompanyTotals = store::CompanyTotalsRow;

#[derive(Debug, Clone)]
pub struct VisitView {
    pub visit: VisitRow,
    pub steps: Vec<Step>,
    /// True when the visit has more than [`VISIT_EVENTS`] events: the later ones are left
    /// out.
    pub steps_truncated: bool,
}

/// A page of a visit and the time on it, or a custom event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Page {
        ts: i64,
        path: String,
        engaged_ms: i64,
    },
    Event {
        ts: i64,
        name: String,
        path: String,
        props: Vec<(String, String)>,
    },
}

/// The company's page, or `None` when it has no visit to `site`.
pub async fn company(
    db: &Db,
    site: SiteId,
    company_id: i64,
    now_ms: i64,
    timeline_len: i64,
) -> Result<Option<CompanyView>, StoreError> {
    let Some(company) = store::company_on_site(db, site, company_id).await? else {
        return Ok(None);
    };
    let hidden_by: Vec<Exclusion> = store::exclusions::site_exclusions(db, site)
        .await?
        .into_iter()
        .filter(|e| e.matches(&company))
        .collect();
    let rules = store::score_rules::rules(db, site).await?;
    let window = score::window(now_ms);
    let activity = store::activity(db, site, window, Some(company_id), &rules).await?;
    let score = score::score(
        &activity.get(&company_id).cloned().unwrap_or_default(),
        &rules,
        now_ms,
    );
    let mut visits = store::company_timeline(db, site, company_id, timeline_len + 1).await?;
    let truncated = visits.len() as i64 > timeline_len;
    visits.truncate(timeline_len as usize);
    let ids: Vec<i64> = visits.iter().map(|v| v.id).collect();
    // One more than shown tells whether a visit has more.
    let events = store::visit_events(db, site, &ids, VISIT_EVENTS as i64 + 1).await?;
    let totals = store::company_totals(db, site, company_id).await?;
    let visits = timeline(visits, events);
    Ok(Some(CompanyView {
        company,
        score,
        totals,
        visits,
        truncated,
        hidden_by,
    }))
}

/// Each visit's steps: a page's time is the engagement its page reported before the next
/// page began.
fn timeline(visits: Vec<VisitRow>, events: Vec<EventRow>) -> Vec<VisitView> {
    let mut by_visit: HashMap<i64, Vec<EventRow>> = HashMap::new();
    for e in events {
        by_visit.entry(e.visit_id).or_default().push(e);
    }
    visits
        .into_iter()
        .map(|visit| {
            let mut events = by_visit.remove(&visit.id).unwrap_or_default();
            let steps_truncated = events.len() > VISIT_EVENTS;
            events.truncate(VISIT_EVENTS);
            VisitView {
                steps: steps(&events),
                steps_truncated,
                visit,
            }
        })
        .collect()
}

fn steps(events: &[EventRow]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut current_page: Option<usize> = None;
    for e in events {
        match e.name.as_str() {
            "pageview" => {
                out.push(Step::Page {
                    ts: e.ts,
                    path: e.path.clone(),
                    engaged_ms: 0,
                });
                current_page = Some(out.len() - 1);
            }
            "engagement" => {
                if let Some(Step::Page {
                    path, engaged_ms, ..
                }) = current_page.and_then(|i| out.get_mut(i))
                    && *path == e.path
                {
                    *engaged_ms += e.engaged_ms.unwrap_or(0);
                }
            }
            _ => out.push(Step::Event {
                ts: e.ts,
                name: e.name.clone(),
                path: e.path.clone(),
                props: props(e.props.as_deref()),
            }),
        }
    }
    out
}

/// Custom properties as pairs, in the stored order.
fn props(json: Option<&str>) -> Vec<(String, String)> {
    let Some(serde_json::Value::Object(map)) = json.and_then(|j| serde_json::from_str(j).ok())
    else {
        return Vec::new();
    };
    map.into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, name: &str, path: &str, engaged: Option<i64>) -> EventRow {
        EventRow {
            visit_id: 1,
            ts,
            name: name.into(),
            path: path.into(),
            props: Some(r#"{"plan":"team"}"#.into()),
            engaged_ms: engaged,
        }
    }

    #[test]
    fn engagement_goes_to_the_page_it_was_reported_for() {
        let steps = steps(&[
            ev(1, "pageview", "/", None),
            ev(2, "engagement", "/", Some(5_000)),
            ev(3, "pageview", "/pricing", None),
            ev(4, "Signup", "/pricing", None),
            ev(5, "engagement", "/pricing", Some(7_000)),
            ev(6, "engagement", "/pricing", Some(1_000)),
            ev(7, "engagement", "/other", Some(9_000)),
        ]);
        assert_eq!(steps.len(), 3);
        assert!(matches!(
            &steps[0],
            Step::Page {
                engaged_ms: 5_000,
                ..
            }
        ));
        assert!(matches!(
            &steps[1],
            Step::Page {
                engaged_ms: 8_000,
                ..
            }
        ));
        assert!(
            matches!(&steps[2], Step::Event { name, props, .. } if name == "Signup" && props == &[("plan".to_owned(), "team".to_owned())])
        );
    }
}
