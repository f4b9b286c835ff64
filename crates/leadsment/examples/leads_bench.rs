//! The dashboard benchmark (BENCHMARKS.md, "Dashboard"): one site with about 10 million events
//! over 30 days shaped like real traffic (the demo generator: a daily curve, 5 to 8 events a
//! visit, 2,000 paths, 60,000 organisations drawn from the real IP index, 70% businesses),
//! written in-process through the event writer's batch path, then the dashboard's reads timed:
//! the feed with default filters, the feed with a page pattern, a company page and the
//! overview, each as the pages call them. The database is kept between runs and reused when it
//! already holds the site's traffic.
//!
//! Beside each read, in the same rounds, the baseline: one indexed count of the period's
//! visits, the least any period query over the raw tables reads.
//!
//! Usage:
//!   cargo run --release --example leads_bench -- DATABASE_URL DATA_DIR [EVENTS] [ROUNDS]
//! DATA_DIR holds the IP index (`leadsment ipdb fetch`) and, for SQLite, the database.

use std::time::Instant;

use leadsment::accounts::sites::{NewSite, Site};
use leadsment::config::Config;
use leadsment::demo::generator::{Generator, Params};
use leadsment::leads::cache::DayCache;
use leadsment::leads::feed::{self, Rows};
use leadsment::leads::filters::{RawFilters, parse};
use leadsment::leads::period::{Period, Range};
use leadsment::store::settings::Backend;
use leadsment::store::{Db, sql};
use leadsment::tracking::model::{CompanyInfo, IngestBatch, NewEvent};
use leadsment::tracking::visit_cache::VisitCache;

const DOMAIN: &str = "bench.leadsment.test";
const DAY_MS: i64 = 86_400_000;

fn median_p95(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

async fn timed<F, T>(f: F) -> (f64, T)
where
    F: std::future::Future<Output = T>,
{
    let t = Instant::now();
    let out = f.await;
    (t.elapsed().as_secs_f64() * 1000.0, out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: leads_bench DATABASE_URL DATA_DIR [EVENTS] [ROUNDS]"
    );
    let events: u64 = args
        .get(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let rounds: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(21);
    let data_dir = std::path::PathBuf::from(&args[2]);
    let config = Config::for_tests(&args[1], &data_dir)?;
    let db = leadsment::store::connect(&config.store).await?;
    leadsment::store::migrate(&db).await?;

    // Load once; later runs reuse the database.
    let site = match leadsment::accounts::store::list_sites(&db)
        .await?
        .into_iter()
        .find(|s| s.domain.as_str() == DOMAIN)
    {
        Some(site) => {
            eprintln!("reusing {DOMAIN} (site {})", site.id.0);
            site
        }
        None => {
            let ws = leadsment::accounts::store::default_workspace(&db).await?;
            let mut new = NewSite::new(ws.id, DOMAIN, &[])?;
            new.set_time_zone("Europe/Berlin")?;
            let site = leadsment::accounts::store::create_site(&db, &new).await?;
            let ipdb = leadsment::ipdb::IpDb::open(&data_dir, Default::default());
            let orgs = leadsment::demo::organisations::draw(&ipdb, 60_000, 7).ok_or_else(|| {
                anyhow::anyhow!(
                    "no IP index in {}: run `leadsment ipdb fetch`",
                    data_dir.display()
                )
            })?;
            eprintln!(
                "loading about {events} events from {} organisations...",
                orgs.len()
            );
            let params = Params {
                events,
                days: 30,
                paths: 2_000,
                seed: 7,
                ..Params::demo(site.clone(), leadsment::store::now_ms())
            };
            let started = Instant::now();
            let written =
                leadsment::demo::write_traffic(&db, Generator::new(params, orgs), |_| {}).await?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "load: {} events in {secs:.0} s, {:.0} events/s",
                written.events,
                written.events as f64 / secs
            );
            site
        }
    };
    let stored: i64 = db
        .value(sql("SELECT COUNT(*) FROM events WHERE site_id = $1").bind(site.id.0))
        .await?;
    let visits: i64 = db
        .value(sql("SELECT COUNT(*) FROM visits WHERE site_id = $1").bind(site.id.0))
        .await?;
    let companies: i64 = db
        .value(
            sql("SELECT COUNT(DISTINCT company_id) FROM visits WHERE site_id = $1").bind(site.id.0),
        )
        .await?;
    println!("data: {stored} events, {visits} visits, {companies} organisations");
    println!(
        "database size: {:.0} MB",
        size(&db, &config).await? as f64 / 1e6
    );

    // "Now" is the end of the loaded traffic, so the default 30 days cover it whenever the
    // benchmark runs.
    let last: i64 = db
        .value(sql("SELECT MAX(ts) FROM events WHERE site_id = $1").bind(site.id.0))
        .await?;
    let now = last + 60_000;
    let tz = jiff::tz::TimeZone::get(&site.time_zone)?;
    let default_q =
        parse(&RawFilters::from_query(None), &tz, now).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let page_q = parse(&RawFilters::from_query(Some("page=%2Fpricing*")), &tz, now)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let cache = DayCache::default();
    let period = Period::of(Range::Last(30), &tz, now);
    let top = feed::feed(&db, &cache, site.id, &default_q, now, Rows::Page).await?;
    // The feed's first company, or the one LEADSMENT_BENCH_COMPANY names (to compare two
    // builds' databases on the same company).
    let company = match std::env::var("LEADSMENT_BENCH_COMPANY") {
        Ok(id) => id.parse()?,
        Err(_) => top.rows.first().map(|r| r.company_id).unwrap_or(0),
    };
    let company_visits: i64 = db
        .value(
            sql("SELECT COUNT(*) FROM visits WHERE site_id = $1 AND company_id = $2")
                .bind(site.id.0)
                .bind(company),
        )
        .await?;
    println!("company page: company {company}, {company_visits} visits");

    let names = [
        "feed, default filters",
        "feed, page=/pricing*",
        "company page",
        "overview",
        "baseline: count of the period's visits",
    ];
    // Cold: the first read after a start, nothing kept. Warm: nothing written since the
    // last read. Live: one event written today before each round, as on a site in use.
    // The clock runs on from the loaded traffic's end, as a server's would: the period before
    // a running one ends at the time of day it is now, and live events land in the current
    // hour.
    let clock = Instant::now();
    let start = now;
    let mut report = Vec::new();
    let modes = std::env::var("BENCH_MODES").unwrap_or_else(|_| "cold,warm,live".into());
    for mode in ["cold", "warm", "live"] {
        if !modes.split(',').any(|m| m == mode) {
            continue;
        }
        let rounds = if mode == "cold" {
            3.min(rounds)
        } else {
            rounds
        };
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for round in 0..rounds {
            let now = start + clock.elapsed().as_millis() as i64;
            match mode {
                "cold" => cache.clear(),
                "live" => write_one(&db, &site, now - 30_000, round).await?,
                _ => {}
            }
            let (m, r) = timed(feed::feed(
                &db,
                &cache,
                site.id,
                &default_q,
                now,
                Rows::Page,
            ))
            .await;
            r?;
            times[0].push(m);
            if mode == "cold" {
                cache.clear();
            }
            let (m, r) = timed(feed::feed(&db, &cache, site.id, &page_q, now, Rows::Page)).await;
            r?;
            times[1].push(m);
            let (m, r) = timed(leadsment::leads::company::company(
                &db, site.id, company, now, 50,
            ))
            .await;
            r?;
            times[2].push(m);
            if mode == "cold" {
                cache.clear();
            }
            let (m, r) = timed(leadsment::leads::overview::overview(
                &db, &cache, site.id, &period, now,
            ))
            .await;
            r?;
            times[3].push(m);
            // The baseline: the site's visits of 30 days counted, as a range of their key.
            let ids = leadsment::tracking::visits::visit_ids_started(now - 30 * DAY_MS, now);
            let (m, r) = timed(
                db.value::<i64>(
                    sql(
                        "SELECT COUNT(*) FROM visits WHERE site_id = $1 AND started_at >= $2 \
                     AND started_at < $3 AND id >= $4 AND id < $5",
                    )
                    .bind(site.id.0)
                    .bind(now - 30 * DAY_MS)
                    .bind(now)
                    .bind(ids.0)
                    .bind(ids.1),
                ),
            )
            .await;
            r?;
            times[4].push(m);
            let last: Vec<String> = times.iter().map(|t| format!("{:.0}", t[round])).collect();
            eprintln!("{mode} round {round}: {} ms", last.join(" / "));
        }
        report.push((mode, rounds, times));
    }
    println!("| read | reads | median ms | p95 ms | median / baseline |");
    println!("|---|---:|---:|---:|---:|");
    for (mode, rounds, times) in report {
        let (base, _) = median_p95(times[4].clone());
        for (name, t) in names.iter().zip(times) {
            let (m, p) = median_p95(t);
            println!(
                "| {name} ({mode}) | {rounds} | {m:.1} | {p:.1} | {:.1}x |",
                m / base
            );
        }
    }
    Ok(())
}

/// One pageview today from a known organisation, through the writer's batch path.
async fn write_one(db: &Db, site: &Site, ts: i64, n: usize) -> anyhow::Result<()> {
    let event = NewEvent {
        site_id: site.id,
        ts,
        name: "pageview".into(),
        path: "/pricing".into(),
        props: None,
        engaged_ms: None,
        visitor_hash: 7_000_000 + n as i64,
        previous_visitor_hash: None,
        company: Some(CompanyInfo {
            key: "domain:bench-live.example".into(),
            name: "Bench Live".into(),
            org: None,
            domain: Some("bench-live.example".into()),
            asn: None,
            country: Some("DE".into()),
            class: "business".into(),
            class_reason: None,
        }),
        class: "business".into(),
        country: Some("DE".into()),
        source: None,
        channel: "direct".into(),
        utm_source: None,
        utm_medium: None,
        utm_campaign: None,
        utm_term: None,
        utm_content: None,
        browser: Some("Firefox".into()),
        os: Some("Linux".into()),
        device: "desktop".into(),
    };
    let batch = IngestBatch {
        events: vec![event],
        bots: vec![],
    };
    let lease = leadsment::nodes::NodeLease::for_command(db.clone()).await?;
    let tag = lease
        .tag()
        .ok_or_else(|| anyhow::anyhow!("no node tag could be leased"))?;
    leadsment::tracking::store::ingest(db, &batch, &mut VisitCache::default(), tag).await?;
    lease.release().await;
    Ok(())
}

/// The database's size on disk: SQLite's file and log, or PostgreSQL's database.
async fn size(db: &Db, config: &Config) -> anyhow::Result<i64> {
    Ok(match db.backend() {
        Backend::Sqlite => {
            let file = config.data_dir.join("leadsment.db");
            let url = config.store.database_url.expose();
            let path = url
                .strip_prefix("sqlite://")
                .map(|p| std::path::PathBuf::from(p.split('?').next().unwrap_or(p)))
                .unwrap_or(file);
            let mut total = 0;
            for suffix in ["", "-wal"] {
                let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
                total += std::fs::metadata(&p).map(|m| m.len() as i64).unwrap_or(0);
            }
            total
        }
        Backend::Postgres => {
            db.value(sql("SELECT pg_database_size(current_database())"))
                .await?
        }
    })
}
