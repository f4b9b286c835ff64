//! The live view: the visits of the last 30 minutes with their latest page and organisation,
//! older ones left out; the section alone for the page's script; another workspace's site is
//! 404; in Chromium the script replaces the section and stops after repeated failures, and the
//! page is photographed at 1280 and 390 pixels.

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::page::Page;
use leadsment::accounts::sites::Site;
use leadsment::store::{Db, now_ms, sql};
use leadsment::tracking::model::{CompanyInfo, NewEvent};
use reqwest::StatusCode;

use crate::accounts::PW;
use crate::chromium::TestBrowser;
use crate::leads::{INDEX, app_with_index, owner_with_site};
use crate::on_both_backends;
use crate::screenshots::{fill, open, out_dir, shoot, submit};
use crate::support::Backend;
use crate::tracking::{event_at, ingest_fresh};

const MIN: i64 = 60_000;

fn org(name: &str, class: &str) -> CompanyInfo {
    let domain = format!("{}.example", name.to_ascii_lowercase());
    CompanyInfo {
        key: format!("domain:{domain}"),
        name: name.into(),
        org: None,
        domain: Some(domain),
        asn: None,
        country: Some("DE".into()),
        class: class.into(),
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
    if let Some(c) = company {
        e.class = c.class.clone();
        e.company = Some(c);
    }
    e
}

/// Visits around the 30-minute edge: what is in it must show, what is older must not.
async fn write_visits(store: &Db, site: &Site, now: i64) {
    let acme = || Some(org("Acme", "business"));
    ingest_fresh(
        store,
        vec![
            // Acme: one visitor now on /pricing; another last seen 45 minutes ago.
            ev(site, now - 20 * MIN, 1, "pageview", "/", acme()),
            ev(
                site,
                now - 2 * MIN - 5_000,
                1,
                "pageview",
                "/pricing",
                acme(),
            ),
            ev(site, now - 45 * MIN, 2, "pageview", "/old-acme", acme()),
            // Globex: only 50 minutes ago.
            ev(
                site,
                now - 50 * MIN,
                3,
                "pageview",
                "/globex-old",
                Some(org("Globex", "business")),
            ),
            // A university, a minute ago: the most recent organisation.
            ev(
                site,
                now - MIN - 5_000,
                4,
                "pageview",
                "/research",
                Some(org("Uniwien", "education")),
            ),
            // A home line and an unknown network.
            ev(
                site,
                now - 5 * MIN,
                5,
                "pageview",
                "/from-home",
                Some(org("Telekabel", "isp")),
            ),
            ev(site, now - 3 * MIN, 6, "pageview", "/nobody-knows", None),
            // A long read: the page opened 35 minutes ago, engagement 15 minutes ago.
            ev(
                site,
                now - 35 * MIN,
                7,
                "pageview",
                "/long-read",
                Some(org("Initech", "business")),
            ),
            ev(
                site,
                now - 15 * MIN,
                7,
                "engagement",
                "/long-read",
                Some(org("Initech", "business")),
            ),
        ],
    )
    .await;
}

on_both_backends!(
    the_live_view_shows_the_last_30_minutes_and_nothing_of_other_tenants,
    the_script_replaces_the_section_and_stops_after_failures,
);

async fn the_live_view_shows_the_last_30_minutes_and_nothing_of_other_tenants(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let (_, other_site, other) =
        owner_with_site(&app, "other@initech.example", "other.example").await;
    let store = app.db.store().await;
    store
        .write(sql("UPDATE sites SET time_zone = 'Asia/Kolkata' WHERE id = $1").bind(site.id.0))
        .await
        .unwrap();
    let now = now_ms();
    write_visits(&store, &site, now).await;
    store.close().await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);

    let res = owner.get(&format!("{base}/live")).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let body = &res.body;
    for text in [
        "<section id=\"live\"",
        ">Acme</a>",
        "/pricing",
        "2 min ago",
        ">Uniwien</a>",
        "Education",
        "Home and mobile lines",
        "/from-home",
        "Unknown networks",
        "/nobody-knows",
        ">Initech</a>",
        "/long-read",
        "15 min ago",
        "(Asia/Kolkata)",
        &format!("href=\"{base}/live\">Refresh</a>"),
        "<script nonce=\"",
    ] {
        assert!(body.contains(text), "the live view lacks {text}:\n{body}");
    }
    for text in ["Globex", "/old-acme", "/globex-old"] {
        assert!(
            !body.contains(text),
            "the live view shows {text}, older than 30 minutes"
        );
    }
    // Acme's visitor last seen 45 minutes ago is not counted.
    let acme = &body[body.find(">Acme</a>").unwrap()..];
    assert!(
        acme.contains("data-label=\"Visitors\" class=\"num\">1<"),
        "{acme}"
    );
    // Newest activity first: the university, Acme, Initech; then the lines.
    let at = |t: &str| body.find(t).unwrap();
    assert!(at(">Uniwien<") < at(">Acme<") && at(">Acme<") < at(">Initech<"));
    assert!(at(">Initech<") < at("Home and mobile lines"));
    assert!(at("Home and mobile lines") < at("Unknown networks"));
    // Times in the site's zone.
    let seen = jiff::Timestamp::from_millisecond(now - 2 * MIN - 5_000)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Kolkata").unwrap())
        .strftime("%H:%M:%S")
        .to_string();
    assert!(
        body.contains(&seen),
        "no {seen} in the site's zone:\n{body}"
    );

    // The fragment: the section alone.
    let frag = owner.get(&format!("{base}/live?fragment=1")).await;
    assert_eq!(frag.status, StatusCode::OK, "{}", frag.body);
    let f = frag.body.trim();
    assert!(
        f.starts_with("<section id=\"live\"") && f.ends_with("</section>"),
        "{f}"
    );
    assert!(
        f.contains("/pricing") && !f.contains("<html") && !f.contains("<nav"),
        "{f}"
    );

    // Linked from the site's navigation and overview.
    let overview = owner.get(&base).await;
    assert!(
        overview.body.contains(&format!("href=\"{base}/live\"")),
        "{}",
        overview.body
    );

    // A company the workspace hides is not listed here either; unhidden, it is back.
    let store = app.db.store().await;
    use leadsment::leads::exclusions::Kind;
    use leadsment::leads::store::exclusions as ex;
    ex::add_exclusion(&store, ws, Kind::Organisation, "Acme", None, 200)
        .await
        .unwrap();
    let hidden = owner.get(&format!("{base}/live?fragment=1")).await;
    assert!(!hidden.body.contains(">Acme</a>"), "{}", hidden.body);
    assert!(hidden.body.contains(">Uniwien</a>"), "{}", hidden.body);
    let id = ex::exclusions(&store, ws).await.unwrap()[0].id;
    ex::remove_exclusion(&store, ws, id).await.unwrap();
    let back = owner.get(&format!("{base}/live?fragment=1")).await;
    assert!(back.body.contains(">Acme</a>"), "{}", back.body);
    store.close().await;

    // Another workspace's member: 404, page and fragment alike.
    for path in [format!("{base}/live"), format!("{base}/live?fragment=1")] {
        let res = other.get(&path).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}: {}", res.body);
        assert!(!res.body.contains("/pricing") && !res.body.contains("Uniwien"));
    }
    // A site with nothing in 30 minutes says so.
    let empty = other
        .get(&format!(
            "/w/{}/sites/{}/live",
            other_site.workspace_id.0, other_site.id.0
        ))
        .await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(
        empty
            .body
            .contains("Nobody has been on other.example in the last 30 minutes"),
        "{}",
        empty.body
    );
    app.shutdown().await.unwrap();
}

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js).await.unwrap().into_value::<T>().unwrap()
}

async fn the_script_replaces_the_section_and_stops_after_failures(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, _) = owner_with_site(&app, "owner@acme.example", "shop.example").await;
    let store = app.db.store().await;
    write_visits(&store, &site, now_ms()).await;

    let base = format!("http://localhost:{}", app.addr.port());
    let live = format!("{base}/w/{}/sites/{}/live", ws.0, site.id.0);
    let dir = out_dir(backend);
    let browser = TestBrowser::launch().await;
    let page = browser.browser.new_page("about:blank").await.unwrap();
    open(&page, &format!("{base}/auth/sign-in")).await;
    fill(&page, "#f-email", "owner@acme.example").await;
    fill(&page, "#f-password", PW).await;
    submit(&page, "button[type=submit]").await;

    shoot(
        &dir,
        &page,
        &live,
        "leads-live",
        200,
        "Home and mobile lines",
    )
    .await;
    let quiet = leadsment::accounts::store::create_site(
        &store,
        &leadsment::accounts::sites::NewSite::new(ws, "quiet.example", &[]).unwrap(),
    )
    .await
    .unwrap();
    shoot(
        &dir,
        &page,
        &format!("{base}/w/{}/sites/{}/live", ws.0, quiet.id.0),
        "leads-live-empty",
        200,
        "Nobody has been on quiet.example in the last 30 minutes",
    )
    .await;
    // At 390 pixels rows are cards and nothing scrolls sideways (the screenshot resets the
    // width: set it again).
    page.execute(SetDeviceMetricsOverrideParams::new(390, 844, 1.0, true))
        .await
        .unwrap();
    open(&page, &live).await;
    let mut card = String::new();
    for _ in 0..50 {
        card = eval(&page, "document.readyState === 'complete' ? getComputedStyle(document.querySelector('table.live-table tbody tr')).display : 'loading'").await;
        if card != "loading" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(card, "grid");
    let fits: bool = eval(
        &page,
        "document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await;
    assert!(fits, "the live view scrolls sideways at 390 pixels");

    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
        .await
        .unwrap();
    open(&page, &live).await;
    let before: String = eval(&page, "document.getElementById('live').innerHTML").await;
    assert!(!before.contains("Hooli"), "{before}");
    // Someone new arrives; the script's refresh brings them in without reloading the page.
    ingest_fresh(
        &store,
        vec![ev(
            &site,
            now_ms(),
            9,
            "pageview",
            "/just-arrived",
            Some(org("Hooli", "business")),
        )],
    )
    .await;
    store.close().await;
    eval::<serde_json::Value>(
        &page,
        "window.__marker = 1; window.leadsmentLive.refresh().then(() => true)",
    )
    .await;
    let after: String = eval(&page, "document.getElementById('live').innerHTML").await;
    assert!(
        after.contains(">Hooli</a>") && after.contains("/just-arrived"),
        "{after}"
    );
    let shape: (i64, i64) = eval(
        &page,
        "[document.querySelectorAll('#live').length, window.__marker]",
    )
    .await;
    assert_eq!(shape, (1, 1), "one section, the same page");

    // What the timer runs fetches nothing while the tab is hidden.
    let fetched: (i64, i64) = eval(
        &page,
        "(async () => { const real = window.fetch; let n = 0;
           window.fetch = (...a) => { n += 1; return real(...a); };
           Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
           await window.leadsmentLive.tick(); const hidden = n;
           Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
           await window.leadsmentLive.tick();
           window.fetch = real; return [hidden, n]; })()",
    )
    .await;
    assert_eq!(fetched, (0, 1), "fetches while hidden, then shown");

    // Three failed fetches stop the refreshing and say so; the list stays as it was.
    let stopped: (bool, i64, bool) = eval(
        &page,
        "(async () => { window.fetch = () => Promise.reject(new Error('offline'));
           for (let i = 0; i < 4; i++) await window.leadsmentLive.refresh();
           return [document.getElementById('live-stopped').hidden, window.leadsmentLive.failures(),
                   document.getElementById('live').innerHTML.includes('Hooli')]; })()",
    )
    .await;
    assert_eq!(stopped, (false, 3, true));

    browser.close().await;
    app.shutdown().await.unwrap();
}
