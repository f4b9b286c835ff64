//! Tracking's queries: the event writes of each database (where the dialects and the fastest
//! way to write differ: [`sqlite`], [`postgres`]) and the export's reads (written once).

pub mod postgres;
pub mod sqlite;

use std::borrow::Cow;

use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError, sql};
use crate::tracking::model::{ExportedEvent, IngestBatch};
use crate::tracking::visit_cache::VisitCache;

/// Writes a batch of events and bot counts in one transaction, placing each event in its
/// visit, and returns how many events were left out because their site is gone. On success
/// every other event is durable; on failure none is written (and the cache is cleared). The
/// server's writer calls the SQLite path from a thread of its own instead
/// ([`sqlite::write`]); this one, for tests and one-shot commands, runs it on a blocking
/// thread. New visits get ids with `tag`, a node tag the caller leased
/// (`nodes::NodeLease::for_command`).
pub async fn ingest(
    db: &Db,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<u64, StoreError> {
    match db {
        Db::Postgres(pool) => postgres::write(pool, batch, cache, tag).await,
        Db::Sqlite(sqlite) => {
            let bulk = sqlite.bulk_writer()?;
            let owned = IngestBatch {
                events: batch.events.clone(),
                bots: batch.bots.clone(),
            };
            let mut taken = std::mem::take(cache);
            let (result, taken) = tokio::task::spawn_blocking(move || {
                let result = sqlite::write(&bulk, &owned, &mut taken, tag);
                (result, taken)
            })
            .await
            .map_err(|e| StoreError::Ingest(format!("the event write stopped: {e}")))?;
            *cache = taken;
            result
        }
    }
}

/// The sites of a batch's events and bot counts, sorted, each once: what the writer checks
/// are still there before it writes.
pub(crate) fn batch_sites(batch: &IngestBatch) -> Vec<i64> {
    let events = batch.events.iter().map(|e| e.site_id.0);
    let mut sites: Vec<i64> = events.chain(batch.bots.iter().map(|b| b.0.0)).collect();
    sites.sort_unstable();
    sites.dedup();
    sites
}

/// `batch` without the events and bot counts of sites not in `present` (sorted), with how
/// many events that leaves out: a site deleted after its events were accepted and before they
/// were written has nothing more written for it, and the rest of the batch is written.
/// Borrowed when every site is present (the usual case).
pub(crate) fn without_gone_sites<'b>(
    batch: &'b IngestBatch,
    sites: &[i64],
    present: &[i64],
) -> (Cow<'b, IngestBatch>, u64) {
    if present.len() == sites.len() {
        return (Cow::Borrowed(batch), 0);
    }
    let kept = |site: SiteId| present.binary_search(&site.0).is_ok();
    let events: Vec<_> = batch
        .events
        .iter()
        .filter(|e| kept(e.site_id))
        .cloned()
        .collect();
    let gone = (batch.events.len() - events.len()) as u64;
    let bots = batch.bots.iter().filter(|b| kept(b.0)).cloned().collect();
    (Cow::Owned(IngestBatch { events, bots }), gone)
}

/// Events of a site between two times (milliseconds, `to` excluded), in time order (then id),
/// after `after` (the time and id of the last event of the previous page; `None` for the first
/// page), at most `limit`: the pages of an export. Each page is a range read of the site's
/// time index, however far into the export it is.
pub async fn export_events(
    db: &Db,
    site: SiteId,
    from_ms: i64,
    to_ms: i64,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<ExportedEvent>, StoreError> {
    let (after_ts, after_id) = after.unwrap_or((i64::MIN, i64::MIN));
    // The page's lower bound on time, given once, so that the planner starts the range read
    // there rather than at `from_ms`.
    let from_ms = from_ms.max(after_ts);
    Ok(db
        .all(
            sql("SELECT e.id, e.ts, e.visit_id, e.name, \
                 (SELECT path FROM paths WHERE id = e.path_id) AS path, e.props, e.engaged_ms, \
                 c.name AS company, c.domain AS company_domain, t.class, t.country, \
                 t.source, t.channel, t.utm_source, t.utm_medium, t.utm_campaign, \
                 t.utm_term, t.utm_content, t.browser, t.os, t.device \
                 FROM events e JOIN visits v ON v.site_id = e.site_id AND v.id = e.visit_id \
                 JOIN visit_traits t ON t.id = v.traits_id \
                 LEFT JOIN companies c ON c.id = e.company_id \
                 WHERE e.site_id = $1 AND e.ts >= $2 AND e.ts < $3 AND (e.ts, e.id) > ($4, $5) \
                 ORDER BY e.ts, e.id LIMIT $6")
            .bind(site.0)
            .bind(from_ms)
            .bind(to_ms)
            .bind(after_ts)
            .bind(after_id)
            .bind(limit),
        )
        .await?)
}
