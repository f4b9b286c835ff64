//! A site's overview for a period: totals against the period before, the time series, the
//! top pages and the breakdowns of visits. The queries run side by side.

use super::period::{self, Bucket, Period};
use super::store::{self, By, PageShare, Share, Totals};
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError};

/// What the overview's lists break visits down by, in page order.
pub const BREAKDOWNS: [By; 5] = [
    By::Source,
    By::Channel,
    By::Country,
    By::Device,
    By::Browser,
];

/// Rows per list.
const LIST_ROWS: i64 = 10;

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
/// yesterday until 09:00, not against all of yesterday.
pub async fn overview(
    db: &Db,
    site: SiteId,
    p: &Period,
    now_ms: i64,
) -> Result<Overview, StoreError> {
    let range = (p.start_ms, p.end_ms);
    let prev = p.previous();
    let prev_end = if now_ms < p.end_ms {
        (prev.start_ms + (now_ms - p.start_ms).max(0)).min(prev.end_ms)
    } else {
        prev.end_ms
    };
    let (now, before) = futures_util::try_join!(
        store::totals(db, site, range),
        store::totals(db, site, (prev.start_ms, prev_end)),
    )?;
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
    let segments = period::segments(&out.buckets);
    let breakdowns = futures_util::future::try_join_all(
        BREAKDOWNS.map(|by| store::breakdown(db, site, range, by, LIST_ROWS)),
    );
    let (series, pages, breakdowns) = futures_util::try_join!(
        store::series(db, site, &segments, out.buckets.len()),
        store::top_paths(db, site, range, LIST_ROWS),
        breakdowns,
    )?;
    out.series = series;
    out.pages = pages;
    out.breakdowns = BREAKDOWNS.into_iter().zip(breakdowns).collect();
    Ok(out)
}
