//! The dashboard's rollups (migration 0006): what a batch adds to the per-company sums by UTC
//! day, worked out once from the batch's [`VisitPlan`] for both databases, and written by the
//! event writer in the same transaction as the events. They commit or roll back with the
//! events, and every change is an addition, so two nodes writing at once add up exactly.
//!
//! - `company_days`: visits (on the UTC day they start), their engaged time and latest event,
//!   and pageviews (on the day they happen), per company.
//! - `visitor_days`: visits per (site, start day, company, visitor hash). A company's visitors
//!   on a day are its rows; `company_days.visitors` follows their count. A visit takes the
//!   hash of its latest event (after midnight the new day's hash), so when a batch moves a
//!   visit to another hash, its count moves too.
//! - `company_paths`, `site_paths`: pageviews per path, day and company; the site's paths.
//! - `site_hours`: each UTC hour the batch touched, with or without a company (a visit's start
//!   hour, an event's hour), gets the batch's random version: what the dashboard keeps of an
//!   hour, or of a day, stays good while the versions do.
//!
//! Visits and events without a company are in none of them (the dashboard's companies are
//! what they serve). Retention, when it comes, deletes whole UTC days of the raw tables and of
//! these together.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::visits::VisitPlan;

pub const DAY_MS: i64 = 86_400_000;
pub const HOUR_MS: i64 = 3_600_000;

/// The UTC day of a time: days since 1970-01-01.
pub fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

/// The UTC hour of a time: hours since 1970-01-01 00:00.
pub fn hour_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(HOUR_MS)
}

/// A visit as the store held it before the batch: what its rollups were counted under.
#[derive(Debug, Clone, Copy)]
pub struct StoredVisit {
    pub site_id: i64,
    pub visitor_hash: i64,
    pub started_at: i64,
    pub company_id: Option<i64>,
    pub last_seen_at: i64,
}

/// What a batch adds to one company's day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayDelta {
    pub visits: i64,
    pub visitors: i64,
    pub pageviews: i64,
    pub engaged_ms: i64,
    pub last_seen_at: i64,
}

/// Keys are (site, day, company); (site, day, company, visitor hash); (site, path, day,
/// company). Sorted maps: every node touches rows in the same order, which keeps concurrent
/// batches from deadlocking.
#[derive(Debug, Default)]
pub struct Rollups {
    pub days: BTreeMap<(i64, i64, i64), DayDelta>,
    /// Visits added to (or, negative, moved away from) a visitor's row.
    pub visitors: BTreeMap<(i64, i64, i64, i64), i64>,
    pub paths: BTreeMap<(i64, String, i64, i64), i64>,
    /// (site, hour) of every UTC hour the batch changes.
    pub touched: BTreeSet<(i64, i64)>,
}

impl Rollups {
    /// Adds the visits, visitors, engaged time and pageviews of a planned batch. `stored`
    /// holds every visit the batch updates, as it was before.
    pub fn of(plan: &VisitPlan<'_>, stored: &HashMap<i64, StoredVisit>) -> Rollups {
        let mut r = Rollups::default();
        for v in &plan.new_visits {
            r.touched.insert((v.first.site_id.0, hour_of(v.first.ts)));
            let Some(company) = v.company_id else {
                continue;
            };
            let (site, day) = (v.first.site_id.0, day_of(v.first.ts));
            let d = r.days.entry((site, day, company)).or_default();
            d.visits += 1;
            d.engaged_ms += v.delta.engaged_ms;
            d.last_seen_at = d.last_seen_at.max(v.delta.last_seen);
            *r.visitors
                .entry((site, day, company, v.delta.visitor_hash))
                .or_default() += 1;
        }
        for (id, delta) in &plan.updates {
            let Some(s) = stored.get(id) else {
                continue;
            };
            r.touched.insert((s.site_id, hour_of(s.started_at)));
            let Some(company) = s.company_id else {
                continue;
            };
            let day = day_of(s.started_at);
            let d = r.days.entry((s.site_id, day, company)).or_default();
            d.engaged_ms += delta.engaged_ms;
            d.last_seen_at = d.last_seen_at.max(delta.last_seen);
            // The store's rule: the hash moves on only with the visit's latest event.
            let hash = if s.last_seen_at > delta.last_seen {
                s.visitor_hash
            } else {
                delta.visitor_hash
            };
            if hash != s.visitor_hash {
                *r.visitors
                    .entry((s.site_id, day, company, s.visitor_hash))
                    .or_default() -= 1;
                *r.visitors
                    .entry((s.site_id, day, company, hash))
                    .or_default() += 1;
            }
        }
        for row in &plan.rows {
            let e = row.event;
            r.touched.insert((e.site_id.0, hour_of(e.ts)));
            if e.name != "pageview" {
                continue;
            }
            let site = e.site_id.0;
            let Some(company) = row.company_id else {
                continue;
            };
            let day = day_of(e.ts);
            r.days.entry((site, day, company)).or_default().pageviews += 1;
            *r.paths
                .entry((site, e.path.clone(), day, company))
                .or_default() += 1;
        }
        r.visitors.retain(|_, n| *n != 0);
        r
    }

    /// After the visitor rows are written: a row that came into being adds a visitor to its
    /// company's day, one that emptied takes one away. `before` and `after` are a row's
    /// visits either side of the change.
    pub fn count_visitor(
        &mut self,
        (site, day, company, _): (i64, i64, i64, i64),
        before: i64,
        after: i64,
    ) {
        let change = match (before > 0, after > 0) {
            (false, true) => 1,
            (true, false) => -1,
            _ => return,
        };
        self.days.entry((site, day, company)).or_default().visitors += change;
    }
}
