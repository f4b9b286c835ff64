//! PostgreSQL's event writes, for several nodes sharing one database: each batch in a
//! handful of statements whatever its size, each with one fixed text, so prepared once per
//! connection. First the look-ups, planned for the values they carry: companies and visit
//! traits upserted and read in bulk, the visits the cache does not know read in bulk (locked
//! per visitor), the visits to continue locked. Then the writes, in two statements: new
//! visits with their final counters, known visits' counters and the visitor days; then the
//! other rollups, the events (`INSERT … SELECT * FROM UNNEST`), bot counts and touched hours.
//! Other nodes write too, so the database stays the truth: a visit the cache misses is read.

use std::collections::{BTreeMap, HashMap};

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Connection, Postgres, Transaction};

use crate::store::StoreError;
use crate::tracking::model::IngestBatch;
use crate::tracking::paths::id as path_id;
use crate::tracking::rollups::{DayDelta, Rollups, StoredVisit};
use crate::tracking::visit_cache::VisitCache;
use crate::tracking::visits::{
    EventRow, KnownVisits, NewVisit, VisitDelta, VisitPlan, missing_companies, plan_visits,
    wanted_visits,
};

/// Writes a batch in one transaction on a connection of `pool`; see [`write_on`].
pub async fn write(
    pool: &PgPool,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await?;
    write_on(&mut conn, batch, cache, tag).await
}

/// Writes a batch in one transaction on `conn`, and returns how many of its events were left
/// out because their site is gone. On failure nothing is written and the cache, which may
/// already hold what the rolled-back transaction would have written, is cleared.
/// New visits get ids with `tag`, the node's leased tag.
pub async fn write_on(
    conn: &mut PgConnection,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<u64, StoreError> {
    if batch.events.is_empty() && batch.bots.is_empty() {
        return Ok(0);
    }
    let result = async {
        let mut tx = conn.begin_with(BEGIN).await?;
        let gone = write_in(&mut tx, batch, cache, tag).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(gone)
    }
    .await;
    if result.is_err() {
        cache.clear();
    }
    Ok(result?)
}

/// Each batch's look-ups (`WHERE … = ANY($1)`) are planned for the values they carry. A plan
/// made once for any values, while the tables were still small, read every visit for each
/// look-up by visitor until the next `ANALYZE` (and for ever with autovacuum off): on a fresh
/// database the benchmark's first round ran at half the rate of the next ones, with 200
/// million visit rows read in 30 s. The writes after them keep their cached plans
/// ([`PLAN_ONCE`]): planning each of them anew cost about a sixth of the rate.
const BEGIN: &str = "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan";
const PLAN_ONCE: &str = "SET LOCAL plan_cache_mode = auto";

/// A column of a batch's rows, to bind as one array parameter.
fn col<R, T>(rows: &[R], f: impl Fn(&R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

// Every statement below has one fixed text whatever the batch's size: each column travels as
// an array and `UNNEST` turns the arrays back into rows. A text per size (a `VALUES` list of
// N rows) was prepared and planned anew on most batches, since batches come in every size.

async fn write_in(
    tx: &mut Transaction<'_, Postgres>,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<u64, sqlx::Error> {
    // 0. Two kinds of lock, taken first, in one statement (one round trip):
    // - The visitors whose visit the cache cannot place (advisory locks, in key order, before
    //   any row lock, so that two batches cannot deadlock on them): a node writing a
    //   visitor's event at the same time waits here, then reads the visit this one opened
    //   and continues it, where both would otherwise open one. The sub-select is a one-time
    //   filter, run before the sites are read.
    // - The batch's sites (`FOR KEY SHARE`), so that none is deleted before the commit: once
    //   per batch what a foreign key did for each row (migration 0025). The events of a site
    //   deleted since they were accepted are left out.
    let keys = visitor_lock_keys(batch, cache);
    let sites = super::batch_sites(batch);
    let present: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM sites WHERE id = ANY($1) AND (SELECT count(pg_advisory_xact_lock(k)) \
         FROM UNNEST($2::bigint[]) AS k) >= 0 ORDER BY id FOR KEY SHARE",
    )
    .bind(&sites)
    .bind(&keys)
    .fetch_all(&mut **tx)
    .await?;
    let (batch, gone) = super::without_gone_sites(batch, &sites, &present);
    let batch = &*batch;

    cache.make_room();
    // 1. Companies this node has not seen: inserted unless there, and their ids read, in one
    // statement (the inserted ones from `RETURNING`, the others from the table). A company
    // another node inserted after the statement began is in neither; those are read again.
    let missing = missing_companies(batch, cache);
    let now = batch.events.first().map_or(0, |e| e.ts);
    if !missing.is_empty() {
        let keys = col(&missing, |c| c.key.clone());
        let ids: Vec<(String, i64)> = sqlx::query_as(
            "WITH inserted AS (INSERT INTO companies (key, name, org, domain, asn, country, \
             class, class_reason, first_seen_at) SELECT k.*, $9 FROM UNNEST($1::text[], \
             $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], \
             $8::text[]) AS k ON CONFLICT (key) DO UPDATE SET class_reason = \
             excluded.class_reason WHERE companies.class_reason IS NULL RETURNING key, id) \
             SELECT key, id FROM inserted \
             UNION ALL SELECT key, id FROM companies WHERE key = ANY($1)",
        )
        .bind(&keys)
        .bind(col(&missing, |c| c.name.clone()))
        .bind(col(&missing, |c| c.org.clone()))
        .bind(col(&missing, |c| c.domain.clone()))
        .bind(col(&missing, |c| c.asn))
        .bind(col(&missing, |c| c.country.clone()))
        .bind(col(&missing, |c| c.class.clone()))
        .bind(col(&missing, |c| c.class_reason.clone()))
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
        for (key, id) in ids {
            cache.remember_company(&key, id);
        }
        let unseen: Vec<&String> = keys.iter().filter(|k| cache.company(k).is_none()).collect();
        if !unseen.is_empty() {
            let ids: Vec<(String, i64)> =
                sqlx::query_as("SELECT key, id FROM companies WHERE key = ANY($1)")
                    .bind(unseen)
                    .fetch_all(&mut **tx)
                    .await?;
            for (key, id) in ids {
                cache.remember_company(&key, id);
            }
        }
    }

    // 1b. Combinations of visit traits this node has not seen, the same way.
    let traits_keys = crate::tracking::traits::keys(batch, cache);
    let traits = crate::tracking::traits::missing(batch, &traits_keys, cache);
    if !traits.is_empty() {
        let t = &traits;
        sqlx::query(&format!(
            "INSERT INTO visit_traits (key, {}) SELECT * FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
             $9::text[], $10::text[], $11::text[], $12::text[], $13::text[]) \
             ON CONFLICT (key) DO NOTHING",
            crate::tracking::traits::COLUMNS
        ))
        .bind(col(t, |(k, _)| k.clone()))
        .bind(col(t, |(_, e)| e.class.clone()))
        .bind(col(t, |(_, e)| e.country.clone()))
        .bind(col(t, |(_, e)| e.source.clone()))
        .bind(col(t, |(_, e)| e.channel.clone()))
        .bind(col(t, |(_, e)| e.utm_source.clone()))
        .bind(col(t, |(_, e)| e.utm_medium.clone()))
        .bind(col(t, |(_, e)| e.utm_campaign.clone()))
        .bind(col(t, |(_, e)| e.utm_term.clone()))
        .bind(col(t, |(_, e)| e.utm_content.clone()))
        .bind(col(t, |(_, e)| e.browser.clone()))
        .bind(col(t, |(_, e)| e.os.clone()))
        .bind(col(t, |(_, e)| e.device.clone()))
        .execute(&mut **tx)
        .await?;
        let ids: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, id FROM visit_traits WHERE key = ANY($1)")
                .bind(col(t, |(k, _)| k.clone()))
                .fetch_all(&mut **tx)
                .await?;
        for (key, id) in ids {
            cache.remember_traits(&key, id);
        }
    }

    // 1c. Paths this node has not seen, the same way.
    let paths = crate::tracking::paths::missing(batch, cache);
    if !paths.is_empty() {
        let sites = col(&paths, |(site, _)| *site);
        let texts = col(&paths, |(_, path)| *path);
        sqlx::query(
            "INSERT INTO paths (site_id, path) SELECT * FROM UNNEST($1::bigint[], $2::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&sites)
        .bind(&texts)
        .execute(&mut **tx)
        .await?;
        let ids: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT p.site_id, p.path, p.id FROM UNNEST($1::bigint[], $2::text[]) \
             AS k (site_id, path) JOIN paths p ON p.site_id = k.site_id AND p.path = k.path",
        )
        .bind(&sites)
        .bind(&texts)
        .fetch_all(&mut **tx)
        .await?;
        for (site, path, id) in ids {
            cache.remember_path(site, &path, id);
        }
    }

    // 2. Visits the cache does not know: the latest of each hash, read in bulk.
    let (wanted, oldest) = wanted_visits(batch, cache);
    let mut known = KnownVisits::default();
    if !wanted.is_empty() {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT site_id, visitor_hash, id, last_seen_at FROM visits \
             WHERE last_seen_at >= $1 AND visitor_hash = ANY($2)",
        )
        .bind(oldest)
        .bind(&wanted)
        .fetch_all(&mut **tx)
        .await?;
        for (site, hash, id, last) in rows {
            known.add(site, hash, id, last);
        }
    }

    // 3. Each event to its visit, in order, and what that adds to the rollups (read from the
    // visits it continues, locked, as they were).
    let plan = plan_visits(batch, cache, &known, &traits_keys, tag);
    let stored = stored_visits(tx, &plan).await?;
    let mut rollups = Rollups::of(&plan, &stored);
    sqlx::query(PLAN_ONCE).execute(&mut **tx).await?;
    let VisitPlan {
        rows,
        new_visits,
        updates,
    } = plan;

    // 4. New visits with their final counters, known visits' counters added, and the
    // visitors' days, in one statement: what the visitor rows are afterwards decides the
    // visitors of their companies' days.
    let visitors = std::mem::take(&mut rollups.visitors);
    let after = write_visits(tx, &new_visits, &updates, &visitors, cache).await?;
    count_visitors(tx, &mut rollups, &visitors, after).await?;

    // 5. The rest in one statement: the other rollups, the events, bots, and the hours.
    write_rest(tx, &rollups, &rows, &batch.bots, cache).await?;
    Ok(gone)
}

/// The advisory lock keys of the (site, visitor hash) pairs of a batch whose visit the cache
/// cannot place (both hashes of an event after midnight), sorted, each once. Two pairs may
/// share a key: then one node waits a moment longer, nothing worse.
fn visitor_lock_keys(batch: &IngestBatch, cache: &VisitCache) -> Vec<i64> {
    let mut keys: Vec<i64> = Vec::new();
    if cache.is_complete() {
        return keys;
    }
    for ev in &batch.events {
        let site = ev.site_id.0;
        if cache.open_visit(site, ev.visitor_hash, ev.ts).is_none() {
            for hash in [Some(ev.visitor_hash), ev.previous_visitor_hash]
                .into_iter()
                .flatten()
            {
                keys.push(hash ^ site.wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as i64));
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The visits a plan updates, as they are before the batch, locked until it commits: a node
/// that updates one of them at the same time waits, then reads what this one wrote.
async fn stored_visits(
    tx: &mut Transaction<'_, Postgres>,
    plan: &VisitPlan<'_>,
) -> Result<HashMap<i64, StoredVisit>, sqlx::Error> {
    if plan.updates.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids: Vec<i64> = plan.updates.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    let rows: Vec<(i64, i64, i64, i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT id, site_id, visitor_hash, started_at, company_id, last_seen_at FROM visits \
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, site_id, visitor_hash, started_at, company_id, last_seen_at)| {
                (
                    id,
                    StoredVisit {
                        site_id,
                        visitor_hash,
                        started_at,
                        company_id,
                        last_seen_at,
                    },
                )
            },
        )
        .collect())
}

/// A visitor-day row: site, day, company, visitor hash.
type VisitorDay = (i64, i64, i64, i64);

/// Inserts new visits, adds to known ones and adds the visitors' days (one data-modifying
/// `WITH`, one round trip; the three touch different rows), and returns each visitor-day row
/// as it is afterwards.
async fn write_visits(
    tx: &mut Transaction<'_, Postgres>,
    new_visits: &[NewVisit<'_>],
    updates: &[(i64, VisitDelta)],
    visitors: &BTreeMap<VisitorDay, i64>,
    cache: &VisitCache,
) -> Result<Vec<(i64, i64, i64, i64, i64)>, sqlx::Error> {
    if new_visits.is_empty() && updates.is_empty() && visitors.is_empty() {
        return Ok(Vec::new());
    }
    let (v, u) = (new_visits, updates);
    let day = |f: fn(&VisitorDay, i64) -> i64| -> Vec<i64> {
        visitors.iter().map(|(k, n)| f(k, *n)).collect()
    };
    sqlx::query_as(
        "WITH new_visits AS (\
           INSERT INTO visits (id, site_id, visitor_hash, started_at, last_seen_at, \
           company_id, traits_id, entry_path_id, exit_path_id, pageviews, events, \
           engaged_ms) \
           SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
           $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], \
           $10::bigint[], $11::bigint[], $12::bigint[])), \
         known_visits AS (\
           UPDATE visits SET \
           last_seen_at = GREATEST(visits.last_seen_at, d.last_seen), \
           exit_path_id = COALESCE(d.exit_path_id, visits.exit_path_id), \
           pageviews = visits.pageviews + d.pageviews, \
           events = visits.events + d.events, \
           engaged_ms = visits.engaged_ms + d.engaged_ms, \
           visitor_hash = CASE WHEN visits.last_seen_at > d.last_seen \
               THEN visits.visitor_hash ELSE d.hash END \
           FROM UNNEST($13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], \
           $17::bigint[], $18::bigint[], $19::bigint[]) \
           AS d (id, last_seen, exit_path_id, pageviews, events, engaged_ms, hash) \
           WHERE visits.id = d.id) \
         INSERT INTO visitor_days (site_id, day, company_id, visitor_hash, visits) \
         SELECT * FROM UNNEST($20::bigint[], $21::bigint[], $22::bigint[], $23::bigint[], \
         $24::bigint[]) ON CONFLICT (site_id, day, company_id, visitor_hash) \
         DO UPDATE SET visits = visitor_days.visits + excluded.visits \
         RETURNING site_id, day, company_id, visitor_hash, visits",
    )
    .bind(col(v, |v| v.id))
    .bind(col(v, |v| v.first.site_id.0))
    .bind(col(v, |v| v.delta.visitor_hash))
    .bind(col(v, |v| v.first.ts))
    .bind(col(v, |v| v.delta.last_seen))
    .bind(col(v, |v| v.company_id))
    .bind(col(v, |v| v.traits_id))
    .bind(col(v, |v| path_id(cache, v.first.site_id.0, &v.first.path)))
    .bind(col(v, |v| {
        let exit = v.delta.exit_path.as_deref().unwrap_or(&v.first.path);
        path_id(cache, v.first.site_id.0, exit)
    }))
    .bind(col(v, |v| v.delta.pageviews))
    .bind(col(v, |v| v.delta.events))
    .bind(col(v, |v| v.delta.engaged_ms))
    .bind(col(u, |(id, _)| *id))
    .bind(col(u, |(_, d)| d.last_seen))
    .bind(col(u, |(_, d)| {
        d.exit_path.as_deref().map(|p| path_id(cache, d.site_id, p))
    }))
    .bind(col(u, |(_, d)| d.pageviews))
    .bind(col(u, |(_, d)| d.events))
    .bind(col(u, |(_, d)| d.engaged_ms))
    .bind(col(u, |(_, d)| d.visitor_hash))
    .bind(day(|k, _| k.0))
    .bind(day(|k, _| k.1))
    .bind(day(|k, _| k.2))
    .bind(day(|k, _| k.3))
    .bind(day(|_, n| n))
    .fetch_all(&mut **tx)
    .await
}

/// Counts the visitors of each company's day from what the visitor rows became (`after`),
/// and deletes the rows that emptied.
async fn count_visitors(
    tx: &mut Transaction<'_, Postgres>,
    r: &mut Rollups,
    visitors: &BTreeMap<VisitorDay, i64>,
    after: Vec<(i64, i64, i64, i64, i64)>,
) -> Result<(), sqlx::Error> {
    let mut emptied: Vec<VisitorDay> = Vec::new();
    for (site, day, company, hash, now) in after {
        let key = (site, day, company, hash);
        let n = visitors.get(&key).copied().unwrap_or(0);
        r.count_visitor(key, now - n, now);
        if now <= 0 {
            emptied.push(key);
        }
    }
    if emptied.is_empty() {
        return Ok(());
    }
    emptied.sort_unstable();
    sqlx::query(
        "DELETE FROM visitor_days v USING UNNEST($1::bigint[], $2::bigint[], \
         $3::bigint[], $4::bigint[]) AS k (site_id, day, company_id, visitor_hash) \
         WHERE v.site_id = k.site_id AND v.day = k.day AND v.company_id = k.company_id \
         AND v.visitor_hash = k.visitor_hash AND v.visits <= 0",
    )
    .bind(col(&emptied, |k| k.0))
    .bind(col(&emptied, |k| k.1))
    .bind(col(&emptied, |k| k.2))
    .bind(col(&emptied, |k| k.3))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Everything else a batch writes, in one statement (one round trip): its companies' days
/// and paths, the events (each column as an array that `UNNEST` turns back
/// into rows; what belongs to the visit, such as class, source, UTM fields and browser, is
/// on the visit only), the bot counts, and the hours it touched (`site_hours`, for the
/// dashboard's caches). Rows of each table in one order, the same in every batch (company
/// paths by their path's text, not its id), so that two batches locking the same rows
/// cannot deadlock.
async fn write_rest(
    tx: &mut Transaction<'_, Postgres>,
    r: &Rollups,
    rows: &[EventRow<'_>],
    bots: &[(crate::accounts::sites::SiteId, String, i64)],
    cache: &VisitCache,
) -> Result<(), sqlx::Error> {
    let days: Vec<(&(i64, i64, i64), &DayDelta)> = r.days.iter().collect();
    let paths: Vec<_> = r.paths.iter().collect();
    let hours: Vec<&(i64, i64)> = r.touched.iter().collect();
    sqlx::query(
        "WITH days AS (\
           INSERT INTO company_days (site_id, day, company_id, visits, visitors, pageviews, \
           engaged_ms, last_seen_at) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], \
           $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], \
           $8::bigint[]) ON CONFLICT (site_id, day, company_id) DO UPDATE SET \
           visits = company_days.visits + excluded.visits, \
           visitors = company_days.visitors + excluded.visitors, \
           pageviews = company_days.pageviews + excluded.pageviews, \
           engaged_ms = company_days.engaged_ms + excluded.engaged_ms, \
           last_seen_at = GREATEST(company_days.last_seen_at, excluded.last_seen_at)), \
         paths AS (\
           INSERT INTO company_paths (site_id, path_id, day, company_id, pageviews) \
           SELECT * FROM UNNEST($9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], \
           $13::bigint[]) ON CONFLICT (site_id, path_id, day, company_id) \
           DO UPDATE SET pageviews = company_paths.pageviews + excluded.pageviews), \
         events AS (\
           INSERT INTO events (site_id, visit_id, ts, name, path_id, props, engaged_ms, \
           company_id) SELECT * FROM UNNEST($14::bigint[], $15::bigint[], $16::bigint[], \
           $17::text[], $18::bigint[], $19::text[], $20::bigint[], $21::bigint[])), \
         bots AS (\
           INSERT INTO bot_counts (site_id, day, count) SELECT * FROM UNNEST($22::bigint[], \
           $23::text[], $24::bigint[]) ON CONFLICT (site_id, day) \
           DO UPDATE SET count = bot_counts.count + excluded.count) \
         INSERT INTO site_hours (site_id, hour, version) SELECT k.site_id, k.hour, $27 \
         FROM UNNEST($25::bigint[], $26::bigint[]) AS k (site_id, hour) \
         ON CONFLICT (site_id, hour) DO UPDATE SET version = excluded.version",
    )
    .bind(col(&days, |(k, _)| k.0))
    .bind(col(&days, |(k, _)| k.1))
    .bind(col(&days, |(k, _)| k.2))
    .bind(col(&days, |(_, v)| v.visits))
    .bind(col(&days, |(_, v)| v.visitors))
    .bind(col(&days, |(_, v)| v.pageviews))
    .bind(col(&days, |(_, v)| v.engaged_ms))
    .bind(col(&days, |(_, v)| v.last_seen_at))
    .bind(col(&paths, |(k, _)| k.0))
    .bind(col(&paths, |(k, _)| path_id(cache, k.0, &k.1)))
    .bind(col(&paths, |(k, _)| k.2))
    .bind(col(&paths, |(k, _)| k.3))
    .bind(col(&paths, |(_, n)| **n))
    .bind(col(rows, |r| r.event.site_id.0))
    .bind(col(rows, |r| r.visit_id))
    .bind(col(rows, |r| r.event.ts))
    .bind(col(rows, |r| r.event.name.clone()))
    .bind(col(rows, |r| {
        path_id(cache, r.event.site_id.0, &r.event.path)
    }))
    .bind(col(rows, |r| r.event.props.clone()))
    .bind(col(rows, |r| r.event.engaged_ms))
    .bind(col(rows, |r| r.company_id))
    .bind(col(bots, |(site, _, _)| site.0))
    .bind(col(bots, |(_, day, _)| day.clone()))
    .bind(col(bots, |(_, _, n)| *n))
    .bind(col(&hours, |k| k.0))
    .bind(col(&hours, |k| k.1))
    .bind(rand::random::<i64>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
