//! The rollups the event writer keeps (`tracking::rollups`, read by the dashboard) against a
//! recount of the raw visits and events: four UTC days of traffic from three companies and
//! people without one, written in small batches by writers that start cold (so visits continue
//! across batches and are read back from the store), with visits that run past UTC midnight
//! and take the new day's visitor hash, and two writers at once; on both backends.

use leadsment::accounts::sites::{NewSite, Site};
use leadsment::store::{Db, sql};
use leadsment::tracking::model::{CompanyInfo, NewEvent};

use crate::on_both_backends;
use crate::support::{Backend, TestDb};
use crate::tracking::{event_at, ingest_fresh as write};

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 2026-10-24, a UTC midnight.
const D0: i64 = 20_750 * DAY;

on_both_backends!(
    rollups_equal_a_recount_of_the_raw_tables,
    a_company_stored_without_a_class_reason_gets_one_when_next_seen,
);

fn company(n: u64) -> CompanyInfo {
    CompanyInfo {
        key: format!("domain:c{n}.example"),
        name: format!("Company {n}"),
        org: None,
        domain: Some(format!("c{n}.example")),
        asn: Some(64_500 + n as i64),
        country: Some("DE".into()),
        class: "business".into(),
        class_reason: None,
    }
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// A person's visitor hash on a UTC day, as the salts make it: another each day.
fn hash(person: u64, day: i64) -> i64 {
    (person as i64) * 1_000 + day
}

fn traffic(site: &Site) -> Vec<NewEvent> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut events = Vec::new();
    for person in 0..40u64 {
        let who = (person % 7 != 0).then(|| company(person % 3));
        for _ in 0..1 + rng.next(4) {
            let day = rng.next(4) as i64;
            // One visit in four starts just before UTC midnight and runs past it.
            let start = if rng.next(4) == 0 {
                D0 + day * DAY + DAY - (5 + rng.next(10) as i64) * MIN
            } else {
                D0 + day * DAY + (rng.next(23 * 60) as i64) * MIN
            };
            let mut ts = start;
            for step in 0..2 + rng.next(5) {
                let d = (ts - D0).div_euclid(DAY);
                let name = if step > 0 && rng.next(3) == 0 {
                    "engagement"
                } else {
                    "pageview"
                };
                let previous = (d > 0).then(|| hash(person, d - 1));
                let mut e = event_at(site, ts, hash(person, d), previous, name);
                e.path = ["/", "/pricing", "/demo", "/careers", "/blog/a"][rng.next(5) as usize]
                    .to_owned();
                e.engaged_ms = (name == "engagement").then_some(rng.next(90_000) as i64);
                if let Some(c) = &who {
                    e.class = c.class.clone();
                    e.country = c.country.clone();
                    e.company = Some(c.clone());
                }
                events.push(e);
                ts += (2 + rng.next(8) as i64) * MIN;
            }
        }
    }
    events.sort_by_key(|e| e.ts);
    events
}

type Rows = Vec<(i64, i64, i64, i64, i64, i64, i64, i64)>;

/// `company_days` as the writer kept it, and as the raw tables recount it (the same
/// statement the migration fills it with).
async fn company_days(store: &Db) -> (Rows, Rows) {
    let kept: Rows = store
        .all(sql(
            "SELECT site_id, day, company_id, visits, visitors, pageviews, engaged_ms, \
             last_seen_at FROM company_days \
             WHERE visits <> 0 OR visitors <> 0 OR pageviews <> 0 OR engaged_ms <> 0 \
             ORDER BY site_id, day, company_id",
        ))
        .await
        .unwrap();
    let recounted: Rows = store
        .all(sql(
            "SELECT site_id, day, company_id, CAST(SUM(visits) AS BIGINT), \
             CAST(SUM(visitors) AS BIGINT), CAST(SUM(pageviews) AS BIGINT), \
             CAST(SUM(engaged_ms) AS BIGINT), MAX(last_seen_at) FROM ( \
                SELECT site_id, started_at / 86400000 AS day, company_id, COUNT(*) AS visits, \
                    COUNT(DISTINCT visitor_hash) AS visitors, 0 AS pageviews, \
                    SUM(engaged_ms) AS engaged_ms, MAX(last_seen_at) AS last_seen_at \
                FROM visits WHERE company_id IS NOT NULL \
                GROUP BY site_id, started_at / 86400000, company_id \
                UNION ALL \
                SELECT site_id, ts / 86400000, company_id, 0, 0, COUNT(*), 0, 0 \
                FROM events WHERE name = 'pageview' AND company_id IS NOT NULL \
                GROUP BY site_id, ts / 86400000, company_id \
             ) AS parts GROUP BY site_id, day, company_id ORDER BY site_id, day, company_id",
        ))
        .await
        .unwrap();
    (kept, recounted)
}

async fn pairs(store: &Db, kept: &str, recount: &str) -> (Vec<String>, Vec<String>) {
    let kept: Vec<String> = store.values(sql(kept.to_owned())).await.unwrap();
    let recounted: Vec<String> = store.values(sql(recount.to_owned())).await.unwrap();
    (kept, recounted)
}

pub async fn assert_rollups_match(store: &Db) {
    let (kept, recounted) = company_days(store).await;
    assert!(!kept.is_empty());
    assert_eq!(kept, recounted, "company_days");
    let (kept, recounted) = pairs(
        store,
        "SELECT CAST(site_id AS TEXT) || ' ' || CAST(day AS TEXT) || ' ' || \
         CAST(company_id AS TEXT) || ' ' || CAST(visitor_hash AS TEXT) || ' ' || \
         CAST(visits AS TEXT) FROM visitor_days \
         ORDER BY site_id, day, company_id, visitor_hash",
        "SELECT CAST(site_id AS TEXT) || ' ' || CAST(started_at / 86400000 AS TEXT) || ' ' || \
         CAST(company_id AS TEXT) || ' ' || CAST(visitor_hash AS TEXT) || ' ' || \
         CAST(COUNT(*) AS TEXT) FROM visits WHERE company_id IS NOT NULL \
         GROUP BY site_id, started_at / 86400000, company_id, visitor_hash \
         ORDER BY site_id, started_at / 86400000, company_id, visitor_hash",
    )
    .await;
    assert_eq!(kept, recounted, "visitor_days");
    let (kept, recounted) = pairs(
        store,
        "SELECT CAST(site_id AS TEXT) || ' ' || CAST(path_id AS TEXT) || ' ' || \
         CAST(day AS TEXT) || ' ' || \
         CAST(company_id AS TEXT) || ' ' || CAST(pageviews AS TEXT) FROM company_paths \
         ORDER BY site_id, path_id, day, company_id",
        "SELECT CAST(site_id AS TEXT) || ' ' || CAST(path_id AS TEXT) || ' ' || \
         CAST(ts / 86400000 AS TEXT) \
         || ' ' || CAST(company_id AS TEXT) || ' ' || CAST(COUNT(*) AS TEXT) FROM events \
         WHERE name = 'pageview' AND company_id IS NOT NULL \
         GROUP BY site_id, path_id, ts / 86400000, company_id \
         ORDER BY site_id, path_id, ts / 86400000, company_id",
    )
    .await;
    assert_eq!(kept, recounted, "company_paths");
    let (kept, recounted) = pairs(
        store,
        "SELECT CAST(site_id AS TEXT) || ' ' || path FROM paths ORDER BY site_id, path",
        "SELECT DISTINCT CAST(e.site_id AS TEXT) || ' ' || p.path FROM events e \
         JOIN paths p ON p.id = e.path_id AND p.site_id = e.site_id \
         ORDER BY CAST(e.site_id AS TEXT) || ' ' || p.path",
    )
    .await;
    assert_eq!(kept, recounted, "paths");
    // Every UTC hour with a visit or an event has a version (what the dashboard keeps of an
    // hour or a day is checked against it).
    let (kept, recounted) = pairs(
        store,
        "SELECT CAST(site_id AS TEXT) || ' ' || CAST(hour AS TEXT) FROM site_hours \
         ORDER BY site_id, hour",
        "SELECT CAST(site_id AS TEXT) || ' ' || CAST(hour AS TEXT) FROM (\
         SELECT site_id, started_at / 3600000 AS hour FROM visits UNION \
         SELECT site_id, ts / 3600000 FROM events) AS d ORDER BY site_id, hour",
    )
    .await;
    assert_eq!(kept, recounted, "site_hours");
}

async fn rollups_equal_a_recount_of_the_raw_tables(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let new = NewSite::new(ws.id, "rollups.example", &[]).unwrap();
    let site = leadsment::accounts::store::create_site(&store, &new)
        .await
        .unwrap();
    let events = traffic(&site);
    assert!(events.len() > 300, "{}", events.len());

    // Small batches, each by a writer that starts cold.
    let (first, rest) = events.split_at(events.len() / 2);
    for chunk in first.chunks(7) {
        write(&store, chunk.to_vec()).await;
    }
    assert_rollups_match(&store).await;

    // Two writers at once, each with every other batch of the rest.
    let chunks: Vec<Vec<NewEvent>> = rest.chunks(11).map(|c| c.to_vec()).collect();
    for pair in chunks.chunks(2) {
        match pair {
            [a, b] => {
                tokio::join!(write(&store, a.clone()), write(&store, b.clone()));
            }
            [a] => write(&store, a.clone()).await,
            _ => unreachable!(),
        }
    }
    assert_rollups_match(&store).await;

    // The traffic did what this test is for: visits that took the next day's hash, and a
    // person with two visits on one day.
    let moved: i64 = store
        .value(
            sql("SELECT COUNT(*) FROM visits WHERE company_id IS NOT NULL \
             AND visitor_hash - (visitor_hash / 1000) * 1000 <> (started_at - $1) / 86400000")
            .bind(D0),
        )
        .await
        .unwrap();
    assert!(moved > 0, "no visit ran past midnight");
    let repeat: i64 = store
        .value(sql("SELECT COUNT(*) FROM visitor_days WHERE visits > 1"))
        .await
        .unwrap();
    assert!(repeat > 0, "no visitor came twice in a day");
}

/// Companies stored before the class reason was kept get it from the next writer that sees
/// them; a reason once stored stays (the class is what was stored first).
async fn a_company_stored_without_a_class_reason_gets_one_when_next_seen(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let new = NewSite::new(ws.id, "reasons.example", &[]).unwrap();
    let site = leadsment::accounts::store::create_site(&store, &new)
        .await
        .unwrap();
    let reason = || async {
        store
            .value::<Option<String>>(
                sql("SELECT class_reason FROM companies WHERE key = $1").bind(company(1).key),
            )
            .await
            .unwrap()
    };
    let seen = |at: i64, why: Option<&str>| {
        let mut e = event_at(&site, D0 + at * MIN, 1, None, "pageview");
        let mut c = company(1);
        c.class_reason = why.map(str::to_owned);
        e.company = Some(c);
        e
    };
    write(&store, vec![seen(0, None)]).await;
    assert_eq!(reason().await, None);
    write(&store, vec![seen(1, Some("reviewed: Company 1: a maker"))]).await;
    assert_eq!(
        reason().await.as_deref(),
        Some("reviewed: Company 1: a maker")
    );
    write(&store, vec![seen(2, Some("isp: name contains \"net\""))]).await;
    assert_eq!(
        reason().await.as_deref(),
        Some("reviewed: Company 1: a maker")
    );
}
