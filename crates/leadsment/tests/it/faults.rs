//! Faults: a server killed under load, a database that goes away, a full disk, and backups
//! taken under load. Each test sends numbered events at full speed (the number in the props,
//! from varied client addresses through a trusted proxy) and then checks the store: every
//! number answered 202 is stored exactly once, and no other number more than once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadsment::store::{Db, sql};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::cli::leadsment;
use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::CHROME;

/// What the numbered events got.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Answered 202.
    pub acked: HashSet<u64>,
    /// Sent, and answered otherwise or not at all.
    pub other: HashSet<u64>,
    /// Answers other than 202, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// 503 answers without `Retry-After`.
    pub no_retry_after: u64,
    /// Requests that got no answer (a connection refused or cut).
    pub unanswered: u64,
    /// When the last 202 came, and the first answer other than 202 after `mark`.
    pub last_ack: Option<Instant>,
}

/// Senders of numbered events to `base`, at full speed, until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    pub outcomes: Arc<Mutex<Outcomes>>,
    tasks: Vec<JoinHandle<()>>,
}

/// A public test address (RFC 5737) for the event numbered `seq`: 500 different clients.
fn client_address(seq: u64) -> String {
    let net = if seq.is_multiple_of(2) {
        "198.51.100"
    } else {
        "203.0.113"
    };
    format!("{net}.{}", (seq / 2) % 250 + 1)
}

impl Load {
    /// Starts `senders` tasks posting to `base` (`http://host:port`), numbering the events
    /// from `first`.
    pub fn start(base: &str, senders: usize, first: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(first));
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let tasks = (0..senders)
            .map(|_| {
                let (stop, next, outcomes, client) =
                    (stop.clone(), next.clone(), outcomes.clone(), client.clone());
                let url = format!("{base}/api/event");
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let seq = next.fetch_add(1, Ordering::Relaxed);
                        let body = format!(
                            r#"{{"name":"pageview","url":"https://acme.example/p{}","domain":"acme.example","props":{{"seq":"{seq}"}}}}"#,
                            seq % 7
                        );
                        let answer = client
                            .post(&url)
                            .header("user-agent", CHROME)
                            .header("content-type", "text/plain")
                            .header("x-forwarded-for", client_address(seq))
                            .body(body)
                            .send()
                            .await;
                        // Read to the end, so that the connection is used again.
                        let answer = match answer {
                            Ok(res) => {
                                let status = res.status();
                                let retry_after = res.headers().contains_key("retry-after");
                                res.bytes().await.map(|_| (status, retry_after))
                            }
                            Err(e) => Err(e),
                        };
                        let unanswered = {
                            let mut o = outcomes.lock().unwrap();
                            match answer {
                                Ok((StatusCode::ACCEPTED, _)) => {
                                    o.acked.insert(seq);
                                    o.last_ack = Some(Instant::now());
                                    false
                                }
                                Ok((status, retry_after)) => {
                                    o.other.insert(seq);
                                    *o.statuses.entry(status.as_u16()).or_default() += 1;
                                    if status == StatusCode::SERVICE_UNAVAILABLE && !retry_after {
                                        o.no_retry_after += 1;
                                    }
                                    false
                                }
                                Err(_) => {
                                    o.other.insert(seq);
                                    o.unanswered += 1;
                                    true
                                }
                            }
                        };
                        if unanswered {
                            // A server that is down refuses at once; do not spin.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            outcomes,
            tasks,
        }
    }

    /// The numbers answered 202 so far.
    pub fn acked(&self) -> HashSet<u64> {
        self.outcomes.lock().unwrap().acked.clone()
    }

    pub fn acked_count(&self) -> usize {
        self.outcomes.lock().unwrap().acked.len()
    }

    /// Stops the senders and returns what they got.
    pub async fn stop(self) -> Outcomes {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.outcomes.lock().unwrap())
    }
}

/// How many times each number is stored.
pub async fn stored_numbers(db: &Db) -> HashMap<u64, u32> {
    let props: Vec<Option<String>> = db.values(sql("SELECT props FROM events")).await.unwrap();
    let mut counts = HashMap::new();
    for p in props.into_iter().flatten() {
        let v: Value = serde_json::from_str(&p).unwrap();
        if let Some(seq) = v["seq"].as_str() {
            *counts.entry(seq.parse::<u64>().unwrap()).or_default() += 1;
        }
    }
    counts
}

/// Every number in `acked` is stored exactly once, every other at most once, and nothing
/// unsent is stored.
pub fn assert_stored(stored: &HashMap<u64, u32>, o: &Outcomes) {
    let lost: Vec<_> = o.acked.iter().filter(|s| !stored.contains_key(s)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events are lost, such as {:?}",
        lost.len(),
        o.acked.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let unsent: Vec<_> = stored
        .keys()
        .filter(|s| !o.acked.contains(s) && !o.other.contains(s))
        .collect();
    assert!(unsent.is_empty(), "stored but never sent: {unsent:?}");
}

/// `leadsment serve` on `url`, on a free port, trusting 127.0.0.1 as a proxy and with no
/// per-client rate limit; returns it, its address and a thread collecting its log.
fn serve(dir: &Path, url: &str) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = leadsment(dir)
        .env("LEADSMENT_DATABASE_URL", url)
        .env("LEADSMENT_TRUSTED_PROXIES", "127.0.0.1/32")
        .env("LEADSMENT_EVENTS_PER_CLIENT_PER_MINUTE", "0")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = crate::cli::wait_for_listen_line(&mut stderr, &mut log);
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        log + &rest
    });
    (child, addr, reader)
}

fn add_site(dir: &Path, url: &str) {
    let out = leadsment(dir)
        .env("LEADSMENT_DATABASE_URL", url)
        .args(["site", "add", "acme.example"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

on_both_backends!(a_server_killed_under_load_loses_nothing_it_acknowledged);

/// SIGKILL in the middle of a full-speed load: every 202 is stored once, the rest at most
/// once, and the restarted server serves within seconds.
async fn a_server_killed_under_load_loses_nothing_it_acknowledged(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    add_site(&dir, &db.url);
    let (mut child, addr, _log) = serve(&dir, &db.url);

    let load = Load::start(&format!("http://{addr}"), 32, 1);
    // Under way: some events stored, more in flight.
    let started = Instant::now();
    while load.acked_count() < 2_000 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    tokio::task::block_in_place(|| child.wait().unwrap());
    // The senders see the server gone; give them a moment to record it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outcomes = load.stop().await;
    assert!(outcomes.acked.len() >= 500, "{outcomes:?}");
    assert!(outcomes.unanswered > 0, "the kill cut requests short");

    // Restart: the time from starting the process to its first healthy answer.
    let restarted = Instant::now();
    let (mut again, addr, log) = serve(&dir, &db.url);
    let client = reqwest::Client::new();
    loop {
        let res = client.get(format!("http://{addr}/healthz")).send().await;
        if res.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(restarted.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restart = restarted.elapsed();
    eprintln!(
        "{backend:?}: {} acknowledged, {} not; restarted and healthy in {} ms",
        outcomes.acked.len(),
        outcomes.other.len(),
        restart.as_millis()
    );
    assert!(restart < Duration::from_secs(5), "restart took {restart:?}");

    // It takes events again.
    let after = Load::start(&format!("http://{addr}"), 2, AFTER);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = after.stop().await;
    assert!(!after.acked.is_empty(), "{after:?}");

    Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .unwrap();
    tokio::task::block_in_place(|| again.wait().unwrap());
    let log = log.join().unwrap();
    assert!(!log.contains("ERROR"), "{log}");

    let store = db.store().await;
    let stored = stored_numbers(&store).await;
    store.close().await;
    let (first, second): (HashMap<u64, u32>, HashMap<u64, u32>) =
        stored.into_iter().partition(|(s, _)| *s < AFTER);
    assert_stored(&first, &outcomes);
    assert_stored(&second, &after);
}

/// The first number of the load sent after a restart.
const AFTER: u64 = 1_000_000_000;

on_both_backends!(healthz_and_metrics_report_the_store_and_the_writer);

async fn healthz_and_metrics_report_the_store_and_the_writer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok", "{body}");
    assert_eq!(body["writer"]["state"], "ok", "{body}");
    assert_eq!(body["queued_events"], 0, "{body}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("\nleadsment_store_up 1\n"), "{metrics}");
    for kind in [
        "disk_full",
        "unavailable",
        "busy",
        "read_only",
        "io",
        "other",
    ] {
        let line = format!("leadsment_store_write_errors_total{{kind=\"{kind}\"}} 0");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    app.shutdown().await.unwrap();
}

/// The application in this process, with no per-client rate limit and 127.0.0.1 trusted
/// as a proxy, on `url` (which may differ from `db`'s: a proxy in front of it).
async fn spawn_app(db: TestDb, url: Option<&str>) -> (TestApp, Db) {
    let mut config = match url {
        Some(url) => leadsment::config::Config::for_tests(url, db.dir.path()).unwrap(),
        None => db.config(),
    };
    config.tracking.events_per_client_per_minute = 0;
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = leadsment::server::Server::bind(config).await.unwrap();
    let store = server.state().db.clone();
    let app = TestApp::start(db, server, None).await;
    crate::tracking::add_site(&app, "acme.example", &[]).await;
    (app, store)
}

async fn healthz(app: &TestApp) -> (StatusCode, Value) {
    let res = app.get("/healthz").await;
    (res.status(), res.json().await.unwrap())
}

async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until `check` holds, for at most `limit`; returns how long it took.
async fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

/// The disk fills (SQLite's page limit on the event writer's connection stands for it):
/// events get 503 with Retry-After, pages are still served, nothing acknowledged is lost, and
/// writes resume by themselves when room returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_keeps_serving_and_recovers() {
    let (app, store) = spawn_app(TestDb::new(Backend::Sqlite).await, None).await;
    let Db::Sqlite(sqlite) = &store else {
        unreachable!()
    };
    let bulk = sqlite.bulk_writer().unwrap();
    let set_room = |pages: i64| {
        let conn = bulk.lock();
        let now: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.pragma_update(None, "max_page_count", now + pages)
            .unwrap();
    };
    let load = Load::start(&app.url(""), 8, 1);
    within(Duration::from_secs(10), "events stored", || {
        load.acked_count() >= 200
    })
    .await;

    // The disk fills.
    set_room(3);
    let outcomes = load.outcomes.clone();
    within(Duration::from_secs(10), "a 503", || {
        outcomes.lock().unwrap().statuses.contains_key(&503)
    })
    .await;
    // A while with a full disk under load.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = healthz(&app).await;
    assert_eq!(status, StatusCode::OK, "pages are still served: {body}");
    assert_eq!(body["writer"]["state"], "failing", "{body}");
    assert_eq!(body["writer"]["error"], "disk_full", "{body}");
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    assert_eq!(metric(&app, "leadsment_store_up ").await, 0.0);
    assert!(
        metric(
            &app,
            "leadsment_store_write_errors_total{kind=\"disk_full\"} "
        )
        .await
            >= 1.0
    );

    // Room returns; nothing else is done.
    let freed = Instant::now();
    set_room(1_000_000);
    let resumed = within(Duration::from_secs(5), "writes resume", || {
        outcomes.lock().unwrap().last_ack.is_some_and(|t| t > freed)
    })
    .await;
    eprintln!(
        "writes resumed {} ms after room returned",
        resumed.as_millis()
    );
    let o = load.stop().await;
    assert_eq!(o.no_retry_after, 0, "{o:?}");
    let (status, body) = healthz(&app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["writer"]["state"], "ok", "{body}");
    assert_eq!(metric(&app, "leadsment_store_up ").await, 1.0);

    assert_stored(&stored_numbers(&store).await, &o);
    app.shutdown().await.unwrap();
}

/// `leadsment backup` under load, beside a server (it takes no lock the server holds): the
/// copy restores into a working database that holds every event acknowledged before the
/// backup began, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_event_acknowledged_before_it() {
    let db = TestDb::new(Backend::Sqlite).await;
    let url = db.url.clone();
    let dir = db.dir.path().to_owned();
    // The server's lock, held as `serve` holds it.
    let file = leadsment::store::lockfile::sqlite_file(&url).unwrap();
    let _lock = leadsment::store::lockfile::ServeLock::acquire(&file).unwrap();
    let (app, _store) = spawn_app(db, None).await;
    // A long read beside the server (a slow report, a replication tool): the log cannot be
    // checkpointed past what it sees, so what follows is only in the write-ahead log, which
    // a backup must include.
    let reader =
        rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    let load = Load::start(&app.url(""), 8, 1);
    within(Duration::from_secs(10), "events stored", || {
        load.acked_count() >= 1_000
    })
    .await;

    let before = load.acked();
    let target = dir.join("backups/leadsment-backup.db");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let out = tokio::task::block_in_place(|| {
        leadsment(&dir)
            .env("LEADSMENT_DATABASE_URL", &url)
            .arg("backup")
            .arg(&target)
            .output()
            .unwrap()
    });
    let during = load.acked_count() - before.len();
    drop(reader);
    let o = load.stop().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Backed up "), "{stdout}");
    assert!(during > 0, "the load went on during the backup");

    // Never over an existing file.
    let again = leadsment(&dir)
        .env("LEADSMENT_DATABASE_URL", &url)
        .arg("backup")
        .arg(&target)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Restored: the copy as the database of a new data folder.
    let restored = tempfile::tempdir().unwrap();
    let restored_db = restored.path().join("leadsment.db");
    std::fs::copy(&target, &restored_db).unwrap();
    let config = leadsment::config::Config::for_tests(
        &format!("sqlite://{}", restored_db.display()),
        restored.path(),
    )
    .unwrap();
    let copy = leadsment::store::connect(&config.store).await.unwrap();
    leadsment::store::migrate(&copy).await.unwrap();
    let stored = stored_numbers(&copy).await;
    copy.close().await;
    let missing: Vec<_> = before.iter().filter(|s| !stored.contains_key(s)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events acknowledged before the backup are not in it",
        missing.len(),
        before.len()
    );
    assert!(stored.values().all(|n| *n == 1));
    assert!(
        stored
            .keys()
            .all(|s| o.acked.contains(s) || o.other.contains(s))
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_names_pg_dump_for_postgresql() {
    let db = TestDb::new(Backend::Postgres).await;
    let out = leadsment(db.dir.path())
        .env("LEADSMENT_DATABASE_URL", &db.url)
        .args(["backup", "copy.db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A TCP proxy in front of PostgreSQL that can be cut: while cut it resets every open
/// connection, as a server that went away would, and leaves new ones unanswered, as a host
/// that vanished from the network would (they are reset when the cut ends).
struct CutProxy {
    addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl CutProxy {
    async fn start(upstream: String) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = tokio::sync::watch::channel(false);
        let watch = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut is_cut = watch.subscribe();
                if *is_cut.borrow() {
                    tokio::spawn(async move {
                        let _ = is_cut.wait_for(|cut| !*cut).await;
                        reset(inbound);
                    });
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let cut = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                        _ = is_cut.wait_for(|cut| *cut) => true,
                    };
                    if cut {
                        reset(inbound);
                        reset(outbound);
                    }
                });
            }
        });
        CutProxy { addr, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// The application on a fresh PostgreSQL database reached through a [`CutProxy`].
async fn app_behind_cut_proxy() -> (CutProxy, TestApp, Db) {
    let db = TestDb::new(Backend::Postgres).await;
    let mut direct = url::Url::parse(&db.url).unwrap();
    let upstream = format!(
        "{}:{}",
        direct.host_str().unwrap(),
        direct.port().unwrap_or(5432)
    );
    let proxy = CutProxy::start(upstream).await;
    direct.set_host(Some("127.0.0.1")).unwrap();
    direct.set_port(Some(proxy.addr.port())).unwrap();
    let (app, store) = spawn_app(db, Some(direct.as_str())).await;
    (proxy, app, store)
}

/// Closes with a reset rather than an orderly close.
fn reset(stream: tokio::net::TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// PostgreSQL goes away for 10 seconds under load: events get 503 with Retry-After, /healthz
/// says the database is down, nothing acknowledged is lost, and ingest resumes by itself
/// within seconds of its return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_and_ingest_resumes_by_itself() {
    let (proxy, app, store) = app_behind_cut_proxy().await;
    let load = Load::start(&app.url(""), 16, 1);
    within(Duration::from_secs(10), "events stored", || {
        load.acked_count() >= 300
    })
    .await;

    // The database goes away for 10 seconds.
    let cut = Instant::now();
    proxy.set_cut(true);
    let outcomes = load.outcomes.clone();
    within(Duration::from_secs(6), "a 503", || {
        outcomes.lock().unwrap().statuses.contains_key(&503)
    })
    .await;
    let (status, body) = healthz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_ne!(body["database"], "ok", "{body}");
    assert_eq!(body["writer"]["state"], "failing", "{body}");
    assert_eq!(body["writer"]["error"], "unavailable", "{body}");
    assert_eq!(metric(&app, "leadsment_store_up ").await, 0.0);
    let acked_during = load.acked_count();
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(cut.elapsed())).await;

    // It returns; nothing else is done.
    let back = Instant::now();
    proxy.set_cut(false);
    let resumed = within(Duration::from_secs(8), "ingest resumes", || {
        outcomes.lock().unwrap().last_ack.is_some_and(|t| t > back)
    })
    .await;
    eprintln!(
        "ingest resumed {} ms after the database returned",
        resumed.as_millis()
    );
    assert!(resumed < Duration::from_secs(5), "{resumed:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o = load.stop().await;
    assert!(o.acked.len() > acked_during, "{o:?}");
    assert_eq!(o.no_retry_after, 0, "{o:?}");
    let (status, body) = healthz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["writer"]["state"], "ok", "{body}");
    assert_eq!(metric(&app, "leadsment_store_up ").await, 1.0);

    assert_stored(&stored_numbers(&store).await, &o);
    app.shutdown().await.unwrap();
}

/// The event writer keeps a PostgreSQL connection of its own from batch to batch. One that
/// died while idle (the server restarted, a proxy dropped it) is found out before the next
/// batch, which goes on a fresh connection instead of being answered 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_connection_that_died_while_idle_is_replaced_before_the_next_batch() {
    let (proxy, app, store) = app_behind_cut_proxy().await;
    let body = serde_json::json!({"name": "pageview", "url": "https://acme.example/a",
        "domain": "acme.example"});
    let ua = CHROME;
    let first = crate::tracking::post(&app, &body, ua, Some("198.51.100.7")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);

    // Every connection to the database is reset, with nothing being written.
    proxy.set_cut(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.set_cut(false);
    tokio::time::sleep(Duration::from_millis(1_300)).await;

    let after = crate::tracking::post(&app, &body, ua, Some("203.0.113.9")).await;
    assert_eq!(after.status(), StatusCode::ACCEPTED);
    let stored: i64 = store
        .value(sql("SELECT COUNT(*) FROM events"))
        .await
        .unwrap();
    assert_eq!(stored, 2);
    assert_eq!(
        metric(&app, "leadsment_ingest_batch_failures_total ").await,
        0.0
    );
    app.shutdown().await.unwrap();
}

/// A file-size limit (`ulimit -f`) reached under load: the server is not killed (it ignores
/// SIGXFSZ), answers 503, says so once in its log (not once per request), loses nothing it
/// acknowledged, and writes again once the limit is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_size_limit_does_not_kill_the_server_and_is_logged_once() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = db.dir.path().to_owned();
    add_site(&dir, &db.url);
    let file = leadsment::store::lockfile::sqlite_file(&db.url).unwrap();
    // The limit is set once the server is up (its start-up writes would otherwise meet it
    // at a size that depends on what the write-ahead log holds then), a little above the
    // database's files as they are.
    let (mut child, addr, log) = serve(&dir, &db.url);
    let size = |suffix: &str| {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        std::fs::metadata(name).map(|m| m.len()).unwrap_or(0)
    };
    let limit = size("").max(size("-wal")) + 300_000;
    set_file_size_limit(&child, limit);
    let load = Load::start(&format!("http://{addr}"), 16, 1);
    let outcomes = load.outcomes.clone();
    within(Duration::from_secs(20), "a 503 at the limit", || {
        outcomes.lock().unwrap().statuses.contains_key(&503)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().unwrap().is_none(), "the server is alive");
    // The writer says it is failing (a checkpoint that makes room may let a batch through
    // now and then, so the state is looked at until it shows, not once).
    let mut seen = Vec::new();
    for _ in 0..100 {
        let body: Value = reqwest::get(format!("http://{addr}/healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["writer"]["state"] == "failing" {
            break;
        }
        seen.push(body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.len() < 100, "never failing: {seen:?}");

    // The limit is lifted; nothing else is done.
    let raised = Instant::now();
    set_file_size_limit(&child, libc::RLIM_INFINITY);
    within(Duration::from_secs(5), "writes resume", || {
        outcomes
            .lock()
            .unwrap()
            .last_ack
            .is_some_and(|t| t > raised)
    })
    .await;
    let o = load.stop().await;
    assert_eq!(o.no_retry_after, 0, "{o:?}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::block_in_place(|| child.wait().unwrap());
    let log = log.join().unwrap();
    assert!(status.success(), "{log}");
    let failed = log.matches("writing events failed").count();
    assert_eq!(failed, 1, "{log}");
    assert_eq!(
        log.matches("writing events succeeds again").count(),
        1,
        "{log}"
    );
    assert!(
        !log.contains("response failed"),
        "no error per request: {log}"
    );

    let store = db.store().await;
    assert_stored(&stored_numbers(&store).await, &o);
    store.close().await;
}

/// Sets a running child's file-size limit (`ulimit -f`), the hard limit left unlimited.
fn set_file_size_limit(child: &Child, limit: libc::rlim_t) {
    let rlim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on our own child, with a valid new limit and no old one asked for.
    let rc = unsafe {
        libc::prlimit(
            child.id() as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &rlim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}
