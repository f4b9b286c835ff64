//! Paths by id: each site's paths are stored once, in `paths`, and events, visits and the
//! pageviews per path and company name them by id (migration 0024). The writer resolves a
//! batch's paths to ids before it writes, through its memory ([`VisitCache::path`]) and,
//! for those it has not seen, the store.

use std::collections::BTreeSet;

use super::model::IngestBatch;
use super::visit_cache::VisitCache;

/// The (site, path) pairs of a batch the cache has no id for, each once, in order (two nodes
/// inserting the same ones then take their locks in the same order).
pub fn missing<'b>(batch: &'b IngestBatch, cache: &VisitCache) -> Vec<(i64, &'b str)> {
    let set: BTreeSet<(i64, &str)> = batch
        .events
        .iter()
        .map(|e| (e.site_id.0, e.path.as_str()))
        .filter(|(site, path)| cache.path(*site, path).is_none())
        .collect();
    set.into_iter().collect()
}

/// The id of a path the batch resolved. Every path of a batch is resolved before its plan is
/// written, so a missing one is the writer's mistake; it is written as 0 (no path) rather
/// than failing the batch.
pub fn id(cache: &VisitCache, site: i64, path: &str) -> i64 {
    let id = cache.path(site, path);
    debug_assert!(id.is_some(), "path {path:?} of site {site} not resolved");
    id.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_come_once_each_in_order() {
        let mut events = Vec::new();
        for (site, path) in [(2, "/b"), (1, "/z"), (2, "/a"), (1, "/z"), (1, "/known")] {
            let mut e = crate::tracking::visits::tests::event("asn:1:x");
            e.site_id = crate::accounts::sites::SiteId(site);
            e.path = path.to_owned();
            events.push(e);
        }
        let batch = IngestBatch {
            events,
            bots: Vec::new(),
        };
        let mut cache = VisitCache::default();
        cache.remember_path(1, "/known", 5);
        assert_eq!(
            missing(&batch, &cache),
            vec![(1, "/z"), (2, "/a"), (2, "/b")]
        );
        assert_eq!(id(&cache, 1, "/known"), 5);
    }
}
