//! Retention (`leadsment::retention`): each site's traffic older than its retention is
//! deleted by the job, the rollups of the days still kept stay exactly as they were, the
//! setting is changed on the site's settings page; on PostgreSQL, events are partitioned by
//! month by migration 0021 without copying the table, and months no site keeps are dropped
//! whole.

use jiff::tz::TimeZone;
use leadsment::accounts::sites::Site;
use leadsment::retention::{Months, Retention};
use leadsment::store::{Db, sql};
use leadsment::tracking::model::{CompanyInfo, IngestBatch, NewEvent};
use reqwest::StatusCode;

use crate::accounts::{PW, make_user};
use crate::client::Client;
use crate::on_both_backends;
use crate::site_settings::{add_site, workspace_of};
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::event_at;

const DAY: i64 = 86_400_000;
const MIN: i64 = 60_000;
/// The ages of the test traffic, in months.
const AGES: [i64; 4] = [30, 26, 24, 1];

on_both_backends!(
    each_site_loses_what_is_older_than_its_retention_and_kept_days_stay_exact,
    the_retention_is_changed_on_the_settings_page_and_bad_input_changes_nothing,
    deleted_rows_are_counted_on_metrics,
);

/// Noon UTC, `months` calendar months before `now`.
fn months_ago(now: i64, months: i64) -> i64 {
    let today = jiff::Timestamp::from_millisecond(now)
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .date();
    let day = today.checked_sub(jiff::Span::new().months(months)).unwrap();
    day.to_zoned(TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond()
        + 12 * 60 * MIN
}

fn utc_day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .date()
        .to_string()
}

fn company() -> CompanyInfo {
    CompanyInfo {
        key: "domain:kept.example".into(),
        name: "Kept Ltd".into(),
        org: None,
        domain: Some("kept.example".into()),
        asn: Some(64_501),
        country: Some("DE".into()),
        class: "business".into(),
        class_reason: None,
    }
}

/// For each age: two visitors, one from a company, each with two pageviews and an
/// engagement; and a bot seen that day.
async fn traffic(store: &Db, site: &Site, now: i64) {
    for (n, age) in AGES.iter().enumerate() {
        let t0 = months_ago(now, *age);
        let mut events: Vec<NewEvent> = Vec::new();
        for person in 0..2i64 {
            let visitor = site.id.0 * 1_000_000 + (n as i64) * 10 + person;
            for (step, name) in ["pageview", "pageview", "engagement"].iter().enumerate() {
                let mut e = event_at(site, t0 + step as i64 * 5 * MIN, visitor, None, name);
                e.path = format!("/p{step}");
                if person == 0 {
                    let c = company();
                    e.class = c.class.clone();
                    e.country = c.country.clone();
                    e.company = Some(c);
                }
                events.push(e);
            }
        }
        let batch = IngestBatch {
            events,
            bots: vec![(site.id, utc_day(t0), 3)],
        };
        crate::tracking::ingest_batch(store, &batch).await;
    }
}

async fn count(store: &Db, q: &str, site: &Site, bound: i64) -> i64 {
    store
        .value(sql(q.to_owned()).bind(site.id.0).bind(bound))
        .await
        .unwrap()
}

/// Every rollup row of the site's days from `day` on, as text.
async fn kept_rollups(store: &Db, site: &Site, day: i64) -> Vec<String> {
    let queries = [
        "SELECT 'vd ' || CAST(day AS TEXT) || ' ' || CAST(company_id AS TEXT) || ' ' || \
         CAST(visitor_hash AS TEXT) || ' ' || CAST(visits AS TEXT) FROM visitor_days \
         WHERE site_id = $1 AND day >= $2 ORDER BY 1",
        "SELECT 'cd ' || CAST(day AS TEXT) || ' ' || CAST(company_id AS TEXT) || ' ' || \
         CAST(visits AS TEXT) || ' ' || CAST(visitors AS TEXT) || ' ' || \
         CAST(pageviews AS TEXT) || ' ' || CAST(engaged_ms AS TEXT) || ' ' || \
         CAST(last_seen_at AS TEXT) FROM company_days WHERE site_id = $1 AND day >= $2 \
         ORDER BY 1",
        "SELECT 'cp ' || CAST(path_id AS TEXT) || ' ' || CAST(day AS TEXT) || ' ' || \
         CAST(company_id AS TEXT) \
         || ' ' || CAST(pageviews AS TEXT) FROM company_paths \
         WHERE site_id = $1 AND day >= $2 ORDER BY 1",
        "SELECT 'sh ' || CAST(hour AS TEXT) || ' ' || CAST(version AS TEXT) FROM site_hours \
         WHERE site_id = $1 AND hour >= $2 * 24 ORDER BY 1",
    ];
    let mut rows = Vec::new();
    for q in queries {
        let part: Vec<String> = store
            .values(sql(q).bind(site.id.0).bind(day))
            .await
            .unwrap();
        rows.extend(part);
    }
    rows
}

/// How many of the site's rows are older than `cutoff`, table by table.
async fn older(store: &Db, site: &Site, cutoff: i64) -> [i64; 6] {
    let day = cutoff / DAY;
    [
        count(
            store,
            "SELECT COUNT(*) FROM events WHERE site_id = $1 AND ts < $2",
            site,
            cutoff,
        )
        .await,
        count(
            store,
            "SELECT COUNT(*) FROM visits WHERE site_id = $1 AND last_seen_at < $2",
            site,
            cutoff,
        )
        .await,
        count(
            store,
            "SELECT COUNT(*) FROM visitor_days WHERE site_id = $1 AND day < $2",
            site,
            day,
        )
        .await,
        count(
            store,
            "SELECT COUNT(*) FROM company_days WHERE site_id = $1 AND day < $2",
            site,
            day,
        )
        .await,
        count(
            store,
            "SELECT COUNT(*) FROM company_paths WHERE site_id = $1 AND day < $2",
            site,
            day,
        )
        .await,
        count(
            store,
            "SELECT COUNT(*) FROM site_hours WHERE site_id = $1 AND hour < $2",
            site,
            day * 24,
        )
        .await,
    ]
}

async fn event_ages(store: &Db, site: &Site, now: i64) -> Vec<i64> {
    let stamps: Vec<i64> = store
        .values(
            sql("SELECT DISTINCT ts FROM events WHERE site_id = $1 ORDER BY ts").bind(site.id.0),
        )
        .await
        .unwrap();
    AGES.iter()
        .copied()
        .filter(|a| stamps.contains(&months_ago(now, *a)))
        .collect()
}

async fn bot_days(store: &Db, site: &Site) -> Vec<String> {
    store
        .values(sql("SELECT day FROM bot_counts WHERE site_id = $1 ORDER BY day").bind(site.id.0))
        .await
        .unwrap()
}

/// Two sites of the default workspace: `long.example` keeping the default 25 months, and
/// `short.example` keeping 2.
async fn long_and_short_sites(store: &Db) -> (Site, Site) {
    let ws = leadsment::accounts::store::default_workspace(store)
        .await
        .unwrap();
    let long = add_site(store, ws.id, "long.example").await;
    let short = add_site(store, ws.id, "short.example").await;
    let two = Months::new(2).unwrap();
    assert!(
        leadsment::retention::store::set_site_months(store, ws.id.0, short.id.0, two)
            .await
            .unwrap()
    );
    (long, short)
}

async fn each_site_loses_what_is_older_than_its_retention_and_kept_days_stay_exact(
    backend: Backend,
) {
    let (_db, store) = TestDb::open(backend).await;
    let (long, short) = long_and_short_sites(&store).await;
    let now = leadsment::store::now_ms();
    traffic(&store, &long, now).await;
    traffic(&store, &short, now).await;
    assert_eq!(event_ages(&store, &long, now).await, AGES);

    let long_cut = Months::default().cutoff_ms(now);
    let short_cut = Months::new(2).unwrap().cutoff_ms(now);
    assert_eq!(long_cut % DAY, 0);
    let long_kept = kept_rollups(&store, &long, long_cut / DAY).await;
    let short_kept = kept_rollups(&store, &short, short_cut / DAY).await;
    assert!(long_kept.len() > short_kept.len(), "{short_kept:?}");
    let before = older(&store, &long, long_cut).await;
    assert!(before.iter().all(|n| *n > 0), "{before:?}");

    let job = Retention::new(store.clone());
    let report = job.run_once(now).await.unwrap();
    println!("first run: {report:?}");
    // Two ages of each site's 12 events, and two more of the short one's.
    assert_eq!(report.deleted["events"], 2 * 6 + 3 * 6, "{report:?}");
    assert_eq!(report.deleted["visits"], 2 * 2 + 3 * 2, "{report:?}");
    assert_eq!(report.deleted["bot_counts"], 2 + 3, "{report:?}");

    assert_eq!(event_ages(&store, &long, now).await, [24, 1]);
    assert_eq!(event_ages(&store, &short, now).await, [1]);
    assert_eq!(older(&store, &long, long_cut).await, [0; 6]);
    assert_eq!(older(&store, &short, short_cut).await, [0; 6]);
    assert_eq!(
        bot_days(&store, &long).await,
        [utc_day(months_ago(now, 24)), utc_day(months_ago(now, 1))]
    );
    assert_eq!(
        bot_days(&store, &short).await,
        [utc_day(months_ago(now, 1))]
    );
    // The days kept read exactly as before.
    assert_eq!(kept_rollups(&store, &long, long_cut / DAY).await, long_kept);
    assert_eq!(
        kept_rollups(&store, &short, short_cut / DAY).await,
        short_kept
    );
    let visits: i64 = store
        .value(sql("SELECT COUNT(*) FROM visits WHERE site_id = $1").bind(long.id.0))
        .await
        .unwrap();
    assert_eq!(visits, 4);

    // Nothing more the next time.
    let again = job.run_once(now).await.unwrap();
    assert_eq!(again.total(), 0, "{again:?}");
    store.close().await;
}

/// The app and its owner, signed in, with the site acme.example.
async fn owner_app(backend: Backend) -> (TestApp, Db, Site, Client) {
    let app = TestApp::spawn(backend).await;
    let store = app.db.store().await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = workspace_of(&store, &owner).await;
    let site = add_site(&store, ws, "acme.example").await;
    let c = Client::new(&app);
    c.sign_in("owner@example.com", PW, false).await;
    (app, store, site, c)
}

async fn months_of(store: &Db, site: &Site) -> i64 {
    leadsment::retention::store::site_months(store, site.id.0)
        .await
        .unwrap()
        .unwrap()
        .get()
}

async fn the_retention_is_changed_on_the_settings_page_and_bad_input_changes_nothing(
    backend: Backend,
) {
    let (app, store, site, c) = owner_app(backend).await;
    let path = format!("/w/{}/sites/{}/settings", site.workspace_id.0, site.id.0);
    let page = c.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Keep traffic for (months)"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"name="retention_months" type="text" value="25""#)
    );
    assert_eq!(months_of(&store, &site).await, 25);

    let saved = c
        .post_form(
            &path,
            &[("section", "retention"), ("retention_months", "13")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), format!("{path}?done=retention"));
    assert_eq!(months_of(&store, &site).await, 13);
    let shown = c.get(&format!("{path}?done=retention")).await;
    assert!(
        shown.body.contains("The retention is saved."),
        "{}",
        shown.body
    );
    assert!(
        shown
            .body
            .contains(r#"name="retention_months" type="text" value="13""#)
    );

    for (typed, message) in [
        ("0", "at least 1 month"),
        ("1000", "at most 120 months"),
        ("121", "at most 120 months"),
        ("two", "as digits, from 1 to 120"),
        ("", "as digits, from 1 to 120"),
        ("-5", "as digits, from 1 to 120"),
        ("<b>9</b>", "as digits, from 1 to 120"),
    ] {
        let r = c
            .post_form(
                &path,
                &[("section", "retention"), ("retention_months", typed)],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{typed}: {}", r.body);
        assert!(r.body.contains(message), "{typed}: {}", r.body);
        assert!(
            r.body.contains(r#"id="f-retention_months-error""#),
            "{typed}"
        );
        assert!(!r.body.contains("<b>9</b>"), "typed text is escaped");
        assert_eq!(
            months_of(&store, &site).await,
            13,
            "{typed} changed nothing"
        );
    }
    // A form without the CSRF token changes nothing either.
    let forged = c
        .post_form_raw(
            &path,
            &[("section", "retention"), ("retention_months", "3")],
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_eq!(months_of(&store, &site).await, 13);
    store.close().await;
    app.shutdown().await.unwrap();
}

async fn deleted_rows_are_counted_on_metrics(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = leadsment::server::Server::bind(db.config()).await.unwrap();
    let job = server.state().retention.clone();
    let app = TestApp::start(db, server, None).await;
    let store = app.db.store().await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("leadsment_retention_deleted_rows_total{table=\"events\"} 0"),
        "{metrics}"
    );
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let site = add_site(&store, ws.id, "old.example").await;
    let now = leadsment::store::now_ms();
    traffic(&store, &site, now).await;
    job.run_once(now).await.unwrap();
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "leadsment_retention_deleted_rows_total{table=\"events\"} 12",
        "leadsment_retention_deleted_rows_total{table=\"visits\"} 4",
        "leadsment_retention_deleted_rows_total{table=\"bot_counts\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    store.close().await;
    app.shutdown().await.unwrap();
}

/// The store's own partition list, with the tests' expectations of it.
async fn partitions(store: &Db) -> Vec<leadsment::retention::store::postgres::Partition> {
    leadsment::retention::store::postgres::partitions(store)
        .await
        .unwrap()
}

/// The first millisecond of the UTC month `months` after the one holding `ms`.
fn month_start(ms: i64, months: i64) -> i64 {
    let first = jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .date()
        .first_of_month()
        .checked_add(jiff::Span::new().months(months))
        .unwrap();
    first
        .to_zoned(TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond()
}

/// `events` is partitioned with its primary key on (id, ts), this month and the next three
/// have a partition, every index of the parent is valid and has one attached per partition.
async fn assert_partitioned(store: &Db, now: i64) {
    let partitioned: bool = store
        .value(sql("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table \
             WHERE partrelid = 'events'::regclass)"))
        .await
        .unwrap();
    assert!(partitioned);
    let parts = partitions(store).await;
    for m in 0..=3 {
        let start = month_start(now, m);
        assert!(
            parts
                .iter()
                .any(|p| p.from <= start && month_start(now, m + 1) <= p.to),
            "month +{m} in {parts:?}"
        );
    }
    let key: String = store
        .value(sql("SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'events'::regclass AND contype = 'p'"))
        .await
        .unwrap();
    assert_eq!(key, "PRIMARY KEY (id, ts)");
    // Every partition, the default one included.
    let tables: i64 = store
        .value(sql(
            "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'events'::regclass",
        ))
        .await
        .unwrap();
    assert_eq!(tables as usize, parts.len() + 1, "{parts:?}");
    let indexes: Vec<(String, bool, i64)> = store
        .all(sql("SELECT CAST(c.relname AS TEXT), i.indisvalid, \
             (SELECT COUNT(*) FROM pg_inherits h WHERE h.inhparent = i.indexrelid) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = 'events'::regclass ORDER BY 1"))
        .await
        .unwrap();
    assert!(indexes.len() >= 3, "{indexes:?}");
    for (name, valid, attached) in &indexes {
        assert!(valid, "{name} is valid");
        assert_eq!(*attached, tables, "{name} has one index per partition");
    }
}

async fn table_identity(store: &Db, table: &str) -> (i64, i64) {
    store
        .one(
            sql(
                "SELECT CAST(oid AS BIGINT), CAST(relfilenode AS BIGINT) FROM pg_class \
                 WHERE oid = to_regclass($1)",
            )
            .bind(table),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_events_stored_before_the_migration_stay_in_the_old_table_made_a_partition() {
    let db = TestDb::unmigrated(Backend::Postgres).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut migrator = sqlx::migrate::Migrator::new(path).await.unwrap();
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < 21)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    migrator.run(&pool).await.unwrap();
    pool.close().await;
    let config = db.config();
    let old = leadsment::store::connect(&config.store).await.unwrap();
    let ws = leadsment::accounts::store::default_workspace(&old)
        .await
        .unwrap();
    let site = add_site(&old, ws.id, "old.example").await;
    let now = leadsment::store::now_ms();
    // The traffic as that schema held it (today's writer names paths by id, migration 0024).
    for (n, age) in AGES.iter().enumerate() {
        let t0 = months_ago(now, *age);
        for person in 0..2i64 {
            let visit = leadsment::tracking::visits::new_visit_id(t0, 1) + person;
            for (step, name) in ["pageview", "pageview", "engagement"].iter().enumerate() {
                old.write(
                    sql("INSERT INTO events (site_id, visit_id, ts, name, path) \
                         VALUES ($1, $2, $3, $4, $5)")
                    .bind(site.id.0)
                    .bind(visit + n as i64 * 2)
                    .bind(t0 + step as i64 * 5 * MIN)
                    .bind(*name)
                    .bind(format!("/p{step}")),
                )
                .await
                .unwrap();
            }
        }
    }
    let ids: Vec<i64> = old
        .values(sql("SELECT id FROM events ORDER BY id"))
        .await
        .unwrap();
    assert_eq!(ids.len(), 24);
    let before = table_identity(&old, "events").await;
    old.close().await;

    let store = db.store().await;
    assert_partitioned(&store, now).await;
    assert_eq!(
        table_identity(&store, "events_old").await,
        before,
        "the table is the partition, not a copy"
    );
    // Its range ends where the server's step before the migration (the index built
    // concurrently, the CHECK validated) put it: at the month after next. The migration alone
    // would end it at next month.
    let first = &partitions(&store).await[0];
    assert_eq!(
        (first.name.as_str(), first.from, first.to),
        ("events_old", i64::MIN, month_start(now, 2))
    );
    let after: Vec<i64> = store
        .values(sql("SELECT id FROM events ORDER BY id"))
        .await
        .unwrap();
    assert_eq!(after, ids);
    let in_old: i64 = store
        .value(sql("SELECT COUNT(*) FROM events_old"))
        .await
        .unwrap();
    assert_eq!(in_old, 24);

    // New events: ids after the old ones, in their month's partition.
    let ahead = month_start(now, 2) + 3 * DAY;
    let mut e = event_at(&site, ahead, 77, None, "pageview");
    e.path = "/ahead".into();
    crate::tracking::ingest_fresh(&store, vec![e]).await;
    let (id, partition): (i64, String) = store
        .one(sql(
            "SELECT id, CAST(tableoid::regclass AS TEXT) FROM events \
             WHERE path_id IN (SELECT id FROM paths WHERE path = '/ahead')",
        ))
        .await
        .unwrap();
    assert!(id > *ids.last().unwrap(), "{id}");
    let month = jiff::Timestamp::from_millisecond(ahead)
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .strftime("events_%Y_%m")
        .to_string();
    assert_eq!(partition, month);
    // A site deleted takes its events, in every partition (visits no longer do: retention
    // deletes events before their visits, migration 0020).
    store
        .write(sql("DELETE FROM sites WHERE id = $1").bind(site.id.0))
        .await
        .unwrap();
    let left: i64 = store
        .value(sql("SELECT COUNT(*) FROM events"))
        .await
        .unwrap();
    assert_eq!(left, 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_fresh_database_is_partitioned_and_the_job_keeps_three_months_ahead() {
    let (_db, store, site) = crate::tracking::store_with_site(Backend::Postgres).await;
    let now = leadsment::store::now_ms();
    assert_partitioned(&store, now).await;
    let job = Retention::new(store.clone());
    assert_eq!(
        job.keep_partitions_ahead(now).await.unwrap(),
        Vec::<String>::new()
    );
    // An event past every month's partition is kept in the default one...
    let far = month_start(now, 5) + DAY;
    crate::tracking::ingest_fresh(&store, vec![event_at(&site, far, 9, None, "pageview")]).await;
    let where_is = || async {
        store
            .value::<String>(sql("SELECT CAST(tableoid::regclass AS TEXT) FROM events"))
            .await
            .unwrap()
    };
    assert_eq!(where_is().await, "events_default");
    // ... until its month's partition is made, five months on, with the months before it.
    let made = job.keep_partitions_ahead(far).await.unwrap();
    println!("made {made:?}");
    let month = jiff::Timestamp::from_millisecond(far)
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .strftime("events_%Y_%m")
        .to_string();
    assert!(made.contains(&month), "{made:?}");
    assert_eq!(where_is().await, month);
    assert_partitioned(&store, far).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_months_no_site_keeps_are_dropped_whole() {
    let (_db, store) = TestDb::open(Backend::Postgres).await;
    let (long, short) = long_and_short_sites(&store).await;
    let now = leadsment::store::now_ms();
    traffic(&store, &long, now).await;
    traffic(&store, &short, now).await;
    // Events in a month ahead, in a partition of its own.
    let ahead = month_start(now, 2) + DAY;
    for site in [&long, &short] {
        crate::tracking::ingest_fresh(&store, vec![event_at(site, ahead, 5, None, "pageview")])
            .await;
    }
    let job = Retention::new(store.clone());
    // Thirty months on, the long site keeps from five months after today: every partition
    // up to there goes whole, the rest by batches.
    let later = month_start(now, 30) + 12 * 3_600_000;
    job.keep_partitions_ahead(later).await.unwrap();
    let report = job.run_once(later).await.unwrap();
    println!("{report:?}");
    assert!(
        report.partitions_dropped.contains(&"events_old".to_owned()),
        "{report:?}"
    );
    let ahead_month = jiff::Timestamp::from_millisecond(ahead)
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .strftime("events_%Y_%m")
        .to_string();
    assert!(
        report.partitions_dropped.contains(&ahead_month),
        "{report:?}"
    );
    assert_eq!(report.deleted["events"], 2 * 24 + 2, "{report:?}");
    let left: i64 = store
        .value(sql("SELECT COUNT(*) FROM events"))
        .await
        .unwrap();
    assert_eq!(left, 0);
    for site in [&long, &short] {
        assert_eq!(older(&store, site, later).await, [0; 6]);
    }
    assert_partitioned(&store, later).await;
    store.close().await;
}
