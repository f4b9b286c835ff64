//! t.js in a real headless Chromium (Debian's `chromium`, driven over CDP): a page on a local
//! test site loads it, navigates, clicks; the server stores each event; and afterwards the
//! browser holds no cookie and no storage entry for either origin.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::response::Html;
use axum::routing::get;
use chromiumoxide::page::Page;
use serde_json::Value;

use crate::chromium::TestBrowser;
use crate::on_both_backends;
use crate::support::{Backend, TestApp};
use crate::tracking::{add_site, export_all};

/// The customer's website: pages that carry the snippet, served on `localhost`.
async fn customer_site(app: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page = move |Path(variant): Path<String>| async move {
        let extra = match variant.as_str() {
            "consent" => "data-require-consent",
            "quiet" => "",
            _ => "data-allow-automated",
        };
        let automated = if variant == "quiet" {
            ""
        } else {
            "data-allow-automated"
        };
        Html(format!(
            r#"<!doctype html><html><head><title>Acme</title>
<script>window.leadsment=window.leadsment||function(){{(window.leadsment.q=window.leadsment.q||[]).push(arguments)}};
leadsment('Early', {{props: {{queued: 'yes'}}}});</script>
<script defer data-domain="localhost" data-allow-localhost {automated} {extra}
  src="http://localhost:{app_port}/js/t.js"></script></head>
<body><h1>Acme</h1>
<button id="spa" onclick="history.pushState({{}}, '', '/pricing')">Pricing</button>
<a id="out" href="http://127.0.0.1:{site_port}/elsewhere">Partner</a>
<a id="pdf" href="/files/brochure.pdf" download>Brochure</a>
</body></html>"#,
            app_port = app.port(),
            site_port = addr.port(),
        ))
    };
    let router = Router::new()
        .route("/page/{variant}", get(page))
        .route("/elsewhere", get(|| async { Html("<p>elsewhere</p>") }))
        .route("/files/brochure.pdf", get(|| async { "%PDF-1.4" }));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, task)
}

/// Waits until the store holds `n` events (the browser sends them asynchronously).
async fn wait_for(app: &TestApp, site: &leadsment::accounts::sites::Site, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = export_all(app, site).await;
        if events.len() >= n || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sorted_names(events: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = events
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

fn named<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {events:#?}"))
}

async fn eval(page: &Page, js: &str) -> Value {
    page.evaluate(js)
        .await
        .unwrap()
        .into_value()
        .unwrap_or(Value::Null)
}

/// Cookies and every kind of storage the page's origin has.
async fn storage_of(page: &Page) -> Value {
    eval(
        page,
        "(async () => ({ cookie: document.cookie, local: localStorage.length, \
         session: sessionStorage.length, idb: (await indexedDB.databases()).length }))()",
    )
    .await
}

on_both_backends!(the_tracker_reports_navigation_and_clicks_and_stores_nothing_in_the_browser);

async fn the_tracker_reports_navigation_and_clicks_and_stores_nothing_in_the_browser(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let site = add_site(&app, "localhost", &[]).await;
    let (customer, customer_task) = customer_site(app.addr).await;
    let browser = TestBrowser::launch().await;
    let page = browser
        .browser
        .new_page(format!("http://localhost:{}/page/normal", customer.port()))
        .await
        .unwrap();
    page.wait_for_navigation().await.unwrap();

    // The pageview, and the custom event queued before the script loaded.
    // They travel in parallel, so their order at the server is not fixed.
    let events = wait_for(&app, &site, 2).await;
    assert_eq!(sorted_names(&events), ["Early", "pageview"], "{events:#?}");
    let first = named(&events, "pageview");
    assert_eq!(first["path"], "/page/normal");
    assert_eq!(first["browser"], "Chrome");
    assert_eq!(named(&events, "Early")["props"], r#"{"queued":"yes"}"#);

    // A single-page navigation: the time spent on the first page, then the new page.
    page.find_element("#spa")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let events = wait_for(&app, &site, 4).await;
    let pricing = events
        .iter()
        .find(|e| e["name"] == "pageview" && e["path"] == "/pricing");
    assert!(pricing.is_some(), "{events:#?}");
    let engaged = named(&events, "engagement");
    assert_eq!(engaged["path"], "/page/normal");
    assert!(engaged["engaged_ms"].as_i64().unwrap() > 0, "{engaged}");

    // A custom event, a download, an outbound link.
    eval(&page, "leadsment('Signup', {props: {plan: 'pro'}}); 1").await;
    let events = wait_for(&app, &site, 5).await;
    assert_eq!(named(&events, "Signup")["props"], r#"{"plan":"pro"}"#);
    page.find_element("#pdf")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let events = wait_for(&app, &site, 6).await;
    assert!(
        named(&events, "File Download")["props"]
            .as_str()
            .unwrap()
            .contains("/files/brochure.pdf")
    );
    page.find_element("#out")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let events = wait_for(&app, &site, 7).await;
    assert!(
        named(&events, "Outbound Link: Click")["props"]
            .as_str()
            .unwrap()
            .contains("/elsewhere")
    );
    let session = &events[0]["visit_id"];
    assert!(
        events.iter().all(|e| &e["visit_id"] == session),
        "one visit: {events:#?}"
    );

    // Nothing kept in the browser, for the customer's origin or for Leadsment's.
    let cookies = browser.browser.get_cookies().await.unwrap();
    assert!(cookies.is_empty(), "cookies: {cookies:?}");
    for url in [
        format!("http://localhost:{}/page/quiet", customer.port()),
        format!("http://localhost:{}/healthz", app.addr.port()),
    ] {
        page.goto(url.as_str()).await.unwrap();
        page.wait_for_navigation().await.unwrap();
        let s = storage_of(&page).await;
        assert_eq!(s["cookie"], "", "{url}: {s}");
        assert_eq!(s["local"], 0, "{url}: {s}");
        assert_eq!(s["session"], 0, "{url}: {s}");
        assert_eq!(s["idb"], 0, "{url}: {s}");
    }
    browser.close().await;
    customer_task.abort();
    app.shutdown().await.unwrap();
}

on_both_backends!(the_tracker_stays_silent_for_automation_and_until_consent);

async fn the_tracker_stays_silent_for_automation_and_until_consent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let site = add_site(&app, "localhost", &[]).await;
    let (customer, customer_task) = customer_site(app.addr).await;
    let browser = TestBrowser::launch().await;

    // An automated browser (navigator.webdriver) is not counted unless the tag allows it.
    let page = browser
        .browser
        .new_page(format!("http://localhost:{}/page/quiet", customer.port()))
        .await
        .unwrap();
    page.wait_for_navigation().await.unwrap();
    assert_eq!(eval(&page, "navigator.webdriver").await, Value::Bool(true));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(export_all(&app, &site).await.is_empty());

    // A site that requires consent: nothing until the consent manager says so.
    page.goto(format!("http://localhost:{}/page/consent", customer.port()).as_str())
        .await
        .unwrap();
    page.wait_for_navigation().await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(export_all(&app, &site).await.is_empty());
    eval(&page, "leadsment('consent'); 1").await;
    let events = wait_for(&app, &site, 2).await;
    assert_eq!(sorted_names(&events), ["Early", "pageview"]);

    browser.close().await;
    customer_task.abort();
    app.shutdown().await.unwrap();
}
