//! The events API and the ingest pipeline, on both backends.

use std::time::Duration;

use leadsment::accounts::sites::{NewSite, Site, SiteId};
use leadsment::tracking::model::{IngestBatch, NewEvent};
use leadsment::tracking::visit_cache::VisitCache;
use leadsment::tracking::writer::Writer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use leadsment::store::{Db, sql};

pub const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

pub async fn add_site(app: &TestApp, domain: &str, aliases: &[&str]) -> Site {
    let store = app.db.store().await;
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let aliases: Vec<String> = aliases.iter().map(|s| s.to_string()).collect();
    let site = leadsment::accounts::store::create_site(
        &store,
        &NewSite::new(ws.id, domain, &aliases).unwrap(),
    )
    .await
    .unwrap();
    store.close().await;
    site
}

pub async fn post(
    app: &TestApp,
    body: &Value,
    ua: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/event"))
        .header("user-agent", ua)
        .header("content-type", "text/plain")
        .body(body.to_string());
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

fn pageview(url: &str) -> Value {
    json!({"name": "pageview", "url": url, "domain": "acme.example", "referrer": "https://www.linkedin.com/feed/"})
}

/// Every event stored for the site, as the export writes it.
pub async fn export_all(app: &TestApp, site: &Site) -> Vec<Value> {
    let store = app.db.store().await;
    let rows =
        leadsment::tracking::store::export_events(&store, site.id, 0, i64::MAX, None, 10_000)
            .await
            .unwrap();
    store.close().await;
    rows.into_iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

on_both_backends!(
    events_are_stored_with_their_visit,
    bad_events_get_clear_errors_and_nothing_is_stored,
    bots_are_counted_not_stored,
    ignored_networks_and_trusted_proxies,
    sessions_end_after_30_minutes_and_survive_midnight,
    a_full_queue_answers_503_and_loses_nothing_accepted,
);

async fn events_are_stored_with_their_visit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let site = add_site(&app, "acme.example", &["shop.acme.example"]).await;

    let res = post(
        &app,
        &pageview("https://www.acme.example/pricing?utm_source=newsletter&utm_medium=email&token=s3cr3t#/plans"),
        CHROME,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers().get("set-cookie").is_none(),
        "the events API sets no cookie"
    );

    let custom = json!({"name": "Signup", "url": "https://shop.acme.example/done", "domain": "acme.example", "props": {"plan": "pro", "seats": 5}});
    assert_eq!(
        post(&app, &custom, CHROME, None).await.status(),
        StatusCode::ACCEPTED
    );
    let engagement = json!({"name": "engagement", "url": "https://shop.acme.example/done", "domain": "acme.example", "engaged_ms": 4200});
    assert_eq!(
        post(&app, &engagement, CHROME, None).await.status(),
        StatusCode::ACCEPTED
    );
    // Another browser from the same address is another visitor.
    assert_eq!(
        post(&app, &pageview("https://acme.example/"), FIREFOX, None)
            .await
            .status(),
        StatusCode::ACCEPTED
    );

    let events = export_all(&app, &site).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let first = &events[0];
    assert_eq!(first["path"], "/pricing#/plans");
    assert_eq!(first["utm_source"], "newsletter");
    assert_eq!(first["channel"], "email");
    assert_eq!(first["browser"], "Chrome");
    assert_eq!(first["device"], "desktop");
    assert!(
        !first.to_string().contains("s3cr3t"),
        "query strings are not stored"
    );
    assert_eq!(events[1]["name"], "Signup");
    assert_eq!(events[1]["props"], r#"{"plan":"pro","seats":"5"}"#);
    assert_eq!(events[2]["engaged_ms"], 4200);
    assert_eq!(events[0]["visit_id"], events[1]["visit_id"]);
    assert_eq!(events[0]["visit_id"], events[2]["visit_id"]);
    assert_ne!(events[0]["visit_id"], events[3]["visit_id"]);

    // The writer reports its batches to the operator.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("leadsment_ingest_batch_events_sum 4\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("leadsment_ingest_batch_duration_seconds_count"),
        "{metrics}"
    );
    assert!(
        metrics.contains("leadsment_ingest_batch_failures_total 0\n"),
        "{metrics}"
    );

    // The preflight a browser sends before a JSON POST from another origin.
    let pre = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/event"))
        .header("origin", "https://acme.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    app.shutdown().await.unwrap();
}

async fn bad_events_get_clear_errors_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.web.body_limit = 4096).await;
    let site = add_site(&app, "acme.example", &[]).await;
    let cases: Vec<(String, StatusCode, &str, Option<&str>)> = vec![
        (
            "".into(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("body"),
        ),
        (
            "[1,2]".into(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("body"),
        ),
        (
            r#"{"name":"pageview","domain":"acme.example"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("url"),
        ),
        (
            r#"{"name":"pageview","url":"https://acme.example/"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("domain"),
        ),
        (
            r#"{"url":"https://acme.example/","domain":"acme.example"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("name"),
        ),
        (
            r#"{"name":"x","url":"https://acme.example/","domain":"acme.example","props":[]}"#
                .into(),
            StatusCode::BAD_REQUEST,
            "invalid_event",
            Some("props"),
        ),
        (
            r#"{"name":"pageview","url":"https://other.example/","domain":"other.example"}"#.into(),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            r#"{"name":"pageview","url":"https://evil.example/","domain":"acme.example"}"#.into(),
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            None,
        ),
        (
            format!(
                r#"{{"name":"pageview","url":"https://acme.example/{}","domain":"acme.example"}}"#,
                "a".repeat(5000)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
    ];
    for (body, status, kind, field) in cases {
        let res = app
            .client
            .post(app.url("/api/event"))
            .header("user-agent", CHROME)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{body:.80}");
        assert_eq!(res.headers()["content-type"], "application/json");
        let json: Value = res.json().await.unwrap();
        assert_eq!(json["error"], kind, "{body:.80}: {json}");
        if let Some(field) = field {
            assert_eq!(json["field"], field, "{json}");
            assert!(
                json["message"].as_str().unwrap().starts_with(field),
                "{json}"
            );
        }
    }
    let form = app
        .client
        .post(app.url("/api/event"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(export_all(&app, &site).await.is_empty());
    app.shutdown().await.unwrap();
}

async fn bots_are_counted_not_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let site = add_site(&app, "acme.example", &[]).await;
    for ua in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "",
    ] {
        let res = post(&app, &pageview("https://acme.example/"), ua, None).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{ua}");
    }
    assert!(export_all(&app, &site).await.is_empty());
    // The count is written by the writer with the next batch; give it a moment.
    let mut counted = 0i64;
    let db = app.db.store().await;
    for _ in 0..50 {
        let sum = "SELECT CAST(SUM(count) AS BIGINT) FROM bot_counts";
        let n: Option<i64> = db.value(sql(sum)).await.unwrap();
        counted = n.unwrap_or(0);
        if counted == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted, 3);
    db.close().await;
    app.shutdown().await.unwrap();
}

async fn ignored_networks_and_trusted_proxies(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let site = add_site(&app, "acme.example", &[]).await;
    let store = app.db.store().await;
    leadsment::accounts::store::add_ignored_network(
        &store,
        site.id,
        "192.0.2.0/24".parse().unwrap(),
    )
    .await
    .unwrap();
    store.close().await;

    // The office, behind the proxy: accepted and forgotten.
    let res = post(
        &app,
        &pageview("https://acme.example/"),
        CHROME,
        Some("192.0.2.10"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // A spoofed office address before the real one does not hide the visitor.
    let res = post(
        &app,
        &pageview("https://acme.example/a"),
        CHROME,
        Some("192.0.2.10, 198.51.100.20"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let events = export_all(&app, &site).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["path"], "/a");
    app.shutdown().await.unwrap();
}

/// A migrated store holding the site acme.example.
pub async fn store_with_site(backend: Backend) -> (TestDb, Db, Site) {
    let (db, store) = TestDb::open(backend).await;
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let site = leadsment::accounts::store::create_site(
        &store,
        &NewSite::new(ws.id, "acme.example", &[]).unwrap(),
    )
    .await
    .unwrap();
    (db, store, site)
}

/// Writes `events` as one batch with a session cache of its own, as another node would (or
/// this one after a restart).
pub async fn ingest_fresh(store: &Db, events: Vec<NewEvent>) {
    ingest_batch(
        store,
        &IngestBatch {
            events,
            bots: vec![],
        },
    )
    .await;
}

/// Writes `batch` through the event writer's batch path with a fresh cache, under a node tag
/// leased for it, as a one-shot command does.
pub async fn ingest_batch(store: &Db, batch: &IngestBatch) {
    let lease = leadsment::nodes::NodeLease::for_command(store.clone())
        .await
        .unwrap();
    leadsment::tracking::store::ingest(
        store,
        batch,
        &mut VisitCache::default(),
        lease.tag().unwrap(),
    )
    .await
    .unwrap();
    lease.release().await;
}

pub fn event_at(site: &Site, ts: i64, visitor: i64, previous: Option<i64>, name: &str) -> NewEvent {
    event_at_site(site.id, ts, visitor, previous, name)
}

pub fn event_at_site(
    site_id: SiteId,
    ts: i64,
    visitor: i64,
    previous: Option<i64>,
    name: &str,
) -> NewEvent {
    NewEvent {
        site_id,
        ts,
        name: name.to_owned(),
        path: format!("/{ts}"),
        props: None,
        engaged_ms: (name == "engagement").then_some(1000),
        visitor_hash: visitor,
        previous_visitor_hash: previous,
        company: None,
        class: "unknown".into(),
        country: None,
        source: None,
        channel: "direct".into(),
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
        utm_term: None,
        utm_content: None,
        browser: None,
        os: None,
        device: "desktop".into(),
    }
}

async fn sessions_end_after_30_minutes_and_survive_midnight(backend: Backend) {
    let (_db, store, site) = store_with_site(backend).await;
    let min = 60_000;
    let t0 = 1_800_000_000_000;
    // A fresh cache each time: the store alone must know the sessions (another node, or a
    // restart).
    let ingest = |events: Vec<NewEvent>| ingest_fresh(&store, events);
    ingest(vec![event_at(&site, t0, 1, None, "pageview")]).await;
    ingest(vec![event_at(&site, t0 + 25 * min, 1, None, "pageview")]).await;
    ingest(vec![event_at(&site, t0 + 60 * min, 1, None, "pageview")]).await;
    // After midnight the hash changes; yesterday's hash continues the visit.
    ingest(vec![event_at(&site, t0 + 70 * min, 2, Some(1), "pageview")]).await;
    // Engagement reported long after the last pageview still belongs to it.
    ingest(vec![event_at(&site, t0 + 150 * min, 2, None, "engagement")]).await;

    let rows = leadsment::tracking::store::export_events(&store, site.id, 0, i64::MAX, None, 100)
        .await
        .unwrap();
    let sessions: Vec<i64> = rows.iter().map(|r| r.visit_id).collect();
    assert_eq!(sessions[0], sessions[1], "25 minutes apart: one visit");
    assert_ne!(sessions[1], sessions[2], "35 minutes apart: a new visit");
    assert_eq!(sessions[2], sessions[3]);
    assert_eq!(sessions[3], sessions[4]);
    store.close().await;
}

async fn a_full_queue_answers_503_and_loses_nothing_accepted(backend: Backend) {
    let (db, store, site) = store_with_site(backend).await;
    // A writer with room for two waiting events, whose store is locked by another
    // connection, so nothing can be written yet.
    let lease = leadsment::nodes::NodeLease::for_command(store.clone())
        .await
        .unwrap();
    let writer = Writer::spawn(store.clone(), 2, lease).unwrap();
    let handle = writer.handle();
    let lock = lock_events(backend, &db.url).await;
    let mut waiting = Vec::new();
    for i in 0..3 {
        let h = handle.clone();
        let ev = event_at(&site, 1_800_000_000_000 + i, 7, None, "pageview");
        waiting.push(tokio::spawn(async move { h.submit(ev).await }));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One taken by the writer (blocked), two queued: the queue is full now.
    let ev = event_at(&site, 1_800_000_000_100, 7, None, "pageview");
    assert!(matches!(
        handle.submit(ev).await,
        Err(leadsment::tracking::writer::SubmitError::Full)
    ));
    drop(lock);
    // Shutting down writes what was accepted before it returns.
    writer.shutdown().await;
    for w in waiting {
        w.await.unwrap().unwrap();
    }
    let rows = leadsment::tracking::store::export_events(&store, site.id, 0, i64::MAX, None, 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    store.close().await;
}

/// Holds the events table's write lock until dropped.
async fn lock_events(backend: Backend, url: &str) -> Box<dyn std::any::Any + Send> {
    match backend {
        Backend::Sqlite => {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            Box::new(conn)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            Box::new((tx, pool))
        }
    }
}

on_both_backends!(the_tracker_script_is_small_cookieless_and_cacheable);

async fn the_tracker_script_is_small_cookieless_and_cacheable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .client
        .get(app.url("/js/t.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert!(res.headers().get("set-cookie").is_none());
    let gz = res.bytes().await.unwrap();
    assert!(
        gz.len() < 1000,
        "t.js is {} bytes gzipped as served; the budget is 1,000",
        gz.len()
    );
    let plain = app.get("/js/t.js").await.text().await.unwrap();
    for forbidden in ["cookie", "localStorage", "sessionStorage", "indexedDB"] {
        assert!(!plain.contains(forbidden), "t.js mentions {forbidden}");
    }
    app.shutdown().await.unwrap();
}

/// Writes an index of generated data into `data_dir`, as `leadsment ipdb build` would.
fn write_index(data_dir: &std::path::Path, org: &str) {
    let csv = data_dir.join("asn.csv");
    std::fs::write(
        &csv,
        format!("198.51.100.0,198.51.100.255,64500,{org}\n203.0.113.0,203.0.113.255,64501,Example Broadband Ltd\n"),
    )
    .unwrap();
    leadsment::ipdb::build(data_dir, &[csv], Some("2026-11-01".into())).unwrap();
}

/// An operator's own rule files in `DATA_DIR/ip-rules/` replace the shipped ones; a bad line
/// fails `ipdb build` with the file and line, and leaves the index that was there.
#[test]
fn own_rule_files_classify_and_a_bad_line_fails_the_build_named() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path();
    write_index(data_dir, "ACME-NET - Acme Corporation Inc.");
    let index = leadsment::ipdb::index_path(data_dir);
    let before = std::fs::read(&index).unwrap();
    let rules = leadsment::ipdb::rules_dir(data_dir);
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("asn-reviewed.txt"),
        "# ours\n64501 business Example: a company, not an ISP\n64500 compnay Acme\n",
    )
    .unwrap();
    let csv = data_dir.join("asn.csv");
    let err = leadsment::ipdb::build(data_dir, std::slice::from_ref(&csv), None)
        .unwrap_err()
        .to_string();
    let want = format!(
        "{}:3: unknown class \"compnay\"",
        rules.join("asn-reviewed.txt").display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(
        std::fs::read(&index).unwrap(),
        before,
        "the old index stays"
    );

    std::fs::write(
        rules.join("asn-reviewed.txt"),
        "64501 business Example: a company, not an ISP\n",
    )
    .unwrap();
    leadsment::ipdb::build(data_dir, &[csv], None).unwrap();
    let ipdb = leadsment::ipdb::IpDb::open(data_dir, Default::default());
    let l = ipdb.lookup("203.0.113.9".parse().unwrap());
    assert_eq!(l.class, ipintel::Class::Business);
    assert_eq!(
        l.class_reason.as_deref(),
        Some("reviewed: Example: a company, not an ISP")
    );
}

on_both_backends!(a_forged_forwarded_header_does_not_choose_the_organisation);

/// The documented proxies append to `X-Forwarded-For` and pass a client's own `Forwarded`
/// through: only the header named by `client_ip_header` is read.
async fn a_forged_forwarded_header_does_not_choose_the_organisation(backend: Backend) {
    for (header, expected) in [("X-Forwarded-For", "Acme"), ("Forwarded", "Google")] {
        let db = TestDb::new(backend).await;
        let mut config = db.config();
        config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.web.client_ip_header =
            leadsment::web::client_addr::ClientIpHeader::parse(header).unwrap();
        let csv = config.data_dir.join("asn.csv");
        std::fs::create_dir_all(&config.data_dir).unwrap();
        std::fs::write(
            &csv,
            "198.51.100.0,198.51.100.255,64500,ACME-NET - Acme Corporation Inc.\n\
             8.8.8.0,8.8.8.255,15169,GOOGLE - Google LLC\n",
        )
        .unwrap();
        leadsment::ipdb::build(&config.data_dir, &[csv], Some("2026-11-01".into())).unwrap();
        let server = leadsment::server::Server::bind(config).await.unwrap();
        let app = TestApp::start(db, server, None).await;
        let site = add_site(&app, "acme.example", &[]).await;
        let res = app
            .client
            .post(app.url("/api/event"))
            .header("user-agent", CHROME)
            .header("content-type", "text/plain")
            .header("x-forwarded-for", "198.51.100.7")
            .header("forwarded", "for=8.8.8.8")
            .body(pageview("https://acme.example/").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let events = export_all(&app, &site).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["company"], expected, "{header}: {events:#?}");
        app.shutdown().await.unwrap();
    }
}

on_both_backends!(the_ip_index_is_loaded_replaced_and_a_broken_one_refused);

async fn the_ip_index_is_loaded_replaced_and_a_broken_one_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let data_dir = config.data_dir.clone();
    let server = leadsment::server::Server::bind(config).await.unwrap();
    let state = server.state().clone();
    let app = TestApp::start(db, server, None).await;
    let site = add_site(&app, "acme.example", &[]).await;
    let ipdb = &state.tracking.ipdb;

    // No index yet: the server runs, and visits are stored without a company.
    assert!(!ipdb.has_index());
    assert_eq!(
        post(
            &app,
            &pageview("https://acme.example/a"),
            CHROME,
            Some("198.51.100.7")
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );

    write_index(&data_dir, "ACME-NET - Acme Corporation Inc.");
    ipdb.reload_if_changed();
    assert!(ipdb.has_index());
    assert_eq!(
        post(
            &app,
            &pageview("https://acme.example/b"),
            CHROME,
            Some("198.51.100.8")
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );

    // A truncated file is refused; the index that was loaded keeps serving.
    let path = leadsment::ipdb::index_path(&data_dir);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    ipdb.reload_if_changed();
    assert!(ipdb.has_index());
    assert_eq!(
        post(
            &app,
            &pageview("https://acme.example/c"),
            CHROME,
            Some("198.51.100.9")
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );

    // A new good file replaces it.
    write_index(&data_dir, "GLOBEX - Globex Industries GmbH");
    ipdb.reload_if_changed();
    assert_eq!(
        post(
            &app,
            &pageview("https://acme.example/d"),
            CHROME,
            Some("198.51.100.10")
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );

    let events = export_all(&app, &site).await;
    let companies: Vec<&Value> = events.iter().map(|e| &e["company"]).collect();
    assert_eq!(companies[0], &Value::Null, "{events:#?}");
    assert_eq!(events[0]["class"], "unknown");
    // Display names drop handles and legal suffixes.
    assert_eq!(companies[1], "Acme");
    assert_ne!(events[1]["class"], "unknown");
    assert_eq!(companies[2], "Acme");
    assert!(
        companies[3].as_str().unwrap().starts_with("Globex"),
        "{events:#?}"
    );
    app.shutdown().await.unwrap();
}

on_both_backends!(visitor_salts_live_in_the_store_and_are_deleted_after_48_hours);

async fn visitor_salts_live_in_the_store_and_are_deleted_after_48_hours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_site(&app, "acme.example", &[]).await;
    let three_days_ago = leadsment::store::now_ms() - 3 * 24 * 60 * 60 * 1000;
    let insert = "INSERT INTO shared_secrets (name, value, created_at) VALUES ('visitor-salt/2020-01-01', $1, $2)";
    let db = app.db.store().await;
    db.write(sql(insert).bind(vec![1u8; 32]).bind(three_days_ago))
        .await
        .unwrap();
    db.close().await;
    assert_eq!(
        post(&app, &pageview("https://acme.example/"), CHROME, None)
            .await
            .status(),
        StatusCode::ACCEPTED
    );

    let store = app.db.store().await;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let salt = leadsment::store::secrets::existing(&store, &format!("visitor-salt/{today}"))
        .await
        .unwrap();
    assert_eq!(
        salt.map(|s| s.len()),
        Some(32),
        "today's salt is in the store, for every node"
    );
    assert!(
        leadsment::store::secrets::existing(&store, "visitor-salt/2020-01-01")
            .await
            .unwrap()
            .is_none(),
        "a salt older than 48 hours is deleted"
    );
    store.close().await;
    app.shutdown().await.unwrap();
}

/// SQLite: the background checkpoints complete while events keep coming, so the database file
/// itself (read with the log ignored) soon holds what was accepted, and the log stays small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_complete_in_the_background() {
    let backend = Backend::Sqlite;
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;

    let app = TestApp::spawn(backend).await;
    add_site(&app, "acme.example", &[]).await;
    let n = 40;
    for i in 0..n {
        let res = post(
            &app,
            &pageview(&format!("https://acme.example/p{i}")),
            CHROME,
            None,
        )
        .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    // Far below the writer's own bound (8,000 pages), so only the background can have done it.
    let main_file_only = SqliteConnectOptions::from_str(&app.db.url)
        .unwrap()
        .read_only(true)
        .immutable(true);
    let mut in_file = 0;
    for _ in 0..50 {
        let pool = sqlx::SqlitePool::connect_with(main_file_only.clone())
            .await
            .unwrap();
        // Until a checkpoint completes, the file may not even hold the tables.
        in_file = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        pool.close().await;
        if in_file == n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(in_file, n, "the database file holds every accepted event");
    app.shutdown().await.unwrap();
}

on_both_backends!(exports_page_through_events_with_equal_times);

/// Pages continue after the last event's time and id, so events that share a millisecond are
/// neither skipped nor repeated at a page boundary, and the time range holds.
async fn exports_page_through_events_with_equal_times(backend: Backend) {
    let (_db, store, site) = store_with_site(backend).await;
    let t0 = 1_800_000_000_000;
    // Five events in one millisecond, between others; one outside the range asked for.
    let times = [t0 - 1, t0, t0, t0, t0, t0, t0 + 1, t0 + 2, t0 + 10_000];
    let events = times
        .iter()
        .enumerate()
        .map(|(i, ts)| event_at(&site, *ts, i as i64, None, "pageview"))
        .collect();
    ingest_fresh(&store, events).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = leadsment::tracking::store::export_events(
            &store,
            site.id,
            t0 - 1,
            t0 + 10_000,
            after,
            2,
        )
        .await
        .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.ts, last.id));
        seen.extend(page.into_iter().map(|e| (e.ts, e.id)));
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in (time, id) order, each once");
    assert!(
        seen.iter()
            .all(|(ts, _)| *ts >= t0 - 1 && *ts < t0 + 10_000)
    );
    store.close().await;
}

on_both_backends!(event_ids_rise_and_are_never_used_twice);

/// Event ids rise from batch to batch, also through a new writer (a restart reads where the
/// numbering stands) and after the newest events are deleted (their ids are not given again:
/// an export paged by id must not meet an id twice).
async fn event_ids_rise_and_are_never_used_twice(backend: Backend) {
    let (_db, store, site) = store_with_site(backend).await;
    let t0 = 1_800_000_000_000;
    let ids = || async {
        store
            .values::<i64>(sql("SELECT id FROM events ORDER BY ts, id"))
            .await
            .unwrap()
    };
    let batch = |from: i64| -> Vec<NewEvent> {
        (0..3)
            .map(|i| event_at(&site, t0 + from + i, 10 + i, None, "pageview"))
            .collect()
    };
    ingest_fresh(&store, batch(0)).await;
    let first = ids().await;
    assert_eq!(first.len(), 3);
    assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
    // The newest two go (as retention or a deleted site would take them).
    store
        .write(sql("DELETE FROM events WHERE id > $1").bind(first[0]))
        .await
        .unwrap();
    ingest_fresh(&store, batch(1_000)).await;
    let after = ids().await;
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(
        after[1..].iter().all(|id| *id > first[2]),
        "an id was given twice: {first:?} then {after:?}"
    );

    // Two writers at once (`leadsment demo` beside `serve`): one keeps its memory between
    // its batches while the other writes in between; no id is given twice.
    let lease = leadsment::nodes::NodeLease::for_command(store.clone())
        .await
        .unwrap();
    let mut kept = leadsment::tracking::visit_cache::VisitCache::default();
    for (n, fresh) in [(2_000, false), (3_000, true), (4_000, false)] {
        let batch = IngestBatch {
            events: batch(n),
            bots: vec![],
        };
        let mut other = leadsment::tracking::visit_cache::VisitCache::default();
        let cache = if fresh { &mut other } else { &mut kept };
        leadsment::tracking::store::ingest(&store, &batch, cache, lease.tag().unwrap())
            .await
            .unwrap();
    }
    lease.release().await;
    let mut all = ids().await;
    assert_eq!(all.len(), 13);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 13, "an id was given twice: {all:?}");
    store.close().await;
}

on_both_backends!(a_batch_keeps_every_visit_counter_right);

/// New and known visits, several events each, in one batch and across batches.
async fn a_batch_keeps_every_visit_counter_right(backend: Backend) {
    let (_db, store, site) = store_with_site(backend).await;
    let t0 = 1_800_000_000_000;
    let mut first = Vec::new();
    for (i, visitor) in [1, 1, 2, 1, 2].iter().enumerate() {
        first.push(event_at(
            &site,
            t0 + i as i64 * 1000,
            *visitor,
            None,
            "pageview",
        ));
    }
    ingest_fresh(&store, first).await;
    // A second batch from a node that has not seen them: visitor 1 again, engagement included.
    let second = vec![
        event_at(&site, t0 + 60_000, 1, None, "pageview"),
        event_at(&site, t0 + 61_000, 1, None, "engagement"),
        event_at(&site, t0 + 62_000, 3, None, "pageview"),
    ];
    ingest_fresh(&store, second).await;
    let q = "SELECT visitor_hash, pageviews, events, engaged_ms, started_at, last_seen_at, \
             (SELECT path FROM paths WHERE id = exit_path_id) FROM visits ORDER BY visitor_hash";
    let visits: Vec<(i64, i64, i64, i64, i64, i64, String)> = store.all(sql(q)).await.unwrap();
    assert_eq!(visits.len(), 3, "{visits:?}");
    assert_eq!(
        visits[0],
        (1, 4, 5, 1000, t0, t0 + 61_000, format!("/{}", t0 + 60_000))
    );
    assert_eq!(
        visits[1],
        (2, 2, 2, 0, t0 + 2000, t0 + 4000, format!("/{}", t0 + 4000))
    );
    assert_eq!(visits[2].1, 1);
    store.close().await;
}

on_both_backends!(a_flood_of_unknown_domains_keeps_the_site_cache_within_its_size);

/// Events for made-up domains are refused 404, and what ingest remembers of them (a domain
/// with no site is remembered too, so a repeat costs no query) stays within
/// `site_cache_size`; the known site still ingests.
async fn a_flood_of_unknown_domains_keeps_the_site_cache_within_its_size(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.tracking.site_cache_size = 100;
    let server = leadsment::server::Server::bind(config).await.unwrap();
    let tracking = server.state().tracking.clone();
    let app = TestApp::start(db, server, None).await;
    let site = add_site(&app, "acme.example", &[]).await;
    let known = pageview("https://acme.example/");
    let res = post(&app, &known, CHROME, Some("198.51.100.7")).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    for i in 0..1_000u32 {
        let domain = format!("flood-{i}.example");
        let body =
            json!({"name": "pageview", "url": format!("https://{domain}/"), "domain": domain});
        let from = format!("203.0.113.{}", i % 250 + 1);
        let res = post(&app, &body, CHROME, Some(&from)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{domain}");
    }
    let cached = tracking.cached_sites();
    assert!(cached <= 100, "{cached} domains cached, the size is 100");

    let res = post(&app, &known, CHROME, Some("198.51.100.8")).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let events = export_all(&app, &site).await;
    assert_eq!(events.len(), 2, "{events:?}");
    app.shutdown().await.unwrap();
}
