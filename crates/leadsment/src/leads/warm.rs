//! Warming the day cache at start: the first page after a server starts would otherwise read
//! every piece of its period from the database (seconds on a busy site, see BENCHMARKS.md).
//! In the background, site by site, busiest (latest traffic) first, the server reads what
//! the default pages show (the overview and the feed of the last 30 days) until the cache
//! holds half its budget. A page asked for meanwhile waits for the same reads rather than
//! making its own ([`DayCache::get`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

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
async fn warm_site(
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

/// Recounts `site`'s default pages after its score rules changed, in the background: its
/// pieces are let go (they are kept under the old rules' tag, so no page would use them, but
/// they hold room) and read again. One recount per site at a time on this node: a change
/// meanwhile makes the running one go once more, with the newest rules, so saving again and
/// again never stacks up work. True when the recount this call started finished within
/// `wait`; false when it goes on in the background (or one was already running).
pub async fn recount(db: &Db, cache: &Arc<DayCache>, site: &Site, wait: Duration) -> bool {
    if !cache.start_recount(site.id) {
        return false;
    }
    cache.forget_sites(&[site.id]);
    let (db, cache, site) = (db.clone(), cache.clone(), site.clone());
    let task = tokio::spawn(async move {
        loop {
            if let Ok(tz) = jiff::tz::TimeZone::get(&site.time_zone)
                && let Err(e) = warm_site(&db, &cache, &site, &tz).await
            {
                tracing::warn!(site = site.id.0, error = %e, "recounting scores failed");
            }
            if !cache.recount_done(site.id) {
                break;
            }
            cache.forget_sites(&[site.id]);
        }
    });
    tokio::time::timeout(wait, task).await.is_ok()
}
