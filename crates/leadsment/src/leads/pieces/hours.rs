//! The feed's recent days (today and yesterday, which a site in use keeps changing), whole or
//! up to a period's local edge, merged from pieces of one UTC hour each (or of part of one), read from the raw visits and events: a batch changes the
//! version of the hours it touched, so only those are read again, not the day's rollups.
//! An hour's piece keeps each company's visitor hashes (so that the day's visitors are the
//! distinct hashes of its hours, as the rollups count them) and pageviews per path (for the
//! day's top pages and a page pattern's hits).

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Pieces, Reads, Sums, hours};
use crate::leads::pattern::PathPattern;
use crate::leads::rules::MAX_PAGE_RULES;
use crate::store::{StoreError, sql};
use crate::tracking::rollups::HOUR_MS;
use crate::tracking::visits::visit_ids_started;

/// What one company did in an hour.
#[derive(Debug, Clone, Default)]
struct InHour {
    sums: Sums,
    /// The distinct visitor hashes of its visits, sorted.
    hashes: Vec<i64>,
    /// Pageviews per path.
    paths: Vec<(String, i64)>,
}

type Hour = FxHashMap<i64, InHour>;

/// Per company: its sums over some hours and the distinct visitor hashes (sorted).
type Merged = FxHashMap<i64, (Sums, Vec<i64>)>;

impl Reads<'_> {
    /// Each company's sums over `range` (inside one recent UTC day), merged from its hours:
    /// those before the hour before now merged once and kept (with their visitor hashes), the
    /// later ones added per read, their visitors counted against the kept hashes.
    pub(super) async fn sums_from_hours(&self, range: (i64, i64)) -> Result<Pieces, StoreError> {
        let parts = hours(range);
        let hours = self.hour_pieces(&parts).await?;
        let settled = (self.now_ms.div_euclid(HOUR_MS) - 1) * HOUR_MS;
        let open = parts.iter().take_while(|p| p.1 <= settled).count();
        let closed = (range.0, parts[..open].last().map_or(range.0, |p| p.1));
        let (key, version) = self.key("company_hours", closed);
        let kept = self
            .cache
            .get(key, version, weigh_merged, async {
                let mut merged = Merged::default();
                for hour in &hours[..open] {
                    for (id, c) in hour.iter() {
                        let m = merged.entry(*id).or_default();
                        m.0.add(&c.sums);
                        m.1.extend_from_slice(&c.hashes);
                    }
                }
                for (sums, hashes) in merged.values_mut() {
                    hashes.sort_unstable();
                    hashes.dedup();
                    sums.visitors = hashes.len() as i64;
                }
                Ok(merged)
            })
            .await?;
        let mut out: Pieces = kept.iter().map(|(id, (s, _))| (*id, *s)).collect();
        let mut added: FxHashMap<i64, Vec<i64>> = FxHashMap::default();
        for hour in &hours[open..] {
            for (id, c) in hour.iter() {
                let s = out.entry(*id).or_default();
                let visitors = s.visitors;
                s.add(&c.sums);
                s.visitors = visitors;
                added.entry(*id).or_default().extend_from_slice(&c.hashes);
            }
        }
        for (id, mut hashes) in added {
            hashes.sort_unstable();
            hashes.dedup();
            let before = kept.get(&id).map(|(_, h)| h.as_slice()).unwrap_or(&[]);
            let new = hashes
                .iter()
                .filter(|h| before.binary_search(h).is_err())
                .count();
            if let Some(s) = out.get_mut(&id) {
                s.visitors += new as i64;
            }
        }
        Ok(out)
    }

    /// Pageviews per path of each of `companies` over `range` (inside one recent UTC day).
    pub(super) async fn pages_from_hours(
        &self,
        range: (i64, i64),
        companies: &[i64],
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        let mut sums: FxHashMap<(i64, &str), i64> = FxHashMap::default();
        let hours = self.hour_pieces(&hours(range)).await?;
        for hour in &hours {
            for id in companies {
                if let Some(c) = hour.get(id) {
                    for (path, n) in &c.paths {
                        *sums.entry((*id, path.as_str())).or_default() += n;
                    }
                }
            }
        }
        Ok(sums
            .into_iter()
            .map(|((id, path), n)| (id, path.to_owned(), n))
            .collect())
    }

    /// Pageviews matching `page` per company over `range` (inside one recent UTC day), each
    /// hour's kept.
    pub(super) async fn hits_from_hours(
        &self,
        range: (i64, i64),
        page: &PathPattern,
    ) -> Result<FxHashMap<i64, i64>, StoreError> {
        let mut out: FxHashMap<i64, i64> = FxHashMap::default();
        let parts = hours(range);
        let hours = self.hour_pieces(&parts).await?;
        for (part, hour) in parts.into_iter().zip(hours) {
            let (key, version) = self.key("page_hits_hour", part);
            let hits = self
                .cache
                .get(key.with(page.as_str()), version, |h| h.len() * 32, async {
                    let mut matched: HashMap<&str, bool> = HashMap::new();
                    let mut hits: FxHashMap<i64, i64> = FxHashMap::default();
                    for (id, c) in hour.iter() {
                        for (path, n) in &c.paths {
                            if *matched
                                .entry(path.as_str())
                                .or_insert_with(|| page.matches(path))
                            {
                                *hits.entry(*id).or_default() += n;
                            }
                        }
                    }
                    Ok(hits)
                })
                .await?;
            for (id, n) in hits.iter() {
                *out.entry(*id).or_default() += n;
            }
        }
        Ok(out)
    }

    /// The pieces of `parts` (hours, or parts of one, in order), those not kept read at once.
    async fn hour_pieces(&self, parts: &[(i64, i64)]) -> Result<Vec<Arc<Hour>>, StoreError> {
        let missing = self.missing::<Hour>("company_hour", parts);
        if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
            let read = self.read_hours((first.0, last.1)).await?;
            self.keep_missing("company_hour", &missing, read, weigh);
        }
        let mut out = Vec::with_capacity(parts.len());
        for part in parts.iter().copied() {
            let (key, version) = self.key("company_hour", part);
            out.push(
                self.cache
                    .get(key, version, weigh, async {
                        Ok(self
                            .read_hours(part)
                            .await?
                            .pop()
                            .map(|(_, h)| h)
                            .unwrap_or_default())
                    })
                    .await?,
            );
        }
        Ok(out)
    }

    /// The pieces of `[start, end)` cut at UTC hours, read at once.
    async fn read_hours(
        &self,
        (start, end): (i64, i64),
    ) -> Result<Vec<((i64, i64), Hour)>, StoreError> {
        let parts = hours((start, end));
        let mut hours: Vec<Hour> = vec![Hour::default(); parts.len()];
        let at = |ts: i64| {
            let ts = ts.max(start);
            parts
                .iter()
                .position(|(a, b)| ts >= *a && ts < *b)
                .unwrap_or(0)
        };

        // The period's visits as a range of the table's key (site, id).
        let ids = visit_ids_started(start, end);
        let visits: Vec<(i64, i64, i64, i64, i64)> = self
            .db
            .all(
                sql(
                    "SELECT company_id, started_at, visitor_hash, engaged_ms, last_seen_at \
                     FROM visits WHERE site_id = $1 AND started_at >= $2 AND started_at < $3 \
                     AND id >= $4 AND id < $5 AND company_id IS NOT NULL",
                )
                .bind(self.site.0)
                .bind(start)
                .bind(end)
                .bind(ids.0)
                .bind(ids.1),
            )
            .await?;
        for (id, started_at, hash, engaged_ms, last_seen_at) in visits {
            let c = hours[at(started_at)].entry(id).or_default();
            c.sums.visits += 1;
            c.sums.engaged_ms += engaged_ms;
            c.sums.last_seen_at = c.sums.last_seen_at.max(last_seen_at);
            c.hashes.push(hash);
        }

        let views: Vec<(i64, i64, String, i64)> = self
            .db
            .all(
                // Counted by path id, then named.
                sql(
                    "SELECT x.h, x.company_id, p.path, x.n FROM (SELECT ts / $4 AS h, \
                     company_id, path_id, COUNT(*) AS n FROM events \
                     WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview' \
                     AND company_id IS NOT NULL GROUP BY ts / $4, company_id, path_id) x \
                     JOIN paths p ON p.id = x.path_id",
                )
                .bind(self.site.0)
                .bind(start)
                .bind(end)
                .bind(HOUR_MS),
            )
            .await?;
        let page_rules = &self.rules.pages;
        let mut rules: HashMap<String, [bool; MAX_PAGE_RULES]> = HashMap::new();
        for (hour, id, path, n) in views {
            let matched = rules.entry(path.clone()).or_insert_with_key(|p| {
                std::array::from_fn(|i| page_rules.get(i).is_some_and(|r| r.matches(p)))
            });
            let c = hours[at(hour * HOUR_MS)].entry(id).or_default();
            c.sums.pageviews += n;
            for (hits, m) in c.sums.rule_hits.iter_mut().zip(matched.iter()) {
                if *m {
                    *hits += n;
                }
            }
            c.paths.push((path, n));
        }
        for hour in &mut hours {
            for c in hour.values_mut() {
                c.hashes.sort_unstable();
                c.hashes.dedup();
                c.sums.visitors = c.hashes.len() as i64;
            }
        }
        Ok(parts.into_iter().zip(hours).collect())
    }
}

fn weigh_merged(m: &Merged) -> usize {
    m.values()
        .map(|(_, h)| std::mem::size_of::<(i64, Sums, Vec<i64>)>() + 16 + h.len() * 8)
        .sum()
}

fn weigh(h: &Hour) -> usize {
    h.values()
        .map(|c| {
            let paths: usize = c.paths.iter().map(|(p, _)| p.len() + 40).sum();
            std::mem::size_of::<(i64, InHour)>() + 16 + c.hashes.len() * 8 + paths
        })
        .sum()
}
