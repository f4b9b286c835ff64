//! The dashboard's figures against fixed events: exact scores with their reasons, and every
//! figure of a period recounted from the raw events across local midnight and a
//! daylight-saving change (Europe/Berlin, 25 October 2026), on both backends.

use std::collections::{HashMap, HashSet};

use leadsment::accounts::sites::{NewSite, Site};
use leadsment::leads::cache::DayCache;
use leadsment::leads::feed::{Feed, Rows};
use leadsment::leads::filters::{FeedQuery, RawFilters, parse};
use leadsment::leads::period::{self, Period, Range};
use leadsment::leads::store::Totals;
use leadsment::store::{Db, sql};
use leadsment::tracking::model::{CompanyInfo, NewEvent};

use crate::on_both_backends;
use crate::support::{Backend, TestDb};
use crate::tracking::{event_at, ingest_fresh};

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn ms(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn acme() -> CompanyInfo {
    CompanyInfo {
        key: "domain:acme.example".into(),
        name: "Acme".into(),
        org: Some("ACME-NET - Acme Corporation Inc.".into()),
        domain: Some("acme.example".into()),
        asn: Some(64500),
        country: Some("DE".into()),
        class: "business".into(),
        class_reason: None,
    }
}

fn ev(
    site: &Site,
    ts: i64,
    visitor: i64,
    name: &str,
    path: &str,
    company: Option<CompanyInfo>,
) -> NewEvent {
    let mut e = event_at(site, ts, visitor, None, name);
    e.path = path.to_owned();
    e.engaged_ms = (name == "engagement").then_some(4 * MIN);
    if let Some(c) = company {
        e.class = c.class.clone();
        e.country = c.country.clone();
        e.company = Some(c);
    }
    e
}

async fn site_in(store: &Db, zone: &str) -> Site {
    let ws = leadsment::accounts::store::default_workspace(store)
        .await
        .unwrap();
    let mut new = NewSite::new(ws.id, "acme-customer.example", &[]).unwrap();
    new.set_time_zone(zone).unwrap();
    leadsment::accounts::store::create_site(store, &new)
        .await
        .unwrap()
}

/// The feed of `site` for the link's `query` at `now` in `tz`, every row, with the parsed query.
async fn feed_at(
    store: &Db,
    site: &Site,
    query: &str,
    tz: &jiff::tz::TimeZone,
    now: i64,
) -> (FeedQuery, Feed) {
    let q = parse(&RawFilters::from_query(Some(query)), tz, now).unwrap();
    let feed =
        leadsment::leads::feed::feed(store, &Default::default(), site.id, &q, now, Rows::Every)
            .await
            .unwrap();
    (q, feed)
}

async fn company_id(store: &Db, key: &str) -> i64 {
    store
        .value(sql("SELECT id FROM companies WHERE key = $1").bind(key))
        .await
        .unwrap()
}

on_both_backends!(
    a_person_counts_once_per_utc_day_in_every_figure,
    pageviews_at_both_edges_of_a_period_west_of_utc,
    scores_and_their_reasons_are_exact,
    every_figure_equals_a_recount_across_midnight_and_daylight_saving,
    a_site_in_use_recounts_after_every_batch_through_one_cache,
    a_server_warms_its_dashboard_cache_at_start,
    reading_again_in_the_same_minutes_reads_nothing_new,
    today_west_of_utc_recounts_after_every_batch,
);

async fn scores_and_their_reasons_are_exact(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let site = site_in(&store, "UTC").await;
    let now = ms("2026-11-20T12:00:00Z");
    let a = || Some(acme());
    let t1 = now - 10 * DAY;
    let t2 = now - 3 * DAY;
    let old = now - 40 * DAY;
    ingest_fresh(
        &store,
        vec![
            ev(&site, old, 3, "pageview", "/contact", a()),
            ev(&site, t1, 1, "pageview", "/", a()),
            ev(&site, t1 + MIN, 1, "pageview", "/pricing", a()),
            ev(&site, t1 + 2 * MIN, 1, "pageview", "/pricing", a()),
            ev(&site, t1 + 6 * MIN, 1, "engagement", "/pricing", a()),
            ev(&site, t2, 2, "pageview", "/demo", a()),
            ev(&site, t2 + MIN, 2, "pageview", "/careers", a()),
        ],
    )
    .await;
    let id = company_id(&store, "domain:acme.example").await;
    let view = leadsment::leads::company::company(&store, site.id, id, now, 50)
        .await
        .unwrap()
        .unwrap();
    let lines: Vec<(String, i64)> = view
        .score
        .lines
        .iter()
        .map(|l| (l.text.clone(), l.points))
        .collect();
    let expected: Vec<(String, i64)> = [
        ("2 visits in 30 days", 10),
        ("2 visitors from the company", 5),
        ("4 minutes engaged", 4),
        ("visited /pricing twice", 20),
        ("visited a demo page once", 15),
        ("visited careers or jobs pages once", -10),
        ("last visit 2 days ago", -4),
    ]
    .into_iter()
    .map(|(t, p)| (t.to_owned(), p))
    .collect();
    assert_eq!(lines, expected);
    assert_eq!(view.score.value, 40);
    // The timeline holds every visit, the one outside the score's window too.
    assert_eq!(view.totals.visits, 3);
    assert_eq!(view.totals.pageviews, 6);

    // The feed scores the same way, whatever its period.
    let (_, feed) = feed_at(&store, &site, "period=7d", &jiff::tz::TimeZone::UTC, now).await;
    assert_eq!(feed.rows.len(), 1);
    assert_eq!(feed.rows[0].score, view.score);
    assert_eq!((feed.rows[0].visits, feed.rows[0].pageviews), (1, 2));
    // A company seen only outside the window scores nothing, and a page of another tenant's
    // site is not found.
    assert!(
        leadsment::leads::company::company(
            &store,
            leadsment::accounts::sites::SiteId(site.id.0 + 1),
            id,
            now,
            50
        )
        .await
        .unwrap()
        .is_none()
    );
}

/// What the raw events say: per bucket, visits (by the start of each), distinct visitors and
/// pageviews.
fn recount(
    events: &[NewEvent],
    starts: &HashMap<i64, (i64, i64)>,
    b: &period::Bucket,
) -> (i64, i64, i64) {
    let inside = |t: i64| t >= b.start && t < b.end;
    let visits: Vec<&(i64, i64)> = starts.values().filter(|(t, _)| inside(*t)).collect();
    let visitors: HashSet<i64> = visits.iter().map(|(_, h)| *h).collect();
    let views = events
        .iter()
        .filter(|e| e.name == "pageview" && inside(e.ts))
        .count() as i64;
    (visits.len() as i64, visitors.len() as i64, views)
}

async fn every_figure_equals_a_recount_across_midnight_and_daylight_saving(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let site = site_in(&store, "Europe/Berlin").await;
    let a = || Some(acme());
    // Local times: Berlin is UTC+2 until 03:00 on 25 October, UTC+1 after.
    let events = vec![
        // 24 Oct, 23:50 local, a visit that runs past midnight (its pages on two days).
        ev(&site, ms("2026-10-24T21:50:00Z"), 10, "pageview", "/", a()),
        ev(
            &site,
            ms("2026-10-24T22:10:00Z"),
            10,
            "pageview",
            "/pricing",
            a(),
        ),
        // 25 Oct, 00:30 local (22:30 UTC on the 24th).
        ev(&site, ms("2026-10-24T22:30:00Z"), 11, "pageview", "/", None),
        // 25 Oct, 02:30 local twice: before and after the clocks go back.
        ev(&site, ms("2026-10-25T00:30:00Z"), 12, "pageview", "/a", a()),
        ev(
            &site,
            ms("2026-10-25T01:30:00Z"),
            13,
            "pageview",
            "/b",
            None,
        ),
        // 25 Oct, 23:30 local (22:30 UTC): still the 25th, an hour later in UTC than before.
        ev(&site, ms("2026-10-25T22:30:00Z"), 14, "pageview", "/c", a()),
        // 26 Oct, 00:10 local (23:10 UTC on the 25th), the same visitor hash (same UTC day).
        ev(&site, ms("2026-10-25T23:10:00Z"), 14, "pageview", "/d", a()),
        // 26 Oct, 12:00 local, and 27 Oct, 00:00 local exactly (outside the period).
        ev(&site, ms("2026-10-26T11:00:00Z"), 15, "pageview", "/e", a()),
        ev(&site, ms("2026-10-26T23:00:00Z"), 16, "pageview", "/f", a()),
    ];
    ingest_fresh(&store, events.clone()).await;
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let p = Period::of(
        Range::Custom {
            from: "2026-10-24".parse().unwrap(),
            to: "2026-10-26".parse().unwrap(),
        },
        &tz,
        0,
    );
    let buckets = p.buckets();
    assert_eq!(buckets.len(), 3);
    assert_eq!(buckets[1].end - buckets[1].start, 25 * 3_600_000);
    // One cache for every read: what it keeps of a day must not outlive the day's changes.
    let cache = DayCache::default();
    let series = assert_recounts(&store, &cache, &site, &events, &p).await;
    assert_eq!(
        series.iter().map(|t| t.pageviews).collect::<Vec<_>>(),
        [1, 5, 2],
        "24th: 23:50; 25th: 00:10, 00:30, 02:30 twice, 23:30; 26th: 00:10, 12:00"
    );
    // Visitors are distinct over the period, not the sum of the days: hash 14 came on the
    // 25th and the 26th (local), in one UTC day.
    let daily: i64 = series.iter().map(|t| t.visitors).sum();
    let whole = period::Bucket {
        start: p.start_ms,
        end: p.end_ms,
        label: String::new(),
    };
    let (_, visitors, _) = recount(&events, &visit_starts(&events), &whole);
    assert_eq!(daily, visitors + 1);

    // Later traffic on days already read, at both edges and inside: read again through the
    // same cache, every figure follows.
    let later = vec![
        ev(&site, ms("2026-10-24T22:40:00Z"), 20, "pageview", "/g", a()),
        ev(&site, ms("2026-10-25T12:00:00Z"), 21, "pageview", "/", a()),
        ev(&site, ms("2026-10-25T12:05:00Z"), 21, "pageview", "/h", a()),
        ev(&site, ms("2026-10-26T22:30:00Z"), 22, "pageview", "/", None),
    ];
    ingest_fresh(&store, later.clone()).await;
    let mut events = events;
    events.extend(later);
    events.sort_by_key(|e| e.ts);
    assert_recounts(&store, &cache, &site, &events, &p).await;
}

/// Each visit's start and visitor, from the raw events: a visit is one hash's run of events
/// with no gap over 30 minutes.
fn visit_starts(events: &[NewEvent]) -> HashMap<i64, (i64, i64)> {
    let mut starts: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut last: HashMap<i64, i64> = HashMap::new();
    let mut n = 0;
    for e in events {
        let fresh = last
            .get(&e.visitor_hash)
            .is_none_or(|t| e.ts - t > 30 * MIN);
        if fresh {
            n += 1;
            starts.insert(n, (e.ts, e.visitor_hash));
        }
        last.insert(e.visitor_hash, e.ts);
    }
    starts
}

/// The overview's series and totals and Acme's feed row for `p`, read through `cache`, equal
/// a recount of `events`. Returns the series.
async fn assert_recounts(
    store: &Db,
    cache: &DayCache,
    site: &Site,
    events: &[NewEvent],
    p: &Period,
) -> Vec<Totals> {
    let starts = visit_starts(events);
    let read_at = ms("2026-10-27T12:00:00Z");
    let overview = leadsment::leads::overview::overview(store, cache, site.id, p, read_at)
        .await
        .unwrap();
    for (b, got) in p.buckets().iter().zip(&overview.series) {
        let (visits, visitors, views) = recount(events, &starts, b);
        assert_eq!(
            (got.visits, got.visitors, got.pageviews),
            (visits, visitors, views),
            "{}",
            b.label
        );
    }
    let whole = period::Bucket {
        start: p.start_ms,
        end: p.end_ms,
        label: String::new(),
    };
    let totals = overview.now;
    let (visits, visitors, views) = recount(events, &starts, &whole);
    assert_eq!(
        (totals.visits, totals.visitors, totals.pageviews),
        (visits, visitors, views)
    );

    // The feed's row for Acme recounts the same way.
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let q = parse(
        &RawFilters::from_query(Some("period=custom&from=2026-10-24&to=2026-10-26")),
        &tz,
        read_at,
    )
    .unwrap();
    let feed = leadsment::leads::feed::feed(store, cache, site.id, &q, read_at, Rows::Page)
        .await
        .unwrap();
    let (counts, top) = acme_recount(events, &whole);
    let row = &feed.rows[0];
    assert_eq!((row.visits, row.visitors, row.pageviews), counts);
    // Its top pages too: most viewed in the period first, then by path.
    assert_eq!(row.top_pages, top);
    overview.series
}

/// A visit that runs past UTC midnight takes the new day's hash; the same person's next visit
/// that day has it too. The person visited on two UTC days, so counts twice, in the feed (from
/// the rollups), the overview and the company page (from the raw visits) alike.
async fn a_person_counts_once_per_utc_day_in_every_figure(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let site = site_in(&store, "UTC").await;
    let day = ms("2026-11-10T00:00:00Z");
    let mut late = ev(&site, day - 10 * MIN, 100, "pageview", "/", Some(acme()));
    late.previous_visitor_hash = None;
    let mut after_midnight = ev(
        &site,
        day + 10 * MIN,
        200,
        "pageview",
        "/pricing",
        Some(acme()),
    );
    after_midnight.previous_visitor_hash = Some(100);
    let mut morning = ev(
        &site,
        day + 9 * 60 * MIN,
        200,
        "pageview",
        "/",
        Some(acme()),
    );
    morning.previous_visitor_hash = Some(100);
    for e in [late, after_midnight, morning] {
        ingest_fresh(&store, vec![e]).await;
    }
    let hashes: Vec<i64> = store
        .values(sql("SELECT visitor_hash FROM visits ORDER BY started_at"))
        .await
        .unwrap();
    assert_eq!(
        hashes,
        [200, 200],
        "two visits, both under the new day's hash"
    );

    let now = day + DAY + 12 * 60 * MIN;
    let (_, feed) = feed_at(
        &store,
        &site,
        "period=custom&from=2026-11-09&to=2026-11-10",
        &jiff::tz::TimeZone::UTC,
        now,
    )
    .await;
    assert_eq!((feed.rows[0].visits, feed.rows[0].visitors), (2, 2));
    let p = Period::of(Range::Last(30), &jiff::tz::TimeZone::UTC, now);
    let cache = DayCache::default();
    let totals = leadsment::leads::overview::overview(&store, &cache, site.id, &p, now)
        .await
        .unwrap()
        .now;
    assert_eq!((totals.visits, totals.visitors), (2, 2));
    let id = company_id(&store, "domain:acme.example").await;
    let view = leadsment::leads::company::company(&store, site.id, id, now, 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((view.totals.visits, view.totals.visitors), (2, 2));
}

/// Los Angeles: a period's edges are eight hours of a UTC day each, read raw. A company whose
/// visit began before the period has a pageview in the first edge and its only visit of the
/// period in the last: both pageviews count.
async fn pageviews_at_both_edges_of_a_period_west_of_utc(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let site = site_in(&store, "America/Los_Angeles").await;
    let a = || Some(acme());
    let events = vec![
        ev(&site, ms("2026-11-10T07:55:00Z"), 1, "pageview", "/", a()),
        ev(
            &site,
            ms("2026-11-10T08:05:00Z"),
            1,
            "pageview",
            "/pricing",
            a(),
        ),
        ev(
            &site,
            ms("2026-11-12T02:00:00Z"),
            2,
            "pageview",
            "/demo",
            a(),
        ),
    ];
    for e in events {
        ingest_fresh(&store, vec![e]).await;
    }
    let tz = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
    let now = ms("2026-11-13T12:00:00Z");
    let (_, feed) = feed_at(
        &store,
        &site,
        "period=custom&from=2026-11-10&to=2026-11-11",
        &tz,
        now,
    )
    .await;
    let row = &feed.rows[0];
    assert_eq!((row.visits, row.visitors, row.pageviews), (1, 1, 2));
    let mut pages = row.top_pages.clone();
    pages.sort();
    assert_eq!(pages, [("/demo".to_owned(), 1), ("/pricing".to_owned(), 1)]);
}

/// A site in use, read through one cache as a server would: a running period (the last 7
/// days, now at 10:07:30 UTC) against the period before it up to the same time of day, with
/// batches landing in the current hour, the hour before it (a visit that goes on), and either
/// side of the cut in the period before. After each batch every figure equals a recount: the
/// overview's totals and its comparison, and the feed's row for Acme (today and yesterday are
/// merged from their hours, the hour before now kept apart).
async fn a_site_in_use_recounts_after_every_batch_through_one_cache(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let site = site_in(&store, "Europe/Berlin").await;
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let a = || Some(acme());
    let now = ms("2026-11-20T10:07:30Z");
    let p = Period::of(Range::Last(7), &tz, now);
    let prev = p.previous();
    let cut = prev.start_ms + (now - p.start_ms);
    let mut events = vec![
        ev(&site, cut - 20 * MIN, 1, "pageview", "/", a()),
        ev(&site, cut - 3 * MIN, 2, "pageview", "/pricing", None),
        ev(&site, cut + 3 * MIN, 3, "pageview", "/late", a()),
        ev(&site, now - 2 * DAY, 4, "pageview", "/pricing", a()),
        ev(&site, now - DAY - 30 * MIN, 5, "pageview", "/demo", a()),
        ev(&site, ms("2026-11-20T08:10:00Z"), 6, "pageview", "/", a()),
        ev(&site, ms("2026-11-20T09:50:00Z"), 7, "pageview", "/a", a()),
        ev(&site, ms("2026-11-20T10:01:00Z"), 8, "pageview", "/b", None),
    ];
    ingest_fresh(&store, events.clone()).await;
    let cache = DayCache::default();
    assert_live(&store, &cache, &site, &events, now).await;

    let batches = [
        // The visit of 09:50 goes on into this hour; a new one begins.
        vec![
            ev(
                &site,
                ms("2026-11-20T10:04:00Z"),
                7,
                "pageview",
                "/pricing",
                a(),
            ),
            ev(&site, ms("2026-11-20T10:06:00Z"), 9, "pageview", "/", a()),
        ],
        // Before the cut in the period before, and after it.
        vec![
            ev(&site, cut - MIN, 10, "pageview", "/x", None),
            ev(&site, cut + MIN, 11, "pageview", "/y", a()),
        ],
        // The hour before now again.
        vec![ev(
            &site,
            ms("2026-11-20T09:55:00Z"),
            7,
            "pageview",
            "/c",
            a(),
        )],
        // Hours merged and kept: earlier today, and yesterday's visit going on.
        vec![
            ev(
                &site,
                ms("2026-11-20T08:40:00Z"),
                12,
                "pageview",
                "/pricing",
                a(),
            ),
            ev(&site, now - DAY - 20 * MIN, 5, "pageview", "/pricing", a()),
        ],
    ];
    let mut at = now;
    for batch in batches {
        ingest_fresh(&store, batch.clone()).await;
        events.extend(batch);
        events.sort_by_key(|e| e.ts);
        at += MIN;
        assert_live(&store, &cache, &site, &events, at).await;
    }
}

/// The overview of the last 7 days at `now` and Acme's feed row equal a recount of `events`.
async fn assert_live(store: &Db, cache: &DayCache, site: &Site, events: &[NewEvent], now: i64) {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let p = Period::of(Range::Last(7), &tz, now);
    let prev = p.previous();
    let starts = visit_starts(events);
    let bucket = |start, end| period::Bucket {
        start,
        end,
        label: String::new(),
    };
    let o = leadsment::leads::overview::overview(store, cache, site.id, &p, now)
        .await
        .unwrap();
    let (visits, visitors, views) = recount(events, &starts, &bucket(p.start_ms, now));
    assert_eq!(
        (o.now.visits, o.now.visitors, o.now.pageviews),
        (visits, visitors, views),
        "this period at {now}"
    );
    let cut = prev.start_ms + (now - p.start_ms);
    let (visits, visitors, views) = recount(events, &starts, &bucket(prev.start_ms, cut));
    assert_eq!(
        (o.before.visits, o.before.visitors, o.before.pageviews),
        (visits, visitors, views),
        "the period before, up to the same time of day, at {now}"
    );

    let q = parse(&RawFilters::from_query(Some("period=7d")), &tz, now).unwrap();
    let feed = leadsment::leads::feed::feed(store, cache, site.id, &q, now, Rows::Page)
        .await
        .unwrap();
    let whole = bucket(p.start_ms, now);
    let (counts, top) = acme_recount(events, &whole);
    let row = &feed.rows[0];
    assert_acme_row(row, &(counts, top), &format!("Acme at {now}"));
    // Its score's pages: /pricing and a demo page in the last 30 days, counted from the hours
    // for today and yesterday.
    let view = leadsment::leads::company::company(store, site.id, row.company_id, now, 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.score, view.score,
        "the feed's score is the company page's"
    );
}

/// At start, before any page is asked for, the server reads the default pages of the sites
/// with traffic into its dashboard cache, and the pages then show the same figures.
async fn a_server_warms_its_dashboard_cache_at_start(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let site = site_in(&store, "Europe/Berlin").await;
    let now = jiff::Timestamp::now().as_millisecond();
    let events = vec![
        ev(
            &site,
            now - 2 * DAY,
            1,
            "pageview",
            "/pricing",
            Some(acme()),
        ),
        ev(&site, now - 3 * 60 * MIN, 2, "pageview", "/", Some(acme())),
        ev(&site, now - 5 * MIN, 3, "pageview", "/", None),
    ];
    ingest_fresh(&store, events).await;
    store.close().await;

    let server = leadsment::server::Server::bind(db.config()).await.unwrap();
    let cache = server.state().leads_cache.clone();
    assert_eq!(cache.loads(), 0);
    let app = crate::support::TestApp::start(db, server, None).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // Every hour of today and more, read while no page has been asked for.
    while cache.loads() <= 24 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache was not warmed: {} pieces read",
            cache.loads()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(cache.weight() > 0);
    app.shutdown().await.unwrap();
}

/// Acme's visits, visitors and pageviews in `whole`, and its three most viewed pages (most
/// viewed first, then by path), recounted from the raw events.
fn acme_recount(events: &[NewEvent], whole: &period::Bucket) -> Recount {
    let acme_events: Vec<NewEvent> = events
        .iter()
        .filter(|e| e.company.is_some())
        .cloned()
        .collect();
    let counts = recount(&acme_events, &visit_starts(&acme_events), whole);
    let mut by_path: HashMap<&str, i64> = HashMap::new();
    for e in &acme_events {
        if e.name == "pageview" && e.ts >= whole.start && e.ts < whole.end {
            *by_path.entry(e.path.as_str()).or_default() += 1;
        }
    }
    let mut top: Vec<(String, i64)> = by_path
        .into_iter()
        .map(|(p, n)| (p.to_owned(), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(3);
    (counts, top)
}

/// Seven minutes after UTC midnight the period before ends seven minutes into its last day:
/// those minutes are read for each page, not kept under a key that changes with every read.
/// Read again a second later, the overview reads no piece anew.
async fn reading_again_in_the_same_minutes_reads_nothing_new(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let site = site_in(&store, "UTC").await;
    let now = ms("2026-11-20T00:07:30.123Z");
    let events = vec![
        ev(
            &site,
            now - 7 * DAY - 3 * MIN,
            1,
            "pageview",
            "/",
            Some(acme()),
        ),
        ev(&site, now - 7 * DAY + 3 * MIN, 2, "pageview", "/", None),
        ev(&site, now - DAY, 3, "pageview", "/", Some(acme())),
    ];
    ingest_fresh(&store, events).await;
    let tz = jiff::tz::TimeZone::UTC;
    let cache = DayCache::default();
    let p = Period::of(Range::Last(7), &tz, now);
    let first = leadsment::leads::overview::overview(&store, &cache, site.id, &p, now)
        .await
        .unwrap();
    assert_eq!(first.before.visits, 1, "00:04 on the first day, not 00:10");
    let loads = cache.loads();
    let again = leadsment::leads::overview::overview(&store, &cache, site.id, &p, now + 1_333)
        .await
        .unwrap();
    assert_eq!(again.before, first.before);
    assert_eq!(cache.loads(), loads, "nothing read anew");
}

/// New York's today (05:00 UTC to 05:00 UTC tomorrow) is no whole UTC day: the feed reads it
/// as a stretch of today's hours. Read through one cache while batches land in the current
/// hour and in hours already merged, Acme's row, its top pages and a page pattern's rows
/// equal a recount.
async fn today_west_of_utc_recounts_after_every_batch(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let site = site_in(&store, "America/New_York").await;
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let a = || Some(acme());
    let now = ms("2026-11-20T15:07:30Z");
    let mut events = vec![
        // Yesterday in New York (before 05:00 UTC), then today.
        ev(
            &site,
            ms("2026-11-20T04:50:00Z"),
            1,
            "pageview",
            "/pricing",
            a(),
        ),
        ev(&site, ms("2026-11-20T06:10:00Z"), 2, "pageview", "/", a()),
        ev(
            &site,
            ms("2026-11-20T12:30:00Z"),
            3,
            "pageview",
            "/pricing",
            a(),
        ),
        ev(
            &site,
            ms("2026-11-20T14:55:00Z"),
            4,
            "pageview",
            "/demo",
            a(),
        ),
        ev(&site, ms("2026-11-20T15:01:00Z"), 5, "pageview", "/", None),
    ];
    ingest_fresh(&store, events.clone()).await;
    let cache = DayCache::default();
    let batches = [
        vec![],
        vec![ev(
            &site,
            ms("2026-11-20T15:05:00Z"),
            4,
            "pageview",
            "/pricing",
            a(),
        )],
        vec![ev(
            &site,
            ms("2026-11-20T07:00:00Z"),
            6,
            "pageview",
            "/pricing",
            a(),
        )],
        vec![ev(
            &site,
            ms("2026-11-20T05:00:00Z"),
            7,
            "pageview",
            "/b",
            a(),
        )],
    ];
    let mut at = now;
    for batch in batches {
        ingest_fresh(&store, batch.clone()).await;
        events.extend(batch);
        events.sort_by_key(|e| e.ts);
        at += MIN;
        let p = Period::of(Range::Today, &tz, at);
        let whole = period::Bucket {
            start: p.start_ms,
            end: at,
            label: String::new(),
        };
        let (counts, top) = acme_recount(&events, &whole);
        for query in ["period=today", "period=today&page=%2Fpricing"] {
            let q = parse(&RawFilters::from_query(Some(query)), &tz, at).unwrap();
            let feed = leadsment::leads::feed::feed(&store, &cache, site.id, &q, at, Rows::Page)
                .await
                .unwrap();
            assert_acme_row(
                &feed.rows[0],
                &(counts, top.clone()),
                &format!("{query} at {at}"),
            );
        }
    }
}

/// Visits, visitors and pageviews, and the three most viewed pages.
type Recount = ((i64, i64, i64), Vec<(String, i64)>);

/// Acme's feed row has the recounted figures and top pages.
fn assert_acme_row(row: &leadsment::leads::feed::FeedRow, (counts, top): &Recount, context: &str) {
    assert_eq!(
        (row.visits, row.visitors, row.pageviews),
        *counts,
        "{context}"
    );
    assert_eq!(&row.top_pages, top, "{context}");
}
