//! The PostgreSQL writer's look-ups are planned for the values they carry. A plan made once
//! for any values (PostgreSQL's choice after five runs of a prepared statement) was made
//! while `visits` was small, as a sequential scan, and kept while the table grew: on the
//! ingest benchmark it read every visit for every batch until autovacuum's next `ANALYZE`
//! (BENCHMARKS.md, "Ingest"). PostgreSQL only: SQLite's writer keeps recent visits in memory
//! and does not look them up.

use leadsment::store::{Db, sql};
use leadsment::tracking::model::IngestBatch;
use leadsment::tracking::visit_cache::VisitCache;

use crate::support::Backend;
use crate::tracking::{event_at_site, store_with_site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visit_look_ups_are_planned_for_their_values() {
    let (db, store, site) = store_with_site(Backend::Postgres).await;
    // The batches on one connection, which keeps its prepared statements and their plans.
    let writer = Db::Postgres(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&db.url)
            .await
            .unwrap(),
    );
    let lease = leadsment::nodes::NodeLease::for_command(store.clone())
        .await
        .unwrap();
    let tag = lease.tag().unwrap();
    let t0 = leadsment::store::now_ms() - 3_600_000;
    // Twelve batches of new visitors, each looked up (a cache of its own, as another
    // node's): more than the five runs after which PostgreSQL may keep one plan.
    for i in 0..12 {
        let events = (0..5)
            .map(|v| event_at_site(site.id, t0 + i, i * 10 + v + 1, None, "pageview"))
            .collect();
        let batch = IngestBatch {
            events,
            bots: Vec::new(),
        };
        leadsment::tracking::store::ingest(&writer, &batch, &mut VisitCache::default(), tag)
            .await
            .unwrap();
    }
    let plans: Vec<(i64, i64)> = writer
        .all(sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
             WHERE statement LIKE '%FROM visits WHERE last_seen_at >= $1 AND visitor_hash%' \
             AND statement NOT LIKE '%pg_prepared_statements%'",
        ))
        .await
        .unwrap();
    assert_eq!(
        plans,
        [(0, 12)],
        "the look-up by visitor: (plans for any values, plans for the values) on the connection"
    );
    lease.release().await;
    writer.close().await;
    store.close().await;
}
