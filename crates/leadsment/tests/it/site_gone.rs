//! A deleted site takes its tracking rows with it, and events accepted for it but not yet
//! written are left out while the rest of their batch is written. On PostgreSQL the tables
//! ingest writes per event no longer check their site by foreign key (migration 0025): the
//! writer locks a batch's sites once, and a trigger deletes a site's rows with it.

use leadsment::accounts::sites::{NewSite, Site};
use leadsment::store::{Db, sql};
use leadsment::tracking::model::{CompanyInfo, IngestBatch, NewEvent};
use leadsment::tracking::visit_cache::VisitCache;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};
use crate::tracking::event_at_site;

/// The tables the event writer fills for a site.
const TABLES: [&str; 6] = [
    "events",
    "visits",
    "visitor_days",
    "company_days",
    "company_paths",
    "site_hours",
];

async fn two_sites(backend: Backend) -> (TestDb, Db, Site, Site) {
    let (db, store) = TestDb::open(backend).await;
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let mut sites = Vec::new();
    for domain in ["kept.example", "gone.example"] {
        let new = NewSite::new(ws.id, domain, &[]).unwrap();
        sites.push(
            leadsment::accounts::store::create_site(&store, &new)
                .await
                .unwrap(),
        );
    }
    let gone = sites.pop().unwrap();
    let kept = sites.pop().unwrap();
    (db, store, kept, gone)
}

/// Three visitors' pageviews on `site`, from one company.
fn events(site: &Site, t0: i64, first_visitor: i64) -> Vec<NewEvent> {
    (0..3)
        .map(|i| NewEvent {
            company: Some(CompanyInfo {
                key: "domain:visitor.example".into(),
                name: "Visitor AG".into(),
                org: None,
                domain: Some("visitor.example".into()),
                asn: Some(64_998),
                country: Some("CH".into()),
                class: "business".into(),
                class_reason: None,
            }),
            ..event_at_site(site.id, t0 + i, first_visitor + i, None, "pageview")
        })
        .collect()
}

async fn rows(store: &Db, table: &str, site: &Site) -> i64 {
    store
        .value(sql(format!("SELECT COUNT(*) FROM {table} WHERE site_id = $1")).bind(site.id.0))
        .await
        .unwrap()
}

async fn delete_site(store: &Db, site: &Site) {
    store
        .write(sql("DELETE FROM sites WHERE id = $1").bind(site.id.0))
        .await
        .unwrap();
}

async fn ingest(store: &Db, events: Vec<NewEvent>) -> u64 {
    let batch = IngestBatch {
        events,
        bots: vec![],
    };
    let lease = leadsment::nodes::NodeLease::for_command(store.clone())
        .await
        .unwrap();
    let gone = leadsment::tracking::store::ingest(
        store,
        &batch,
        &mut VisitCache::default(),
        lease.tag().unwrap(),
    )
    .await
    .expect("the batch is written");
    lease.release().await;
    gone
}

/// Deleting a site deletes what the writer wrote for it, and nothing of another site.
async fn deleting_a_site_deletes_its_tracking_rows(backend: Backend) {
    let (_db, store, kept, gone) = two_sites(backend).await;
    let t0 = leadsment::store::now_ms() - 3_600_000;
    let mut both = events(&kept, t0, 1);
    both.extend(events(&gone, t0, 100));
    assert_eq!(ingest(&store, both).await, 0);
    for table in TABLES {
        assert!(rows(&store, table, &gone).await > 0, "{table} holds rows");
    }

    delete_site(&store, &gone).await;
    for table in TABLES {
        assert_eq!(rows(&store, table, &gone).await, 0, "{table}");
        assert!(
            rows(&store, table, &kept).await > 0,
            "{table} of the other site"
        );
    }
    store.close().await;
}

/// A batch holding events of a site deleted after they were accepted: those are left out
/// and counted, the others written. (Before, the deleted site's rows failed their foreign
/// key, and the whole batch with them, so every event in it was answered 503.)
async fn a_deleted_sites_queued_events_are_left_out_and_the_rest_written(backend: Backend) {
    let (_db, store, kept, gone) = two_sites(backend).await;
    let t0 = leadsment::store::now_ms() - 3_600_000;
    let mut both = events(&kept, t0, 1);
    both.extend(events(&gone, t0, 100));
    delete_site(&store, &gone).await;

    assert_eq!(ingest(&store, both).await, 3, "events left out");
    assert_eq!(rows(&store, "events", &kept).await, 3);
    assert_eq!(rows(&store, "visits", &kept).await, 3);
    for table in TABLES {
        assert_eq!(rows(&store, table, &gone).await, 0, "{table}");
    }
    // A batch of nothing but the deleted site's events.
    assert_eq!(ingest(&store, events(&gone, t0 + 10, 200)).await, 3);
    assert_eq!(rows(&store, "events", &gone).await, 0);
    store.close().await;
}

on_both_backends!(
    deleting_a_site_deletes_its_tracking_rows,
    a_deleted_sites_queued_events_are_left_out_and_the_rest_written,
);
