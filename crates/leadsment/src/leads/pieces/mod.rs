//! The feed's figures as pieces of UTC days kept in the [`DayCache`]: per company, a whole
//! day's sums from the rollups (with the score's page rules counted), the hours at a period's
//! edge from the raw tables, a page pattern's pageviews, a company's pages. A request reads the
//! versions of its days, then each piece, from memory unless its day changed.

mod hours;
mod pages;
pub mod site;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::cache::{DayCache, Key, Versions};
use super::exclusions::Excluded;
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
    paths: tokio::sync::OnceCell<Arc<Vec<(i64, String)>>>,
    /// The paths matching each set of patterns asked for, by the patterns.
    matched: std::sync::Mutex<FxHashMap<String, Arc<Vec<i64>>>>,
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

fn merge(into: &mut Pieces, piece: &Pieces) {
    for (id, s) in piece {
        into.entry(*id).or_default().add(s);
    }
}

fn weigh(p: &Pieces) -> usize {
    p.len() * (std::mem::size_of::<(i64, Sums)>() + 16)
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
