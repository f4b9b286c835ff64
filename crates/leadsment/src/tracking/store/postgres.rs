//! PostgreSQL's event writes, for several nodes sharing one database: each batch in a
//! handful of statements whatever its size, each with one fixed text, so prepared once per
//! connection (companies upserted in bulk, the visits the cache does not know read in bulk,
//! new visits inserted with their final counters, known visits updated in bulk, the rollups,
//! bot counts added), and the events in one `INSERT … SELECT * FROM UNNEST`.
//! Other nodes write too, so the database stays the truth: a visit the cache misses is read.

use std::collections::{BTreeMap, HashMap};

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

use crate::store::StoreError;
use crate::tracking::model::IngestBatch;
use crate::tracking::rollups::{DayDelta, Rollups, StoredVisit};
use crate::tracking::visit_cache::VisitCache;
use crate::tracking::visits::{
    EventRow, KnownVisits, VisitPlan, missing_companies, plan_visits, wanted_visits,
};

/// Writes a batch in one transaction. On failure nothing is written and the cache, which may
/// already hold what the rolled-back transaction would have written, is cleared.
/// New visits get ids with `tag`, the node's leased tag.
pub async fn write(
    pool: &PgPool,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<(), StoreError> {
    if batch.events.is_empty() && batch.bots.is_empty() {
        return Ok(());
    }
    let result = async {
        let mut tx = pool.begin().await?;
        let rows = write_in(&mut tx, batch, cache, tag).await?;
        insert_events(&mut tx, &rows).await?;
        tx.commit().await
    }
    .await;
    if result.is_err() {
        cache.clear();
    }
    Ok(result?)
}

/// A column of a batch's rows, to bind as one array parameter.
fn col<R, T>(rows: &[R], f: impl Fn(&R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

// Every statement below has one fixed text whatever the batch's size: each column travels as
// an array and `UNNEST` turns the arrays back into rows. A text per size (a `VALUES` list of
// N rows) was prepared and planned anew on most batches, since batches come in every size.

async fn write_in<'b>(
    tx: &mut Transaction<'_, Postgres>,
    batch: &'b IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<Vec<EventRow<'b>>, sqlx::Error> {
    // 0. The visitors whose visit the cache cannot place, locked until the commit: a node
    // writing a visitor's event at the same time waits here, then reads the visit this one
    // opened and continues it, where both would otherwise open one. Taken first (before any
    // row lock) and in key order, in one statement, so two batches cannot deadlock on them.
    let keys = visitor_lock_keys(batch, cache);
    if !keys.is_empty() {
        sqlx::query("SELECT pg_advisory_xact_lock(k) FROM UNNEST($1::bigint[]) AS k")
            .bind(&keys)
            .execute(&mut **tx)
            .await?;
    }

    cache.make_room();
    // 1. Companies: insert the ones this node has not seen, then read their ids.
    let missing = missing_companies(batch, cache);
    let now = batch.events.first().map_or(0, |e| e.ts);
    if !missing.is_empty() {
        sqlx::query(
            "INSERT INTO companies (key, name, org, domain, asn, country, class, \
             class_reason, first_seen_at) SELECT k.*, $9 FROM UNNEST($1::text[], $2::text[], \
             $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[]) AS k \
             ON CONFLICT (key) DO UPDATE SET class_reason = excluded.class_reason \
             WHERE companies.class_reason IS NULL",
        )
        .bind(col(&missing, |c| c.key.clone()))
        .bind(col(&missing, |c| c.name.clone()))
        .bind(col(&missing, |c| c.org.clone()))
        .bind(col(&missing, |c| c.domain.clone()))
        .bind(col(&missing, |c| c.asn))
        .bind(col(&missing, |c| c.country.clone()))
        .bind(col(&missing, |c| c.class.clone()))
        .bind(col(&missing, |c| c.class_reason.clone()))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let ids: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, id FROM companies WHERE key = ANY($1)")
                .bind(col(&missing, |c| c.key.clone()))
                .fetch_all(&mut **tx)
                .await?;
        for (key, id) in ids {
            cache.remember_company(&key, id);
        }
    }

    // 1b. Combinations of visit traits this node has not seen, the same way.
    let traits = crate::tracking::traits::missing(batch, cache);
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
    let plan = plan_visits(batch, cache, &known, tag);
    let stored = stored_visits(tx, &plan).await?;
    let mut rollups = Rollups::of(&plan, &stored);
    let VisitPlan {
        rows,
        new_visits,
        updates,
    } = plan;

    // 4. New visits, with their final counters.
    if !new_visits.is_empty() {
        let v = &new_visits;
        sqlx::query(
            "INSERT INTO visits (id, site_id, visitor_hash, started_at, last_seen_at, \
             company_id, traits_id, entry_path, exit_path, pageviews, events, engaged_ms) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], \
             $10::bigint[], $11::bigint[], $12::bigint[])",
        )
        .bind(col(v, |v| v.id))
        .bind(col(v, |v| v.first.site_id.0))
        .bind(col(v, |v| v.delta.visitor_hash))
        .bind(col(v, |v| v.first.ts))
        .bind(col(v, |v| v.delta.last_seen))
        .bind(col(v, |v| v.company_id))
        .bind(col(v, |v| v.traits_id))
        .bind(col(v, |v| v.first.path.clone()))
        .bind(col(v, |v| {
            v.delta
                .exit_path
                .clone()
                .unwrap_or_else(|| v.first.path.clone())
        }))
        .bind(col(v, |v| v.delta.pageviews))
        .bind(col(v, |v| v.delta.events))
        .bind(col(v, |v| v.delta.engaged_ms))
        .execute(&mut **tx)
        .await?;
    }

    // 5. Known visits: counters added, in one statement.
    if !updates.is_empty() {
        let u = &updates;
        sqlx::query(
            "UPDATE visits SET \
             last_seen_at = GREATEST(visits.last_seen_at, d.last_seen), \
             exit_path = COALESCE(d.exit_path, visits.exit_path), \
             pageviews = visits.pageviews + d.pageviews, \
             events = visits.events + d.events, \
             engaged_ms = visits.engaged_ms + d.engaged_ms, \
             visitor_hash = CASE WHEN visits.last_seen_at > d.last_seen \
                 THEN visits.visitor_hash ELSE d.hash END \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::bigint[]) \
             AS d (id, last_seen, exit_path, pageviews, events, engaged_ms, hash) \
             WHERE visits.id = d.id",
        )
        .bind(col(u, |(id, _)| *id))
        .bind(col(u, |(_, d)| d.last_seen))
        .bind(col(u, |(_, d)| d.exit_path.clone()))
        .bind(col(u, |(_, d)| d.pageviews))
        .bind(col(u, |(_, d)| d.events))
        .bind(col(u, |(_, d)| d.engaged_ms))
        .bind(col(u, |(_, d)| d.visitor_hash))
        .execute(&mut **tx)
        .await?;
    }

    // 6. The rollups.
    write_rollups(tx, &mut rollups).await?;

    // 7. Bots.
    if !batch.bots.is_empty() {
        let b = &batch.bots;
        sqlx::query(
            "INSERT INTO bot_counts (site_id, day, count) SELECT * FROM UNNEST($1::bigint[], \
             $2::text[], $3::bigint[]) ON CONFLICT (site_id, day) \
             DO UPDATE SET count = bot_counts.count + excluded.count",
        )
        .bind(col(b, |(site, _, _)| site.0))
        .bind(col(b, |(_, day, _)| day.clone()))
        .bind(col(b, |(_, _, n)| *n))
        .execute(&mut **tx)
        .await?;
    }
    Ok(rows)
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

/// Adds a batch's rollups, each table in one statement: the visitor rows first, since whether
/// a row comes into being or empties decides the visitors of its company's day.
async fn write_rollups(
    tx: &mut Transaction<'_, Postgres>,
    r: &mut Rollups,
) -> Result<(), sqlx::Error> {
    let visitors = std::mem::take(&mut r.visitors);
    if !visitors.is_empty() {
        fn col(
            v: &BTreeMap<(i64, i64, i64, i64), i64>,
            f: impl Fn(&(i64, i64, i64, i64), i64) -> i64,
        ) -> Vec<i64> {
            v.iter().map(|(k, n)| f(k, *n)).collect()
        }
        let after: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "INSERT INTO visitor_days (site_id, day, company_id, visitor_hash, visits) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
             $5::bigint[]) ON CONFLICT (site_id, day, company_id, visitor_hash) \
             DO UPDATE SET visits = visitor_days.visits + excluded.visits \
             RETURNING site_id, day, company_id, visitor_hash, visits",
        )
        .bind(col(&visitors, |k, _| k.0))
        .bind(col(&visitors, |k, _| k.1))
        .bind(col(&visitors, |k, _| k.2))
        .bind(col(&visitors, |k, _| k.3))
        .bind(col(&visitors, |_, n| n))
        .fetch_all(&mut **tx)
        .await?;
        let mut emptied: BTreeMap<(i64, i64, i64, i64), i64> = BTreeMap::new();
        for (site, day, company, hash, now) in after {
            let key = (site, day, company, hash);
            let n = visitors.get(&key).copied().unwrap_or(0);
            r.count_visitor(key, now - n, now);
            if now <= 0 {
                emptied.insert(key, 0);
            }
        }
        if !emptied.is_empty() {
            sqlx::query(
                "DELETE FROM visitor_days v USING UNNEST($1::bigint[], $2::bigint[], \
                 $3::bigint[], $4::bigint[]) AS k (site_id, day, company_id, visitor_hash) \
                 WHERE v.site_id = k.site_id AND v.day = k.day AND v.company_id = k.company_id \
                 AND v.visitor_hash = k.visitor_hash AND v.visits <= 0",
            )
            .bind(col(&emptied, |k, _| k.0))
            .bind(col(&emptied, |k, _| k.1))
            .bind(col(&emptied, |k, _| k.2))
            .bind(col(&emptied, |k, _| k.3))
            .execute(&mut **tx)
            .await?;
        }
    }
    if !r.days.is_empty() {
        let days: Vec<(&(i64, i64, i64), &DayDelta)> = r.days.iter().collect();
        sqlx::query(
            "INSERT INTO company_days (site_id, day, company_id, visits, visitors, pageviews, \
             engaged_ms, last_seen_at) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], \
             $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], \
             $8::bigint[]) ON CONFLICT (site_id, day, company_id) DO UPDATE SET \
             visits = company_days.visits + excluded.visits, \
             visitors = company_days.visitors + excluded.visitors, \
             pageviews = company_days.pageviews + excluded.pageviews, \
             engaged_ms = company_days.engaged_ms + excluded.engaged_ms, \
             last_seen_at = GREATEST(company_days.last_seen_at, excluded.last_seen_at)",
        )
        .bind(days.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
        .bind(days.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
        .bind(days.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
        .bind(days.iter().map(|(_, v)| v.visits).collect::<Vec<_>>())
        .bind(days.iter().map(|(_, v)| v.visitors).collect::<Vec<_>>())
        .bind(days.iter().map(|(_, v)| v.pageviews).collect::<Vec<_>>())
        .bind(days.iter().map(|(_, v)| v.engaged_ms).collect::<Vec<_>>())
        .bind(days.iter().map(|(_, v)| v.last_seen_at).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !r.paths.is_empty() {
        sqlx::query(
            "INSERT INTO company_paths (site_id, path, day, company_id, pageviews) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], \
             $5::bigint[]) ON CONFLICT (site_id, path, day, company_id) \
             DO UPDATE SET pageviews = company_paths.pageviews + excluded.pageviews",
        )
        .bind(r.paths.keys().map(|k| k.0).collect::<Vec<_>>())
        .bind(r.paths.keys().map(|k| k.1.clone()).collect::<Vec<_>>())
        .bind(r.paths.keys().map(|k| k.2).collect::<Vec<_>>())
        .bind(r.paths.keys().map(|k| k.3).collect::<Vec<_>>())
        .bind(r.paths.values().copied().collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !r.site_paths.is_empty() {
        sqlx::query(
            "INSERT INTO site_paths (site_id, path) SELECT * FROM UNNEST($1::bigint[], \
             $2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(r.site_paths.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(r.site_paths.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    if !r.touched.is_empty() {
        sqlx::query(
            "INSERT INTO site_hours (site_id, hour, version) SELECT k.site_id, k.hour, $3 \
             FROM UNNEST($1::bigint[], $2::bigint[]) AS k (site_id, hour) \
             ON CONFLICT (site_id, hour) DO UPDATE SET version = excluded.version",
        )
        .bind(r.touched.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(r.touched.iter().map(|k| k.1).collect::<Vec<_>>())
        .bind(rand::random::<i64>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One statement per batch: each column travels as an array and UNNEST turns them back into
/// rows, which beats row-by-row inserts by an order of magnitude. What belongs to the visit
/// (class, source, UTM fields, browser, ...) is on the visit only.
async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[EventRow<'_>],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO events (site_id, visit_id, ts, name, path, props, engaged_ms, \
         company_id) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], \
         $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])",
    )
    .bind(col(rows, |r| r.event.site_id.0))
    .bind(col(rows, |r| r.visit_id))
    .bind(col(rows, |r| r.event.ts))
    .bind(col(rows, |r| r.event.name.clone()))
    .bind(col(rows, |r| r.event.path.clone()))
    .bind(col(rows, |r| r.event.props.clone()))
    .bind(col(rows, |r| r.event.engaged_ms))
    .bind(col(rows, |r| r.company_id))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
