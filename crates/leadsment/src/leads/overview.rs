//! A site's overview for a period: totals against the period before, the time series, the
//! top pages and the breakdowns of visits. The queries run side by side.

use std::collections::HashMap;
use std::sync::Arc;

use super::cache::DayCache;
use super::period::{Bucket, Period};
use super::pieces::site::{self, SitePiece};
use super::pieces::{self, Reads};
use super::span::Span;
use super::store::{self, By, PageShare, Share, Totals};
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError};
use crate::tracking::rollups::day_of;

/// What the overview's lists break visits down by, in page order.
pub const BREAKDOWNS: [By; 5] = [
    By::Source,
    By::Channel,
    By::Country,
    By::Device,
    By::Browser,
];

/// Rows per list.
const LIST_ROWS: usize = 10;

/// Why a site shows nothing, and so what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// No visit ever: paste the snippet.
    NoEvents,
    /// Visits, none in this period: widen it.
    NothingInPeriod,
}

#[derive(Debug, Clone)]
pub struct Overview {
    pub now: Totals,
    pub before: Totals,
    pub buckets: Vec<Bucket>,
    pub series: Vec<Totals>,
    pub pages: Vec<PageShare>,
    pub breakdowns: Vec<(By, Vec<Share>)>,
    pub empty: Option<Empty>,
}

/// The overview of `p` as seen at `now_ms`. A period that has not ended yet (today, the last
/// 7 days) is compared with the same stretch of the period before: today until 09:00 against
/// yesterday until 09:00, not against all of yesterday. Every figure is a sum of the pieces of
/// UTC days the [`DayCache`] keeps ([`pieces::site`]).
pub async fn overview(
    db: &Db,
    cache: &DayCache,
    site: SiteId,
    p: &Period,
    now_ms: i64,
) -> Result<Overview, StoreError> {
    let prev = p.previous();
    let prev_end = if now_ms < p.end_ms {
        (prev.start_ms + (now_ms - p.start_ms).max(0)).min(prev.end_ms)
    } else {
        prev.end_ms
    };
    let now_ranges = pieces::ranges(&Span::of((p.start_ms, p.end_ms), now_ms));
    let prev_ranges = pieces::ranges(&Span::of((prev.start_ms, prev_end), now_ms));
    let days = now_ranges
        .iter()
        .chain(&prev_ranges)
        .fold((i64::MAX, i64::MIN), |(a, b), r| {
            (a.min(day_of(r.0)), b.max(day_of(r.1 - 1) + 1))
        });
    let reads = Reads::new(db, cache, site, days, now_ms).await?;
    let mut now_pieces = Vec::with_capacity(now_ranges.len());
    for r in &now_ranges {
        now_pieces.push((*r, reads.site_piece(*r).await?));
    }
    let mut before = Totals::default();
    for r in &prev_ranges {
        add(&mut before, &reads.site_totals(*r).await?);
    }
    let mut now = Totals::default();
    for (_, piece) in &now_pieces {
        add(&mut now, &piece.totals);
    }
    let mut out = Overview {
        now,
        before,
        buckets: p.buckets(),
        series: Vec::new(),
        pages: Vec::new(),
        breakdowns: Vec::new(),
        empty: None,
    };
    if now.visits == 0 && now.pageviews == 0 {
        out.empty = Some(if store::has_visits(db, site).await? {
            Empty::NothingInPeriod
        } else {
            Empty::NoEvents
        });
        return Ok(out);
    }
    let mut series = vec![Totals::default(); out.buckets.len()];
    for (b, bucket) in out.buckets.iter().enumerate() {
        for (r, _) in &now_pieces {
            let part = (bucket.start.max(r.0), bucket.end.min(r.1));
            if part.0 < part.1 {
                add(&mut series[b], &reads.site_part(*r, part).await?);
            }
        }
    }
    out.series = series;
    out.pages = top_pages(&now_pieces);
    out.breakdowns = BREAKDOWNS
        .into_iter()
        .map(|by| (by, breakdown(&now_pieces, by)))
        .collect();
    Ok(out)
}

fn add(into: &mut Totals, t: &Totals) {
    into.visits += t.visits;
    into.visitors += t.visitors;
    into.business_visits += t.business_visits;
    into.pageviews += t.pageviews;
}

type Pieces = [((i64, i64), Arc<SitePiece>)];

/// The most viewed pages of the pieces.
fn top_pages(pieces: &Pieces) -> Vec<PageShare> {
    let mut sums: HashMap<&str, i64> = HashMap::new();
    for (_, p) in pieces {
        for (path, views) in &p.paths {
            *sums.entry(path.as_str()).or_default() += views;
        }
    }
    let mut pages: Vec<PageShare> = sums
        .into_iter()
        .map(|(path, pageviews)| PageShare {
            path: path.to_owned(),
            pageviews,
        })
        .collect();
    pages.sort_by(|a, b| {
        b.pageviews
            .cmp(&a.pageviews)
            .then_with(|| a.path.cmp(&b.path))
    });
    pages.truncate(LIST_ROWS);
    pages
}

/// The largest groups of the pieces' visits by `by`.
fn breakdown(pieces: &Pieces, by: By) -> Vec<Share> {
    let i = site::BY.iter().position(|b| *b == by).unwrap_or(0);
    let mut sums: HashMap<&site::Value, i64> = HashMap::new();
    for (_, p) in pieces {
        for (value, visits) in &p.breakdowns[i] {
            *sums.entry(value).or_default() += visits;
        }
    }
    let mut rows: Vec<Share> = sums
        .into_iter()
        .map(|((value, detail), visits)| Share {
            value: value.clone(),
            detail: detail.clone(),
            visits,
        })
        .collect();
    rows.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.value.cmp(&b.value)));
    rows.truncate(LIST_ROWS);
    rows
}
