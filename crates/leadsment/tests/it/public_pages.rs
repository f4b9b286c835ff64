//! The instance's public site, on both backends: the landing, pricing and how-it-works pages
//! from the operator's Markdown files (raw HTML in them shown as text), the setting that turns
//! them off, no cookie on any of them, and the platform workspace that counts their visits.

use std::time::{Duration, Instant};

use leadsment::accounts::sites::{Hostname, Site};
use leadsment::auth::store::NewUser;
use leadsment::config::Config;
use leadsment::server::Server;
use leadsment::store::Db;
use reqwest::StatusCode;
use serde_json::json;

use crate::accounts::{PW, make_user, pw_hash};
use crate::chromium::TestBrowser;
use crate::client::Client;
use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::{CHROME, export_all, post};

on_both_backends!(
    pages_come_from_the_operators_markdown_and_raw_html_stays_text,
    marketing_pages_off_leaves_a_plain_landing_and_404s,
    public_pages_set_no_cookie_and_carry_the_nav_footer_and_tag,
    start_up_creates_the_platform_workspace_once_and_admins_open_it,
    the_platform_site_accepts_the_pages_own_pageviews,
    a_browser_loading_the_landing_page_records_a_pageview,
);

fn write_page(config: &Config, file: &str, content: &[u8]) {
    let dir = config.data_dir.join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), content).unwrap();
}

/// A public URL on `localhost`, the port filled in when the server binds.
fn on_localhost(c: &mut Config) {
    c.web.public_url = "http://localhost:0".parse().unwrap();
}

async fn text(app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = app.get(path).await;
    (res.status(), res.text().await.unwrap())
}

async fn pages_come_from_the_operators_markdown_and_raw_html_stays_text(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        write_page(
            c,
            "pricing.md",
            b"# Plans for teams\n\nCall us.\n\n<script>alert('pricing')</script>\n\n\
              Inline <script src=\"https://evil.example/x.js\"></script> and \
              [a link](javascript:alert(1)).\n",
        );
        // Not UTF-8: a warning, and the built-in page.
        write_page(c, "how-it-works.md", &[0xff, 0xfe, b'#', b' ', b'x']);
    })
    .await;

    let (status, html) = text(&app, "/pricing").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Plans for teams</h1>"), "{html}");
    assert!(
        html.contains("<title>Plans for teams · Leadsment</title>"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<script src=\"https://evil"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert("),
        "shown as text: {html}"
    );

    let (status, html) = text(&app, "/how-it-works").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<h1>How it works</h1>"),
        "the default: {html}"
    );

    // The landing page's default, with the snippet of this instance.
    let (_, html) = text(&app, "/").await;
    assert!(
        html.contains("See which companies visit your website"),
        "{html}"
    );
    assert!(
        html.contains(&format!("http://{}/js/t.js", app.addr)),
        "{html}"
    );

    // An edit shows on the next request, without a restart.
    write_page(&app.db.config(), "pricing.md", b"# New plans\n\nText.\n");
    let (_, html) = text(&app, "/pricing").await;
    assert!(html.contains("<h1>New plans</h1>"), "{html}");
    write_page(
        &app.db.config(),
        "home.md",
        b"# Welcome to Example Corp's Leadsment\n",
    );
    let (_, html) = text(&app, "/").await;
    assert!(
        html.contains("<title>Leadsment: Welcome to Example Corp&#39;s Leadsment</title>")
            || html.contains("<title>Leadsment: Welcome to Example Corp&#x27;s Leadsment</title>"),
        "{html}"
    );
    app.shutdown().await.unwrap();
}

async fn marketing_pages_off_leaves_a_plain_landing_and_404s(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.site.marketing_pages = false;
        write_page(c, "pricing.md", b"# Plans\n");
    })
    .await;
    for path in ["/pricing", "/how-it-works"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (status, html) = text(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/auth/sign-in\""), "{html}");
    assert!(!html.contains("href=\"/pricing\""), "{html}");
    assert!(!html.contains("See which companies visit"), "{html}");
    assert!(
        html.contains("href=\"/legal/cookies#cookie-settings\""),
        "{html}"
    );
    assert_eq!(app.get("/legal/cookies").await.status(), StatusCode::OK);
    app.shutdown().await.unwrap();
}

async fn public_pages_set_no_cookie_and_carry_the_nav_footer_and_tag(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        on_localhost(c);
        c.site.tracking_allow_automated_browsers = true;
    })
    .await;
    for path in ["/", "/pricing", "/how-it-works"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{path}: {:?}",
            res.headers()
        );
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let html = res.text().await.unwrap();
        for link in [
            "/pricing",
            "/how-it-works",
            "/auth/sign-in",
            "/legal/cookies",
        ] {
            assert!(html.contains(&format!("href=\"{link}")), "{path}: {link}");
        }
        assert!(html.contains("data-cookie-settings"), "{path}");
        let tag = html
            .split("<script defer data-domain=\"localhost\" src=\"/js/t.js\" nonce=\"")
            .nth(1)
            .unwrap_or_else(|| panic!("{path} has no tracking tag: {html}"));
        let nonce = tag.split('"').next().unwrap();
        assert!(csp.contains(&format!("'nonce-{nonce}'")), "{path}: {csp}");
        let tag = tag.split('>').next().unwrap();
        assert!(tag.contains("data-allow-localhost"), "{tag}");
        assert!(tag.contains("data-allow-automated"), "{tag}");
    }
    // The signed-in application and the forms are not counted.
    for path in ["/auth/sign-in", "/auth/sign-up"] {
        let (_, html) = text(&app, path).await;
        assert!(!html.contains("/js/t.js\" nonce"), "{path}");
    }
    app.shutdown().await.unwrap();

    // Without the test setting and on a real host, neither flag.
    let app = TestApp::spawn_with(backend, |c| {
        c.web.public_url = "https://stats.example.org".parse().unwrap();
    })
    .await;
    let (_, html) = text(&app, "/").await;
    let tag = html
        .split("<script defer data-domain=\"stats.example.org\" src=\"/js/t.js\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no tag: {html}"));
    let tag = tag.split('>').next().unwrap();
    assert!(!tag.contains("data-allow"), "{tag}");
    app.shutdown().await.unwrap();
}

/// The platform workspace's sites, oldest first.
async fn platform_sites(store: &Db) -> Vec<Site> {
    let ws = leadsment::accounts::store::platform_workspace(store)
        .await
        .unwrap()
        .expect("the platform workspace exists");
    let mut sites = leadsment::accounts::store::workspace_sites(store, ws.id)
        .await
        .unwrap();
    sites.sort_by_key(|s| s.id);
    sites
}

async fn count_platform_workspaces(store: &Db) -> i64 {
    store
        .value(leadsment::store::sql(
            "SELECT COUNT(*) FROM workspaces WHERE is_platform = TRUE",
        ))
        .await
        .unwrap()
}

/// Binds and runs a server on `db` with `public_url` until it has started, then stops it.
async fn start_and_stop(db: &TestDb, public_url: &str) {
    let mut config = db.config();
    config.web.public_url = public_url.parse().unwrap();
    let server = Server::bind(config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

async fn start_up_creates_the_platform_workspace_once_and_admins_open_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    start_and_stop(&db, "https://stats.example.org").await;
    start_and_stop(&db, "https://stats.example.org:8443").await;
    let store = db.store().await;
    assert_eq!(count_platform_workspaces(&store).await, 1);
    let sites = platform_sites(&store).await;
    assert_eq!(sites.len(), 1, "{sites:?}");
    assert_eq!(sites[0].domain.as_str(), "stats.example.org");

    // Two nodes starting at once: still one workspace and one site per host.
    let host = Hostname::parse("new.example.org").unwrap();
    let (a, b) = tokio::join!(
        leadsment::accounts::platform::ensure_site(&store, &host),
        leadsment::accounts::platform::ensure_site(&store, &host),
    );
    assert_eq!(a.unwrap().site.id, b.unwrap().site.id);
    assert_eq!(count_platform_workspaces(&store).await, 1);

    // A new public host gets its own site; the old one stays.
    start_and_stop(&db, "https://other.example.org").await;
    let domains: Vec<String> = platform_sites(&store)
        .await
        .iter()
        .map(|s| s.domain.to_string())
        .collect();
    assert_eq!(
        domains,
        ["stats.example.org", "new.example.org", "other.example.org"]
    );
    // The command line's `site add` without a workspace still goes to the default one.
    let ws = leadsment::accounts::workspace_for_new_site(&store, None)
        .await
        .unwrap();
    assert_eq!(ws.name, leadsment::accounts::DEFAULT_WORKSPACE_NAME);

    // A platform administrator who is no member opens it; anyone else gets 404.
    let mut config = db.config();
    config.web.public_url = "https://stats.example.org".parse().unwrap();
    let server = Server::bind(config).await.unwrap();
    let app = TestApp::start(db, server, None).await;
    let admin = leadsment::auth::store::create_user(
        &store,
        &NewUser {
            email: "admin@example.com".to_owned(),
            name: "Admin".to_owned(),
            password_hash: Some(pw_hash().await),
            email_verified: true,
            is_platform_admin: true,
        },
    )
    .await
    .unwrap();
    make_user(&store, "someone@example.com", Some("Someone")).await;
    let platform = leadsment::accounts::store::platform_workspace(&store)
        .await
        .unwrap()
        .unwrap();
    let c = Client::new(&app);
    c.sign_in(&admin.email, PW, false).await;
    let list = c.get("/workspaces").await;
    assert!(
        list.body
            .contains(&format!("href=\"/w/{}\"", platform.id.0)),
        "{}",
        list.body
    );
    let overview = c.get(&format!("/w/{}", platform.id.0)).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert!(
        overview.body.contains("stats.example.org"),
        "{}",
        overview.body
    );

    let other = Client::new(&app);
    other.sign_in("someone@example.com", PW, false).await;
    let refused = other.get(&format!("/w/{}", platform.id.0)).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    store.close().await;
    app.shutdown().await.unwrap();
}

async fn the_platform_site_accepts_the_pages_own_pageviews(backend: Backend) {
    let app = TestApp::spawn_with(backend, on_localhost).await;
    let store = app.db.store().await;
    let site = platform_sites(&store).await.remove(0);
    assert_eq!(site.domain.as_str(), "localhost");
    let url = format!("http://localhost:{}/pricing", app.addr.port());
    let event = json!({"name": "pageview", "url": url, "domain": "localhost", "referrer": ""});
    let res = post(&app, &event, CHROME, None).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(10);
    while export_all(&app, &site).await.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = export_all(&app, &site).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["path"], "/pricing");
    store.close().await;
    app.shutdown().await.unwrap();
}

async fn a_browser_loading_the_landing_page_records_a_pageview(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        on_localhost(c);
        c.site.tracking_allow_automated_browsers = true;
    })
    .await;
    let store = app.db.store().await;
    let site = platform_sites(&store).await.remove(0);
    let browser = TestBrowser::launch().await;
    let page = browser
        .browser
        .new_page(format!("http://localhost:{}/", app.addr.port()))
        .await
        .unwrap();
    page.wait_for_navigation().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut events = Vec::new();
    while events.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        events = export_all(&app, &site).await;
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["name"], "pageview");
    assert_eq!(events[0]["path"], "/");
    let cookies = page
        .evaluate("document.cookie")
        .await
        .unwrap()
        .into_value::<String>()
        .unwrap();
    assert_eq!(cookies, "", "the landing page sets no cookie");
    browser.close().await;
    store.close().await;
    app.shutdown().await.unwrap();
}
