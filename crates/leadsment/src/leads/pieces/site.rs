//! The overview's figures as pieces of UTC days: a piece (a whole day, or the hours of one at
//! a period's edge) holds the site's totals, each breakdown whole (not its top rows, so pieces
//! add up), each page's pageviews and visits, and 15-minute slots for the time series. A
//! piece's visitors are its distinct hashes, and a UTC day's hashes are its own, so the pieces
//! of a period add up to its visitors; a page's visits likewise count once per UTC day.

use std::collections::{HashMap, HashSet};

use super::Reads;
use crate::leads::store::{By, Totals};
use crate::store::{StoreError, sql};

/// The series' slots: every UTC offset in use is a multiple of 15 minutes, so a local hour or
/// midnight falls on a slot's edge.
pub const SLOT_MS: i64 = 15 * 60_000;

/// A breakdown's value, and its detail where it has one (a source's channel).
pub type Value = (Option<String>, Option<String>);

/// A breakdown's values with their visits and visitors.
pub type Shares = HashMap<Value, (i64, i64)>;

#[derive(Debug, Default)]
pub struct SitePiece {
    pub totals: Totals,
    /// In the order of [`BY`].
    pub breakdowns: Vec<Shares>,
    /// Per path: pageviews and visits.
    pub paths: HashMap<String, (i64, i64)>,
    /// From the piece's start: visits started, pageviews and the distinct visitor hashes (sorted)
    /// of each slot.
    pub slots: Vec<Slot>,
}

#[derive(Debug, Clone, Default)]
pub struct Slot {
    pub visits: i64,
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
    /// The site's piece `[start, end)`, inside one UTC day.
    pub async fn site_piece(
        &self,
        range: (i64, i64),
    ) -> Result<std::sync::Arc<SitePiece>, StoreError> {
        let (key, version) = self.key("site", range);
        self.cache
            .get(key, version, weigh, self.read_site_piece(range))
            .await
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
            .get(key, version, |_| 32, async {
                Ok(piece.between(range.0, part))
            })
            .await?;
        Ok(*totals)
    }

    async fn read_site_piece(&self, (start, end): (i64, i64)) -> Result<SitePiece, StoreError> {
        let slots = ((end - start + SLOT_MS - 1) / SLOT_MS).max(0) as usize;
        let mut p = SitePiece {
            breakdowns: vec![Shares::new(); BY.len()],
            slots: vec![Slot::default(); slots],
            ..SitePiece::default()
        };
        let visits: Vec<VisitRow> = self
            .db
            .all(
                sql(
                    "SELECT started_at, visitor_hash, class, source, channel, country, device, \
                     browser FROM visits WHERE site_id = $1 AND started_at >= $2 \
                     AND started_at < $3",
                )
                .bind(self.site.0)
                .bind(start)
                .bind(end),
            )
            .await?;
        let mut hashes: HashSet<i64> = HashSet::with_capacity(visits.len());
        let mut by_value: Vec<HashMap<Value, HashSet<i64>>> = vec![HashMap::new(); BY.len()];
        for v in visits {
            p.totals.visits += 1;
            hashes.insert(v.visitor_hash);
            if v.class.as_deref() == Some("business") {
                p.totals.business_visits += 1;
            }
            if let Some(s) = p.slots.get_mut(((v.started_at - start) / SLOT_MS) as usize) {
                s.visits += 1;
                s.hashes.push(v.visitor_hash);
            }
            let values = [
                (v.source, v.channel.clone()),
                (v.channel, None),
                (v.country, None),
                (v.device, None),
                (v.browser, None),
            ];
            for (i, value) in values.into_iter().enumerate() {
                let share = p.breakdowns[i].entry(value.clone()).or_default();
                share.0 += 1;
                by_value[i].entry(value).or_default().insert(v.visitor_hash);
            }
        }
        p.totals.visitors = hashes.len() as i64;
        for (i, values) in by_value.into_iter().enumerate() {
            for (value, set) in values {
                if let Some(share) = p.breakdowns[i].get_mut(&value) {
                    share.1 = set.len() as i64;
                }
            }
        }
        for s in &mut p.slots {
            s.hashes.sort_unstable();
            s.hashes.dedup();
        }

        let paths: Vec<(String, i64, i64)> = self
            .db
            .all(
                sql(
                    "SELECT path, COUNT(*), COUNT(DISTINCT visit_id) FROM events \
                     WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview' \
                     GROUP BY path",
                )
                .bind(self.site.0)
                .bind(start)
                .bind(end),
            )
            .await?;
        for (path, views, visits) in paths {
            p.totals.pageviews += views;
            p.paths.insert(path, (views, visits));
        }
        let views: Vec<(i64, i64)> = self
            .db
            .all(
                sql("SELECT (ts - $2) / $4, COUNT(*) FROM events \
                     WHERE site_id = $1 AND ts >= $2 AND ts < $3 AND name = 'pageview' \
                     GROUP BY (ts - $2) / $4")
                .bind(self.site.0)
                .bind(start)
                .bind(end)
                .bind(SLOT_MS),
            )
            .await?;
        for (slot, n) in views {
            if let Some(s) = p.slots.get_mut(slot as usize) {
                s.pageviews += n;
            }
        }
        Ok(p)
    }
}

impl SitePiece {
    /// Visits, visitors and pageviews of the slots in `[from, to)` (milliseconds, the piece
    /// starting at `start`).
    pub fn between(&self, start: i64, (from, to): (i64, i64)) -> Totals {
        let first = ((from - start).max(0) / SLOT_MS) as usize;
        let last = (((to - start).max(0) + SLOT_MS - 1) / SLOT_MS) as usize;
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
            business_visits: 0,
            pageviews: slots.iter().map(|s| s.pageviews).sum(),
        }
    }
}

fn weigh(p: &SitePiece) -> usize {
    let shares: usize = p.breakdowns.iter().map(|b| b.len() * 64).sum();
    let paths: usize = p.paths.keys().map(|k| k.len() + 48).sum();
    let slots: usize = p.slots.iter().map(|s| s.hashes.len() * 8 + 48).sum();
    shares + paths + slots
}
