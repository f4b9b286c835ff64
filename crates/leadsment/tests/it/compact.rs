//! Compact rows (migration 0020): events keep only their own values, visits hold the id of
//! their traits' combination. Nothing stored before is lost, and the writer finds the
//! combinations the migration made. Migration 0024: visits stored by site and id (SQLite),
//! every value kept, and the writer and the dashboard find them; paths by id, every path of
//! every event, visit and rollup kept, and the writer reuses the ids the migration gave.

use leadsment::accounts::sites::SiteId;
use leadsment::store::{Db, sql};
use leadsment::tracking::model::ExportedEvent;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};
use crate::tracking::ingest_fresh;

on_both_backends!(
    stored_traffic_keeps_every_value_through_the_compaction,
    visits_keep_every_value_when_stored_by_site,
    paths_keep_their_text_when_named_by_id
);

const CAMPAIGN: &str = r#"spring "sale" \ été"#;

/// An old visit and its event, every column written as releases before 0020 did.
fn old_rows() -> Vec<String> {
    let mut rows = vec![
        "INSERT INTO workspaces (name, created_at) VALUES ('Old', 1000)".to_owned(),
        "INSERT INTO sites (workspace_id, domain, created_at) VALUES (1, 'old.example', 1000)"
            .to_owned(),
        "INSERT INTO companies (key, name, class, first_seen_at) \
         VALUES ('domain:acme.example', 'Acme', 'business', 1000)"
            .to_owned(),
    ];
    let campaign = CAMPAIGN.replace('\'', "''");
    // Visit 1000: every trait set, a campaign with quotes, a backslash and accents. Visit
    // 2000: every optional trait missing.
    let traits = [
        (
            1000,
            format!(
                "'business', 'DE', 'LinkedIn', 'social', 'newsletter', NULL, '{campaign}', NULL, NULL, 'Firefox', 'Linux', 'desktop'"
            ),
            "1",
        ),
        (
            2000,
            "'unknown', NULL, NULL, 'direct', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'mobile'"
                .to_owned(),
            "NULL",
        ),
    ];
    for (id, t, company) in traits {
        let hash = old_hash(id);
        rows.push(format!(
            "INSERT INTO visits (id, site_id, visitor_hash, started_at, last_seen_at, \
             company_id, class, country, source, channel, utm_source, utm_medium, \
             utm_campaign, utm_term, utm_content, browser, os, device, entry_path, exit_path, \
             pageviews, events, engaged_ms) VALUES ({id}, 1, {hash}, {id}, {id}, {company}, {t}, \
             '/in', '/out', 1, 2, 0)"
        ));
        for (n, name) in ["pageview", "engagement"].iter().enumerate() {
            rows.push(format!(
                "INSERT INTO events (site_id, visit_id, ts, name, path, props, engaged_ms, \
                 company_id, class, country, source, channel, utm_source, utm_medium, \
                 utm_campaign, utm_term, utm_content, browser, os, device) VALUES \
                 (1, {id}, {}, '{name}', '/in', NULL, NULL, {company}, {t})",
                id + n as i64
            ));
        }
    }
    rows
}

async fn traits_count(store: &Db) -> i64 {
    store
        .value(sql("SELECT COUNT(*) FROM visit_traits"))
        .await
        .unwrap()
}

async fn stored_traffic_keeps_every_value_through_the_compaction(backend: Backend) {
    let rows = old_rows();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let db = TestDb::migrated_below(backend, 20, &rows).await;
    let store = db.store().await;

    let events: Vec<ExportedEvent> =
        leadsment::tracking::store::export_events(&store, SiteId(1), 0, i64::MAX, None, 100)
            .await
            .unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    for e in &events[..2] {
        assert_eq!(e.visit_id, 1000);
        assert_eq!(e.company.as_deref(), Some("Acme"));
        assert_eq!(e.class, "business");
        assert_eq!(e.country.as_deref(), Some("DE"));
        assert_eq!(e.source.as_deref(), Some("LinkedIn"));
        assert_eq!(e.channel, "social");
        assert_eq!(e.utm_source.as_deref(), Some("newsletter"));
        assert_eq!(e.utm_medium, None);
        assert_eq!(e.utm_campaign.as_deref(), Some(CAMPAIGN));
        assert_eq!(
            (e.browser.as_deref(), e.os.as_deref(), e.device.as_str()),
            (Some("Firefox"), Some("Linux"), "desktop")
        );
    }
    for e in &events[2..] {
        assert_eq!(e.visit_id, 2000);
        assert_eq!(
            (e.class.as_str(), e.channel.as_str()),
            ("unknown", "direct")
        );
        assert_eq!(e.device, "mobile");
        assert!(e.country.is_none() && e.source.is_none() && e.utm_campaign.is_none());
        assert!(e.browser.is_none() && e.os.is_none() && e.utm_source.is_none());
    }
    assert_eq!(traits_count(&store).await, 2);

    // A new visitor with the first visit's traits: the writer finds the combination the
    // migration made (the same key), rather than storing it again.
    let mut ev = crate::tracking::event_at_site(SiteId(1), 5_000, 77, None, "pageview");
    ev.class = "business".into();
    ev.country = Some("DE".into());
    ev.source = Some("LinkedIn".into());
    ev.channel = "social".into();
    ev.utm_source = Some("newsletter".into());
    ev.utm_campaign = Some(CAMPAIGN.into());
    ev.browser = Some("Firefox".into());
    ev.os = Some("Linux".into());
    let mut other = ev.clone();
    other.visitor_hash = 78;
    other.device = "tablet".into();
    ingest_fresh(&store, vec![ev, other]).await;
    assert_eq!(traits_count(&store).await, 3);
    let same: Vec<i64> = store
        .values(sql(
            "SELECT traits_id FROM visits WHERE visitor_hash IN (1000, 77) ORDER BY id",
        ))
        .await
        .unwrap();
    assert_eq!(same.len(), 2);
    assert_eq!(
        same[0], same[1],
        "the new visit made a second row for the same traits"
    );
    let exported: Vec<ExportedEvent> =
        leadsment::tracking::store::export_events(&store, SiteId(1), 5_000, 5_001, None, 10)
            .await
            .unwrap();
    let devices: Vec<&str> = exported.iter().map(|e| e.device.as_str()).collect();
    assert_eq!(devices.len(), 2);
    assert!(
        devices.contains(&"desktop") && devices.contains(&"tablet"),
        "{devices:?}"
    );
    store.close().await;
}

/// A hash as releases before 0024 stored it, whose first 47 bits are `hash` (what 0024
/// keeps).
fn old_hash(hash: i64) -> i64 {
    (hash << 17) | 0x1_5555
}

/// A visit as the writer makes them: its id begins with its start. Its visitor hash is
/// stored as before 0024 (`old_hash`).
fn visit_row(site: i64, start: i64, hash: i64, company: &str, path: &str) -> String {
    let hash = old_hash(hash);
    let id = leadsment::tracking::visits::new_visit_id(start, 3);
    format!(
        "INSERT INTO visits (id, site_id, visitor_hash, started_at, last_seen_at, company_id, \
         traits_id, entry_path, exit_path, pageviews, events, engaged_ms) VALUES \
         ({id}, {site}, {hash}, {start}, {}, {company}, 1, '{path}', '{path}/out', 2, 3, 4500)",
        start + 60_000
    )
}

async fn visits_keep_every_value_when_stored_by_site(backend: Backend) {
    const T: i64 = 1_780_000_000_000;
    let mut rows = vec![
        "INSERT INTO workspaces (name, created_at) VALUES ('Old', 1000)".to_owned(),
        "INSERT INTO sites (workspace_id, domain, created_at) VALUES (1, 'a.example', 1000)"
            .to_owned(),
        "INSERT INTO sites (workspace_id, domain, created_at) VALUES (1, 'b.example', 1000)"
            .to_owned(),
        "INSERT INTO companies (key, name, class, first_seen_at) \
         VALUES ('domain:acme.example', 'Acme', 'business', 1000)"
            .to_owned(),
        // The first combination: id 1.
        "INSERT INTO visit_traits (key, class, channel, device) \
         VALUES ('[]', 'business', 'direct', 'desktop')"
            .to_owned(),
    ];
    // Site 2's visits between site 1's, in time: the copy orders them by site.
    for (n, site) in [1, 2, 1, 2].into_iter().enumerate() {
        let company = if n == 3 { "NULL" } else { "1" };
        let start = T + n as i64 * 3_600_000;
        rows.push(visit_row(
            site,
            start,
            100 + n as i64,
            company,
            &format!("/p{n}"),
        ));
    }
    // Two visitors' days whose hashes share their first 47 bits: one row after the cut.
    let day = T / 86_400_000;
    for (hash, visits) in [(old_hash(100), 1), (old_hash(100) ^ 1, 2)] {
        rows.push(format!(
            "INSERT INTO visitor_days (site_id, day, company_id, visitor_hash, visits) \
             VALUES (1, {day}, 1, {hash}, {visits})"
        ));
    }
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let db = TestDb::migrated_below(backend, 24, &rows).await;
    let store = db.store().await;

    type Visit = (
        i64,
        i64,
        i64,
        i64,
        Option<i64>,
        String,
        String,
        i64,
        i64,
        i64,
    );
    let read = || async {
        store
            .all::<Visit>(sql(
                "SELECT site_id, visitor_hash, started_at, last_seen_at, company_id, \
                 (SELECT path FROM paths WHERE id = entry_path_id), \
                 (SELECT path FROM paths WHERE id = exit_path_id), pageviews, events, \
                 engaged_ms FROM visits \
                 ORDER BY started_at",
            ))
            .await
            .unwrap()
    };
    let visits = read().await;
    assert_eq!(visits.len(), 4, "{visits:?}");
    for (n, v) in visits.iter().enumerate() {
        let start = T + n as i64 * 3_600_000;
        let company = (n != 3).then_some(1);
        let expected: Visit = (
            [1, 2, 1, 2][n],
            100 + n as i64,
            start,
            start + 60_000,
            company,
            format!("/p{n}"),
            format!("/p{n}/out"),
            2,
            3,
            4500,
        );
        assert_eq!(v, &expected);
    }

    let days: Vec<(i64, i64)> = store
        .all(sql("SELECT visitor_hash, visits FROM visitor_days"))
        .await
        .unwrap();
    assert_eq!(days, [(100, 3)]);

    // The dashboard reads a site's visits of a period as a range of their key.
    let (a, b) = (SiteId(1), SiteId(2));
    let period = (T, T + 3 * 3_600_000);
    let read_site =
        |site| leadsment::leads::store::company_visits(&store, site, period, None, None);
    let (in_a, in_b) = (read_site(a).await.unwrap(), read_site(b).await.unwrap());
    assert_eq!(
        (in_a.len(), in_a[0].visits, in_b.len(), in_b[0].visits),
        (1, 2, 1, 1),
        "{in_a:?} {in_b:?}"
    );

    // The writer continues site 2's last visit (visitor 103, last seen T + 3h + 1 min) from
    // the store, through the visit's site and id, and leaves the others as they were.
    let ev = crate::tracking::event_at_site(b, T + 3 * 3_600_000 + 120_000, 103, None, "pageview");
    ingest_fresh(&store, vec![ev]).await;
    let after = read().await;
    assert_eq!(after.len(), 4, "the event opened a visit: {after:?}");
    assert_eq!(&after[..3], &visits[..3]);
    let last = &after[3];
    assert_eq!(
        (last.0, last.3, last.7, last.8),
        (2, T + 3 * 3_600_000 + 120_000, 3, 4)
    );
    store.close().await;
}

async fn paths_keep_their_text_when_named_by_id(backend: Backend) {
    const T: i64 = 1_780_000_000_000;
    let day = T / 86_400_000;
    let visit = leadsment::tracking::visits::new_visit_id(T, 3);
    let mut rows: Vec<String> = [
        "INSERT INTO workspaces (name, created_at) VALUES ('Old', 1000)",
        "INSERT INTO sites (workspace_id, domain, created_at) VALUES (1, 'a.example', 1000)",
        "INSERT INTO sites (workspace_id, domain, created_at) VALUES (1, 'b.example', 1000)",
        "INSERT INTO companies (key, name, class, first_seen_at) \
         VALUES ('domain:acme.example', 'Acme', 'business', 1000)",
        "INSERT INTO visit_traits (key, class, channel, device) \
         VALUES ('[]', 'business', 'direct', 'desktop')",
        // The same path on both sites, one only on site 2, one only in a rollup.
        "INSERT INTO site_paths (site_id, path) VALUES (1, '/pricing'), (2, '/pricing'), \
         (1, '/docs/é?x=1')",
        "INSERT INTO company_paths (site_id, path, day, company_id, pageviews) VALUES \
         (1, '/pricing', DAY, 1, 3), (1, '/docs/é?x=1', DAY, 1, 2), (1, '/gone', DAY, 1, 1)",
    ]
    .iter()
    .map(|q| q.replace("DAY", &day.to_string()))
    .collect();
    rows.push(format!(
        "INSERT INTO visits (id, site_id, visitor_hash, started_at, last_seen_at, company_id, \
         traits_id, entry_path, exit_path, pageviews, events, engaged_ms) VALUES \
         ({visit}, 1, {}, {T}, {}, 1, 1, '/pricing', '/docs/é?x=1', 2, 3, 0)",
        old_hash(7),
        T + 60_000
    ));
    for (n, (name, path)) in [
        ("pageview", "/pricing"),
        ("signup", "/form"),
        ("pageview", "/docs/é?x=1"),
    ]
    .iter()
    .enumerate()
    {
        rows.push(format!(
            "INSERT INTO events (site_id, visit_id, ts, name, path, props, engaged_ms, \
             company_id) VALUES (1, {visit}, {}, '{name}', '{path}', NULL, NULL, 1)",
            T + n as i64 * 30_000
        ));
    }
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let db = TestDb::migrated_below(backend, 24, &rows).await;
    let store = db.store().await;
    let site = SiteId(1);

    let exported: Vec<ExportedEvent> =
        leadsment::tracking::store::export_events(&store, site, 0, i64::MAX, None, 10)
            .await
            .unwrap();
    let paths: Vec<&str> = exported.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/pricing", "/form", "/docs/é?x=1"]);
    let timeline = leadsment::leads::store::company_timeline(&store, site, 1, 10)
        .await
        .unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].entry_path, "/pricing");
    let mut pages =
        leadsment::leads::store::rollups::company_paths(&store, site, (day, day + 1), &[1])
            .await
            .unwrap();
    pages.sort();
    assert_eq!(
        pages,
        [
            (1, "/docs/é?x=1".to_owned(), 2),
            (1, "/gone".to_owned(), 1),
            (1, "/pricing".to_owned(), 3)
        ]
    );
    let known = leadsment::leads::store::rollups::site_paths(&store, site)
        .await
        .unwrap();
    let mut texts: Vec<&str> = known.iter().map(|(_, p)| p.as_str()).collect();
    texts.sort();
    assert_eq!(texts, ["/docs/é?x=1", "/form", "/gone", "/pricing"]);
    let id_of = |path: &str| known.iter().find(|(_, p)| p == path).unwrap().0;
    let hits = leadsment::leads::store::rollups::path_hits(
        &store,
        site,
        (day, day + 1),
        &[id_of("/pricing"), id_of("/gone")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(hits.get(&1), Some(&4));

    // The writer names a known path by the id the migration gave it, and a new one by a new
    // id; the same text on another site is another path.
    let count = || async {
        store
            .value::<i64>(sql("SELECT COUNT(*) FROM paths"))
            .await
            .unwrap()
    };
    assert_eq!(count().await, 5, "four paths of site 1, one of site 2");
    let mut known_path = crate::tracking::event_at_site(site, T + 120_000, 7, None, "pageview");
    known_path.path = "/pricing".into();
    let mut new_path = known_path.clone();
    new_path.ts += 1;
    new_path.path = "/new".into();
    let mut other_site = known_path.clone();
    other_site.site_id = SiteId(2);
    other_site.visitor_hash = 8;
    ingest_fresh(&store, vec![known_path, new_path, other_site]).await;
    assert_eq!(count().await, 6, "only /new is new");
    let exported: Vec<ExportedEvent> =
        leadsment::tracking::store::export_events(&store, site, T + 100_000, i64::MAX, None, 10)
            .await
            .unwrap();
    let paths: Vec<&str> = exported.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/pricing", "/new"]);
    let timeline = leadsment::leads::store::company_timeline(&store, site, 1, 10)
        .await
        .unwrap();
    assert_eq!(
        (timeline.len(), timeline[0].pageviews),
        (1, 4),
        "the visit continued: {timeline:?}"
    );
    store.close().await;
}
