//! The workspace API's leads routes (`/api/v1/…`): the feed, a company and the events with an
//! API key of the workspace, the filters and cursors, tenancy, scopes, errors, the rate limit,
//! and the OpenAPI document against the route table and the real answers, on both backends.

use std::collections::BTreeSet;

use leadsment::accounts::WorkspaceId;
use leadsment::accounts::api_keys::Scope;
use leadsment::accounts::sites::Site;
use leadsment::config::Config;
use leadsment::store::now_ms;
use leadsment::tracking::model::CompanyInfo;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::{event_at, ingest_fresh};

on_both_backends!(
    the_api_reads_the_feed_a_company_and_the_events,
    the_feed_pages_like_the_page_without_overlap,
    keys_of_other_workspaces_and_other_sites_get_404,
    each_key_is_rate_limited,
    failed_keys_are_rate_limited_per_client_address,
    a_visit_lists_at_most_200_events_and_says_so,
    the_openapi_document_is_the_route_table_and_the_answers_match_it,
);

/// An app with the leads tests' IP index (and `extra` ranges), configured by `configure`.
async fn app(backend: Backend, extra: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    configure(&mut config);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let file = config.data_dir.join("asn.csv");
    std::fs::write(&file, format!("{}{extra}", crate::leads::INDEX)).unwrap();
    leadsment::ipdb::build(&config.data_dir, &[file], Some("2026-11-01".into())).unwrap();
    let server = leadsment::server::Server::bind(config).await.unwrap();
    TestApp::start(db, server, None).await
}

/// A key of `ws` with `scope`, made by the workspace's owner `email`; returns its secret.
async fn key(app: &TestApp, ws: WorkspaceId, email: &str, scope: Scope, secret: &str) -> String {
    let store = app.db.store().await;
    let user = leadsment::auth::store::user_by_email(&store, email)
        .await
        .unwrap()
        .unwrap()
        .user;
    leadsment::accounts::store::create_api_key(
        &store,
        ws,
        "test key",
        &secret[..6],
        &leadsment::auth::tokens::digest(secret),
        scope,
        user.id,
    )
    .await
    .unwrap();
    store.close().await;
    secret.to_owned()
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

async fn get(app: &TestApp, key: Option<&str>, path: &str) -> Answer {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    Answer::of(req.send().await.unwrap()).await
}

impl Answer {
    async fn of(res: reqwest::Response) -> Answer {
        let (status, headers) = (res.status(), res.headers().clone());
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }
}

/// The error code and parameter of an error answer, after checking its shape.
fn error(a: &Answer, status: StatusCode) -> (String, Option<String>) {
    assert_eq!(a.status, status, "{}", a.text);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        a.headers
    );
    assert!(a.json["message"].as_str().is_some_and(|m| !m.is_empty()));
    (
        a.json["error"].as_str().unwrap().to_owned(),
        a.json["parameter"].as_str().map(str::to_owned),
    )
}

fn pv(domain: &str, path: &str, referrer: &str) -> Value {
    json!({"name": "pageview", "url": format!("https://{domain}{path}"), "domain": domain, "referrer": referrer})
}

/// Acme's visit (three pages from LinkedIn, a signup, time on a page), an ISP's and a
/// hosting network's: seven events.
async fn visits(app: &TestApp, d: &str) {
    let li = "https://www.linkedin.com/feed/";
    let send = crate::leads::send;
    send(app, "198.51.100.7", pv(d, "/?utm_source=newsletter", li)).await;
    send(app, "198.51.100.7", pv(d, "/pricing", "")).await;
    send(app, "198.51.100.7", pv(d, "/pricing/teams", "")).await;
    send(app, "198.51.100.7", json!({"name": "Signup", "url": format!("https://{d}/pricing"), "domain": d, "props": {"plan": "team"}})).await;
    send(app, "198.51.100.7", json!({"name": "engagement", "url": format!("https://{d}/pricing/teams"), "domain": d, "engaged_ms": 95_000})).await;
    send(app, "203.0.113.9", pv(d, "/", "https://www.google.com/")).await;
    send(app, "192.0.2.44", pv(d, "/docs", "")).await;
}

/// The site's events once `n` are written (the writer batches them).
async fn events_written(app: &TestApp, key: &str, base: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let a = get(app, Some(key), &format!("{base}/events?limit=1000")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let events = a.json["events"].as_array().unwrap().clone();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{n} events were not written");
}

async fn owner(app: &TestApp, email: &str, domain: &str) -> (WorkspaceId, Site) {
    let (ws, site, _) = crate::leads::owner_with_site(app, email, domain).await;
    (ws, site)
}

async fn the_api_reads_the_feed_a_company_and_the_events(backend: Backend) {
    let app = app(backend, "", |_| {}).await;
    let (ws, site) = owner(&app, "owner@acme.example", "shop.example").await;
    let k = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey1").await;
    let base = format!("/api/v1/workspaces/{}/sites/{}", ws.0, site.id.0);
    visits(&app, "shop.example").await;
    let events = events_written(&app, &k, &base, 7).await;

    // The events: newest first, with their company when known, nothing of the visitor.
    assert_eq!(events.len(), 7);
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let signup = events.iter().find(|e| e["name"] == "Signup").unwrap();
    assert_eq!(signup["path"], "/pricing");
    assert_eq!(signup["company_name"], "Acme");
    assert!(signup["company_id"].is_i64());
    assert!(signup["visit_id"].is_i64());
    assert!(
        signup["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok(),
        "{signup}"
    );
    let first = events
        .iter()
        .find(|e| e["path"] == "/" && e["company_name"] == "Acme");
    assert_eq!(
        first.unwrap()["source"],
        "newsletter",
        "utm_source names the source"
    );
    let all = get(&app, Some(&k), &format!("{base}/events")).await;
    for secret in ["198.51.100", "203.0.113", "visitor", "hash", "ip"] {
        assert!(!all.text.contains(secret), "{secret} in {}", all.text);
    }

    // Pages of two: every event once, in the same order.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("{base}/events?limit=2&cursor={c}"),
            None => format!("{base}/events?limit=2"),
        };
        let a = get(&app, Some(&k), &path).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let page = a.json["events"].as_array().unwrap();
        assert!(page.len() <= 2);
        paged.extend(page.iter().cloned());
        match a.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, events);

    // The feed: Acme by default, the ISP when asked, Amazon apart.
    let feed = get(&app, Some(&k), &format!("{base}/companies")).await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
    let names: Vec<&str> = feed.json["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme"]);
    assert_eq!(feed.json["total"], 1);
    assert_eq!(feed.json["next_cursor"], Value::Null);
    let acme = &feed.json["companies"][0];
    assert_eq!(acme["class"], "business");
    assert_eq!(acme["visits"], 1);
    assert_eq!(acme["pageviews"], 3);
    assert!(acme["score"]["value"].as_u64().unwrap() > 0, "{acme}");
    assert_eq!(acme["first_visit"]["source"], "newsletter");
    assert_eq!(feed.json["hosting"][0]["class"], "hosting");
    let isp = get(&app, Some(&k), &format!("{base}/companies?class=isp")).await;
    assert_eq!(isp.json["companies"][0]["class"], "isp", "{}", isp.text);
    assert_eq!(isp.json["total"], 1);
    let none = get(&app, Some(&k), &format!("{base}/companies?page=%2Fdocs")).await;
    assert_eq!(none.json["total"], 0, "{}", none.text);

    // One company: its score, why, and its visit step by step.
    let id = acme["id"].as_i64().unwrap();
    let c = get(&app, Some(&k), &format!("{base}/companies/{id}")).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    assert_eq!(c.json["company"]["name"], "Acme");
    assert_eq!(c.json["company"]["asn"], 64500);
    assert_eq!(c.json["score"], acme["score"]);
    assert_eq!(c.json["totals"]["pageviews"], 3);
    assert_eq!(c.json["hidden"], false);
    let steps = c.json["visits"][0]["steps"].as_array().unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["page", "page", "page", "event"], "{steps:?}");
    assert_eq!(steps[2]["engaged_ms"], 95_000);
    assert_eq!(steps[3]["name"], "Signup");
    assert_eq!(steps[3]["props"], json!({"plan": "team"}));
    assert!(!c.text.contains("visitor_hash"), "{}", c.text);
    let c = get(&app, Some(&k), &format!("{base}/companies/{id}?visits=all")).await;
    assert_eq!(c.status, StatusCode::OK);
    let gone = get(&app, Some(&k), &format!("{base}/companies/{}", id + 1_000)).await;
    assert_eq!(error(&gone, StatusCode::NOT_FOUND).0, "not_found");

    // Errors: each with its stable code and the parameter.
    for (query, code, parameter) in [
        ("companies?colour=red", "unknown_filter", "colour"),
        ("companies?min_score=101", "invalid_filter", "min_score"),
        ("companies?class=spies", "invalid_filter", "class"),
        ("companies?cursor=not-a-cursor", "bad_cursor", "cursor"),
        ("events?page=2", "unknown_filter", "page"),
        ("events?limit=0", "invalid_filter", "limit"),
        ("events?limit=1001", "invalid_filter", "limit"),
        ("events?cursor=%%%", "bad_cursor", "cursor"),
        (
            &format!("companies/{id}?visits=some"),
            "invalid_filter",
            "visits",
        ),
        (
            &format!("companies/{id}?period=7d"),
            "unknown_filter",
            "period",
        ),
    ] {
        let a = get(&app, Some(&k), &format!("{base}/{query}")).await;
        let (got, param) = error(&a, StatusCode::BAD_REQUEST);
        assert_eq!(got, code, "{query}: {}", a.text);
        assert_eq!(param.as_deref(), Some(parameter), "{query}: {}", a.text);
    }
    // No key, a made-up key: 401, in JSON.
    for k in [None, Some("lm_made_up")] {
        let a = get(&app, k, &format!("{base}/companies")).await;
        assert_eq!(error(&a, StatusCode::UNAUTHORIZED).0, "unauthorized");
        assert_eq!(a.headers["www-authenticate"], "Bearer");
    }
    // A write key reads too; a read key may not write.
    let w = key(&app, ws, "owner@acme.example", Scope::Write, "lm_writekey").await;
    assert_eq!(
        get(&app, Some(&w), &format!("{base}/events")).await.status,
        StatusCode::OK
    );
    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/workspaces/{}/sites", ws.0)))
        .bearer_auth(&k)
        .json(&json!({"domain": "other.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A company the workspace hides is in no feed and no event; its own answer says so.
    let store = app.db.store().await;
    leadsment::leads::store::exclusions::add_exclusion(
        &store,
        ws,
        leadsment::leads::exclusions::Kind::Asn,
        "64500",
        None,
        leadsment::leads::exclusions::MAX_EXCLUSIONS,
    )
    .await
    .unwrap();
    store.close().await;
    let feed = get(&app, Some(&k), &format!("{base}/companies")).await;
    assert_eq!(feed.json["total"], 0, "{}", feed.text);
    let events = get(&app, Some(&k), &format!("{base}/events")).await;
    assert_eq!(
        events.json["events"].as_array().unwrap().len(),
        2,
        "{}",
        events.text
    );
    assert!(!events.text.contains("Acme"), "{}", events.text);
    let c = get(&app, Some(&k), &format!("{base}/companies/{id}")).await;
    assert_eq!(c.json["hidden"], true, "{}", c.text);
    app.shutdown().await.unwrap();
}

async fn the_feed_pages_like_the_page_without_overlap(backend: Backend) {
    // 55 companies, each from a network of its own.
    let extra: String = (0..55)
        .map(|i| {
            format!(
                "11.0.{i}.0,11.0.{i}.255,{},FIRM{i} - Firm {i} Holdings Inc.\n",
                65_000 + i
            )
        })
        .collect();
    let app = app(backend, &extra, |_| {}).await;
    let (ws, site) = owner(&app, "owner@acme.example", "shop.example").await;
    let k = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey2").await;
    let base = format!("/api/v1/workspaces/{}/sites/{}", ws.0, site.id.0);
    for i in 0..55 {
        let path = if i % 5 == 0 { "/pricing" } else { "/blog" };
        crate::leads::send(&app, &format!("11.0.{i}.9"), pv("shop.example", path, "")).await;
    }
    events_written(&app, &k, &base, 55).await;

    for order in ["name", "score", "last_visit"] {
        let first = get(&app, Some(&k), &format!("{base}/companies?sort={order}")).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        assert_eq!(first.json["total"], 55);
        let page1 = first.json["companies"].as_array().unwrap();
        assert_eq!(page1.len(), 50);
        let cursor = first.json["next_cursor"].as_str().expect("a second page");
        let second = get(
            &app,
            Some(&k),
            &format!("{base}/companies?sort={order}&cursor={cursor}"),
        )
        .await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.text);
        let page2 = second.json["companies"].as_array().unwrap();
        assert_eq!(page2.len(), 5, "{order}");
        assert_eq!(second.json["next_cursor"], Value::Null);
        let ids: BTreeSet<i64> = page1
            .iter()
            .chain(page2)
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids.len(), 55, "{order}: no company twice, none left out");
        if order == "name" {
            let names: Vec<String> = page1
                .iter()
                .chain(page2)
                .map(|c| c["name"].as_str().unwrap().to_lowercase())
                .collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
        }
        // A cursor of another order is refused, as on the page.
        let other = if order == "name" { "visits" } else { "name" };
        let a = get(
            &app,
            Some(&k),
            &format!("{base}/companies?sort={other}&cursor={cursor}"),
        )
        .await;
        assert_eq!(error(&a, StatusCode::BAD_REQUEST).0, "bad_cursor");
    }
    // The page's filters: a page pattern and a name.
    let pricing = get(&app, Some(&k), &format!("{base}/companies?page=%2Fpricing")).await;
    assert_eq!(pricing.json["total"], 11, "{}", pricing.text);
    let named = get(&app, Some(&k), &format!("{base}/companies?q=Firm%205")).await;
    let names: BTreeSet<String> = named.json["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let want: BTreeSet<String> = [5, 50, 51, 52, 53, 54]
        .into_iter()
        .map(|i| format!("Firm {i} Holdings"))
        .collect();
    assert_eq!(names, want, "{}", named.text);
    app.shutdown().await.unwrap();
}

async fn keys_of_other_workspaces_and_other_sites_get_404(backend: Backend) {
    let app = app(backend, "", |_| {}).await;
    let (ws, site) = owner(&app, "owner@acme.example", "shop.example").await;
    let (ows, osite) = owner(&app, "other@globex.example", "globex.example").await;
    let k = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey3").await;
    let other = key(
        &app,
        ows,
        "other@globex.example",
        Scope::Write,
        "lm_otherkey",
    )
    .await;
    let base = format!("/api/v1/workspaces/{}/sites/{}", ws.0, site.id.0);
    visits(&app, "shop.example").await;
    let events = events_written(&app, &k, &base, 7).await;
    let company = events[0]["company_id"]
        .as_i64()
        .or(events[1]["company_id"].as_i64());
    let company = company.unwrap_or_else(|| {
        events
            .iter()
            .find_map(|e| e["company_id"].as_i64())
            .unwrap()
    });
    for rest in [
        "companies".to_owned(),
        format!("companies/{company}"),
        "events".to_owned(),
    ] {
        // Another workspace's key on this workspace's site.
        let a = get(&app, Some(&other), &format!("{base}/{rest}")).await;
        assert_eq!(error(&a, StatusCode::NOT_FOUND).0, "not_found", "{rest}");
        // That key on its own workspace with this site's id.
        let path = format!("/api/v1/workspaces/{}/sites/{}/{rest}", ows.0, site.id.0);
        let a = get(&app, Some(&other), &path).await;
        assert_eq!(error(&a, StatusCode::NOT_FOUND).0, "not_found", "{rest}");
        // This key on the other workspace's site, by either workspace.
        for w in [ws.0, ows.0] {
            let path = format!("/api/v1/workspaces/{w}/sites/{}/{rest}", osite.id.0);
            let a = get(&app, Some(&k), &path).await;
            assert_eq!(error(&a, StatusCode::NOT_FOUND).0, "not_found", "{path}");
            assert!(!a.text.contains("globex"), "{}", a.text);
        }
    }
    // The other key on its own site: nothing of this one's visitors.
    let obase = format!("/api/v1/workspaces/{}/sites/{}", ows.0, osite.id.0);
    let a = get(&app, Some(&other), &format!("{obase}/events")).await;
    assert_eq!(a.json["events"], json!([]), "{}", a.text);
    let a = get(&app, Some(&other), &format!("{obase}/companies/{company}")).await;
    assert_eq!(error(&a, StatusCode::NOT_FOUND).0, "not_found");
    app.shutdown().await.unwrap();
}

async fn each_key_is_rate_limited(backend: Backend) {
    let app = app(backend, "", |c| c.auth.api_requests_per_key_per_minute = 3).await;
    let (ws, site) = owner(&app, "owner@acme.example", "shop.example").await;
    let k = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey4").await;
    let k2 = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey5").await;
    let base = format!("/api/v1/workspaces/{}/sites/{}", ws.0, site.id.0);
    for _ in 0..3 {
        assert_eq!(
            get(&app, Some(&k), &format!("{base}/events")).await.status,
            StatusCode::OK
        );
    }
    let a = get(&app, Some(&k), &format!("{base}/companies")).await;
    assert_eq!(error(&a, StatusCode::TOO_MANY_REQUESTS).0, "rate_limited");
    let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    // Another key has its own budget.
    assert_eq!(
        get(&app, Some(&k2), &format!("{base}/events")).await.status,
        StatusCode::OK
    );
    app.shutdown().await.unwrap();
}

async fn get_from(app: &TestApp, from: &str, key: &str, path: &str) -> Answer {
    let res = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(key)
        .header("x-forwarded-for", from)
        .send()
        .await
        .unwrap();
    Answer::of(res).await
}

/// Unknown keys are counted per client address (through the trusted proxy): past
/// `login_attempts_per_minute` of them, the address is answered 429 before any key it sends is
/// looked up, a valid one too, while another address is unaffected.
async fn failed_keys_are_rate_limited_per_client_address(backend: Backend) {
    let app = app(backend, "", |c| c.auth.login_attempts_per_minute = 3).await;
    let (ws, site) = owner(&app, "owner@acme.example", "shop.example").await;
    let k = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey6").await;
    let events = format!("/api/v1/workspaces/{}/sites/{}/events", ws.0, site.id.0);
    let guesser = "198.18.7.9";
    for i in 0..3 {
        let a = get_from(&app, guesser, &format!("lm_guess{i}"), &events).await;
        assert_eq!(error(&a, StatusCode::UNAUTHORIZED).0, "unauthorized");
    }
    for guess in ["lm_guess3", k.as_str()] {
        let a = get_from(&app, guesser, guess, &events).await;
        assert_eq!(error(&a, StatusCode::TOO_MANY_REQUESTS).0, "rate_limited");
        let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=20).contains(&wait), "{wait}");
    }
    // Another address has its own budget, and the valid key works from it.
    let other = "198.18.200.1";
    let a = get_from(&app, other, "lm_guess4", &events).await;
    assert_eq!(error(&a, StatusCode::UNAUTHORIZED).0, "unauthorized");
    assert_eq!(
        get_from(&app, other, &k, &events).await.status,
        StatusCode::OK
    );
    app.shutdown().await.unwrap();
}

/// A visit of 250 events answers its first 200 as steps, says it has more, and the answer
/// still matches its schema; a short visit says it has not.
async fn a_visit_lists_at_most_200_events_and_says_so(backend: Backend) {
    let app = app(backend, "", |_| {}).await;
    let (ws, site) = owner(&app, "owner@acme.example", "shop.example").await;
    let k = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey7").await;
    let store = app.db.store().await;
    let info = CompanyInfo {
        key: "domain:busy.example".into(),
        name: "Busy GmbH".into(),
        org: None,
        domain: Some("busy.example".into()),
        asn: Some(64_999),
        country: Some("DE".into()),
        class: "business".into(),
        class_reason: None,
    };
    let start = now_ms() - 3_600_000;
    let event = |ts: i64, visitor: i64, path: String| {
        let mut e = event_at(&site, ts, visitor, None, "pageview");
        e.path = path;
        e.class = "business".into();
        e.company = Some(info.clone());
        e
    };
    let mut events: Vec<_> = (0..250)
        .map(|i| event(start + i * 1_000, 4242, format!("/p{i}")))
        .collect();
    events.extend((0..3).map(|i| event(start + 1_800_000 + i * 1_000, 4343, format!("/q{i}"))));
    ingest_fresh(&store, events).await;
    let id: i64 = store
        .value(leadsment::store::sql("SELECT id FROM companies WHERE key = $1").bind(info.key))
        .await
        .unwrap();
    store.close().await;
    let base = format!("/api/v1/workspaces/{}/sites/{}", ws.0, site.id.0);
    for query in ["", "?visits=all"] {
        let a = get(&app, Some(&k), &format!("{base}/companies/{id}{query}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let visits = a.json["visits"].as_array().unwrap();
        assert_eq!(visits.len(), 2, "{}", a.text);
        let (short, long) = (&visits[0], &visits[1]);
        let steps = long["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 200);
        assert_eq!(steps[0]["path"], "/p0");
        assert_eq!(steps[199]["path"], "/p199");
        assert_eq!(long["steps_truncated"], true);
        assert_eq!(short["steps"].as_array().unwrap().len(), 3);
        assert_eq!(short["steps_truncated"], false);
        assert_eq!(a.json["truncated"], false);
        let doc = get(&app, None, "/api/v1/openapi.json").await.json;
        let mut wrong = Vec::new();
        let schema = &doc["components"]["schemas"]["CompanyDetails"];
        check(&doc, schema, &a.json, "$", &mut wrong);
        assert!(wrong.is_empty(), "{wrong:?}");
    }
    app.shutdown().await.unwrap();
}

/// Every `/api/v1` route of the table, as (method, path).
async fn api_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let composed = leadsment::server::Server::bind(app.db.config())
        .await
        .unwrap();
    leadsment::app::routes(composed.state())
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect()
}

async fn the_openapi_document_is_the_route_table_and_the_answers_match_it(backend: Backend) {
    let app = app(backend, "", |_| {}).await;
    let doc = get(&app, None, "/api/v1/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK, "{}", doc.text);
    let doc = doc.json;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let routes = api_routes(&app).await;
    assert!(routes.len() >= 6, "{routes:?}");
    assert_eq!(
        documented, routes,
        "the document's paths are the route table's"
    );
    // Every path parameter is declared.
    for (method, path) in &routes {
        let params = doc["paths"][path][method]["parameters"].as_array().cloned();
        for name in path
            .split('{')
            .skip(1)
            .map(|p| p.split('}').next().unwrap())
        {
            let declared = params
                .iter()
                .flatten()
                .any(|p| p["name"] == name && p["in"] == "path");
            assert!(declared, "{method} {path}: {name}");
        }
    }

    // Real answers, each checked against its documented schema.
    let (ws, site) = owner(&app, "owner@acme.example", "shop.example").await;
    let k = key(&app, ws, "owner@acme.example", Scope::Read, "lm_readkey6").await;
    let sites_path = format!("/api/v1/workspaces/{}/sites", ws.0);
    let base = format!("{sites_path}/{}", site.id.0);
    visits(&app, "shop.example").await;
    let events = events_written(&app, &k, &base, 7).await;
    let company = events
        .iter()
        .find_map(|e| e["company_id"].as_i64())
        .unwrap();
    let template = "/api/v1/workspaces/{workspace_id}/sites/{site_id}";
    let cases = [
        (
            "/api/v1/workspaces/{workspace_id}/sites",
            sites_path.clone(),
            "200",
        ),
        (
            &format!("{template}/companies")[..],
            format!("{base}/companies"),
            "200",
        ),
        (
            &format!("{template}/companies")[..],
            format!("{base}/companies?class=hosting&class=isp&sort=name"),
            "200",
        ),
        (
            &format!("{template}/companies/{{company_id}}")[..],
            format!("{base}/companies/{company}"),
            "200",
        ),
        (
            &format!("{template}/events")[..],
            format!("{base}/events?limit=3"),
            "200",
        ),
        (
            &format!("{template}/events")[..],
            format!("{base}/events?limit=zero"),
            "400",
        ),
        (
            &format!("{template}/companies")[..],
            format!("{base}/companies?nope=1"),
            "400",
        ),
        (
            &format!("{template}/companies/{{company_id}}")[..],
            format!("{base}/companies/{}", company + 999),
            "404",
        ),
        (
            &format!("{template}/events")[..],
            format!("{base}/events"),
            "401",
        ),
    ];
    for (template, url, status) in cases {
        let key = (status != "401").then_some(k.as_str());
        let a = get(&app, key, &url).await;
        assert_eq!(a.status.as_str(), status, "{url}: {}", a.text);
        let schema = &doc["paths"][template]["get"]["responses"][status]["content"]["application/json"]
            ["schema"];
        assert!(schema.is_object(), "{template} documents no {status}");
        let mut wrong = Vec::new();
        check(&doc, schema, &a.json, "$", &mut wrong);
        assert!(wrong.is_empty(), "{url}: {wrong:#?}\n{}", a.text);
    }
    // The checker itself refuses what breaks a schema.
    let feed_schema = json!({"$ref": "#/components/schemas/CompanyFeed"});
    let feed = get(&app, Some(&k), &format!("{base}/companies")).await.json;
    for broken in [
        {
            let mut f = feed.clone();
            f["total"] = json!("one");
            f
        },
        {
            let mut f = feed.clone();
            f.as_object_mut().unwrap().remove("next_cursor");
            f
        },
        {
            let mut f = feed.clone();
            f["companies"][0]["last_visit_at"] = json!("yesterday");
            f
        },
        {
            let mut f = feed.clone();
            f["companies"][0]["undocumented"] = json!(1);
            f
        },
    ] {
        let mut wrong = Vec::new();
        check(&doc, &feed_schema, &broken, "$", &mut wrong);
        assert!(!wrong.is_empty(), "{broken}");
    }
    app.shutdown().await.unwrap();
}

/// A small JSON Schema checker for what the document uses: `$ref`, `type` (one or several),
/// `const`, `enum`, `oneOf`, `required`, `properties` (and no property that is not
/// documented, unless `additionalProperties` says what they are), `items`, `maxItems`, `minimum`,
/// `maximum` and the `date-time` format. (The `jsonschema` crate would bring a large tree of
/// dependencies to build on every machine that runs the tests.)
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, wrong: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(target.is_object(), "no schema {r}");
        return check(doc, target, value, at, wrong);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options
            .iter()
            .filter(|o| {
                let mut w = Vec::new();
                check(doc, o, value, at, &mut w);
                w.is_empty()
            })
            .count();
        if fits != 1 {
            wrong.push(format!("{at}: fits {fits} of oneOf"));
        }
        return;
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        wrong.push(format!("{at}: {value} is not {c}"));
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(value)
    {
        wrong.push(format!("{at}: {value} not in {e:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let type_ok = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !type_ok {
        wrong.push(format!("{at}: {kind}, documented {types:?}"));
        return;
    }
    match value {
        Value::Object(map) => {
            for r in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(r.as_str().unwrap()) {
                    wrong.push(format!("{at}: no {r}"));
                }
            }
            let props = schema["properties"].as_object();
            let extra = &schema["additionalProperties"];
            for (k, v) in map {
                let here = format!("{at}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(doc, s, v, &here, wrong),
                    None if extra.is_object() => check(doc, extra, v, &here, wrong),
                    None if props.is_some() => wrong.push(format!("{here}: not documented")),
                    None => {}
                }
            }
        }
        Value::Array(items) if schema.get("items").is_some() => {
            if schema["maxItems"]
                .as_u64()
                .is_some_and(|m| items.len() as u64 > m)
            {
                wrong.push(format!("{at}: {} items, more than maxItems", items.len()));
            }
            for (i, v) in items.iter().enumerate() {
                check(doc, &schema["items"], v, &format!("{at}[{i}]"), wrong);
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap();
            if schema["minimum"].as_f64().is_some_and(|m| n < m)
                || schema["maximum"].as_f64().is_some_and(|m| n > m)
            {
                wrong.push(format!("{at}: {n} out of range"));
            }
        }
        Value::String(s)
            if schema["format"] == "date-time" && s.parse::<jiff::Timestamp>().is_err() =>
        {
            wrong.push(format!("{at}: {s} is not RFC 3339"));
        }
        _ => {}
    }
}
