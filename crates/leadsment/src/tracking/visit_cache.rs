//! The event writer's memory of recent visits, and of the ids of known companies, visit
//! traits and paths.

use std::collections::HashMap;

use super::model::{ENGAGEMENT_LOOKBACK_MS, VISIT_TIMEOUT_MS, continues_visit};

/// The writer's memory of recent visits and known companies, so most events need no read
/// before their write.
///
/// On PostgreSQL, where several servers write, the store stays the truth: a miss reads it. On
/// SQLite, where this process is the only writer, the memory is *complete*: loaded from the
/// store at the first batch (and after a failed one), it holds every visit seen within
/// [`ENGAGEMENT_LOOKBACK_MS`], so a visitor's open visit is never looked up by hash in the
/// store (which keeps no index for that). It holds at most [`MAX_VISITS`] visits; past that
/// the least recently seen half is forgotten, and their visitors' next events start new visits.
#[derive(Debug)]
pub struct VisitCache {
    visits: HashMap<(i64, i64), (i64, i64)>,
    companies: HashMap<String, i64>,
    /// Visit traits' ids by their key ([`super::traits::key`]).
    traits: HashMap<String, i64>,
    /// Paths' ids by site and path.
    paths: HashMap<i64, HashMap<String, i64>>,
    complete: bool,
    max_visits: usize,
}

impl Default for VisitCache {
    fn default() -> VisitCache {
        VisitCache::with_limit(MAX_VISITS)
    }
}

/// Most visits held in memory (about 70 MB).
pub const MAX_VISITS: usize = 1_500_000;
/// Most companies, most combinations of visit traits, and most paths, held in memory.
const MAX_COMPANIES: usize = 200_000;

impl VisitCache {
    /// A cache that holds at most `max_visits` visits.
    pub fn with_limit(max_visits: usize) -> VisitCache {
        VisitCache {
            visits: HashMap::new(),
            companies: HashMap::new(),
            traits: HashMap::new(),
            paths: HashMap::new(),
            complete: false,
            max_visits: max_visits.max(2),
        }
    }

    /// The open visit of this visitor on this site at `ts`, if the cache knows one.
    pub fn open_visit(&self, site: i64, visitor: i64, ts: i64) -> Option<i64> {
        self.visits
            .get(&(site, visitor))
            .filter(|(_, last)| ts - last <= VISIT_TIMEOUT_MS)
            .map(|(id, _)| *id)
    }

    /// The visit of this visitor that an event named `name` at `ts` continues, if the cache
    /// knows one.
    pub fn visit_for(&self, site: i64, visitor: i64, name: &str, ts: i64) -> Option<i64> {
        self.visits
            .get(&(site, visitor))
            .filter(|(_, last)| continues_visit(name, ts - last))
            .map(|(id, _)| *id)
    }

    pub fn remember_visit(&mut self, site: i64, visitor: i64, id: i64, ts: i64) {
        if self.visits.len() >= self.max_visits && !self.visits.contains_key(&(site, visitor)) {
            self.forget_old_visits(ts);
        }
        let entry = self.visits.entry((site, visitor)).or_insert((id, ts));
        *entry = (id, entry.1.max(ts));
    }

    /// Makes room: visits no event can continue any more go first (when the cache is not
    /// complete, those past the visit timeout: the store answers for older ones), then, if
    /// that is not enough, the least recently seen half.
    fn forget_old_visits(&mut self, now: i64) {
        let kept_for = if self.complete {
            ENGAGEMENT_LOOKBACK_MS
        } else {
            VISIT_TIMEOUT_MS
        };
        self.visits.retain(|_, (_, last)| now - *last <= kept_for);
        if self.visits.len() < self.max_visits * 3 / 4 {
            return;
        }
        let mut seen: Vec<i64> = self.visits.values().map(|(_, last)| *last).collect();
        let middle = seen.len() / 2;
        let (_, cut, _) = seen.select_nth_unstable(middle);
        let cut = *cut;
        self.visits.retain(|_, (_, last)| *last > cut);
        if self.complete {
            tracing::warn!(
                kept = self.visits.len(),
                limit = self.max_visits,
                "the event writer holds a limited number of visits in memory; the least \
                 recently seen half were forgotten, and their visitors' next events start new visits"
            );
        }
    }

    /// Whether the cache holds every recent visit (see the type's documentation).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Says that every recent visit has been loaded.
    pub fn mark_complete(&mut self) {
        self.complete = true;
    }

    /// Visits held (for tests and metrics).
    pub fn visits_held(&self) -> usize {
        self.visits.len()
    }

    pub fn company(&self, key: &str) -> Option<i64> {
        self.companies.get(key).copied()
    }

    /// Remembers a company's id; past the limit, room is made at the next batch
    /// ([`VisitCache::make_room`]).
    pub fn remember_company(&mut self, key: &str, id: i64) {
        self.companies.insert(key.to_owned(), id);
    }

    /// Makes room for a batch's companies and traits: each map past [`MAX_COMPANIES`] is
    /// emptied here, before the batch looks anything up. Emptied while a batch remembers what
    /// it needs, ids it had just remembered would be missing from its plan (a visit without
    /// its traits, an event without its company).
    pub fn make_room(&mut self) {
        if self.companies.len() >= MAX_COMPANIES {
            self.companies.clear();
        }
        if self.traits.len() >= MAX_COMPANIES {
            self.traits.clear();
        }
        if self.paths.values().map(HashMap::len).sum::<usize>() >= MAX_COMPANIES {
            self.paths.clear();
        }
    }

    /// The id of a path of a site.
    pub fn path(&self, site: i64, path: &str) -> Option<i64> {
        self.paths.get(&site)?.get(path).copied()
    }

    pub fn remember_path(&mut self, site: i64, path: &str, id: i64) {
        self.paths
            .entry(site)
            .or_default()
            .insert(path.to_owned(), id);
    }

    pub fn traits(&self, key: &str) -> Option<i64> {
        self.traits.get(key).copied()
    }

    pub fn remember_traits(&mut self, key: &str, id: i64) {
        self.traits.insert(key.to_owned(), id);
    }

    /// Forgets everything (after a failed transaction, whose ids may not exist); a complete
    /// cache is loaded again before the next batch.
    pub fn clear(&mut self) {
        self.visits.clear();
        self.companies.clear();
        self.traits.clear();
        self.paths.clear();
        self.complete = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn visits_continue_within_their_window() {
        let mut cache = VisitCache::default();
        cache.remember_visit(1, 7, 100, 0);
        assert_eq!(cache.visit_for(1, 7, "pageview", 30 * MIN), Some(100));
        assert_eq!(cache.visit_for(1, 7, "pageview", 31 * MIN), None);
        assert_eq!(
            cache.visit_for(1, 7, "engagement", 23 * 60 * MIN),
            Some(100)
        );
        assert_eq!(cache.visit_for(1, 7, "engagement", 25 * 60 * MIN), None);
        assert_eq!(cache.visit_for(2, 7, "pageview", 0), None, "another site");
    }

    #[test]
    fn a_full_cache_forgets_expired_visits_first_then_the_least_recent_half() {
        let mut cache = VisitCache::with_limit(100);
        cache.mark_complete();
        // 40 visits nobody can continue any more, then 60 recent ones.
        for v in 0..40 {
            cache.remember_visit(1, v, v, 0);
        }
        let day = ENGAGEMENT_LOOKBACK_MS;
        for v in 40..100 {
            cache.remember_visit(1, v, v, 2 * day + v);
        }
        assert_eq!(cache.visits_held(), 100);
        // Room is made by dropping the expired ones alone.
        cache.remember_visit(1, 100, 100, 2 * day + 100);
        assert_eq!(cache.visits_held(), 61);
        assert_eq!(cache.visit_for(1, 3, "engagement", 2 * day), None);
        assert_eq!(cache.visit_for(1, 40, "pageview", 2 * day + 100), Some(40));
        // Filled with live visits, the older half goes.
        for v in 101..140 {
            cache.remember_visit(1, v, v, 2 * day + v);
        }
        assert_eq!(cache.visits_held(), 100);
        cache.remember_visit(1, 140, 140, 2 * day + 140);
        assert!(cache.visits_held() <= 51, "{}", cache.visits_held());
        assert_eq!(
            cache.visit_for(1, 139, "pageview", 2 * day + 140),
            Some(139)
        );
        assert_eq!(
            cache.visit_for(1, 140, "pageview", 2 * day + 140),
            Some(140)
        );
        assert_eq!(cache.visit_for(1, 41, "pageview", 2 * day + 140), None);
        assert!(
            cache.is_complete(),
            "forgetting is not a reason to read the store"
        );
    }

    #[test]
    fn an_incomplete_cache_keeps_only_open_visits_when_full() {
        // The store answers for anything older, so nothing past the session timeout is kept.
        let mut cache = VisitCache::with_limit(4);
        for v in 0..4 {
            cache.remember_visit(1, v, v, v);
        }
        cache.remember_visit(1, 9, 9, 31 * MIN);
        assert_eq!(cache.visits_held(), 1);
        assert_eq!(cache.open_visit(1, 9, 31 * MIN), Some(9));
    }

    #[test]
    fn a_known_visit_is_updated_without_eviction() {
        let mut cache = VisitCache::with_limit(2);
        cache.remember_visit(1, 1, 10, 0);
        cache.remember_visit(1, 2, 20, 0);
        cache.remember_visit(1, 2, 20, MIN);
        assert_eq!(cache.visits_held(), 2);
        assert_eq!(cache.open_visit(1, 1, MIN), Some(10));
    }

    #[test]
    fn ids_remembered_for_a_batch_survive_the_limit() {
        let mut cache = VisitCache::default();
        // One short of the limit: the batch's own ids take the maps past it.
        for i in 0..MAX_COMPANIES - 1 {
            cache.remember_company(&format!("c{i}"), i as i64);
            cache.remember_traits(&format!("t{i}"), i as i64);
            cache.remember_path(i as i64 % 7, &format!("/p{i}"), i as i64);
        }
        cache.make_room();
        // One batch remembers what it needs, past the limit or not: every id stays until
        // its plan has read it.
        for key in ["a", "b", "c"] {
            cache.remember_company(key, 1);
            cache.remember_traits(key, 1);
            cache.remember_path(3, key, 1);
        }
        for key in ["a", "b", "c"] {
            assert_eq!(cache.company(key), Some(1), "{key}");
            assert_eq!(cache.traits(key), Some(1), "{key}");
            assert_eq!(cache.path(3, key), Some(1), "{key}");
        }
        // The next batch finds the maps past the limit and empties them first.
        cache.make_room();
        assert_eq!((cache.company("a"), cache.path(3, "a")), (None, None));
    }

    #[test]
    fn clearing_makes_the_cache_incomplete() {
        let mut cache = VisitCache::default();
        cache.mark_complete();
        cache.remember_visit(1, 1, 10, 0);
        cache.clear();
        assert!(!cache.is_complete());
        assert_eq!(cache.visits_held(), 0);
    }
}
