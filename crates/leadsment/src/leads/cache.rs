//! What the dashboard keeps of a site's days between requests, in this process.
//!
//! Every figure the dashboard shows is a sum over pieces of a UTC day: a whole day, an hour,
//! or the stretch of one at a period's local edge. A piece read once stays good while the
//! versions of its hours (`site_hours`, which the event writer changes in the transaction of
//! every batch that touches the hour) stay the same, so a page reads the versions of its
//! hours (one small query), then only the pieces whose hours changed since: on a live site,
//! the latest hour's (a day that changed is merged again from its hours where those are
//! kept).
//!
//! Exact on every node: a node that has not seen another's batch reads the new version before
//! it reads the day, and the versions are read before the pieces, so a piece is never kept
//! under a version newer than what it counts. Companies are kept too: their rows are only
//! ever inserted.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;

use super::store::Company;
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError, sql};
use crate::tracking::rollups::hour_of;

/// How much the cache holds before it lets the least recently used pieces go, in (roughly)
/// bytes: a site with 10 million events a month keeps about 2 MB a day.
pub const DEFAULT_BUDGET: usize = 512 << 20;
/// Companies kept at most (about 200 bytes each); past it they are read again.
const MAX_COMPANIES: usize = 1_000_000;

/// A piece: of which site, what it holds (`kind`), which stretch, and anything else it
/// depends on (a page pattern, a company).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub site: i64,
    pub kind: &'static str,
    pub start: i64,
    pub end: i64,
    pub extra: String,
}

impl Key {
    pub fn new(site: SiteId, kind: &'static str, (start, end): (i64, i64)) -> Key {
        Key {
            site: site.0,
            kind,
            start,
            end,
            extra: String::new(),
        }
    }

    pub fn with(mut self, extra: impl Into<String>) -> Key {
        self.extra = extra.into();
        self
    }
}

struct Entry {
    version: Option<i64>,
    value: Arc<dyn Any + Send + Sync>,
    weight: usize,
    used: u64,
}

/// The versions of a site's UTC hours, as read for one page.
#[derive(Debug, Clone, Default)]
pub struct Versions(HashMap<i64, i64>);

impl Versions {
    /// One value for the versions of the UTC hours `[start, end)` overlaps: it changes when
    /// any of them does (the versions are random, so a mix of them is as good as they are).
    /// `None` when nothing was ever written there.
    pub fn of_range(&self, (start, end): (i64, i64)) -> Option<i64> {
        if end <= start {
            return None;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut any = false;
        for hour in hour_of(start)..=hour_of(end - 1) {
            let v = match self.0.get(&hour) {
                Some(v) => {
                    any = true;
                    *v as u64 ^ 0x9e37_79b9
                }
                None => 0x5bd1_e995,
            };
            h = (h ^ v).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
        }
        any.then_some(h as i64)
    }
}

/// The kept pieces and the sum of their weights.
#[derive(Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    weight: usize,
}

pub struct DayCache {
    entries: Mutex<Entries>,
    budget: usize,
    clock: AtomicU64,
    loads: AtomicU64,
    companies: Mutex<FxHashMap<i64, Arc<Company>>>,
    /// The pieces being read, each with the lock its readers queue on.
    gates: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    /// The sites being recounted after a rule change ([`super::warm::recount`]), each with
    /// whether it must go once more (the rules changed again meanwhile).
    recounts: Mutex<FxHashMap<i64, bool>>,
}

impl Default for DayCache {
    fn default() -> DayCache {
        DayCache::new(DEFAULT_BUDGET)
    }
}

impl DayCache {
    pub fn new(budget: usize) -> DayCache {
        DayCache {
            entries: Mutex::new(Entries::default()),
            budget,
            clock: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            companies: Mutex::new(FxHashMap::default()),
            gates: Mutex::new(HashMap::new()),
            recounts: Mutex::new(FxHashMap::default()),
        }
    }

    /// Marks `site` as being recounted; false when it already is (it will then go once
    /// more when done).
    pub fn start_recount(&self, site: SiteId) -> bool {
        let mut r = self.recounts.lock().unwrap_or_else(|e| e.into_inner());
        match r.get_mut(&site.0) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                r.insert(site.0, false);
                true
            }
        }
    }

    /// Ends a recount of `site`; true when it must go once more instead.
    pub fn recount_done(&self, site: SiteId) -> bool {
        let mut r = self.recounts.lock().unwrap_or_else(|e| e.into_inner());
        match r.get_mut(&site.0) {
            Some(again) if *again => {
                *again = false;
                true
            }
            _ => {
                r.remove(&site.0);
                false
            }
        }
    }

    /// Whether `site` is being recounted.
    pub fn recounting(&self, site: SiteId) -> bool {
        self.recounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&site.0)
    }

    /// The versions of the hours of `site`'s UTC days `[first, end)`.
    pub async fn versions(
        &self,
        db: &Db,
        site: SiteId,
        (first, end): (i64, i64),
    ) -> Result<Versions, StoreError> {
        let rows: Vec<(i64, i64)> = db
            .all(
                sql(
                    "SELECT hour, version FROM site_hours WHERE site_id = $1 AND hour >= $2 \
                     AND hour < $3",
                )
                .bind(site.0)
                .bind(first * 24)
                .bind(end * 24),
            )
            .await?;
        Ok(Versions(rows.into_iter().collect()))
    }

    /// The piece under `key` if it was read at `version`; otherwise `load`'s, kept.
    pub async fn get<V, F>(
        &self,
        key: Key,
        version: Option<i64>,
        weight: impl FnOnce(&V) -> usize,
        load: F,
    ) -> Result<Arc<V>, StoreError>
    where
        V: Any + Send + Sync,
        F: Future<Output = Result<V, StoreError>>,
    {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        if let Some(hit) = self.lookup::<V>(&key, version, now) {
            return Ok(hit);
        }
        // One read of a piece at a time: requests that miss it together (the first pages
        // after a start) wait for the first one's read rather than each reading it.
        let gate = Gate {
            cache: self,
            key: &key,
            lock: self.gates().entry(key.clone()).or_default().clone(),
        };
        let _turn = gate.lock.lock().await;
        if let Some(hit) = self.lookup::<V>(&key, version, now) {
            return Ok(hit);
        }
        let value = Arc::new(load.await?);
        let w = weight(&value);
        self.keep(key.clone(), version, value.clone(), w);
        Ok(value)
    }

    fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<tokio::sync::Mutex<()>>>> {
        self.gates.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The piece under `key` if it was read at `version`.
    pub fn peek<V: Any + Send + Sync>(&self, key: &Key, version: Option<i64>) -> Option<Arc<V>> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        self.lookup(key, version, now)
    }

    /// Keeps `value` under `key`, read at `version`.
    pub fn put_arc<V: Any + Send + Sync>(
        &self,
        key: Key,
        version: Option<i64>,
        value: Arc<V>,
        weight: usize,
    ) {
        self.keep(key, version, value, weight);
    }

    /// Keeps a piece just read (as used now: a read that took long must not make it the
    /// first to go), then lets the oldest go if over budget.
    fn keep(
        &self,
        key: Key,
        version: Option<i64>,
        value: Arc<dyn Any + Send + Sync>,
        weight: usize,
    ) {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        let entry = Entry {
            version,
            value,
            weight: weight + 64,
            used,
        };
        entries.weight += entry.weight;
        if let Some(old) = entries.map.insert(key, entry) {
            entries.weight -= old.weight;
        }
        self.shed(&mut entries);
    }

    /// The companies of `ids` already kept, and the ids of the others.
    pub fn companies(&self, ids: &[i64]) -> (FxHashMap<i64, Arc<Company>>, Vec<i64>) {
        let kept = self.companies.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
        let mut missing = Vec::new();
        for id in ids {
            match kept.get(id) {
                Some(c) => {
                    out.insert(*id, c.clone());
                }
                None => missing.push(*id),
            }
        }
        (out, missing)
    }

    pub fn remember_company(&self, c: Arc<Company>) {
        let mut kept = self.companies.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_COMPANIES {
            kept.clear();
        }
        kept.insert(c.id, c);
    }

    /// Roughly how many bytes the kept pieces take.
    pub fn weight(&self) -> usize {
        self.lock().weight
    }

    /// How many bytes the cache holds before it lets pieces go.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// How many pieces were read from the database since the start.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Forgets every piece of `sites` (their workspace's exclusions changed). The pieces'
    /// keys carry the hidden set's tag, so other nodes read anew as well; this frees the
    /// memory at once.
    pub fn forget_sites(&self, sites: &[SiteId]) {
        let mut entries = self.lock();
        let before = entries.map.len();
        entries
            .map
            .retain(|k, _| !sites.iter().any(|s| s.0 == k.site));
        if entries.map.len() != before {
            entries.weight = entries.map.values().map(|e| e.weight).sum();
        }
    }

    /// Forgets everything (the benchmark's cold reads).
    pub fn clear(&self) {
        *self.lock() = Entries::default();
        self.companies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn lookup<V: Any + Send + Sync>(
        &self,
        key: &Key,
        version: Option<i64>,
        now: u64,
    ) -> Option<Arc<V>> {
        let mut entries = self.lock();
        let e = entries.map.get_mut(key)?;
        if e.version != version {
            return None;
        }
        e.used = now;
        e.value.clone().downcast::<V>().ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves a map that is still whole.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the least recently used pieces until the rest fit the budget.
    fn shed(&self, entries: &mut Entries) {
        if entries.weight <= self.budget {
            return;
        }
        // Down to three quarters, so that the next pieces do not each sort the whole cache.
        let mut by_use: Vec<(u64, Key)> = entries
            .map
            .iter()
            .map(|(k, e)| (e.used, k.clone()))
            .collect();
        by_use.sort_by_key(|(used, _)| *used);
        for (_, key) in by_use {
            if entries.weight <= self.budget * 3 / 4 {
                break;
            }
            if let Some(e) = entries.map.remove(&key) {
                entries.weight -= e.weight;
            }
        }
    }
}

/// A turn at reading one piece; the last one out takes the piece's lock out of the map, also
/// when its request is dropped halfway (a closed tab).
struct Gate<'a> {
    cache: &'a DayCache,
    key: &'a Key,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        let mut gates = self.cache.gates();
        // The map's and ours: nobody else waits.
        if Arc::strong_count(&self.lock) <= 2 {
            gates.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(start: i64) -> Key {
        Key::new(SiteId(1), "test", (start, start + 1))
    }

    #[tokio::test]
    async fn a_piece_is_read_again_when_its_version_changes() {
        let cache = DayCache::new(1 << 20);
        let read = |n: i64| async move { Ok::<i64, StoreError>(n) };
        assert_eq!(
            *cache.get(key(0), Some(1), |_| 8, read(10)).await.unwrap(),
            10
        );
        assert_eq!(
            *cache.get(key(0), Some(1), |_| 8, read(11)).await.unwrap(),
            10
        );
        assert_eq!(
            *cache.get(key(0), Some(2), |_| 8, read(12)).await.unwrap(),
            12
        );
        assert_eq!(*cache.get(key(0), None, |_| 8, read(13)).await.unwrap(), 13);
        assert_eq!(cache.loads(), 3);
    }

    #[tokio::test]
    async fn a_piece_missed_at_once_is_read_once() {
        let cache = Arc::new(DayCache::new(1 << 20));
        let slow = || async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok::<i64, StoreError>(7)
        };
        let (a, b) = tokio::join!(
            cache.get(key(0), Some(1), |_| 8, slow()),
            cache.get(key(0), Some(1), |_| 8, slow()),
        );
        assert_eq!((*a.unwrap(), *b.unwrap()), (7, 7));
        assert_eq!(cache.loads(), 1);
        assert!(cache.gates().is_empty(), "no gate is left behind");
        // A failed read lets the next one try.
        let failed = cache
            .get(key(1), Some(1), |_: &i64| 8, async {
                Err(StoreError::from(sqlx::Error::RowNotFound))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(*cache.get(key(1), Some(1), |_| 8, slow()).await.unwrap(), 7);
        assert!(cache.gates().is_empty());
    }

    #[tokio::test]
    async fn a_read_dropped_halfway_leaves_no_gate() {
        let cache = DayCache::new(1 << 20);
        let never = std::future::pending::<Result<i64, StoreError>>();
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            cache.get(key(0), Some(1), |_| 8, never),
        )
        .await;
        assert!(dropped.is_err());
        assert!(cache.gates().is_empty());
        assert_eq!(cache.weight(), 0);
    }

    #[tokio::test]
    async fn forgetting_a_site_drops_its_pieces_only() {
        let cache = DayCache::new(1 << 20);
        let other = Key::new(SiteId(2), "test", (0, 1));
        cache.put_arc(key(0), Some(1), Arc::new(1_i64), 100);
        cache.put_arc(other.clone(), Some(1), Arc::new(2_i64), 100);
        cache.forget_sites(&[SiteId(1)]);
        assert!(cache.peek::<i64>(&key(0), Some(1)).is_none());
        assert_eq!(cache.peek::<i64>(&other, Some(1)).as_deref(), Some(&2));
        assert_eq!(cache.weight(), 164);
    }

    #[tokio::test]
    async fn the_least_recently_used_go_first_when_over_budget() {
        let cache = DayCache::new(1_000);
        let read = |n: i64| async move { Ok::<i64, StoreError>(n) };
        for i in 0..3 {
            cache.get(key(i), Some(1), |_| 200, read(i)).await.unwrap();
        }
        // Key 0 is used again, so key 1 is now the oldest.
        cache.get(key(0), Some(1), |_| 200, read(0)).await.unwrap();
        cache.get(key(3), Some(1), |_| 200, read(3)).await.unwrap();
        let before = cache.loads();
        cache.get(key(0), Some(1), |_| 200, read(0)).await.unwrap();
        assert_eq!(cache.loads(), before, "key 0 was kept");
        cache.get(key(1), Some(1), |_| 200, read(1)).await.unwrap();
        assert_eq!(cache.loads(), before + 1, "key 1 went");
    }
}
