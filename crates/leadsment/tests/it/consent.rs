//! The consent manager's API: the banner rule per visitor, decisions stored as proof and
//! remembered by a signed `lm_consent`, and bad, foreign or excessive requests refused, on
//! both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::CHROME;
use leadsment::consent::BANNER_VERSION as BANNER;
use leadsment::consent::settings::Mode;
use leadsment::store::sql;

/// A visitor in Germany and one in the United States, as the test's IP index places them.
const GERMANY: &str = "198.51.100.23";
const UNITED_STATES: &str = "203.0.113.40";

/// An app behind a trusted proxy, with an index that knows both visitors' countries, and a
/// switched-on GA4 tag (with nothing to consent to, no banner is asked for).
async fn app(backend: Backend, configure: impl FnOnce(&mut leadsment::config::Config)) -> TestApp {
    let db = TestDb::new(backend).await;
    add_tag(&db.store().await, "ga4", "G-TEST1", "", None, true).await;
    app_on(db, configure).await
}

/// Stores a tag of `kind` (its vendor's keys unless `keys` says otherwise), switched on if
/// `on`, as the panel would.
pub async fn add_tag(
    db: &leadsment::store::Db,
    kind: &str,
    target: &str,
    hosts: &str,
    keys: Option<&str>,
    on: bool,
) {
    use leadsment::consent::tags::store::{self as tags, Who};
    use leadsment::consent::tags::{TagForm, TagSpec, default_keys_text};
    let kind_of = leadsment::registry::TagKind::parse(kind).unwrap();
    let form = TagForm {
        kind: kind.to_owned(),
        label: format!("{kind} tag"),
        target: target.to_owned(),
        hosts: hosts.to_owned(),
        category: kind_of.default_category().as_str().to_owned(),
        keys: keys.map_or_else(|| default_keys_text(kind_of), str::to_owned),
    };
    let spec = TagSpec::parse(&form).unwrap();
    let who = Who {
        user_id: 1,
        email: "ops@example.com".to_owned(),
    };
    let tag = tags::create(db, &spec, &who, 1).await.unwrap();
    if on {
        tags::set_enabled(db, tag.id, true, &who, 2).await.unwrap();
    }
}

/// The same on a database the caller prepared.
pub async fn app_on(db: TestDb, configure: impl FnOnce(&mut leadsment::config::Config)) -> TestApp {
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    configure(&mut config);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let asn = config.data_dir.join("asn-ipv4.csv");
    std::fs::write(
        &asn,
        "198.51.100.0,198.51.100.255,64500,ACMECORP - Acme Corporation GmbH\n\
         203.0.113.0,203.0.113.255,64501,Example Broadband Inc\n",
    )
    .unwrap();
    let geo = config.data_dir.join("geo-whois-asn-country-ipv4.csv");
    std::fs::write(
        &geo,
        "198.51.100.0,198.51.100.255,DE\n203.0.113.0,203.0.113.255,US\n",
    )
    .unwrap();
    leadsment::ipdb::build(&config.data_dir, &[asn, geo], Some("2026-11-01".into())).unwrap();
    let server = leadsment::server::Server::bind(config).await.unwrap();
    TestApp::start(db, server, None).await
}

async fn rule(
    app: &TestApp,
    from: &str,
    cookie: Option<&str>,
) -> (reqwest::header::HeaderMap, Value) {
    let mut req = app
        .client
        .get(app.url("/api/consent/rule"))
        .header("user-agent", CHROME)
        .header("x-forwarded-for", from);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

/// Posts a decision from the site's own origin, unless `extra` names another `Origin` (or
/// `-` for none).
async fn decide(
    app: &TestApp,
    from: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let own = app.url("");
    let own = own.trim_end_matches('/');
    let mut req = app
        .client
        .post(app.url("/api/consent"))
        .header("user-agent", CHROME)
        .header("x-forwarded-for", from)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if !extra.iter().any(|(k, _)| *k == "origin") {
        req = req.header("origin", own);
    }
    for (k, v) in extra {
        if (*k, *v) != ("origin", "-") {
            req = req.header(*k, *v);
        }
    }
    req.send().await.unwrap()
}

/// The `lm_consent=…` pair of a response's `Set-Cookie`, and the whole header.
fn consent_cookie(res: &reqwest::Response) -> (String, String) {
    let header = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("lm_consent="))
        .expect("an lm_consent cookie");
    let pair = header.split(';').next().unwrap().to_owned();
    (pair, header)
}

/// Every stored decision, oldest first, with the fields the tests compare.
async fn proof_rows(app: &TestApp) -> Vec<Value> {
    let store = app.db.store().await;
    let rows = leadsment::consent::store::page_between(&store, 0, i64::MAX, 0, 1000)
        .await
        .unwrap();
    store.close().await;
    rows.into_iter()
        .map(|(_, p)| {
            json!({"id": p.consent_id, "revision": p.revision, "action": p.action,
                   "analytics": p.analytics, "advertising": p.advertising, "gpc": p.gpc,
                   "country": p.country, "browser": p.browser})
        })
        .collect()
}

/// A request that must be refused: its body and headers, the status, the field named.
struct Bad<'a> {
    body: String,
    headers: Vec<(&'a str, &'a str)>,
    status: StatusCode,
    field: Option<&'a str>,
}

on_both_backends!(
    decisions_are_stored_as_proof_and_remembered_by_a_signed_cookie,
    bad_and_foreign_decisions_are_refused_and_store_nothing,
    visitors_outside_the_zone_get_the_configured_rule,
    policy_revisions_and_retention,
    the_cookie_policy_lists_the_registry_and_formless_pages_set_nothing,
    with_nothing_to_consent_to_no_banner_is_asked,
);

/// An instance with no analytics or advertising tag sets nothing that needs consent: the
/// rule asks for no banner (the cookie policy's settings still show the categories).
async fn with_nothing_to_consent_to_no_banner_is_asked(backend: Backend) {
    let app = app_on(TestDb::new(backend).await, |_| {}).await;
    let (_, body) = rule(&app, GERMANY, None).await;
    assert_eq!(body["mode"], "opt_in");
    assert_eq!(body["ask"], false, "{body}");
    assert!(body["load"].as_array().unwrap().is_empty());
    app.shutdown().await.unwrap();
}

/// A revision is recorded once, from when it took effect; one that comes back is a new
/// change. Decisions older than the retention period go, newer ones stay.
async fn policy_revisions_and_retention(backend: Backend) {
    use leadsment::consent::store;
    let (_db, db) = TestDb::open(backend).await;
    assert_eq!(store::latest_revision(&db).await.unwrap(), None);
    assert_eq!(
        store::note_revision(&db, "aaaa", "", 1_000).await.unwrap(),
        1_000
    );
    assert_eq!(
        store::note_revision(&db, "aaaa", "", 2_000).await.unwrap(),
        1_000
    );
    assert_eq!(
        store::note_revision(&db, "bbbb", "", 3_000).await.unwrap(),
        3_000
    );
    assert_eq!(
        store::note_revision(&db, "aaaa", "", 4_000).await.unwrap(),
        4_000
    );
    assert_eq!(
        store::latest_revision(&db).await.unwrap(),
        Some(("aaaa".to_owned(), 4_000))
    );

    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let now = at("2026-12-04T12:00:00Z");
    let proof = |id: &str, created_at: i64| leadsment::consent::Proof {
        consent_id: id.to_owned(),
        previous_id: None,
        created_at,
        revision: "aaaa".to_owned(),
        banner_version: "b".to_owned(),
        action: leadsment::consent::choice::Action::RejectAll,
        analytics: false,
        advertising: false,
        gpc: false,
        country: None,
        browser: None,
    };
    store::record(&db, &proof("old", at("2024-12-04T11:59:59Z")))
        .await
        .unwrap();
    store::record(&db, &proof("kept", at("2024-12-04T12:00:00Z")))
        .await
        .unwrap();
    let before = leadsment::consent::retention_start(now, 24);
    assert_eq!(store::delete_older(&db, before).await.unwrap(), 1);
    assert!(store::by_consent_id(&db, "old").await.unwrap().is_empty());
    assert_eq!(store::by_consent_id(&db, "kept").await.unwrap().len(), 1);
    db.close().await;
}

async fn decisions_are_stored_as_proof_and_remembered_by_a_signed_cookie(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let (headers, first) = rule(&app, GERMANY, None).await;
    assert_eq!(headers["cache-control"], "private, no-cache");
    assert!(headers.get("set-cookie").is_none(), "the rule sets nothing");
    assert_eq!(first["mode"], "opt_in", "{first}");
    assert_eq!(first["zone"], true);
    assert_eq!(first["ask"], true);
    assert_eq!(first["consent"], Value::Null);
    let revision = first["revision"].as_str().unwrap().to_owned();
    assert_eq!(revision.len(), 16);
    let necessary: Vec<&str> = first["categories"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(first["categories"][0]["choice"], false);
    for name in [
        "sb-access-token",
        "sb-refresh-token",
        "__Host-csrf",
        "lm_consent",
    ] {
        assert!(necessary.contains(&name), "{necessary:?}");
    }
    assert_eq!(first["categories"][1]["id"], "analytics");
    assert_eq!(first["categories"][2]["id"], "advertising");

    // Accept all.
    let body = json!({"action": "accept_all", "revision": revision, "banner": BANNER}).to_string();
    let res = decide(&app, GERMANY, &body, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (cookie, header) = consent_cookie(&res);
    assert!(header.contains("SameSite=Lax"), "{header}");
    assert!(header.contains("Max-Age=15724800"), "{header}");
    assert!(
        !header.to_ascii_lowercase().contains("httponly"),
        "{header}"
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let answer: Value = res.json().await.unwrap();
    let id = answer["consent_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("c_") && id.len() >= 20, "{id}");
    assert_eq!(answer["categories"], json!(["analytics", "advertising"]));

    // Remembered: the rule does not ask again, and names the consent.
    let (_, again) = rule(&app, GERMANY, Some(&cookie)).await;
    assert_eq!(again["ask"], false, "{again}");
    assert_eq!(again["consent"]["id"], id.as_str());
    assert_eq!(
        again["consent"]["categories"],
        json!(["analytics", "advertising"])
    );

    // Chosen again (advertising too) with Global Privacy Control on: a new consent ID that
    // names the earlier one.
    let body = json!({"action": "save", "categories": ["analytics", "advertising"],
                      "revision": revision, "banner": BANNER})
    .to_string();
    let res = decide(
        &app,
        GERMANY,
        &body,
        &[("cookie", &cookie), ("sec-gpc", "1")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    let second = answer["consent_id"].as_str().unwrap().to_owned();
    assert_ne!(second, id, "each decision gets an ID of its own");
    assert_eq!(
        answer["categories"],
        json!(["analytics"]),
        "GPC refuses advertising"
    );
    let store = app.db.store().await;
    let linked = leadsment::consent::store::by_consent_id(&store, &second)
        .await
        .unwrap();
    store.close().await;
    assert_eq!(linked[0].previous_id.as_deref(), Some(id.as_str()));

    let rows = proof_rows(&app).await;
    assert_eq!(
        rows,
        [
            json!({"id": id, "revision": revision, "action": "accept_all", "analytics": true,
                   "advertising": true, "gpc": false, "country": "DE", "browser": "Chrome"}),
            json!({"id": second, "revision": revision, "action": "save", "analytics": true,
                   "advertising": false, "gpc": true, "country": "DE", "browser": "Chrome"}),
        ]
    );
    // No address is kept anywhere in the log.
    let store = app.db.store().await;
    let dump: Vec<String> = store
        .values(sql(
            "SELECT consent_id || revision || banner_version || action || \
             COALESCE(country, '') || COALESCE(browser, '') FROM consent_log",
        ))
        .await
        .unwrap();
    store.close().await;
    assert!(!dump.concat().contains("198.51.100"), "{dump:?}");

    // A second lm_consent beside the browser's own (planted from a sibling domain) makes
    // neither count.
    let (_, doubled) = rule(&app, GERMANY, Some(&format!("{cookie}; {cookie}"))).await;
    assert_eq!(
        (doubled["ask"].as_bool(), &doubled["consent"]),
        (Some(true), &Value::Null)
    );
    // With Global Privacy Control on, a stored grant of advertising is not reported.
    let mut req = app
        .client
        .get(app.url("/api/consent/rule"))
        .header("x-forwarded-for", GERMANY)
        .header("cookie", &cookie)
        .header("sec-gpc", "1");
    req = req.header("user-agent", CHROME);
    let gpc: Value = req.send().await.unwrap().json().await.unwrap();
    assert_eq!(gpc["gpc"], true);
    assert_eq!(gpc["consent"]["categories"], json!(["analytics"]), "{gpc}");

    // A tampered cookie counts as none: the banner asks, and a new consent ID is made.
    let tampered = cookie.replace("lm_consent=v1.", "lm_consent=v1.e");
    let (_, fresh) = rule(&app, GERMANY, Some(&tampered)).await;
    assert_eq!(fresh["ask"], true);
    assert_eq!(fresh["consent"], Value::Null);
    let body = json!({"action": "reject_all", "revision": revision, "banner": BANNER}).to_string();
    let res = decide(&app, GERMANY, &body, &[("cookie", &tampered)]).await;
    let answer: Value = res.json().await.unwrap();
    assert_ne!(answer["consent_id"], id.as_str());
    assert_eq!(answer["categories"], json!([]));
    app.shutdown().await.unwrap();
}

async fn bad_and_foreign_decisions_are_refused_and_store_nothing(backend: Backend) {
    let app = app(backend, |c| c.consent.per_client_per_minute = 12).await;
    let (_, r) = rule(&app, GERMANY, None).await;
    let revision = r["revision"].as_str().unwrap().to_owned();
    let ok = json!({"action": "accept_all", "revision": revision, "banner": BANNER}).to_string();
    let bad = |body: String, headers: Vec<(&'static str, &'static str)>, status, field| Bad {
        body,
        headers,
        status,
        field,
    };
    let cases = [
        bad("not json".into(), vec![], StatusCode::BAD_REQUEST, Some("body")),
        bad(
            json!({"revision": revision, "banner": BANNER}).to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            Some("action"),
        ),
        bad(
            json!({"action": "save", "categories": ["necessary"], "revision": revision, "banner": BANNER})
                .to_string(),
            vec![],
            StatusCode::BAD_REQUEST,
            Some("categories"),
        ),
        bad(
            json!({"action": "accept_all", "revision": "0000000000000000", "banner": BANNER})
                .to_string(),
            vec![],
            StatusCode::CONFLICT,
            Some("revision"),
        ),
        bad(
            json!({"action": "accept_all", "revision": revision, "banner": "x".repeat(3000)})
                .to_string(),
            vec![],
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("body"),
        ),
        bad(
            ok.clone(),
            vec![("origin", "https://attacker.example")],
            StatusCode::FORBIDDEN,
            None,
        ),
        bad(ok.clone(), vec![("origin", "null")], StatusCode::FORBIDDEN, None),
        bad(ok.clone(), vec![("origin", "-")], StatusCode::FORBIDDEN, None),
        bad(
            json!({"action": "accept_all", "revision": revision, "banner": "legal-approved-v9"})
                .to_string(),
            vec![],
            StatusCode::CONFLICT,
            Some("banner"),
        ),
    ];
    for case in &cases {
        let res = decide(&app, GERMANY, &case.body, &case.headers).await;
        assert_eq!(
            res.status(),
            case.status,
            "{:.80} {:?}",
            case.body,
            case.headers
        );
        assert!(res.headers().get("set-cookie").is_none());
        let answer: Value = res.json().await.unwrap();
        if let Some(field) = case.field {
            assert_eq!(answer["field"], field, "{answer}");
        } else {
            assert_eq!(answer["error"], "origin_not_allowed", "{answer}");
        }
    }
    assert_eq!(proof_rows(&app).await, Vec::<Value>::new());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for (reason, n) in [
        ("invalid", 3),
        ("stale_revision", 1),
        ("too_large", 1),
        ("origin_not_allowed", 3),
        ("stale_banner", 1),
    ] {
        let line = format!("leadsment_consent_refused_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // The client's budget (12 a minute, the refusals above counted but the origin ones),
    // then 429 with Retry-After; another client is not held up.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(decide(&app, GERMANY, &ok, &[]).await.status());
    }
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    let last = decide(&app, GERMANY, &ok, &[]).await;
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(last.headers().get("retry-after").is_some());
    assert_eq!(
        decide(&app, UNITED_STATES, &ok, &[]).await.status(),
        StatusCode::OK
    );
    app.shutdown().await.unwrap();
}

async fn visitors_outside_the_zone_get_the_configured_rule(backend: Backend) {
    for (mode, expected) in [
        (Mode::Notice, "notice"),
        (Mode::None, "none"),
        (Mode::OptIn, "opt_in"),
    ] {
        let app = app(backend, |c| c.consent.outside_zone = mode).await;
        let (_, us) = rule(&app, UNITED_STATES, None).await;
        assert_eq!(us["mode"], expected, "{us}");
        assert_eq!(us["zone"], false);
        assert_eq!(us["ask"], mode != Mode::None);
        // Germany is always opt-in; an address the index does not know counts as inside.
        let (_, de) = rule(&app, GERMANY, None).await;
        assert_eq!(
            (de["mode"].as_str(), de["zone"].as_bool()),
            (Some("opt_in"), Some(true))
        );
        let (_, unknown) = rule(&app, "192.0.2.77", None).await;
        assert_eq!(unknown["mode"], "opt_in");
        app.shutdown().await.unwrap();
    }
}

/// The cookie policy lists the registry's cookies by category with its "Last updated" date,
/// and public pages without a form set no cookie at all; a page with a form sets only the
/// CSRF cookie.
async fn the_cookie_policy_lists_the_registry_and_formless_pages_set_nothing(backend: Backend) {
    let app = app(backend, |_| {}).await;
    let res = app.get("/legal/cookies").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("set-cookie").is_none(),
        "{:?}",
        res.headers()
    );
    let html = res.text().await.unwrap();
    let (_, r) = rule(&app, GERMANY, None).await;
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    assert!(
        html.contains(&format!("Last updated: <time datetime=\"{today}\">")),
        "{html}"
    );
    assert!(html.contains(r["revision"].as_str().unwrap()));
    let necessary =
        &html[html.find("id=\"necessary\"").unwrap()..html.find("id=\"analytics\"").unwrap()];
    for name in [
        "sb-access-token",
        "sb-refresh-token",
        "__Host-csrf",
        "lm_consent",
    ] {
        assert!(
            necessary.contains(&format!("<code>{name}</code>")),
            "{name}"
        );
    }
    assert!(
        html.contains("href=\"/legal/cookies#cookie-settings\""),
        "the footer's Cookie Settings"
    );
    let home = app.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(
        home.headers().get("set-cookie").is_none(),
        "{:?}",
        home.headers()
    );
    let form = app.get("/auth/sign-in").await;
    let set: Vec<&str> = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].starts_with("__Host-csrf="), "{set:?}");

    // The same registry as JSON, in its documented schema, with the page's revision and date.
    let res = app.get("/legal/cookies.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_none());
    let doc: leadsment::registry::RegistryDocument = res.json().await.unwrap();
    assert_eq!(doc.schema, "leadsment-cookie-registry/1");
    assert_eq!(doc.revision, r["revision"].as_str().unwrap());
    assert_eq!(doc.updated, today);
    assert!(doc.policy.ends_with("/legal/cookies"), "{}", doc.policy);
    let appears: Vec<(&str, &str)> = doc
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.appears.as_str()))
        .collect();
    for (name, where_) in [
        ("sb-access-token", "signed_in_pages"),
        ("sb-refresh-token", "signed_in_pages"),
        ("__Host-csrf", "public_pages"),
        ("lm_consent", "public_pages"),
    ] {
        assert!(appears.contains(&(name, where_)), "{name}: {appears:?}");
    }
    let listed: Vec<&str> = html
        .split("<code>")
        .skip(1)
        .filter_map(|c| c.split('<').next())
        .collect();
    for e in &doc.entries {
        assert!(
            listed.contains(&e.name.as_str()),
            "{} is on the page too",
            e.name
        );
    }
    app.shutdown().await.unwrap();
}
