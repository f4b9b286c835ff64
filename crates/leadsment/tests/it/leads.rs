//! The leads dashboard: the overview, the feed and its CSV, the company page, tenancy, bad
//! filters and hostile data, on both backends.

use leadsment::accounts::WorkspaceId;
use leadsment::accounts::sites::{NewSite, Site};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::accounts::{PW, make_user};
use crate::client::Client;
use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::{CHROME, post};

/// An app behind a trusted proxy with an IP index built from `csv` (start, end, ASN, name).
pub async fn app_with_index(backend: Backend, csv: &str) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let file = config.data_dir.join("asn.csv");
    std::fs::write(&file, csv).unwrap();
    leadsment::ipdb::build(&config.data_dir, &[file], Some("2026-11-01".into())).unwrap();
    let server = leadsment::server::Server::bind(config).await.unwrap();
    TestApp::start(db, server, None).await
}

pub const INDEX: &str = "198.51.100.0,198.51.100.255,64500,ACMECORP - Acme Corporation Inc.\n\
    203.0.113.0,203.0.113.255,64501,Example Broadband Ltd\n\
    192.0.2.0,192.0.2.255,16509,AMAZON-02 - Amazon.com, Inc.\n";

/// A user owning a workspace with one site; returns the workspace, the site and a signed-in
/// client.
pub async fn owner_with_site(
    app: &TestApp,
    email: &str,
    domain: &str,
) -> (WorkspaceId, Site, Client) {
    let store = app.db.store().await;
    let user = make_user(&store, email, Some("Acme Sales")).await;
    let ws = leadsment::accounts::store::memberships(&store, user.id)
        .await
        .unwrap()[0]
        .workspace
        .id;
    let site =
        leadsment::accounts::store::create_site(&store, &NewSite::new(ws, domain, &[]).unwrap())
            .await
            .unwrap();
    store.close().await;
    let client = Client::new(app);
    client.sign_in(email, PW, false).await;
    (ws, site, client)
}

pub async fn send(app: &TestApp, from: &str, body: Value) {
    let res = post(app, &body, CHROME, Some(from)).await;
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "{}",
        res.text().await.unwrap()
    );
}

fn pv(domain: &str, path: &str, referrer: &str) -> Value {
    json!({"name": "pageview", "url": format!("https://{domain}{path}"), "domain": domain, "referrer": referrer})
}

/// The company id the feed links to for `name`.
fn company_link(body: &str, name: &str) -> String {
    let at = body
        .find(&format!(">{name}</a>"))
        .unwrap_or_else(|| panic!("{name} in {body}"));
    let start = body[..at].rfind("href=\"").unwrap() + 6;
    let end = start + body[start..].find('"').unwrap();
    body[start..end].split('?').next().unwrap().to_owned()
}

on_both_backends!(
    the_feed_shows_companies_and_nothing_of_other_tenants,
    bad_filters_get_a_message_never_a_500,
);

async fn the_feed_shows_companies_and_nothing_of_other_tenants(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    let d = "shop.example";
    let li = "https://www.linkedin.com/feed/";
    send(
        &app,
        "198.51.100.7",
        pv(d, "/?utm_source=newsletter&utm_campaign=nov", li),
    )
    .await;
    send(&app, "198.51.100.7", pv(d, "/pricing", "")).await;
    send(&app, "198.51.100.7", pv(d, "/pricing/teams", "")).await;
    send(&app, "198.51.100.7", json!({"name": "Signup", "url": "https://shop.example/pricing", "domain": d, "props": {"plan": "team"}})).await;
    send(&app, "198.51.100.7", json!({"name": "engagement", "url": "https://shop.example/pricing/teams", "domain": d, "engaged_ms": 95_000})).await;
    send(&app, "203.0.113.9", pv(d, "/", "https://www.google.com/")).await;
    send(&app, "192.0.2.44", pv(d, "/docs", "")).await;

    // The overview: figures, the series, the lists, the attribution.
    let res = owner.get(&base).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    for text in [
        "Visitors",
        "Pageviews",
        "Identified as a business",
        "<svg",
        "Top pages",
        "/pricing/teams",
        "newsletter",
        "CC BY 4.0",
    ] {
        assert!(res.body.contains(text), "overview lacks {text}");
    }

    // The feed: Acme by default; the ISP only when asked; Amazon apart, via cloud or VPN.
    let feed = owner.get(&format!("{base}/companies")).await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
    assert!(feed.body.contains(">Acme</a>"), "{}", feed.body);
    assert!(!feed.body.contains("Example Broadband"));
    assert!(feed.body.contains("via cloud or VPN"), "{}", feed.body);
    assert!(feed.body.contains("CC BY 4.0"));
    // Each class says why, in its tooltip: a reviewed network says so, a rule's guess too.
    assert!(
        feed.body
            .contains("Why: reviewed: Amazon AWS: cloud provider"),
        "{}",
        feed.body
    );
    assert!(
        feed.body
            .contains("Why: no ISP, hosting, mobile, education or government rule matched"),
        "{}",
        feed.body
    );
    let all = owner.get(&format!("{base}/companies?class=isp")).await;
    assert!(
        all.body.contains("Example Broadband") && !all.body.contains(">Acme</a>"),
        "{}",
        all.body
    );
    let priced = owner
        .get(&format!("{base}/companies?page=%2Fpricing*"))
        .await;
    assert!(priced.body.contains(">Acme</a>"), "{}", priced.body);
    let none = owner
        .get(&format!("{base}/companies?page=%2Fcareers*"))
        .await;
    assert!(!none.body.contains(">Acme</a>"));
    assert!(none.body.contains("No company matches"));
    let linked = owner
        .get(&format!("{base}/companies?source=Newsletter"))
        .await;
    assert!(linked.body.contains(">Acme</a>"), "{}", linked.body);

    // The company page: the score's reasons and the timeline.
    let acme = company_link(&feed.body, "Acme");
    let page = owner.get(&acme).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for text in [
        "visited /pricing twice",
        "+20",
        "Signup",
        "plan: team",
        "1m 35s on page",
        "nov",
        "First seen",
        "CC BY 4.0",
        "Why: no ISP, hosting, mobile, education or government rule matched",
    ] {
        assert!(
            page.body.contains(text),
            "company page lacks {text}: {}",
            page.body
        );
    }

    // The CSV: every row, the filters, the credit line.
    let csv = owner.get(&format!("{base}/companies.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(
        lines[0].starts_with("company,domain,country,class,score"),
        "{}",
        csv.body
    );
    assert!(lines.iter().any(|l| l.starts_with("Acme")), "{}", csv.body);
    assert!(
        lines[0].ends_with(",company_id,class_reason"),
        "{}",
        lines[0]
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("Amazon") && l.ends_with(",reviewed: Amazon AWS: cloud provider")
        ),
        "{}",
        csv.body
    );
    assert!(lines.last().unwrap().contains("CC BY 4.0"), "{}", csv.body);

    // Another tenant: its own site is empty, ours is not found, and Acme's id on its site is
    // not found either.
    let (ws_b, site_b, other) = owner_with_site(&app, "other@rival.example", "rival.example").await;
    let id = acme.rsplit('/').next().unwrap();
    for path in [
        format!("/w/{}/sites/{}", ws_b.0, site.id.0),
        format!("/w/{}/sites/{}/companies", ws_b.0, site.id.0),
        format!("/w/{}/sites/{}/companies.csv", ws_b.0, site.id.0),
        format!("/w/{}/sites/{}/companies/{id}", ws_b.0, site_b.id.0),
    ] {
        let res = other.get(&path).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}: {}", res.body);
    }
    let res = other.get(&acme).await;
    assert!(
        res.status == StatusCode::FORBIDDEN || res.status == StatusCode::NOT_FOUND,
        "{}",
        res.status
    );
    let empty = other
        .get(&format!("/w/{}/sites/{}", ws_b.0, site_b.id.0))
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.body.contains("No visits yet")
            && empty.body.contains("data-domain=&#34;rival.example&#34;"),
        "{}",
        empty.body
    );
    app.shutdown().await.unwrap();
}

async fn bad_filters_get_a_message_never_a_500(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    for (query, says) in [
        ("period=fortnight", "is not one of today"),
        ("period=custom&from=2026-02-30&to=2026-03-01", "YYYY-MM-DD"),
        ("period=custom&from=2026-03-01", "needs both"),
        (
            "period=custom&from=2026-03-02&to=2026-03-01",
            "before it begins",
        ),
        (
            "period=custom&from=1999-01-01&to=2026-01-01",
            "outside the years",
        ),
        ("class=spy", "is not one of business"),
        ("min_score=-1", "from 0 to 100"),
        ("min_score=1e9", "from 0 to 100"),
        ("page=%00", "page pattern"),
        ("sort=%3Cscript%3E", "one of score"),
        ("cursor=not-a-cursor", "start from the first page"),
        ("country=%F0%9F%92%A9", "two-letter"),
    ] {
        let res = owner.get(&format!("{base}/companies?{query}")).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(res.body.contains(says), "{query}: {}", res.body);
        let csv = owner.get(&format!("{base}/companies.csv?{query}")).await;
        assert_eq!(csv.status, StatusCode::BAD_REQUEST, "{query}: {}", csv.body);
        assert!(csv.body.contains(says), "{query}: {}", csv.body);
    }
    let res = owner
        .get(&format!("{base}?period=custom&from=x&to=y"))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("YYYY-MM-DD"));
    for path in [
        format!("{base}/companies/99999999"),
        format!("/w/{}/sites/99999999", ws.0),
        format!("{base}/companies/abc"),
    ] {
        let res = owner.get(&path).await;
        assert!(
            res.status == StatusCode::NOT_FOUND || res.status == StatusCode::BAD_REQUEST,
            "{path}: {}",
            res.status
        );
    }
    app.shutdown().await.unwrap();
}
