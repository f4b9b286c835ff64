//! The PostgreSQL writer's look-ups stay index look-ups as its tables grow: a plan made for
//! any values while `visits` was empty (a sequential scan, the cheapest then) was kept by
//! each connection after five runs, and then read every visit for every batch until an
//! `ANALYZE` replaced it (never, with autovacuum off). PostgreSQL only: SQLite's writer keeps
//! recent visits in memory and does not look them up.

use std::time::Duration;

use leadsment::store::{Db, sql};
use leadsment::tracking::model::IngestBatch;
use leadsment::tracking::visit_cache::VisitCache;

use crate::support::Backend;
use crate::tracking::{event_at_site, store_with_site};

/// Rows of `visits` read by sequential scans so far, once every backend has reported: the
/// counters come from each backend at most once a second, while it is idle.
async fn visit_rows_scanned(store: &Db) -> i64 {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    store
        .value(sql(
            "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'visits'",
        ))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visit_look_ups_read_by_index_once_the_table_has_grown() {
    let (_db, store, site) = store_with_site(Backend::Postgres).await;
    let lease = leadsment::nodes::NodeLease::for_command(store.clone())
        .await
        .unwrap();
    let tag = lease.tag().unwrap();
    let t0 = leadsment::store::now_ms() - 3_600_000;
    let mut visitor = 0;
    let mut batch_of_new_visitors = |at: i64| {
        let events = (0..5)
            .map(|_| {
                visitor += 1;
                event_at_site(site.id, at, visitor, None, "pageview")
            })
            .collect();
        IngestBatch {
            events,
            bots: Vec::new(),
        }
    };
    // Twelve batches on an empty table: each looks its new visitors up (a cache of its own,
    // as another node's), so the look-up's plan is settled while `visits` is nearly empty
    // (after five runs on a connection; the pool may spread them over two).
    for i in 0..12 {
        let batch = batch_of_new_visitors(t0 + i);
        leadsment::tracking::store::ingest(&store, &batch, &mut VisitCache::default(), tag)
            .await
            .unwrap();
    }
    // Then the table grows by 30,000 visits of long ago, without an ANALYZE.
    store
        .write(
            sql(
                "INSERT INTO visits (id, site_id, visitor_hash, started_at, last_seen_at, \
             company_id, traits_id, entry_path, exit_path, pageviews, events, engaged_ms) \
             SELECT g, $1, 1000000 + g, 1000, 1000, NULL, 0, '/', '/', 1, 1, 0 \
             FROM generate_series(1, 30000) AS g",
            )
            .bind(site.id.0),
        )
        .await
        .unwrap();
    let before = visit_rows_scanned(&store).await;
    for i in 0..5 {
        let batch = batch_of_new_visitors(t0 + 100 + i);
        leadsment::tracking::store::ingest(&store, &batch, &mut VisitCache::default(), tag)
            .await
            .unwrap();
    }
    let read = visit_rows_scanned(&store).await - before;
    assert!(
        read < 30_000,
        "five batches read {read} visit rows by sequential scan: the look-up scans the table"
    );
    lease.release().await;
    store.close().await;
}
