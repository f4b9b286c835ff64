//! Several nodes on one database acting as one server: leased node tags, a node that loses
//! its lease, one visit across nodes, simultaneous first events, and a node older than the
//! database's schema.

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leadsment::nodes::NodeLease;
use leadsment::nodes::clock::Clock;
use leadsment::server::Server;
use leadsment::store::{Db, sql};
use leadsment::tracking::Tracking;
use leadsment::tracking::visits::tag_of_visit_id;
use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::{CHROME, add_site, export_all};

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// A short lease, so that renewals (every quarter of it) come quickly.
const SHORT_LEASE: Duration = Duration::from_secs(2);

/// The tags held now, with their holders.
async fn held(store: &Db) -> Vec<(i64, String)> {
    store
        .all(
            sql(
                "SELECT tag, holder FROM node_leases WHERE holder IS NOT NULL AND expires_at > $1 \
             ORDER BY tag",
            )
            .bind(leadsment::store::now_ms()),
        )
        .await
        .unwrap()
}

async fn expires_at(store: &Db, tag: u16) -> i64 {
    store
        .value(sql("SELECT expires_at FROM node_leases WHERE tag = $1").bind(i64::from(tag)))
        .await
        .unwrap()
}

on_both_backends!(each_node_leases_a_tag_of_its_own_and_renews_it);

async fn each_node_leases_a_tag_of_its_own_and_renews_it(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let a = NodeLease::start(store.clone(), SHORT_LEASE).await.unwrap();
    let b = NodeLease::start(store.clone(), SHORT_LEASE).await.unwrap();
    let (ta, tb) = (a.tag().unwrap(), b.tag().unwrap());
    assert_ne!(ta, tb, "two nodes in one process lease different tags");
    assert_eq!(
        held(&store).await,
        [
            (
                i64::from(ta.min(tb)),
                if ta < tb { a.holder() } else { b.holder() }.to_owned()
            ),
            (
                i64::from(ta.max(tb)),
                if ta < tb { b.holder() } else { a.holder() }.to_owned()
            ),
        ]
    );
    // Past half the lease a node would stop writing, were its lease not renewed.
    let first = expires_at(&store, ta).await;
    tokio::time::sleep(SHORT_LEASE).await;
    assert_eq!(a.tag(), Some(ta), "renewed: still usable");
    assert!(expires_at(&store, ta).await > first, "renewed in the store");

    // A node that stops frees its tag; the next one to start may take it.
    a.release().await;
    assert_eq!(a.tag(), None);
    assert_eq!(held(&store).await.len(), 1);
    let c = NodeLease::start(store.clone(), SHORT_LEASE).await.unwrap();
    assert_eq!(c.tag(), Some(ta));
    b.release().await;
    c.release().await;
    store.close().await;
}

/// A value of the server's `/metrics`.
async fn metric(app: &TestApp, name: &str) -> i64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until `name` on `/metrics` is `value`.
async fn wait_for_metric(app: &TestApp, name: &str, value: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = metric(app, name).await;
        if now == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed {now}, not {value}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(app: &TestApp, ua: &str) -> StatusCode {
    let body =
        json!({"name": "pageview", "url": "https://acme.example/", "domain": "acme.example"});
    app.client
        .post(app.url("/api/event"))
        .header("user-agent", ua)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
}

on_both_backends!(a_node_that_loses_its_lease_stops_writing_and_recovers_with_a_new_tag);

async fn a_node_that_loses_its_lease_stops_writing_and_recovers_with_a_new_tag(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.tracking.node_lease = SHORT_LEASE).await;
    let site = add_site(&app, "acme.example", &[]).await;
    let store = app.db.store().await;
    assert_eq!(post(&app, CHROME).await, StatusCode::ACCEPTED);
    let old = metric(&app, "leadsment_node_tag").await;
    assert!(old >= 0);
    let events = export_all(&app, &site).await;
    assert_eq!(
        i64::from(tag_of_visit_id(events[0]["visit_id"].as_i64().unwrap())),
        old,
        "the visit's id carries the node's tag"
    );

    // Another holder takes the node's tag, and every other one, so that it cannot lease a
    // new one yet.
    store
        .write(
            sql("UPDATE node_leases SET holder = 'another node', expires_at = $1")
                .bind(leadsment::store::now_ms() + 3_600_000),
        )
        .await
        .unwrap();
    wait_for_metric(&app, "leadsment_node_lease_lost_total", 1).await;
    assert_eq!(metric(&app, "leadsment_node_tag").await, -1);
    assert_eq!(
        post(&app, "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a node without a tag writes nothing"
    );
    assert_eq!(
        metric(&app, "leadsment_node_lease_refused_events_total").await,
        1
    );
    assert_eq!(export_all(&app, &site).await.len(), 1);

    // A tag comes free: the node leases it and writes again, new visits under the new tag.
    let free = (old + 1) % 1024;
    store
        .write(
            sql("UPDATE node_leases SET holder = NULL, expires_at = 0 WHERE tag = $1").bind(free),
        )
        .await
        .unwrap();
    wait_for_metric(&app, "leadsment_node_tag", free).await;
    assert_eq!(
        post(&app, "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0").await,
        StatusCode::ACCEPTED
    );
    let events = export_all(&app, &site).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let tags: Vec<i64> = events
        .iter()
        .map(|e| i64::from(tag_of_visit_id(e["visit_id"].as_i64().unwrap())))
        .collect();
    assert_eq!(tags, [old, free], "nothing new under the old tag");
    let holder: String = store
        .value(sql("SELECT holder FROM node_leases WHERE tag = $1").bind(free))
        .await
        .unwrap();
    assert_ne!(holder, "another node");
    store.close().await;
    app.shutdown().await.unwrap();
}

/// A node on `db` (another data directory when `beside`), behind a trusted proxy, with an IP
/// index that names Acme for 198.51.100.0/24, its event clock set to `now`.
async fn node(db: TestDb, now: Option<i64>) -> (TestApp, Clock, Arc<Tracking>) {
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let csv = config.data_dir.join("asn.csv");
    std::fs::write(
        &csv,
        "198.51.100.0,198.51.100.255,64500,ACME-NET - Acme Corporation Inc.\n",
    )
    .unwrap();
    leadsment::ipdb::build(&config.data_dir, &[csv], Some("2026-11-01".into())).unwrap();
    let server = Server::bind(config).await.unwrap();
    let tracking = server.state().tracking.clone();
    let clock = tracking.clock.clone();
    if let Some(now) = now {
        clock.set(now);
    }
    (TestApp::start(db, server, None).await, clock, tracking)
}

async fn post_from(app: &TestApp, client: &str, path: &str) -> StatusCode {
    let body = json!({"name": "pageview", "url": format!("https://acme.example{path}"), "domain": "acme.example"});
    app.client
        .post(app.url("/api/event"))
        .header("user-agent", CHROME)
        .header("content-type", "text/plain")
        .header("x-forwarded-for", client)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
}

/// Several nodes share a PostgreSQL database only (a second `serve` on a SQLite file refuses
/// to start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_alternating_between_two_nodes_stay_one_visit() {
    let db = TestDb::new(Backend::Postgres).await;
    let other = db.beside();
    // Tomorrow (UTC), 01:00: five events 20 minutes apart stay within the day.
    let t0 = (leadsment::store::now_ms() / DAY + 1) * DAY + 60 * MIN;
    let (a, clock_a, tracking_a) = node(db, Some(t0)).await;
    let (b, clock_b, tracking_b) = node(other, Some(t0)).await;
    let site = add_site(&a, "acme.example", &[]).await;
    assert_ne!(
        metric(&a, "leadsment_node_tag").await,
        metric(&b, "leadsment_node_tag").await
    );

    // Both nodes hash a visitor the same: they read the day's salt from the store.
    let cached = leadsment::tracking::CachedSite {
        site: site.clone(),
        ignored: vec![],
        hosts: vec![],
    };
    let ip: IpAddr = "198.51.100.7".parse().unwrap();
    let ha = leadsment::tracking::ingest::hash_visitor(&tracking_a, &cached, ip, CHROME, t0)
        .await
        .unwrap();
    let hb = leadsment::tracking::ingest::hash_visitor(&tracking_b, &cached, ip, CHROME, t0)
        .await
        .unwrap();
    assert_eq!(ha, hb);

    for (i, app) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let now = t0 + i as i64 * 20 * MIN;
        clock_a.set(now);
        clock_b.set(now);
        assert_eq!(
            post_from(app, "198.51.100.7", &format!("/page-{i}")).await,
            StatusCode::ACCEPTED
        );
    }

    let store = a.db.store().await;
    let visits: Vec<(i64, i64, i64, i64, i64, i64)> = store
        .all(sql(
            "SELECT id, visitor_hash, started_at, last_seen_at, pageviews, events FROM visits",
        ))
        .await
        .unwrap();
    assert_eq!(visits.len(), 1, "one visit: {visits:?}");
    let (id, hash, started, last, pageviews, events) = visits[0];
    assert_eq!(hash, ha.current);
    assert_eq!(
        (started, last, pageviews, events),
        (t0, t0 + 80 * MIN, 5, 5)
    );
    let rows = export_all(&a, &site).await;
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["visit_id"] == id));
    assert!(rows.iter().all(|r| r["company"].is_string()), "{rows:#?}");
    crate::rollups::assert_rollups_match(&store).await;
    let (visitors, day_visits): (i64, i64) = store
        .one(sql("SELECT visitors, visits FROM company_days"))
        .await
        .unwrap();
    assert_eq!((visitors, day_visits), (1, 1));
    store.close().await;
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_events_arriving_at_two_nodes_at_once_make_one_visit() {
    let db = TestDb::new(Backend::Postgres).await;
    let other = db.beside();
    let (a, _, _) = node(db, None).await;
    let (b, _, _) = node(other, None).await;
    add_site(&a, "acme.example", &[]).await;
    let store = a.db.store().await;
    let a = Arc::new(a);
    let b = Arc::new(b);
    const VISITORS: usize = 50;
    for round in 0..4 {
        // Each new visitor's first event, at both nodes at once.
        let mut sent = Vec::new();
        for v in 0..VISITORS {
            for app in [a.clone(), b.clone()] {
                let client = format!("198.51.{}.{}", 100 + round, v + 1);
                sent.push(tokio::spawn(
                    async move { post_from(&app, &client, "/").await },
                ));
            }
        }
        for s in sent {
            assert_eq!(s.await.unwrap(), StatusCode::ACCEPTED);
        }
        let (visits, events): (i64, i64) = store
            .one(sql(
                "SELECT (SELECT COUNT(*) FROM visits), (SELECT COUNT(*) FROM events)",
            ))
            .await
            .unwrap();
        let expected = ((round + 1) * VISITORS) as i64;
        assert_eq!(events, 2 * expected);
        assert_eq!(visits, expected, "round {round}: one visit per visitor");
    }
    let doubles: i64 = store
        .value(sql(
            "SELECT COUNT(*) FROM visits WHERE events <> 2 OR pageviews <> 2",
        ))
        .await
        .unwrap();
    assert_eq!(doubles, 0);
    store.close().await;
    let (Ok(a), Ok(b)) = (Arc::try_unwrap(a), Arc::try_unwrap(b)) else {
        panic!("the apps are still shared");
    };
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

on_both_backends!(a_node_older_than_the_schema_refuses_to_start);

async fn a_node_older_than_the_schema_refuses_to_start(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    // A migration a newer build applied.
    store
        .write(
            sql(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (9999, 'from a newer build', TRUE, $1, 1)",
            )
            .bind(vec![0u8; 48]),
        )
        .await
        .unwrap();
    store.close().await;
    let mut cmd = crate::cli::leadsment(db.dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("LEADSMENT_DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = tokio::task::block_in_place(|| cmd.output().unwrap());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{stderr}");
    // The newest migration this build has for the backend (their files are numbered).
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let known = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|f| {
            f.unwrap()
                .file_name()
                .to_str()?
                .get(..4)?
                .parse::<u32>()
                .ok()
        })
        .max()
        .unwrap();
    assert!(
        stderr.contains(&format!(
            "this database's schema (version 9999) is newer than this leadsment build knows \
             ({known}): upgrade this node; see docs/operations.md, Rolling upgrades"
        )),
        "{stderr}"
    );
}
