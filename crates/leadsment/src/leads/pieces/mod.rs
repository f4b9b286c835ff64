//! The feed's figures as pieces of UTC days kept in the [`DayCache`]: per company, a whole
//! day's sums from the rollups (with the score's page rules counted), the hours at a period's
//! edge from the raw tables, a page pattern's pageviews, a company's pages. A request reads the
//! versions of its days, then each piece, from memory unless its day changed.

mod hours;
pub mod site;

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::cache::{DayCache, Key, Versions};
use super::exclusions::Excluded;
use super::pattern::{self, PathPattern};
use super::rules::{MAX_PAGE_RULES, ScoreRules};
use super::score::Activity;
use super::span::Span;
use super::store::{self, Company, rollups};
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError};
use crate::tracking::rollups::{DAY_MS, HOUR_MS};

/// What a company did in one piece.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub visits: i64,
    pub visitors: i64,
    pub pageviews: i64,
    pub engaged_ms: i64,
    pub last_seen_at: i64,
    /// Pageviews matching each of the site's page rules (whole days only: the score's
    /// window has no edges).
    pub rule_hits: [i64; MAX_PAGE_RULES],
}

impl Sums {
    pub fn add(&mut self, o: &Sums) {
        self.visits += o.visits;
        self.visitors += o.visitors;
        self.pageviews += o.pageviews;
        self.engaged_ms += o.engaged_ms;
        self.last_seen_at = self.last_seen_at.max(o.last_seen_at);
        for (a, b) in self.rule_hits.iter_mut().zip(o.rule_hits) {
            *a += b;
        }
    }

    pub fn activity(&self, rules: &ScoreRules) -> Activity {
        Activity {
            visits: self.visits,
            visitors: self.visitors,
            engaged_ms: self.engaged_ms,
            last_visit_at: self.last_seen_at,
            rule_hits: self.rule_hits[..rules.pages.len().min(MAX_PAGE_RULES)].to_vec(),
        }
    }
}

pub type Pieces = FxHashMap<i64, Sums>;

/// Some whole UTC days, `[first, end)`, and every company's sums over them.
type DaysSums = ((i64, i64), Arc<Pieces>);

/// One request's reads: the site, its hours' versions, and the site's paths once read.
pub struct Reads<'a> {
    pub db: &'a Db,
    pub cache: &'a DayCache,
    pub site: SiteId,
    pub versions: Versions,
    /// The time the page is read at.
    now_ms: i64,
    /// From this UTC day on (yesterday), days are merged from their hours.
    recent_from: i64,
    last_days: std::sync::Mutex<Option<DaysSums>>,
    paths: tokio::sync::OnceCell<Arc<Vec<String>>>,
    /// The paths matching each set of patterns asked for, by the patterns.
    matched: std::sync::Mutex<FxHashMap<String, Arc<Vec<String>>>>,
    /// The companies the workspace hides ([`crate::leads::exclusions`]), and their tag.
    pub excluded: Excluded,
    excluded_tag: String,
    /// The site's score rules, and their tag: the pieces that count page rules are kept
    /// under it, so new rules never meet pieces counted with the old ones.
    pub rules: ScoreRules,
    rules_tag: String,
}

impl<'a> Reads<'a> {
    /// Reads the versions of the UTC days `[first, end)`, which every later read must lie in,
    /// as seen at `now_ms`.
    pub async fn new(
        db: &'a Db,
        cache: &'a DayCache,
        site: SiteId,
        days: (i64, i64),
        now_ms: i64,
    ) -> Result<Reads<'a>, StoreError> {
        let (versions, excluded, rules) = futures_util::try_join!(
            cache.versions(db, site, days),
            store::exclusions::excluded(db, site),
            store::score_rules::rules(db, site),
        )?;
        Ok(Reads {
            rules_tag: rules.tag(),
            rules,
            excluded_tag: excluded.tag(),
            excluded,
            db,
            cache,
            site,
            versions,
            now_ms,
            recent_from: now_ms.div_euclid(DAY_MS) - 1,
            last_days: std::sync::Mutex::new(None),
            paths: tokio::sync::OnceCell::new(),
            matched: Default::default(),
        })
    }

    /// The site's paths matching any of `patterns`: matched once per read however many days
    /// ask, and off the async threads, since a site's paths and patterns are its users' to
    /// choose and matching thousands of long paths against many patterns takes a while.
    async fn paths_matching(&self, patterns: &[String]) -> Result<Arc<Vec<String>>, StoreError> {
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
                .filter(|p| patterns.iter().any(|pat| pattern::matches(pat, p)))
                .cloned()
                .collect::<Vec<String>>()
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

    /// The key and version of a piece. The site's figures (kinds `site…`) leave the hidden
    /// companies out, so their keys carry the hidden set's tag; the per-company pieces hold
    /// every company and are filtered after.
    fn key(&self, kind: &'static str, range: (i64, i64)) -> (Key, Option<i64>) {
        let key = Key::new(self.site, kind, range);
        let key = match kind {
            k if k.starts_with("site") => key.with(self.excluded_tag.as_str()),
            "company_day" | "company_hours" | "company_hour" => key.with(self.rules_tag.as_str()),
            _ => key,
        };
        (key, self.versions.of_range(range))
    }

    /// Those of `parts` whose `kind` of piece is not kept under their versions.
    fn missing<V: std::any::Any + Send + Sync>(
        &self,
        kind: &'static str,
        parts: &[(i64, i64)],
    ) -> Vec<(i64, i64)> {
        parts
            .iter()
            .filter(|p| {
                let (key, version) = self.key(kind, **p);
                self.cache.peek::<V>(&key, version).is_none()
            })
            .copied()
            .collect()
    }

    /// Keeps the pieces of `read` (one read over a stretch) that are among `missing`.
    fn keep_missing<V: std::any::Any + Send + Sync>(
        &self,
        kind: &'static str,
        missing: &[(i64, i64)],
        read: Vec<((i64, i64), V)>,
        weigh: fn(&V) -> usize,
    ) {
        for (part, piece) in read {
            if missing.contains(&part) {
                let (key, version) = self.key(kind, part);
                let w = weigh(&piece);
                self.cache.put_arc(key, version, Arc::new(piece), w);
            }
        }
    }

    /// Each company's sums over a whole UTC day, page rules counted: a recent day's merged
    /// from its hours ([`hours`]), an older one's from the rollups.
    async fn day(&self, day: i64) -> Result<Arc<Pieces>, StoreError> {
        let (key, version) = self.key("company_day", (day * DAY_MS, (day + 1) * DAY_MS));
        self.cache
            .get(key, version, weigh, async {
                if day >= self.recent_from {
                    return self
                        .sums_from_hours((day * DAY_MS, (day + 1) * DAY_MS))
                        .await;
                }
                let days = (day, day + 1);
                let mut out: Pieces = rollups::day_sums(self.db, self.site, days, None)
                    .await?
                    .into_iter()
                    .map(|(id, s)| {
                        let sums = Sums {
                            visits: s.visits,
                            visitors: s.visitors,
                            pageviews: s.pageviews,
                            engaged_ms: s.engaged_ms,
                            last_seen_at: s.last_seen_at,
                            rule_hits: Default::default(),
                        };
                        (id, sums)
                    })
                    .collect();
                for (i, rule) in self.rules.pages.iter().enumerate() {
                    let paths = self.paths_matching(&rule.patterns).await?;
                    if paths.is_empty() {
                        continue;
                    }
                    let hits = rollups::path_hits(self.db, self.site, days, &paths, None).await?;
                    for (id, n) in hits {
                        out.entry(id).or_default().rule_hits[i] = n;
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Each company's sums over `[start, end)` (inside one UTC day), from the raw tables (a
    /// recent day's from its hours).
    async fn edge(&self, range: (i64, i64)) -> Result<Arc<Pieces>, StoreError> {
        let (key, version) = self.key("company_edge", range);
        self.cache
            .get(key, version, weigh, async {
                if range.0.div_euclid(DAY_MS) >= self.recent_from {
                    return self.sums_from_hours(range).await;
                }
                let mut out = Pieces::default();
                for c in store::company_visits(self.db, self.site, range, None, None).await? {
                    let s = out.entry(c.id).or_default();
                    s.visits = c.visits;
                    s.visitors = c.visitors;
                    s.engaged_ms = c.engaged_ms;
                    s.last_seen_at = c.last_seen_at;
                }
                for (id, p) in store::company_pageviews(self.db, self.site, range, None).await? {
                    out.entry(id).or_default().pageviews = p.pageviews;
                }
                Ok(out)
            })
            .await
    }

    /// Every company's sums over the whole UTC days `[first, end)`: the days before the last
    /// merged once and kept (under the versions of all of them), the last day added. The feed
    /// asks twice (its period, the score's window), mostly for the same days: the last answer
    /// is kept for the request.
    async fn days_sums(&self, (first, end): (i64, i64)) -> Result<Arc<Pieces>, StoreError> {
        if let Some((days, sums)) = &*self.last_days.lock().unwrap_or_else(|e| e.into_inner())
            && *days == (first, end)
        {
            return Ok(sums.clone());
        }
        if first >= end {
            return Ok(Arc::default());
        }
        let last = end - 1;
        let mut out = if first < last {
            let key = Key::new(self.site, "company_days", (first * DAY_MS, last * DAY_MS))
                .with(self.rules_tag.as_str());
            let version = self.versions.of_range((first * DAY_MS, last * DAY_MS));
            let merged = self
                .cache
                .get(key, version, weigh, async {
                    let mut m = Pieces::default();
                    for day in first..last {
                        merge(&mut m, &*self.day(day).await?);
                    }
                    Ok(m)
                })
                .await?;
            (*merged).clone()
        } else {
            Pieces::default()
        };
        merge(&mut out, &*self.day(last).await?);
        let out = Arc::new(out);
        *self.last_days.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(((first, end), out.clone()));
        Ok(out)
    }

    /// Every company's sums over `span`: those with a visit started in it, and the others'
    /// pageviews (which a caller may want to drop).
    pub async fn span_sums(&self, span: &Span) -> Result<Arc<Pieces>, StoreError> {
        let days = self.days_sums(span.days).await?;
        if span.raw.is_empty() {
            return Ok(days);
        }
        let mut out = (*days).clone();
        for range in &span.raw {
            for piece in split_by_day(*range) {
                merge(&mut out, &*self.edge(piece).await?);
            }
        }
        Ok(Arc::new(out))
    }

    /// Each company's sums over the UTC days `[first, end)` of the score's window; only those
    /// with a visit there (`visits > 0`) have a score.
    pub async fn activity(&self, days: (i64, i64)) -> Result<Arc<Pieces>, StoreError> {
        self.days_sums(days).await
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

    /// The companies of `ids`, kept once read: their rows are only ever inserted.
    pub async fn companies(&self, ids: &[i64]) -> Result<FxHashMap<i64, Arc<Company>>, StoreError> {
        let (mut out, missing) = self.cache.companies(ids);
        for c in store::companies(self.db, &missing).await? {
            let c = Arc::new(c);
            self.cache.remember_company(c.clone());
            out.insert(c.id, c);
        }
        Ok(out)
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

fn merge(into: &mut Pieces, piece: &Pieces) {
    for (id, s) in piece {
        into.entry(*id).or_default().add(s);
    }
}

fn weigh(p: &Pieces) -> usize {
    p.len() * (std::mem::size_of::<(i64, Sums)>() + 16)
}

fn weigh_counts(p: &FxHashMap<i64, i64>) -> usize {
    p.len() * 32
}

/// The pieces of `span`: its whole UTC days and its edges, each inside one UTC day, in order.
pub fn ranges(span: &Span) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = (span.days.0..span.days.1)
        .map(|d| (d * DAY_MS, (d + 1) * DAY_MS))
        .collect();
    for r in &span.raw {
        out.extend(split_by_day(*r));
    }
    out.sort_unstable();
    out
}

/// Whether a piece is a whole UTC day, which the rollups hold (the others are read raw).
fn is_whole_day((start, end): (i64, i64)) -> bool {
    end - start == DAY_MS && start.rem_euclid(DAY_MS) == 0
}

/// `[start, end)` cut at UTC midnights: the pieces of raw reads are each inside one day.
pub fn split_by_day(range: (i64, i64)) -> Vec<(i64, i64)> {
    cut(range, DAY_MS)
}

/// `[start, end)` cut at UTC hours.
fn hours(range: (i64, i64)) -> Vec<(i64, i64)> {
    cut(range, HOUR_MS)
}

/// `[start, end)` cut at the multiples of `step` (a UTC hour, a UTC day).
pub fn cut((start, end): (i64, i64), step: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let next = ((at.div_euclid(step) + 1) * step).min(end);
        out.push((at, next));
        at = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_reads_are_cut_at_utc_midnight() {
        let d = 20_000 * DAY_MS;
        assert_eq!(split_by_day((d - 5, d + 5)), vec![(d - 5, d), (d, d + 5)]);
        assert_eq!(split_by_day((d, d + DAY_MS)), vec![(d, d + DAY_MS)]);
        assert!(split_by_day((d, d)).is_empty());
    }
}
