//! SQLite's event writes: a whole batch, `BEGIN IMMEDIATE` to `COMMIT`, on the database's
//! bulk writer connection (`store::sqlite::BulkWriter`: rusqlite on the same libsqlite3 that
//! sqlx links), from the writer's own thread, with cached single-row statements.
//!
//! This process is the database's only writer, so the [`VisitCache`] holds every recent
//! visit and no visit is looked up by visitor hash (the table keeps no index for that).

use std::collections::HashMap;

use rusqlite::{Connection, TransactionBehavior, params};

use crate::store::sqlite::BulkWriter;
use crate::store::{StoreError, now_ms};
use crate::tracking::model::{ENGAGEMENT_LOOKBACK_MS, IngestBatch};
use crate::tracking::paths::id as path_id;
use crate::tracking::rollups::{Rollups, StoredVisit};
use crate::tracking::visit_cache::VisitCache;
use crate::tracking::visits::{
    KnownVisits, VisitPlan, missing_companies, plan_visits, started_at_of, visit_id_floor,
    wanted_visits,
};

/// Writes a batch in one transaction, and returns how many of its events were left out
/// because their site is gone. On failure nothing is written and the cache, which may
/// hold ids the rolled-back transaction would have written, is cleared.
/// New visits get ids with `tag`, the node's leased tag.
pub fn write(
    bulk: &BulkWriter,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> Result<u64, StoreError> {
    if batch.events.is_empty() && batch.bots.is_empty() {
        return Ok(0);
    }
    let mut conn = bulk.lock();
    let result = write_batch(&mut conn, batch, cache, tag);
    if result.is_err() {
        cache.clear();
    }
    Ok(result?)
}

fn write_batch(
    conn: &mut Connection,
    batch: &IngestBatch,
    cache: &mut VisitCache,
    tag: u16,
) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;

    // 0. The events of a site deleted since they were accepted are left out (its rows would
    // fail their foreign key, and with them the whole batch).
    let sites = super::batch_sites(batch);
    let mut present = Vec::with_capacity(sites.len());
    let mut exists = tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM sites WHERE id = ?1)")?;
    for &site in &sites {
        if exists.query_row([site], |r| r.get(0))? {
            present.push(site);
        }
    }
    drop(exists);
    let (batch, gone) = super::without_gone_sites(batch, &sites, &present);
    let batch = &*batch;

    cache.make_room();
    // 1. Companies this node has not seen: inserted unless another node did, then their ids.
    let missing = missing_companies(batch, cache);
    if !missing.is_empty() {
        let now = batch.events.first().map_or(0, |e| e.ts);
        let mut insert = tx.prepare_cached(
            "INSERT INTO companies \
             (key, name, org, domain, asn, country, class, class_reason, first_seen_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (key) DO UPDATE \
             SET class_reason = excluded.class_reason WHERE companies.class_reason IS NULL",
        )?;
        let mut select = tx.prepare_cached("SELECT id FROM companies WHERE key = ?1")?;
        for c in missing {
            insert.execute(params![
                c.key,
                c.name,
                c.org,
                c.domain,
                c.asn,
                c.country,
                c.class,
                c.class_reason,
                now
            ])?;
            let id: i64 = select.query_row([&c.key], |r| r.get(0))?;
            cache.remember_company(&c.key, id);
        }
    }

    // 1b. Combinations of visit traits this node has not seen, the same way.
    let traits_keys = crate::tracking::traits::keys(batch, cache);
    let traits = crate::tracking::traits::missing(batch, &traits_keys, cache);
    if !traits.is_empty() {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO visit_traits (key, {}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             ?10, ?11, ?12, ?13) ON CONFLICT (key) DO NOTHING",
            crate::tracking::traits::COLUMNS
        ))?;
        let mut select = tx.prepare_cached("SELECT id FROM visit_traits WHERE key = ?1")?;
        for (key, e) in traits {
            insert.execute(params![
                key,
                e.class,
                e.country,
                e.source,
                e.channel,
                e.utm_source,
                e.utm_medium,
                e.utm_campaign,
                e.utm_term,
                e.utm_content,
                e.browser,
                e.os,
                e.device,
            ])?;
            let id: i64 = select.query_row([&key], |r| r.get(0))?;
            cache.remember_traits(&key, id);
        }
    }

    // 1c. Paths this node has not seen, the same way.
    let paths = crate::tracking::paths::missing(batch, cache);
    if !paths.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO paths (site_id, path) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?;
        let mut select =
            tx.prepare_cached("SELECT id FROM paths WHERE site_id = ?1 AND path = ?2")?;
        for (site, path) in paths {
            insert.execute(params![site, path])?;
            let id: i64 = select.query_row(params![site, path], |r| r.get(0))?;
            cache.remember_path(site, path, id);
        }
    }

    // 2. This process is the only writer, so memory holds every recent visit; after a
    // start or a failed batch it is read back from the store first.
    if !cache.is_complete() {
        let now = batch.events.iter().map(|e| e.ts).min();
        load_recent_visits(&tx, cache, now.unwrap_or_else(now_ms))?;
    }
    debug_assert!(wanted_visits(batch, cache).0.is_empty());
    let known = KnownVisits::default();

    // 3. Each event to its visit, and what that adds to the rollups (read from the visits
    // it continues, as they were).
    let plan = plan_visits(batch, cache, &known, &traits_keys, tag);
    let stored = stored_visits(&tx, &plan)?;
    let mut rollups = Rollups::of(&plan, &stored);
    let VisitPlan {
        rows,
        new_visits,
        updates,
    } = plan;

    // 4. New visits, with their final counters.
    if !new_visits.is_empty() {
        let mut insert = tx.prepare_cached(
            // No start time: it is the id's first bits; the last event's time is kept as
            // milliseconds after it (migration 0024).
            "INSERT INTO visits (id, site_id, visitor_hash, seen_ms, \
             company_id, traits_id, entry_path_id, exit_path_id, pageviews, events, \
             engaged_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for v in &new_visits {
            let e = v.first;
            let site = e.site_id.0;
            let exit = v.delta.exit_path.as_deref().unwrap_or(&e.path);
            insert.execute(params![
                v.id,
                e.site_id.0,
                v.delta.visitor_hash,
                v.delta.last_seen - started_at_of(v.id),
                v.company_id,
                v.traits_id,
                path_id(cache, site, &e.path),
                path_id(cache, site, exit),
                v.delta.pageviews,
                v.delta.events,
                v.delta.engaged_ms,
            ])?;
        }
    }

    // 5. Known visits: counters added. In an UPDATE every expression reads the old row, so
    // the hash moves on only when this batch holds the visit's latest event.
    if !updates.is_empty() {
        let mut update = tx.prepare_cached(
            "UPDATE visits SET \
             seen_ms = MAX(seen_ms, ?9), \
             exit_path_id = COALESCE(?3, exit_path_id), \
             pageviews = pageviews + ?4, \
             events = events + ?5, \
             engaged_ms = engaged_ms + ?6, \
             visitor_hash = CASE WHEN last_seen_at > ?2 THEN visitor_hash ELSE ?7 END \
             WHERE site_id = ?8 AND id = ?1",
        )?;
        for (id, d) in &updates {
            update.execute(params![
                id,
                d.last_seen,
                d.exit_path.as_deref().map(|p| path_id(cache, d.site_id, p)),
                d.pageviews,
                d.events,
                d.engaged_ms,
                d.visitor_hash,
                d.site_id,
                d.last_seen - started_at_of(*id),
            ])?;
        }
    }

    // 6. Bots.
    if !batch.bots.is_empty() {
        let mut add = tx.prepare_cached(
            "INSERT INTO bot_counts (site_id, day, count) VALUES (?1, ?2, ?3) \
             ON CONFLICT (site_id, day) DO UPDATE SET count = bot_counts.count + excluded.count",
        )?;
        for (site, day, count) in &batch.bots {
            add.execute(params![site.0, day, count])?;
        }
    }

    // 7. The rollups.
    write_rollups(&tx, &mut rollups, cache)?;

    // 8. The events (what belongs to their visit is on the visit only), numbered here from
    // the store's next number, read in this transaction (another process may write events
    // too, as `leadsment demo` does beside `serve`), and the next number written back.
    if !rows.is_empty() {
        let mut next: i64 = tx
            .prepare_cached("SELECT next FROM event_ids")?
            .query_row([], |r| r.get(0))?;
        let mut insert = tx.prepare_cached(
            // A pageview's name is not stored (migration 0024).
            "INSERT INTO events (id, site_id, visit_id, ts, other_name, path_id, props, \
             engaged_ms, company_id) VALUES (?9, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for r in &rows {
            let e = r.event;
            insert.execute(params![
                e.site_id.0,
                r.visit_id,
                e.ts,
                (e.name != "pageview").then_some(&e.name),
                path_id(cache, e.site_id.0, &e.path),
                e.props,
                e.engaged_ms,
                r.company_id,
                next,
            ])?;
            next += 1;
        }
        tx.prepare_cached("UPDATE event_ids SET next = ?1")?
            .execute([next])?;
    }
    tx.commit()?;
    Ok(gone)
}

/// The visits a plan updates, as they are before the batch.
fn stored_visits(
    tx: &Connection,
    plan: &VisitPlan<'_>,
) -> rusqlite::Result<HashMap<i64, StoredVisit>> {
    let mut select = tx.prepare_cached(
        "SELECT site_id, visitor_hash, started_at, company_id, last_seen_at FROM visits \
         WHERE site_id = ?1 AND id = ?2",
    )?;
    let mut out = HashMap::with_capacity(plan.updates.len());
    for (id, d) in &plan.updates {
        let v = select.query_row([d.site_id, *id], |r| {
            Ok(StoredVisit {
                site_id: r.get(0)?,
                visitor_hash: r.get(1)?,
                started_at: r.get(2)?,
                company_id: r.get(3)?,
                last_seen_at: r.get(4)?,
            })
        })?;
        out.insert(*id, v);
    }
    Ok(out)
}

/// Adds a batch's rollups: the visitor rows first, since whether a row comes into being or
/// empties decides the visitors of its company's day.
fn write_rollups(tx: &Connection, r: &mut Rollups, cache: &VisitCache) -> rusqlite::Result<()> {
    let visitors = std::mem::take(&mut r.visitors);
    if !visitors.is_empty() {
        let mut add = tx.prepare_cached(
            "INSERT INTO visitor_days (site_id, day, company_id, visitor_hash, visits) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (site_id, day, company_id, visitor_hash) \
             DO UPDATE SET visits = visits + excluded.visits RETURNING visits",
        )?;
        let mut empty = tx.prepare_cached(
            "DELETE FROM visitor_days WHERE site_id = ?1 AND day = ?2 AND company_id = ?3 \
             AND visitor_hash = ?4 AND visits <= 0",
        )?;
        for (key, n) in &visitors {
            let (site, day, company, hash) = *key;
            let after: i64 =
                add.query_row(params![site, day, company, hash, n], |row| row.get(0))?;
            if after <= 0 {
                empty.execute(params![site, day, company, hash])?;
            }
            r.count_visitor(*key, after - n, after);
        }
    }
    let mut day = tx.prepare_cached(
        "INSERT INTO company_days (site_id, day, company_id, visits, visitors, pageviews, \
         engaged_ms, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (site_id, day, company_id) DO UPDATE SET \
         visits = visits + excluded.visits, visitors = visitors + excluded.visitors, \
         pageviews = pageviews + excluded.pageviews, \
         engaged_ms = engaged_ms + excluded.engaged_ms, \
         last_seen_at = MAX(last_seen_at, excluded.last_seen_at)",
    )?;
    for ((site, d, company), v) in &r.days {
        day.execute(params![
            site,
            d,
            company,
            v.visits,
            v.visitors,
            v.pageviews,
            v.engaged_ms,
            v.last_seen_at
        ])?;
    }
    let mut path = tx.prepare_cached(
        "INSERT INTO company_paths (site_id, path_id, day, company_id, pageviews) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (site_id, path_id, day, company_id) \
         DO UPDATE SET pageviews = pageviews + excluded.pageviews",
    )?;
    for ((site, p, d, company), n) in &r.paths {
        path.execute(params![site, path_id(cache, *site, p), d, company, n])?;
    }
    let mut touched = tx.prepare_cached(
        "INSERT INTO site_hours (site_id, hour, version) VALUES (?1, ?2, ?3) \
         ON CONFLICT (site_id, hour) DO UPDATE SET version = excluded.version",
    )?;
    let version: i64 = rand::random();
    for (site, hour) in &r.touched {
        touched.execute(params![site, hour, version])?;
    }
    Ok(())
}

/// Reads every visit an event at `now` could still continue into `cache` and marks it
/// complete: those seen within [`ENGAGEMENT_LOOKBACK_MS`], among those started within
/// [`LOAD_STARTED_WITHIN_MS`] (a range of ids, which begin with the start time, so the read
/// is one range of the table's own key for each site). A visit kept going for longer than that continues only
/// until a restart.
fn load_recent_visits(
    tx: &rusqlite::Transaction<'_>,
    cache: &mut VisitCache,
    now: i64,
) -> rusqlite::Result<()> {
    let mut select = tx.prepare_cached(
        "SELECT v.site_id, v.visitor_hash, v.id, v.last_seen_at \
         FROM sites s CROSS JOIN visits v ON v.site_id = s.id \
         WHERE v.id >= ?1 AND v.last_seen_at >= ?2",
    )?;
    let mut rows = select.query(params![
        visit_id_floor(now - LOAD_STARTED_WITHIN_MS),
        now - ENGAGEMENT_LOOKBACK_MS
    ])?;
    // Complete from here on, so that visits dropped for room are reported (should this read
    // fail, the batch fails and the cache is cleared).
    cache.mark_complete();
    while let Some(r) = rows.next()? {
        cache.remember_visit(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    }
    Ok(())
}

/// How far back visits are read when the writer starts.
const LOAD_STARTED_WITHIN_MS: i64 = 2 * 24 * 60 * 60 * 1000;
