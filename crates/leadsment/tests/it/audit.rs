//! `leadsment audit` against the instance's own public site with every tag type switched on
//! (tag hosts answered by a local stand-in through the audit's request interception, each
//! setting exactly the keys its tag declares), against a small site of the test's own with a
//! Cookiebot-like banner, and against bad addresses, each within a bounded time.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use leadsment::audit::{self, Finding, Options, Report};

use crate::cli::leadsment;
use crate::on_both_backends;
use crate::support::{Backend, TestDb};

/// What the stand-in answers for a tag host: scripts that set their tags' declared keys,
/// as their vendors' scripts would, and nothing else.
async fn stand_in(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let js = |s: &'static str| ([(header::CONTENT_TYPE, "text/javascript")], s).into_response();
    if path.starts_with("www.googletagmanager.com/") {
        return js("document.cookie='_ga=GA1.1.7; path=/; max-age=3600';\
                   document.cookie='_ga_TEST1=GS1.1; path=/; max-age=3600';");
    }
    if path.starts_with("www.clarity.ms/") {
        return js("document.cookie='_clck=c1; path=/; max-age=3600';\
                   document.cookie='_clsk=s1; path=/; max-age=3600';");
    }
    if path.starts_with("snap.licdn.com/") {
        return js("document.cookie='li_fat_id=l1; path=/; max-age=3600';\
                   document.cookie='li_giant=g1; path=/; max-age=3600';");
    }
    if path.starts_with("cdn.tagco.example/on.js") {
        return js(
            "localStorage.setItem('tc_id','1'); localStorage.setItem('tc_seen_2','1');\
                   sessionStorage.setItem('tc_s','1');",
        );
    }
    if path.starts_with("cdn.tagco.example/sneaky.js") {
        // Declares tc_never, which it never sets, and sets tc_sneaky, which it never declared.
        return js("document.cookie='tc_sneaky=1; path=/; max-age=3600';");
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

fn kinds(report: &Report) -> Vec<String> {
    report.findings.iter().map(Finding::kind).collect()
}

async fn the_instance_passes_its_own_audit(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.store().await;
    crate::consent_browser::add_every_tag_type(&db, "").await;
    let app = crate::consent::app_on(test_db, |_| {}).await;
    let stand = serve(axum::Router::new().fallback(stand_in)).await;
    let site = format!("http://localhost:{}/", app.addr.port());
    let work = tempfile::tempdir().unwrap();

    // Through the binary, as an operator runs it, the stand-in given by the test setting.
    let started = Instant::now();
    let out = leadsment(work.path())
        .args([
            "audit",
            &site,
            "--json",
            "audit.json",
            "--html",
            "audit.html",
        ])
        .args(["--data-dir", work.path().to_str().unwrap()])
        .env("LEADSMENT_AUDIT_TAG_STAND_IN", format!("http://{stand}/"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("No findings."), "{stdout}");
    // Nothing but the report: no warning of the CDP client about events it has no type for.
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(300));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("audit.json")).unwrap())
            .unwrap();
    assert_eq!(json["schema"], "leadsment-audit/1");
    assert_eq!(json["findings"], serde_json::json!([]), "{json:#}");
    assert_eq!(json["banner"]["kind"], "leadsment");
    let phases: Vec<&str> = json["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["fresh", "rejected", "accepted", "withdrawn"]);
    // Every tag ran after Accept: their keys were seen, and their hosts were reached.
    let accepted = &json["phases"][2]["pages"];
    let text = accepted.to_string();
    for key in [
        "_ga_TEST1",
        "_clsk",
        "li_giant",
        "tc_seen_2",
        "tc_s",
        "lm_consent",
    ] {
        assert!(text.contains(&format!("\"{key}\"")), "{key} in {text}");
    }
    for host in [
        "googletagmanager.com",
        "clarity.ms",
        "licdn.com",
        "px.adtarget.example",
        "tagco.example",
    ] {
        assert!(text.contains(host), "{host}");
    }
    let cookie = &accepted[0]["cookies"].as_array().unwrap()[0];
    for field in [
        "name",
        "domain",
        "path",
        "secure",
        "http_only",
        "same_site",
        "expires",
    ] {
        assert!(cookie.get(field).is_some(), "{field} in {cookie}");
    }
    let html = std::fs::read_to_string(work.path().join("audit.html")).unwrap();
    assert!(html.contains("passed: no findings"), "{html}");
    assert!(
        html.contains("src=\"data:image/png;base64,"),
        "no screenshot"
    );

    // A tag that sets a cookie it does not declare, and declares one it never sets.
    crate::consent::add_tag(
        &db,
        "custom",
        "https://cdn.tagco.example/sneaky.js",
        "",
        Some("tc_never | cookie | 1 year | first | | TagCo | Never set."),
        true,
    )
    .await;
    // The server takes the new policy in within a few seconds.
    let mut options = Options::new(&site);
    options.stand_in = Some(format!("http://{stand}/").parse().unwrap());
    let mut report = audit::run(&options).await.unwrap();
    for _ in 0..10 {
        if report.registry_entries > json["registry_entries"].as_u64().unwrap() as usize {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        report = audit::run(&options).await.unwrap();
    }
    let found: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
    assert_eq!(kinds(&report), ["undeclared", "stale_policy"], "{found:#?}");
    assert!(
        matches!(&report.findings[0], Finding::Undeclared { name, phases, .. }
            if name == "tc_sneaky" && phases.first() == Some(&audit::Phase::Accepted)),
        "{found:?}"
    );
    assert!(
        matches!(&report.findings[1], Finding::StalePolicy { name, .. } if name == "tc_never"),
        "{found:?}"
    );
    app.shutdown().await.unwrap();
}

on_both_backends!(the_instance_passes_its_own_audit);

/// A site with a Cookiebot-like banner whose buttons set `CookieConsent`; `small` makes
/// Reject a small link beside a large Accept.
fn cookiebot_site(small: bool) -> axum::Router {
    let reject_style = if small {
        "padding:1px 2px;font-size:11px"
    } else {
        "padding:12px 24px;font-size:16px;min-width:160px"
    };
    let page = move || async move {
        Html(format!(
            r##"<!doctype html><html lang="en"><head><title>Shop</title></head><body>
<main><h1>Shop</h1><a href="/about">About</a> <a href="/contact">Contact</a></main>
<footer><a href="#" onclick="Cookiebot.renew(); return false">Cookie settings</a></footer>
<div id="CybotCookiebotDialog" style="display:none;position:fixed;bottom:0;left:0;right:0;background:#fff;color:#111;padding:16px">
  <p>We use cookies.</p>
  <button id="CybotCookiebotDialogBodyButtonDecline" style="{reject_style};color:#fff;background:#1d4ed8;border:0">Decline</button>
  <button id="CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll" style="padding:12px 24px;font-size:16px;min-width:160px;color:#fff;background:#1d4ed8;border:0">Allow all</button>
</div>
<script>
  const box = document.getElementById('CybotCookiebotDialog');
  const choose = v => {{ document.cookie = 'CookieConsent=' + v + '; path=/; max-age=3600'; box.style.display = 'none'; }};
  window.Cookiebot = {{ renew: () => {{ box.style.display = 'block'; }} }};
  document.getElementById('CybotCookiebotDialogBodyButtonDecline').onclick = () => choose('no');
  document.getElementById('CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll').onclick = () => choose('yes');
  if (!document.cookie.includes('CookieConsent=')) box.style.display = 'block';
</script></body></html>"##
        ))
    };
    axum::Router::new()
        .route("/", axum::routing::get(page))
        .route("/about", axum::routing::get(page))
        .route("/contact", axum::routing::get(page))
}

fn registry_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("cookies.json");
    let doc = serde_json::json!({
        "schema": "leadsment-cookie-registry/1",
        "policy": "https://shop.example/cookies",
        "revision": "0",
        "updated": "2026-12-01",
        "entries": [{
            "name": "CookieConsent", "storage": "cookie", "purpose": "Keeps the choice.",
            "duration": "1 hour", "party": "first", "provider": "Shop", "category": "necessary",
            "domain": "", "http_only": false, "appears": "public_pages"
        }]
    });
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_reject_fails_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_file(dir.path());
    for small in [false, true] {
        let addr = serve(cookiebot_site(small)).await;
        let mut options = Options::new(&format!("http://{addr}/"));
        options.registry = Some(registry.clone());
        let report = audit::run(&options).await.unwrap();
        let found: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
        assert_eq!(report.pages.len(), 3, "{:?}", report.pages);
        assert_eq!(report.banner.as_ref().unwrap().kind, "cookiebot");
        if small {
            assert_eq!(kinds(&report), ["reject_smaller"], "{found:#?}");
            assert!(report.text().contains("Reject is smaller than Accept"));
        } else {
            assert!(report.passed(), "{found:#?}\n{}", report.text());
        }
    }
}

/// Bad addresses: each a finding, never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_addresses_are_findings_within_the_cap() {
    let other = serve(cookiebot_site(false)).await;
    let router = axum::Router::new()
        .route(
            "/data",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "application/json")], "{}") }),
        )
        .route(
            "/away",
            axum::routing::get(move || async move { Redirect::temporary(&format!("http://localhost:{}/", other.port())) }),
        )
        .route("/loop", axum::routing::get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                Html("late")
            }),
        )
        .route(
            "/popups",
            axum::routing::get(|_: HeaderMap| async {
                Html("<!doctype html><title>x</title><script>for (let i = 0; i < 50; i++) window.open('/popups?' + i);</script>")
            }),
        );
    let addr = serve(router).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let cases = [
        (format!("http://127.0.0.1:{closed_port}/"), "unreachable"),
        (format!("http://{addr}/data"), "not_html"),
        (format!("http://{addr}/away"), "off_site_redirect"),
        (format!("http://{addr}/loop"), "unreachable"),
        (format!("http://{addr}/slow"), "page_timeout"),
        (format!("http://{addr}/popups"), "popups"),
    ];
    for (url, want) in cases {
        let started = Instant::now();
        let mut options = Options::new(&url);
        options.page_cap = Duration::from_secs(3);
        options.total_cap = Duration::from_secs(30);
        let report = audit::run(&options).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "{url} took {:?}",
            started.elapsed()
        );
        assert!(!report.passed(), "{url}");
        assert!(
            kinds(&report).contains(&want.to_owned()),
            "{url}: {:?}",
            report.findings
        );
    }

    // Through the binary: findings exit 3, and the JSON names them.
    let work = tempfile::tempdir().unwrap();
    let out = leadsment(work.path())
        .args([
            "audit",
            &format!("http://127.0.0.1:{closed_port}/"),
            "--json",
            "a.json",
        ])
        .args(["--data-dir", work.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("a.json")).unwrap())
            .unwrap();
    assert_eq!(json["findings"][0]["kind"], "unreachable", "{json:#}");
    // A bad argument is a usage error, not an audit.
    let out = leadsment(work.path())
        .args(["audit", "http://127.0.0.1/", "--pages", "51"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A site that never runs out of slow pages: the whole audit stops at its cap with a
/// `time_cap` finding and reports what it had seen, however many pages were asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_slow_site_stops_at_the_total_cap() {
    let router = axum::Router::new().route(
        "/crawl/{n}",
        axum::routing::get(
            |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Html(format!(
                    "<!doctype html><title>page {n}</title><a href=\"/crawl/{}\">next</a> \
                 <a href=\"/crawl/{}\">other</a>",
                    n + 1,
                    n + 1000
                ))
            },
        ),
    );
    let addr = serve(router).await;
    let mut options = Options::new(&format!("http://{addr}/crawl/0"));
    options.pages = 50;
    options.page_cap = Duration::from_secs(10);
    options.total_cap = Duration::from_secs(8);
    let started = Instant::now();
    let report = audit::run(&options).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        kinds(&report).contains(&"time_cap".to_owned()),
        "{:?}",
        report.findings
    );
    assert!(!report.passed());
}
