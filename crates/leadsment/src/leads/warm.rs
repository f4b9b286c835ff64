//! Warming the day cache at start: the first page after a server starts would otherwise read
//! every piece of its period from the database (seconds on a busy site, see BENCHMARKS.md).
//! In the background, site by site, busiest (latest traffic) first, the server reads what
//! the default pages show (the overview and the feed of the last 30 days) until the cache
//! holds half its budget. A page asked for meanwhile waits for the same reads rather than
//! making its own ([`DayCache::get`]).

use std::time::Instant;

use super::cache::DayCache;
use super::feed::{self, Rows};
use super::filters::{RawFilters, parse};
use super::overview;
use super::period::{Period, Range};
use crate::accounts::sites::Site;
use crate::store::{Db, StoreError, sql};

/// Reads the default pages of `sites` with the latest traffic, one after the other.
pub async fn warm_up(db: &Db, cache: &DayCache, sites: Vec<Site>) -> Result<(), StoreError> {
    let latest: Vec<(i64, i64)> = db
        .all(sql(
            "SELECT site_id, MAX(hour) FROM site_hours GROUP BY site_id ORDER BY MAX(hour) DESC",
        ))
        .await?;
    for (site_id, _) in latest {
        if cache.weight() > cache.budget() / 2 {
            tracing::info!("dashboard cache half full: warming stops");
            break;
        }
        let Some(site) = sites.iter().find(|s| s.id.0 == site_id) else {
            continue;
        };
        let Ok(tz) = jiff::tz::TimeZone::get(&site.time_zone) else {
            continue;
        };
        let started = Instant::now();
        match warm_site(db, cache, site, &tz).await {
            Ok(()) => tracing::info!(
                site = site.id.0,
                ms = started.elapsed().as_millis() as u64,
                "dashboard cache warmed"
            ),
            // One site's failure leaves the others to be warmed.
            Err(e) => tracing::warn!(site = site.id.0, error = %e, "warming a site failed"),
        }
    }
    Ok(())
}

/// The default overview and feed of one site, read into the cache.
pub async fn warm_site(
    db: &Db,
    cache: &DayCache,
    site: &Site,
    tz: &jiff::tz::TimeZone,
) -> Result<(), StoreError> {
    let now = jiff::Timestamp::now().as_millisecond();
    let period = Period::of(Range::Last(30), tz, now);
    overview::overview(db, cache, site.id, &period, now).await?;
    if let Ok(q) = parse(&RawFilters::from_query(None), tz, now) {
        feed::feed(db, cache, site.id, &q, now, Rows::Page).await?;
    }
    Ok(())
}
