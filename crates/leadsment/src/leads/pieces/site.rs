//! The overview's figures as pieces of UTC days: a piece holds the site's totals, each
//! breakdown whole (not its top rows, so pieces add up), each page's pageviews, and 15-minute
//! slots with their visitor hashes for the time series and for distinct visitors.
//!
//! Each UTC hour is kept as a piece of its own (under its version), and a longer stretch (a
//! whole day, a day up to a period's local edge) as the merge of its hours: on a site in use
//! only the latest hour is read again, and the day is merged anew from memory. A merged
//! piece's visitors are the distinct hashes of all its slots; a UTC day's hashes are its own,
//! so the pieces of different days add up to a period's visitors.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Reads, hours};
use crate::leads::store::{By, Totals};
use crate::store::{StoreError, sql};
use crate::tracking::rollups::HOUR_MS;
use crate::tracking::visits::visit_ids_started;

/// The series' slots: every UTC offset in use is a multiple of 15 minutes, so a local hour or
/// midnight falls on a slot's edge.
pub const SLOT_MS: i64 = 15 * 60_000;

/// A breakdown's value, and its detail where it has one (a source's channel).
pub type Value = (Option<String>, Option<String>);

/// A breakdown's values with their visits.
pub type Shares = HashMap<Value, i64>;

#[derive(Debug, Default)]
pub struct SitePiece {
    pub totals: Totals,
    /// In the order of [`BY`].
    pub breakdowns: Vec<Shares>,
    /// Pageviews per path.
    pub paths: HashMap<String, i64>,
    /// The slot (15-minute steps since 1970, UTC) `slots` starts at.
    pub first_slot: i64,
    /// The slots the piece overlaps, in order: visits started, business visits, pageviews and
    /// the distinct visitor hashes (sorted) of each.
    pub slots: Vec<Slot>,
}

#[derive(Debug, Clone, Default)]
pub struct Slot {
    pub visits: i64,
    pub business_visits: i64,
    pub pageviews: i64,
    pub hashes: Vec<i64>,
}

/// The breakdowns a piece holds.
pub const BY: [By; 5] = [
    By::Source,
    By::Channel,
    By::Country,
    By::Device,
    By::Browser,
];

#[derive(sqlx::FromRow)]
struct VisitRow {
    started_at: i64,
    visitor_hash: i64,
    class: Option<String>,
    source: Option<String>,
    channel: Option<String>,
    country: Option<String>,
    device: Option<String>,
    browser: Option<String>,
}

impl Reads<'_> {
    /// The site's piece `[start, end)`, inside one UTC day: one hour's or part of one's as
    /// read, a longer stretch merged from its hours.
    pub async fn site_piece(&self, range: (i64, i64)) -> Result<Arc<SitePiece>, StoreError> {
        let parts = hours(range);
        if parts.len() <= 1 {
            return self.site_hour(range).await;
        }
        let (key, version) = self.key("site", range);
        self.cache
            .get(key, version, weigh, async {
                self.read_missing_hours(&parts).await?;
                let mut pieces = Vec::with_capacity(parts.len());
                for part in parts {
                    pieces.push(self.site_hour(part).await?);
                }
                Ok(SitePiece::merge(&pieces))
            })
            .await
    }

    /// The piece of one hour, or of part of one.
    async fn site_hour(&self, range: (i64, i64)) -> Result<Arc<SitePiece>, StoreError> {
        let (key, version) = self.key("site_hour", range);
        self.cache
            .get(key, version, weigh, self.read_one(range))
            .await
    }

    /// The piece of `range`, inside one UTC hour, as read now.
    async fn read_one(&self, range: (i64, i64)) -> Result<SitePiece, StoreError> {
        Ok(self
            .read_site(range)
            .await?
            .pop()
            .map(|(_, p)| p)
            .unwrap_or_default())
    }

    /// Reads the hours of `parts` that are not kept in one read over their stretch (the first
    /// page after a start reads a day at once, not hour by hour).
    async fn read_missing_hours(&self, parts: &[(i64, i64)]) -> Result<(), StoreError> {
        let missing = self.missing::<SitePiece>("site_hour", parts);
        let (Some(first), Some(last)) = (missing.first(), missing.last()) else {
            return Ok(());
        };
        if missing.len() < 2 {
            return Ok(());
        }
        let read = self.read_site((first.0, last.1)).await?;
        self.keep_missing("site_hour", &missing, read, weigh);
        Ok(())
    }

    /// The visits, visitors, business visits and pageviews of `[start, end)`, inside one UTC
    /// day, which may end at any millisecond (the period before a running one ends at the
    /// time of day it is now): its whole slots from the kept pieces, the minutes after them
    /// read raw and not kept.
    pub async fn site_totals(&self, (start, end): (i64, i64)) -> Result<Totals, StoreError> {
        let cut = end.div_euclid(SLOT_MS) * SLOT_MS;
        if cut == end {
            return Ok(self.site_piece((start, end)).await?.totals);
        }
        // The minutes after the last whole slot lie in one slot, so in one hour: read, not kept
        // (their key changes with every read).
        if cut <= start {
            return Ok(self.read_one((start, end)).await?.totals);
        }
        let kept = self.site_piece((start, cut)).await?;
        let rest = self.read_one((cut, end)).await?;
        let mut t = kept.totals;
        t.visits += rest.totals.visits;
        t.business_visits += rest.totals.business_visits;
        t.pageviews += rest.totals.pageviews;
        let seen = |h: &i64| kept.slots.iter().any(|s| s.hashes.binary_search(h).is_ok());
        let mut new: Vec<i64> = rest
            .slots
            .iter()
            .flat_map(|s| s.hashes.iter().copied())
            .filter(|h| !seen(h))
            .collect();
        new.sort_unstable();
        new.dedup();
        t.visitors += new.len() as i64;
        Ok(t)
    }

    /// The visits, visitors and pageviews of `[from, to)` inside the piece `range`.
    pub async fn site_part(
        &self,
        range: (i64, i64),
        part: (i64, i64),
    ) -> Result<Totals, StoreError> {
        let piece = self.site_piece(range).await?;
        if part == range {
            return Ok(piece.totals);
        }
        let (key, version) = self.key("site_part", part);
        let totals = self
            .cache
            .get(key, version, |_| 32, async { Ok(piece.between(part)) })
            .await?;
        Ok(*totals)
    }

    /// The pieces of `[start, end)` (inside one UTC day) cut at UTC hours, read at once.
    async fn read_site(
        &self,
        (start, end): (i64, i64),
    ) -> Result<Vec<((i64, i64), SitePiece)>, StoreError> {
        let parts = hours((start, end));
        let mut pieces: Vec<SitePiece> = parts.iter().map(|p| SitePiece::empty(*p)).collect();
        let index = |ts: i64| {
            parts
                .iter()
                .position(|(a, b)| ts >= *a && ts < *b)
                .unwrap_or(0)
        };
        // The workspace's hidden companies count nowhere.
        let hidden = self.excluded.sql_condition("company_id");
        let hidden_visits = self.excluded.sql_condition("v.company_id");
        // The period's visits as a range of the table's key (site, id).
        let ids = visit_ids_started(start, end);
        let visits: Vec<VisitRow> = self
            .db
            .all(
                sql(format!(
                    "SELECT v.started_at, v.visitor_hash, t.class, t.source, t.channel, \
                     t.country, t.device, t.browser \
                     FROM visits v JOIN visit_traits t ON t.id = v.traits_id \
                     WHERE v.site_id = $1 AND v.started_at >= $2 AND v.started_at < $3 \
                     AND v.id >= $4 AND v.id < $5{hidden_visits}"
                ))
                .bind(self.site.0)
                .bind(start)
                .bind(end)
                .bind(ids.0)
                .bind(ids.1),
            )
            .await?;
        for v in visits {
            let p = &mut pieces[index(v.started_at)];
            let business = v.class.as_deref() == Some("business");
            p.totals.visits += 1;
            p.totals.business_visits += i64::from(business);
            let slot = p.slot_mut(v.started_at);
            slot.visits += 1;
            slot.business_visits += i64::from(business);
            slot.hashes.push(v.visitor_hash);
            let values = [
                (v.source, v.channel.clone()),
                (v.channel, None),
                (v.country, None),
                (v.device, None),
                (v.browser, None),
            ];
            for (i, value) in values.into_iter().enumerate() {
                *p.breakdowns[i].entry(value).or_default() += 1;
            }
        }

        let paths: Vec<(i64, String, i64)> = self
            .db
            .all(
                sql(format!(
                    // Counted by path id, then named.
                    "SELECT x.h, p.path, x.n FROM (SELECT ts / $4 AS h, path_id, COUNT(*) AS n \
                     FROM events \
                     WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview'{hidden} \
                     GROUP BY ts / $4, path_id) x JOIN paths p ON p.id = x.path_id"
                ))
                .bind(self.site.0)
                .bind(start)
                .bind(end)
                .bind(HOUR_MS),
            )
            .await?;
        for (hour, path, views) in paths {
            let p = &mut pieces[index((hour * HOUR_MS).max(start))];
            p.totals.pageviews += views;
            *p.paths.entry(path).or_default() += views;
        }
        let views: Vec<(i64, i64)> = self
            .db
            .all(
                sql(format!(
                    "SELECT ts / $4, COUNT(*) FROM events \
                     WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview'{hidden} \
                     GROUP BY ts / $4"
                ))
                .bind(self.site.0)
                .bind(start)
                .bind(end)
                .bind(SLOT_MS),
            )
            .await?;
        for (slot, n) in views {
            let ts = (slot * SLOT_MS).max(start);
            pieces[index(ts)].slot_mut(ts).pageviews += n;
        }
        for p in &mut pieces {
            for s in &mut p.slots {
                s.hashes.sort_unstable();
                s.hashes.dedup();
            }
            p.totals.visitors = p.distinct_visitors();
        }
        Ok(parts.into_iter().zip(pieces).collect())
    }
}

impl SitePiece {
    fn empty((start, end): (i64, i64)) -> SitePiece {
        let first_slot = start.div_euclid(SLOT_MS);
        let last_slot = (end - 1).div_euclid(SLOT_MS);
        SitePiece {
            breakdowns: vec![Shares::new(); BY.len()],
            first_slot,
            slots: vec![Slot::default(); (last_slot - first_slot + 1).max(0) as usize],
            ..SitePiece::default()
        }
    }

    fn slot_mut(&mut self, ts: i64) -> &mut Slot {
        let i = (ts.div_euclid(SLOT_MS) - self.first_slot).clamp(0, self.slots.len() as i64 - 1);
        &mut self.slots[i as usize]
    }

    fn distinct_visitors(&self) -> i64 {
        if self.slots.len() == 1 {
            return self.slots[0].hashes.len() as i64;
        }
        let mut all: Vec<i64> = self
            .slots
            .iter()
            .flat_map(|s| s.hashes.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all.len() as i64
    }

    /// The pieces of a stretch of one UTC day, in order and touching, as one.
    fn merge(pieces: &[Arc<SitePiece>]) -> SitePiece {
        let mut out = SitePiece {
            breakdowns: vec![Shares::new(); BY.len()],
            first_slot: pieces.first().map_or(0, |p| p.first_slot),
            ..SitePiece::default()
        };
        for p in pieces {
            out.totals.visits += p.totals.visits;
            out.totals.business_visits += p.totals.business_visits;
            out.totals.pageviews += p.totals.pageviews;
            for (into, from) in out.breakdowns.iter_mut().zip(&p.breakdowns) {
                for (value, n) in from {
                    *into.entry(value.clone()).or_default() += n;
                }
            }
            for (path, n) in &p.paths {
                *out.paths.entry(path.clone()).or_default() += n;
            }
            for (i, s) in p.slots.iter().enumerate() {
                let at = p.first_slot + i as i64 - out.first_slot;
                if at < out.slots.len() as i64 {
                    // A slot cut by the pieces' edge: both halves in one.
                    let into = &mut out.slots[at as usize];
                    into.visits += s.visits;
                    into.business_visits += s.business_visits;
                    into.pageviews += s.pageviews;
                    into.hashes.extend_from_slice(&s.hashes);
                    into.hashes.sort_unstable();
                    into.hashes.dedup();
                } else {
                    out.slots.push(s.clone());
                }
            }
        }
        out.totals.visitors = out.distinct_visitors();
        out
    }

    /// Visits, visitors, business visits and pageviews of the slots that `[from, to)` overlaps.
    pub fn between(&self, (from, to): (i64, i64)) -> Totals {
        let first = (from.div_euclid(SLOT_MS) - self.first_slot).max(0) as usize;
        let last = ((to - 1).div_euclid(SLOT_MS) + 1 - self.first_slot).max(0) as usize;
        let slots = &self.slots[first.min(self.slots.len())..last.min(self.slots.len())];
        if slots.len() == self.slots.len() {
            return self.totals;
        }
        let mut hashes: Vec<i64> = slots
            .iter()
            .flat_map(|s| s.hashes.iter().copied())
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        Totals {
            visits: slots.iter().map(|s| s.visits).sum(),
            visitors: hashes.len() as i64,
            business_visits: slots.iter().map(|s| s.business_visits).sum(),
            pageviews: slots.iter().map(|s| s.pageviews).sum(),
        }
    }
}

fn weigh(p: &SitePiece) -> usize {
    let shares: usize = p.breakdowns.iter().map(|b| b.len() * 64).sum();
    let paths: usize = p.paths.keys().map(|k| k.len() + 40).sum();
    let slots: usize = p.slots.iter().map(|s| s.hashes.len() * 8 + 56).sum();
    shares + paths + slots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(range: (i64, i64), slots: &[(i64, &[i64])]) -> Arc<SitePiece> {
        let mut p = SitePiece::empty(range);
        for (ts, hashes) in slots {
            let s = p.slot_mut(*ts);
            s.visits += hashes.len() as i64;
            s.hashes.extend_from_slice(hashes);
            s.hashes.sort_unstable();
            p.totals.visits += hashes.len() as i64;
        }
        p.totals.visitors = p.distinct_visitors();
        Arc::new(p)
    }

    #[test]
    fn merged_hours_count_a_visitor_once() {
        let h = 20_000 * 24 * HOUR_MS;
        let a = piece(
            (h, h + HOUR_MS),
            &[(h, &[1, 2]), (h + 20 * 60_000, &[2, 3])],
        );
        let b = piece((h + HOUR_MS, h + 2 * HOUR_MS), &[(h + HOUR_MS, &[3, 4])]);
        let m = SitePiece::merge(&[a, b]);
        assert_eq!((m.totals.visits, m.totals.visitors), (6, 4));
        assert_eq!(m.slots.len(), 8);
        let second = m.between((h + HOUR_MS, h + 2 * HOUR_MS));
        assert_eq!((second.visits, second.visitors), (2, 2));
    }

    #[test]
    fn a_slot_cut_by_two_pieces_is_one_slot() {
        let h = 20_000 * 24 * HOUR_MS;
        let cut = h + 5 * 60_000;
        let a = piece((h, cut), &[(h, &[1])]);
        let b = piece((cut, h + HOUR_MS), &[(cut, &[1, 2])]);
        let m = SitePiece::merge(&[a, b]);
        assert_eq!(m.slots.len(), 4);
        assert_eq!(m.slots[0].hashes, vec![1, 2]);
        assert_eq!((m.totals.visits, m.totals.visitors), (3, 2));
    }

    #[test]
    fn ranges_are_cut_at_utc_hours() {
        let h = 20_000 * 24 * HOUR_MS;
        assert_eq!(
            hours((h - 5, h + HOUR_MS + 5)),
            vec![(h - 5, h), (h, h + HOUR_MS), (h + HOUR_MS, h + HOUR_MS + 5)]
        );
        assert!(hours((h, h)).is_empty());
    }
}
