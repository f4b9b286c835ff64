//! Which visit each event of a batch belongs to, worked out before anything is written, the
//! same way for both databases: the companies the cache lacks, the visits it cannot place, and
//! the plan of rows to insert and counters to add.

use std::collections::{HashMap, HashSet};

use super::model::{CompanyInfo, ENGAGEMENT_LOOKBACK_MS, IngestBatch, NewEvent, continues_visit};
use super::visit_cache::VisitCache;

/// One event ready for insertion, with its visit and company resolved.
pub struct EventRow<'a> {
    pub event: &'a NewEvent,
    pub visit_id: i64,
    pub company_id: Option<i64>,
}

/// What a batch changes in one visit.
#[derive(Default, Clone)]
pub struct VisitDelta {
    /// The visit's site: with the id, its key.
    pub site_id: i64,
    pub last_seen: i64,
    /// The visitor hash of the latest event: after midnight a visit continues under the new
    /// day's hash, and later events find it by that.
    pub visitor_hash: i64,
    pub exit_path: Option<String>,
    pub pageviews: i64,
    pub events: i64,
    pub engaged_ms: i64,
}

/// A visit id, chosen by the writer so new visits are inserted in bulk without reading their
/// ids back: the time in milliseconds, then the node tag this node leases from the store
/// (`nodes::NodeLease`: no two running nodes hold the same one), then a counter. Ids rise
/// with time, so inserts append to the table rather than land on random pages; two nodes
/// never choose the same id, and one node only if it opened 4096 visits in one millisecond
/// (an insert that collides fails its batch). Event ids are not chosen here: the database
/// assigns them.
pub fn new_visit_id(ts_ms: i64, tag: u16) -> i64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tag = u64::from(tag) & 0x3ff;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xfff;
    let ms = (ts_ms.max(0) as u64) & ((1 << 41) - 1);
    ((ms << TIME_SHIFT) | (tag << 12) | count) as i64
}

/// Where a visit id's time begins: its milliseconds are the bits above this many.
pub const TIME_SHIFT: u32 = 22;

/// The start time a visit id begins with (SQLite's `started_at`, migration 0024).
pub fn started_at_of(id: i64) -> i64 {
    id >> TIME_SHIFT
}

/// The node tag in a visit id of [`new_visit_id`].
pub fn tag_of_visit_id(id: i64) -> u16 {
    ((id >> 12) & 0x3ff) as u16
}

/// The smallest id [`new_visit_id`] gives a visit started at `ts_ms` or later.
pub fn visit_id_floor(ts_ms: i64) -> i64 {
    let ms = (ts_ms.max(0) as u64) & ((1 << 41) - 1);
    (ms << TIME_SHIFT) as i64
}

/// The ids of the visits started in `[from_ms, to_ms)`: a range that holds them all (ids begin
/// with the start time), for reading a site's visits of a period by their key. Times past
/// what an id can hold give the largest id.
pub fn visit_ids_started(from_ms: i64, to_ms: i64) -> (i64, i64) {
    let bound = |ts: i64| {
        if ts >= 1 << 41 {
            i64::MAX
        } else {
            visit_id_floor(ts)
        }
    };
    (bound(from_ms), bound(to_ms))
}

/// A visit first seen in this batch, written once with its final counters.
pub struct NewVisit<'a> {
    pub id: i64,
    pub first: &'a NewEvent,
    pub company_id: Option<i64>,
    /// Its first event's traits' id (`visit_traits`).
    pub traits_id: i64,
    pub delta: VisitDelta,
}

/// The companies of a batch that the cache has no id for, each once, in the order of their
/// keys: two nodes inserting the same new companies then take their row locks in the same
/// order, where the order of events could make PostgreSQL's upserts deadlock.
pub fn missing_companies<'b>(batch: &'b IngestBatch, cache: &VisitCache) -> Vec<&'b CompanyInfo> {
    let mut missing: Vec<&CompanyInfo> = Vec::new();
    let mut seen = HashSet::new();
    for ev in &batch.events {
        if let Some(c) = &ev.company
            && cache.company(&c.key).is_none()
            && seen.insert(c.key.as_str())
        {
            missing.push(c);
        }
    }
    missing.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    missing
}

/// The visitor hashes whose visit the cache cannot place (sorted, each once), and the oldest
/// last-seen time of a visit that one of them could still continue.
pub fn wanted_visits(batch: &IngestBatch, cache: &VisitCache) -> (Vec<i64>, i64) {
    let mut wanted: Vec<i64> = Vec::new();
    let mut oldest = i64::MAX;
    if cache.is_complete() {
        // Nothing the store holds is missing from memory.
        return (wanted, oldest);
    }
    for ev in &batch.events {
        if cache
            .open_visit(ev.site_id.0, ev.visitor_hash, ev.ts)
            .is_none()
        {
            wanted.push(ev.visitor_hash);
            wanted.extend(ev.previous_visitor_hash);
            oldest = oldest.min(ev.ts - ENGAGEMENT_LOOKBACK_MS);
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    (wanted, oldest)
}

/// Visits read from the store: the latest of each (site, visitor hash), with its last-seen time.
#[derive(Default)]
pub struct KnownVisits(HashMap<(i64, i64), (i64, i64)>);

impl KnownVisits {
    pub fn add(&mut self, site: i64, hash: i64, id: i64, last_seen: i64) {
        let e = self.0.entry((site, hash)).or_insert((id, last_seen));
        if last_seen > e.1 {
            *e = (id, last_seen);
        }
    }
}

/// What a batch writes: its events with their visits, the visits it opens, and what it adds to
/// visits that already exist.
pub struct VisitPlan<'b> {
    pub rows: Vec<EventRow<'b>>,
    pub new_visits: Vec<NewVisit<'b>>,
    pub updates: Vec<(i64, VisitDelta)>,
}

/// Assigns each event of a batch to its visit, in order: the visit the cache knows, else the
/// one the store holds (`known`, which the caller read for [`wanted_visits`]), else, when the
/// cache is complete (SQLite), the one it holds for either hash, else a new one.
/// A visit continues while its events are at most [`VISIT_TIMEOUT_MS`] apart (an engagement
/// event, sent when a page is hidden, up to [`ENGAGEMENT_LOOKBACK_MS`]). Company ids come from
/// the cache, which must already know every company and every combination of traits of the
/// batch.
///
/// New visits get ids with `tag`, the node's leased tag.
///
/// [`VISIT_TIMEOUT_MS`]: super::model::VISIT_TIMEOUT_MS
pub fn plan_visits<'b>(
    batch: &'b IngestBatch,
    cache: &mut VisitCache,
    known: &KnownVisits,
    keys: &[Option<String>],
    tag: u16,
) -> VisitPlan<'b> {
    let mut rows = Vec::with_capacity(batch.events.len());
    let mut new_visits: Vec<NewVisit<'b>> = Vec::new();
    let mut new_index: HashMap<i64, usize> = HashMap::new();
    let mut updates: HashMap<i64, VisitDelta> = HashMap::new();
    for (i, ev) in batch.events.iter().enumerate() {
        let site = ev.site_id.0;
        let company_id = ev.company.as_ref().and_then(|c| cache.company(&c.key));
        let mut visit = cache.open_visit(site, ev.visitor_hash, ev.ts);
        if visit.is_none() {
            // Not in this node's memory (another node, a restart), or an engagement event, or
            // midnight: the store's latest visit of either hash, or, when memory is complete,
            // its own.
            for hash in [Some(ev.visitor_hash), ev.previous_visitor_hash]
                .into_iter()
                .flatten()
            {
                visit = known
                    .0
                    .get(&(site, hash))
                    .filter(|(_, last)| continues_visit(&ev.name, ev.ts - last))
                    .map(|(id, _)| *id)
                    .or_else(|| {
                        cache
                            .is_complete()
                            .then(|| cache.visit_for(site, hash, &ev.name, ev.ts))
                            .flatten()
                    });
                if visit.is_some() {
                    break;
                }
            }
        }
        let id = match visit {
            Some(id) => id,
            None => {
                let id = new_visit_id(ev.ts, tag);
                new_index.insert(id, new_visits.len());
                new_visits.push(NewVisit {
                    id,
                    first: ev,
                    company_id,
                    traits_id: match keys.get(i) {
                        Some(Some(k)) => cache.traits(k),
                        // Placed in an open visit before the plan began, so not expected here.
                        _ => cache.traits(&super::traits::key(ev)),
                    }
                    .unwrap_or_default(),
                    delta: VisitDelta::default(),
                });
                id
            }
        };
        cache.remember_visit(site, ev.visitor_hash, id, ev.ts);
        let d = match new_index.get(&id) {
            Some(i) => &mut new_visits[*i].delta,
            None => updates.entry(id).or_default(),
        };
        d.site_id = site;
        if ev.ts >= d.last_seen {
            d.last_seen = ev.ts;
            d.visitor_hash = ev.visitor_hash;
        }
        d.events += 1;
        if ev.name == "pageview" {
            d.pageviews += 1;
            d.exit_path = Some(ev.path.clone());
        }
        d.engaged_ms += ev.engaged_ms.unwrap_or(0);
        rows.push(EventRow {
            event: ev,
            visit_id: id,
            company_id,
        });
    }
    VisitPlan {
        rows,
        new_visits,
        updates: updates.into_iter().collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::accounts::sites::SiteId;

    pub(crate) fn event(company: &str) -> NewEvent {
        NewEvent {
            site_id: SiteId(1),
            ts: 1,
            name: "pageview".into(),
            path: "/".into(),
            props: None,
            engaged_ms: None,
            visitor_hash: 1,
            previous_visitor_hash: None,
            company: Some(CompanyInfo {
                key: company.into(),
                name: company.into(),
                org: None,
                domain: None,
                asn: None,
                country: None,
                class: "business".into(),
                class_reason: None,
            }),
            class: "business".into(),
            country: None,
            source: None,
            channel: "direct".into(),
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            utm_term: None,
            utm_content: None,
            browser: None,
            os: None,
            device: "desktop".into(),
        }
    }

    /// SQLite computes a visit's start from its id (migration 0024), and readers find a
    /// period's visits as a range of ids: both hold only if the id begins with the start.
    #[test]
    fn a_visit_id_begins_with_its_start_and_falls_in_its_period() {
        for ts in [0, 1, 1_780_000_000_123, (1 << 41) - 1] {
            for tag in [0, 1, 1023] {
                let id = new_visit_id(ts, tag);
                assert_eq!(started_at_of(id), ts, "{ts} {tag}");
                let (lo, hi) = visit_ids_started(ts, ts + 1);
                assert!(lo <= id && id < hi, "{ts} {tag}: {lo} {id} {hi}");
                let (lo, hi) = visit_ids_started(ts + 1, ts + 2);
                assert!(id < lo && lo <= hi, "{ts} {tag}");
                assert!(visit_ids_started(ts - 1, ts).1 <= id);
            }
        }
        assert_eq!(visit_ids_started(0, i64::MAX).1, i64::MAX);
        assert_eq!(visit_ids_started(1 << 41, 1 << 42), (i64::MAX, i64::MAX));
    }

    #[test]
    fn missing_companies_come_once_each_in_key_order() {
        let batch = IngestBatch {
            events: [
                "domain:zeta.example",
                "domain:acme.example",
                "asn:64500:mid",
                "domain:acme.example",
            ]
            .map(event)
            .to_vec(),
            bots: Vec::new(),
        };
        let keys: Vec<&str> = missing_companies(&batch, &VisitCache::default())
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "asn:64500:mid",
                "domain:acme.example",
                "domain:zeta.example"
            ]
        );
    }
}
