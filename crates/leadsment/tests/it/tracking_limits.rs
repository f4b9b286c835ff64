//! The events API's guards: the page's origin, the rate limits per client and per site, and
//! the size of props, on both backends. Clients are told apart by the address a trusted
//! proxy (127.0.0.1) puts in X-Forwarded-For.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::{CHROME, add_site, export_all};

/// An app behind a trusted proxy, with its configuration adjusted by `configure`.
async fn app_behind_proxy(
    backend: Backend,
    configure: impl FnOnce(&mut leadsment::config::Config),
) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    configure(&mut config);
    let server = leadsment::server::Server::bind(config).await.unwrap();
    TestApp::start(db, server, None).await
}

/// Posts `body` as a browser would, with `origin` (when given) and the client address
/// `client` behind the trusted proxy.
async fn post_from(
    app: &TestApp,
    body: &Value,
    origin: Option<&str>,
    client: &str,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/event"))
        .header("user-agent", CHROME)
        .header("content-type", "text/plain")
        .header("x-forwarded-for", client)
        .body(body.to_string());
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.send().await.unwrap()
}

fn pageview(domain: &str, url: &str) -> Value {
    json!({"name": "pageview", "url": url, "domain": domain})
}

/// The value of `leadsment_events_dropped_total{reason}` on /metrics.
async fn dropped(app: &TestApp, reason: &str) -> i64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("leadsment_events_dropped_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {metrics}"))
        .parse()
        .unwrap()
}

async fn error_of(res: reqwest::Response) -> Value {
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.unwrap()
}

on_both_backends!(
    events_from_another_origin_are_refused_and_counted,
    a_client_over_its_limit_gets_429_while_others_are_accepted,
    a_site_limit_applies_when_set,
    props_over_30_keys_or_4_kb_are_refused_and_not_stored,
);

async fn events_from_another_origin_are_refused_and_counted(backend: Backend) {
    let app = app_behind_proxy(backend, |_| {}).await;
    let site = add_site(&app, "victim.example", &["shop.victim.example"]).await;
    let body = pageview("victim.example", "https://victim.example/pricing");
    assert_eq!(dropped(&app, "origin_not_allowed").await, 0);

    // A page elsewhere, an opaque origin (sandboxed frame, file, redirect), and an origin
    // that is no host name at all: refused, whatever the body claims.
    for origin in [
        "https://attacker.example",
        "https://victim.example.attacker.example",
        "null",
        "http://203.0.113.9:8080",
    ] {
        let res = post_from(&app, &body, Some(origin), "198.51.100.7").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        let json = error_of(res).await;
        assert_eq!(json["error"], "origin_not_allowed", "{origin}: {json}");
        assert!(
            json["message"].as_str().unwrap().contains("victim.example"),
            "{json}"
        );
    }
    assert_eq!(dropped(&app, "origin_not_allowed").await, 4);

    // The site's own pages, its www. form, an alias (any port), and no Origin at all
    // (server-to-server, curl): accepted.
    for origin in [
        Some("https://victim.example"),
        Some("https://www.victim.example"),
        Some("https://shop.victim.example:8443"),
        Some("https://www.shop.victim.example"),
        None,
    ] {
        let res = post_from(&app, &body, origin, "198.51.100.8").await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{origin:?}");
    }
    assert_eq!(export_all(&app, &site).await.len(), 5);
    assert_eq!(dropped(&app, "origin_not_allowed").await, 4);
    app.shutdown().await.unwrap();
}

async fn a_client_over_its_limit_gets_429_while_others_are_accepted(backend: Backend) {
    let app = app_behind_proxy(backend, |c| c.tracking.events_per_client_per_minute = 3).await;
    let site = add_site(&app, "acme.example", &[]).await;
    let other = add_site(&app, "globex.example", &[]).await;
    let acme = pageview("acme.example", "https://acme.example/");
    let origin = Some("https://acme.example");
    assert_eq!(dropped(&app, "rate_limited").await, 0);

    for _ in 0..3 {
        let res = post_from(&app, &acme, origin, "198.51.100.7").await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = post_from(&app, &acme, origin, "198.51.100.7").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Three a minute: the next one is free in about 20 seconds.
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    assert_eq!(error_of(res).await["error"], "rate_limited");
    assert_eq!(dropped(&app, "rate_limited").await, 1);

    // Another client of the same site, and the same client on another site, are not held up.
    let res = post_from(&app, &acme, origin, "198.51.100.8").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let globex = pageview("globex.example", "https://globex.example/");
    let res = post_from(&app, &globex, None, "198.51.100.7").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // An IPv6 client is counted by its /64: another address in it shares the limit.
    for i in 1..=3 {
        let res = post_from(&app, &acme, origin, &format!("2001:db8:1:2::{i}")).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = post_from(&app, &acme, origin, "2001:db8:1:2:ffff::9").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = post_from(&app, &acme, origin, "2001:db8:1:3::1").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    assert_eq!(dropped(&app, "rate_limited").await, 2);
    // What was refused was not stored.
    assert_eq!(export_all(&app, &site).await.len(), 3 + 1 + 3 + 1);
    assert_eq!(export_all(&app, &other).await.len(), 1);
    app.shutdown().await.unwrap();
}

async fn a_site_limit_applies_when_set(backend: Backend) {
    let app = app_behind_proxy(backend, |c| c.tracking.events_per_site_per_minute = 2).await;
    let site = add_site(&app, "acme.example", &[]).await;
    let other = add_site(&app, "globex.example", &[]).await;
    let acme = pageview("acme.example", "https://acme.example/");
    for client in ["198.51.100.7", "198.51.100.8"] {
        let res = post_from(&app, &acme, None, client).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = post_from(&app, &acme, None, "198.51.100.9").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(error_of(res).await["error"], "rate_limited");
    assert_eq!(dropped(&app, "site_rate_limited").await, 1);
    assert_eq!(dropped(&app, "rate_limited").await, 0);
    // Each site has its own limit.
    let globex = pageview("globex.example", "https://globex.example/");
    let res = post_from(&app, &globex, None, "198.51.100.9").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(export_all(&app, &site).await.len(), 2);
    assert_eq!(export_all(&app, &other).await.len(), 1);
    app.shutdown().await.unwrap();
}

/// Three props whose JSON, as stored, is `extra` bytes over 4,096.
fn props_of_size(extra: usize) -> Value {
    // {"a":"…","b":"…","c":"…"}: 22 bytes besides the values.
    json!({
        "a": "x".repeat(2000),
        "b": "y".repeat(2000),
        "c": "z".repeat(4096 - 22 - 4000 + extra),
    })
}

async fn props_over_30_keys_or_4_kb_are_refused_and_not_stored(backend: Backend) {
    let app = app_behind_proxy(backend, |_| {}).await;
    let site = add_site(&app, "acme.example", &[]).await;
    let event = |props: Value| json!({"name": "Signup", "url": "https://acme.example/", "domain": "acme.example", "props": props});

    let many: serde_json::Map<String, Value> =
        (0..31).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (props, says) in [
        (Value::Object(many), "30 keys"),
        (props_of_size(1), "4096 bytes"),
    ] {
        let res = post_from(&app, &event(props), None, "198.51.100.7").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let json = error_of(res).await;
        assert_eq!(json["error"], "invalid_event", "{json}");
        assert_eq!(json["field"], "props", "{json}");
        assert!(json["message"].as_str().unwrap().contains(says), "{json}");
    }
    assert!(export_all(&app, &site).await.is_empty());

    // At the limit, the props are stored whole.
    let res = post_from(&app, &event(props_of_size(0)), None, "198.51.100.7").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let events = export_all(&app, &site).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["props"].as_str().unwrap().len(), 4096);
    app.shutdown().await.unwrap();
}
