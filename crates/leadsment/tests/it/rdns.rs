//! Reverse DNS in the ingest pipeline, against a DNS server the test starts, on both backends.

use std::path::Path;
use std::time::{Duration, Instant};

use leadsment::accounts::sites::Site;
use leadsment::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dns_server::{Answer, TestDns};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};
use crate::tracking::{CHROME, add_site, export_all, post};

/// A business line on an ISP whose PTR names the company.
const ISP_COMPANY: &str = "203.0.113.10";
/// An ISP customer with an access-network PTR name.
const ISP_ACCESS: &str = "203.0.113.9";
/// An ISP address without a PTR record (NXDOMAIN).
const ISP_NXDOMAIN: &str = "203.0.113.20";
/// An ISP address the DNS server never answers for.
const ISP_SILENT: &str = "203.0.113.30";
/// A business whose IP data has no domain; its PTR has one.
const BUSINESS: &str = "192.0.2.5";
/// A hoster's server with a company-looking PTR name: its customer's, not a visitor's.
const HOSTING: &str = "198.51.100.50";
/// An ISP customer whose PTR claims a bank's domain, which does not resolve back to it.
const ISP_SPOOFED: &str = "203.0.113.40";
/// A mobile network address with a company-looking PTR name.
const MOBILE: &str = "2001:db8:6::1";

const TIMEOUT: Duration = Duration::from_millis(300);

fn dns_table() -> Vec<(&'static str, Answer)> {
    vec![
        (ISP_COMPANY, Answer::Ptr("mail.acme-gmbh.de.")),
        (ISP_ACCESS, Answer::Ptr("dyn-203-0-113-9.pool.example.net.")),
        (ISP_SILENT, Answer::Silent),
        (ISP_SPOOFED, Answer::PtrUnconfirmed("mail.bigbank-ag.de.")),
        (BUSINESS, Answer::Ptr("gw.globex.de.")),
        (HOSTING, Answer::Ptr("mail.hosted-shop.de.")),
        (MOBILE, Answer::Ptr("gw.acme-mobile.de.")),
    ]
}

/// An IP index of generated data, as `leadsment ipdb build` would write it.
fn write_index(data_dir: &Path) {
    std::fs::create_dir_all(data_dir).unwrap();
    let csv = data_dir.join("asn.csv");
    std::fs::write(
        &csv,
        "203.0.113.0,203.0.113.255,64501,Example Broadband Ltd\n\
         192.0.2.0,192.0.2.255,64502,Globex Industries GmbH\n\
         198.51.100.0,198.51.100.255,64503,Example Hosting Ltd\n\
         2001:db8:6::,2001:db8:6::ffff,64504,Example Mobile GmbH\n",
    )
    .unwrap();
    leadsment::ipdb::build(data_dir, &[csv], Some("2026-11-01".into())).unwrap();
}

/// The app with the index above, behind a trusted proxy, asking `dns` when `on`.
async fn spawn(backend: Backend, dns: &TestDns, on: bool) -> (TestApp, Site) {
    let resolver = dns.addr;
    let app = TestApp::spawn_with(backend, |c: &mut Config| {
        write_index(&c.data_dir);
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        // The resolver is configured either way: only `reverse_dns` decides whether it is used.
        c.tracking.reverse_dns_resolver = Some(resolver);
        c.tracking.reverse_dns_timeout = TIMEOUT;
        c.tracking.reverse_dns = on;
    })
    .await;
    let site = add_site(&app, "acme.example", &[]).await;
    (app, site)
}

/// A pageview from `ip`, on a path named after it; answered 202.
async fn visit(app: &TestApp, ip: &str) -> Duration {
    let body = json!({"name": "pageview", "url": format!("https://acme.example/{ip}"), "domain": "acme.example"});
    let start = Instant::now();
    let res = post(app, &body, CHROME, Some(ip)).await;
    let took = start.elapsed();
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{ip}");
    took
}

/// What an event was stored with.
type Stored = (String, [Value; 3]);

/// Each stored event's address (from its path) and [company, company domain, class].
async fn stored(app: &TestApp, site: &Site) -> Vec<Stored> {
    export_all(app, site)
        .await
        .into_iter()
        .map(|r| {
            let ip = r["path"]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_owned();
            (
                ip,
                [
                    r["company"].clone(),
                    r["company_domain"].clone(),
                    r["class"].clone(),
                ],
            )
        })
        .collect()
}

/// The first event stored from `ip`.
fn from<'a>(rows: &'a [Stored], ip: &str) -> &'a [Value; 3] {
    rows.iter()
        .find(|r| r.0 == ip)
        .map(|r| &r.1)
        .unwrap_or_else(|| panic!("no event from {ip}: {rows:#?}"))
}

/// The companies table: (key, name, org, domain, class), ordered by key.
async fn companies(app: &TestApp) -> Vec<(String, String, Option<String>, Option<String>, String)> {
    let q = "SELECT key, name, org, domain, class FROM companies ORDER BY key";
    let db = app.db.store().await;
    let rows = db.all(leadsment::store::sql(q)).await.unwrap();
    db.close().await;
    rows
}

on_both_backends!(
    rdns_names_the_company_behind_an_isp_line_and_ignores_access_networks,
    rdns_off_by_default_sends_no_query,
);

async fn rdns_names_the_company_behind_an_isp_line_and_ignores_access_networks(backend: Backend) {
    let dns = TestDns::start(&dns_table()).await;
    let (app, site) = spawn(backend, &dns, true).await;

    for ip in [
        ISP_COMPANY,
        ISP_ACCESS,
        ISP_NXDOMAIN,
        ISP_SPOOFED,
        BUSINESS,
        HOSTING,
        MOBILE,
    ] {
        visit(&app, ip).await;
    }
    // A resolver that never answers costs the event the timeout, not more.
    let took = visit(&app, ISP_SILENT).await;
    assert!(
        took < TIMEOUT + Duration::from_secs(2),
        "a silent resolver held the event for {took:?}"
    );
    assert_eq!(dns.asked_for(ISP_SILENT), 1, "the query was sent");

    let rows = stored(&app, &site).await;
    // The ISP line named by its PTR is the company now.
    assert_eq!(
        *from(&rows, ISP_COMPANY),
        [json!("Acme"), json!("acme-gmbh.de"), json!("business")]
    );
    // Access-network names, a PTR name that its domain does not confirm, no PTR record and no
    // answer leave the ISP.
    for ip in [ISP_ACCESS, ISP_SPOOFED, ISP_NXDOMAIN, ISP_SILENT] {
        assert_eq!(
            *from(&rows, ip),
            [json!("Example Broadband"), Value::Null, json!("isp")],
            "{ip}"
        );
    }
    // A business without a domain gets it and keeps its name.
    assert_eq!(
        *from(&rows, BUSINESS),
        [
            json!("Globex Industries"),
            json!("globex.de"),
            json!("business")
        ]
    );
    // Hosting and mobile results are not changed, and their addresses are not even sent.
    assert_eq!(
        *from(&rows, HOSTING),
        [json!("Example Hosting"), Value::Null, json!("hosting")]
    );
    assert_eq!(
        *from(&rows, MOBILE),
        [json!("Example Mobile"), Value::Null, json!("mobile")]
    );
    assert_eq!(dns.asked_for(HOSTING), 0);
    assert_eq!(dns.asked_for(MOBILE), 0);

    let acme = companies(&app)
        .await
        .into_iter()
        .find(|c| c.0 == "domain:acme-gmbh.de")
        .expect("a company keyed by the PTR's domain");
    assert_eq!(
        acme,
        (
            "domain:acme-gmbh.de".to_owned(),
            "Acme".to_owned(),
            None,
            Some("acme-gmbh.de".to_owned()),
            "business".to_owned()
        ),
        "the ISP's published name is not the company's"
    );

    // Answers are cached: the same visitors again send no new query, and the silent
    // resolver's failure is remembered, so the event does not wait again.
    let before = dns.queries();
    for ip in [ISP_COMPANY, ISP_ACCESS, ISP_NXDOMAIN] {
        visit(&app, ip).await;
    }
    visit(&app, ISP_SILENT).await;
    assert_eq!(dns.queries(), before, "answered from the cache");
    app.shutdown().await.unwrap();
}

async fn rdns_off_by_default_sends_no_query(backend: Backend) {
    let defaults = Config::for_tests("sqlite://unused.db", Path::new("unused")).unwrap();
    assert!(!defaults.tracking.reverse_dns, "off by default");
    let dns = TestDns::start(&dns_table()).await;
    let (app, site) = spawn(backend, &dns, false).await;
    for ip in [ISP_COMPANY, ISP_ACCESS, BUSINESS, HOSTING, MOBILE] {
        visit(&app, ip).await;
    }
    let rows = stored(&app, &site).await;
    assert_eq!(
        *from(&rows, ISP_COMPANY),
        [json!("Example Broadband"), Value::Null, json!("isp")]
    );
    assert_eq!(from(&rows, BUSINESS)[1], Value::Null);
    assert_eq!(rows.len(), 5);
    assert_eq!(dns.queries(), 0, "no address was sent anywhere");
    app.shutdown().await.unwrap();
}
