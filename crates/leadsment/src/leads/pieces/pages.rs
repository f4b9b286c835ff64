//! The pieces about pages: a page pattern's pageviews per company, a company's most viewed
//! pages, and the site's paths matching a set of patterns (the page filter's and the score's
//! page rules'), matched once per read.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{DAY_MS, Reads, is_whole_day, ranges, split_by_day};
use crate::leads::cache::Key;
use crate::leads::pattern::{self, PathPattern};
use crate::leads::span::Span;
use crate::leads::store::{self, rollups};
use crate::store::StoreError;

impl Reads<'_> {
    /// The site's paths matching any of `patterns`: matched once per read however many days
    /// ask, and off the async threads, since a site's paths and patterns are its users' to
    /// choose and matching thousands of long paths against many patterns takes a while.
    pub(super) async fn paths_matching(
        &self,
        patterns: &[String],
    ) -> Result<Arc<Vec<i64>>, StoreError> {
        let key = patterns.join("\n");
        if let Some(found) = self
            .matched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let all = self
            .paths
            .get_or_try_init(|| async {
                rollups::site_paths(self.db, self.site).await.map(Arc::new)
            })
            .await?
            .clone();
        let patterns = patterns.to_vec();
        let found = tokio::task::spawn_blocking(move || {
            all.iter()
                .filter(|(_, p)| patterns.iter().any(|pat| pattern::matches(pat, p)))
                .map(|(id, _)| *id)
                .collect::<Vec<i64>>()
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("matching page patterns failed: {e}")))?;
        let found = Arc::new(found);
        self.matched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }

    /// Pageviews matching `page` per company over `span`.
    pub async fn page_hits(
        &self,
        span: &Span,
        page: &PathPattern,
    ) -> Result<FxHashMap<i64, i64>, StoreError> {
        let mut out: FxHashMap<i64, i64> = FxHashMap::default();
        for range in ranges(span) {
            if range.0.div_euclid(DAY_MS) >= self.recent_from {
                for (id, n) in self.hits_from_hours(range, page).await? {
                    *out.entry(id).or_default() += n;
                }
                continue;
            }
            let (key, version) = self.key("page_hits", range);
            let hits = self
                .cache
                .get(key.with(page.as_str()), version, weigh_counts, async {
                    if is_whole_day(range) {
                        let paths = self.paths_matching(&[page.as_str().to_owned()]).await?;
                        let day = range.0.div_euclid(DAY_MS);
                        let hits =
                            rollups::path_hits(self.db, self.site, (day, day + 1), &paths, None)
                                .await?;
                        Ok(hits.into_iter().collect())
                    } else {
                        let rows =
                            store::company_pageviews(self.db, self.site, range, Some(page)).await?;
                        Ok(rows
                            .into_iter()
                            .filter(|(_, p)| p.page_hits > 0)
                            .map(|(id, p)| (id, p.page_hits))
                            .collect())
                    }
                })
                .await?;
            for (id, n) in hits.iter() {
                *out.entry(*id).or_default() += n;
            }
        }
        Ok(out)
    }

    /// The most viewed pages over `span` of each of `companies`, most viewed first. Each
    /// company's pages of the span's days before the last are summed once and kept (under the
    /// versions of those days); the last day's and the edges' are added per read. A page
    /// among the first `per_company` either has views in those added pieces or is among the
    /// kept sum's first `per_company`, so only those are weighed.
    pub async fn top_pages(
        &self,
        span: &Span,
        companies: &[i64],
        per_company: usize,
    ) -> Result<HashMap<i64, Vec<(String, i64)>>, StoreError> {
        let closed = (span.days.0, (span.days.1 - 1).max(span.days.0));
        let mut open: Vec<(i64, i64)> = Vec::new();
        if span.days.0 < span.days.1 {
            open.push(((span.days.1 - 1) * DAY_MS, span.days.1 * DAY_MS));
        }
        for range in &span.raw {
            open.extend(split_by_day(*range));
        }

        // The kept sums of the closed days, made for the companies without one.
        let version = self
            .versions
            .of_range((closed.0 * DAY_MS, closed.1 * DAY_MS));
        let summed_key = |id: i64| {
            Key::new(
                self.site,
                "company_pages_sum",
                (closed.0 * DAY_MS, closed.1 * DAY_MS),
            )
            .with(id.to_string())
        };
        let mut sums: FxHashMap<i64, Arc<PageSums>> = FxHashMap::default();
        let mut missing = Vec::new();
        for id in companies {
            match self.cache.peek::<PageSums>(&summed_key(*id), version) {
                Some(s) => {
                    sums.insert(*id, s);
                }
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            let days: Vec<(i64, i64)> = (closed.0..closed.1)
                .map(|d| (d * DAY_MS, (d + 1) * DAY_MS))
                .collect();
            let pieces = self.company_pages(&days, &missing).await?;
            let mut made: FxHashMap<i64, FxHashMap<String, i64>> = FxHashMap::default();
            for (id, pages) in &pieces {
                let m = made.entry(*id).or_default();
                for (p, n) in pages.iter() {
                    *m.entry(p.clone()).or_default() += n;
                }
            }
            for id in missing {
                let counts = made.remove(&id).unwrap_or_default();
                let s = Arc::new(PageSums::new(counts, per_company));
                let weight = s.counts.keys().map(|p| p.len() + 48).sum();
                self.cache
                    .put_arc(summed_key(id), version, s.clone(), weight);
                sums.insert(id, s);
            }
        }

        // The open pieces, added.
        let mut added: FxHashMap<i64, FxHashMap<String, i64>> = FxHashMap::default();
        for (id, pages) in self.company_pages(&open, companies).await? {
            let m = added.entry(id).or_default();
            for (p, n) in pages.iter() {
                *m.entry(p.clone()).or_default() += n;
            }
        }
        let mut out = HashMap::new();
        for id in companies {
            let kept = sums.get(id);
            let extra = added.remove(id).unwrap_or_default();
            let mut pages: Vec<(String, i64)> = Vec::new();
            for (p, n) in &extra {
                let before = kept.and_then(|k| k.counts.get(p)).copied().unwrap_or(0);
                pages.push((p.clone(), before + n));
            }
            if let Some(k) = kept {
                for (p, n) in &k.first {
                    if !extra.contains_key(p) {
                        pages.push((p.clone(), *n));
                    }
                }
            }
            pages.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            pages.truncate(per_company);
            if !pages.is_empty() {
                out.insert(*id, pages);
            }
        }
        Ok(out)
    }

    /// Each company's pages in each of `ranges` (whole UTC days or pieces of one), kept per
    /// piece and company, read for those missing.
    async fn company_pages(
        &self,
        ranges: &[(i64, i64)],
        companies: &[i64],
    ) -> Result<Vec<(i64, Arc<Vec<(String, i64)>>)>, StoreError> {
        let mut kept = Vec::new();
        for range in ranges {
            let range = *range;
            let version = self.versions.of_range(range);
            let key = |id: i64| Key::new(self.site, "company_pages", range).with(id.to_string());
            let mut missing = Vec::new();
            for id in companies {
                match self.cache.peek::<Vec<(String, i64)>>(&key(*id), version) {
                    Some(pages) => kept.push((*id, pages)),
                    None => missing.push(*id),
                }
            }
            if missing.is_empty() {
                continue;
            }
            let day = range.0.div_euclid(DAY_MS);
            let rows = if day >= self.recent_from {
                self.pages_from_hours(range, &missing).await?
            } else if is_whole_day(range) {
                rollups::company_paths(self.db, self.site, (day, day + 1), &missing).await?
            } else {
                store::raw_company_paths(self.db, self.site, range, &missing).await?
            };
            let mut read: HashMap<i64, Vec<(String, i64)>> =
                missing.iter().map(|id| (*id, Vec::new())).collect();
            for (id, path, n) in rows {
                read.entry(id).or_default().push((path, n));
            }
            for (id, pages) in read {
                let weight = pages.iter().map(|(p, _)| p.len() + 32).sum();
                let pages = Arc::new(pages);
                self.cache.put_arc(key(id), version, pages.clone(), weight);
                kept.push((id, pages));
            }
        }
        Ok(kept)
    }
}

/// A company's pageviews per path over some days, and its most viewed.
struct PageSums {
    counts: FxHashMap<String, i64>,
    first: Vec<(String, i64)>,
}

impl PageSums {
    fn new(counts: FxHashMap<String, i64>, n: usize) -> PageSums {
        let mut first: Vec<(String, i64)> = counts.iter().map(|(p, c)| (p.clone(), *c)).collect();
        first.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        first.truncate(n);
        PageSums { counts, first }
    }
}

fn weigh_counts(p: &FxHashMap<i64, i64>) -> usize {
    p.len() * 32
}
