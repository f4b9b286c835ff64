//! The dashboard in a real headless Chromium with demo-sized data (the demo generator's
//! 200,000 events from a few hundred organisations): every page at 1280 and 390 pixels wide,
//! saved to `target/screenshots/` after checking its status and text; at 390 pixels the
//! navigation folds away and tables become cards; the keyboard reaches every filter and link.
//! A filtered view is saved through its form and shown as a saved feed.

use std::path::PathBuf;

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::input::{DispatchKeyEventParams, DispatchKeyEventType};
use chromiumoxide::page::Page;
use leadsment::accounts::sites::NewSite;
use leadsment::demo::generator::{Generator, Params};
use leadsment::leads::exclusions::Kind;
use leadsment::leads::store::exclusions::add_exclusion;

use crate::accounts::{PW, make_user};
use crate::chromium::TestBrowser;
use crate::on_both_backends;
use crate::screenshots::{fill, open, out_dir, save, shoot, submit};
use crate::support::{Backend, TestApp, TestDb};

const WORDS: [&str; 16] = [
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Stark",
    "Tyrell",
    "Soylent",
    "Cyberdyne",
    "Aperture",
    "Massive",
    "Oscorp",
    "Wayne",
    "Acme",
];
const KINDS: [&str; 8] = [
    "Software GmbH",
    "Analytics AG",
    "Logistics Ltd",
    "Pharma Inc.",
    "Consulting GmbH",
    "Robotics Corp.",
    "Energy SE",
    "Insurance AG",
];

/// An IP index of 320 organisations: businesses, some access providers, clouds, a university.
fn write_index(data_dir: &std::path::Path) -> Vec<PathBuf> {
    let mut asn = String::new();
    let mut country = String::new();
    let ccs = ["DE", "AT", "CH", "GB", "US", "NL", "FR"];
    for i in 0..320u32 {
        let net = format!("11.{}.{}", i / 256, i % 256);
        let name = match i % 20 {
            0 => format!(
                "NET{i} - {} Broadband Telecom",
                WORDS[(i / 20) as usize % 16]
            ),
            1 => "AMAZON-02 - Amazon.com, Inc.".to_owned(),
            2 => format!("UNI{i} - University of {}", WORDS[(i / 20) as usize % 16]),
            _ => format!(
                "ORG{i} - {} {}",
                WORDS[i as usize % 16],
                KINDS[(i as usize / 16) % 8]
            ),
        };
        let number = if i % 20 == 1 { 16509 } else { 65000 + i };
        asn.push_str(&format!("{net}.0,{net}.255,{number},{name}\n"));
        country.push_str(&format!(
            "{net}.0,{net}.255,{}\n",
            ccs[i as usize % ccs.len()]
        ));
    }
    std::fs::create_dir_all(data_dir).unwrap();
    [("asn-ipv4.csv", asn), ("country-ipv4.csv", country)]
        .into_iter()
        .map(|(name, body)| {
            let path = data_dir.join(name);
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect()
}

async fn press_tab(page: &Page) {
    for kind in [DispatchKeyEventType::KeyDown, DispatchKeyEventType::KeyUp] {
        page.execute(
            DispatchKeyEventParams::builder()
                .r#type(kind)
                .key("Tab")
                .code("Tab")
                .windows_virtual_key_code(9)
                .native_virtual_key_code(9)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    }
}

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js).await.unwrap().into_value::<T>().unwrap()
}

/// Tabs through the page from its top and returns what never received focus among the
/// filters, buttons and links of the main column.
async fn unreachable_by_keyboard(page: &Page) -> Vec<String> {
    let targets: usize = eval(
        page,
        "(() => { const t = [...document.querySelectorAll('.page a[href], .page input, .page select, .page button, .page summary')]
            .filter(e => e.offsetParent !== null && e.type !== 'hidden');
          t.forEach((e, i) => e.dataset.kb = i); window.__seen = new Set();
          document.addEventListener('focusin', ev => { if (ev.target.dataset.kb) window.__seen.add(ev.target.dataset.kb) });
          document.activeElement && document.activeElement.blur(); return t.length })()",
    )
    .await;
    for _ in 0..(targets + 40) {
        press_tab(page).await;
    }
    eval(
        page,
        "[...document.querySelectorAll('[data-kb]')].filter(e => !window.__seen.has(e.dataset.kb))
           .map(e => e.outerHTML.slice(0, 120))",
    )
    .await
}

on_both_backends!(the_dashboard_in_a_browser_with_demo_sized_data);

async fn the_dashboard_in_a_browser_with_demo_sized_data(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = db.config();
    let files = write_index(&config.data_dir);
    leadsment::ipdb::build(&config.data_dir, &files, Some("2026-11-01".into())).unwrap();
    let server = leadsment::server::Server::bind(config.clone())
        .await
        .unwrap();
    let app = TestApp::start(db, server, None).await;
    let store = app.db.store().await;
    let user = make_user(&store, "ada@example.com", Some("Northwind Sales")).await;
    let ws = leadsment::accounts::store::memberships(&store, user.id)
        .await
        .unwrap()[0]
        .workspace
        .id;
    let mut new = NewSite::new(ws, "northwind.example", &[]).unwrap();
    new.set_time_zone("Europe/Berlin").unwrap();
    let site = leadsment::accounts::store::create_site(&store, &new)
        .await
        .unwrap();
    let ipdb = leadsment::ipdb::IpDb::open(&config.data_dir, Default::default());
    let orgs = leadsment::demo::organisations::draw(&ipdb, 300, 1).unwrap();
    let params = Params::demo(site.clone(), leadsment::store::now_ms());
    let written = leadsment::demo::write_traffic(&store, Generator::new(params, orgs), |_| {})
        .await
        .unwrap();
    assert!(written.events > 150_000, "{written:?}");
    let first_company: i64 = store
        .value(
            leadsment::store::sql(
                "SELECT v.company_id FROM visits v JOIN companies c ON c.id = v.company_id \
                 WHERE v.site_id = $1 AND c.class = 'business' ORDER BY v.id DESC LIMIT 1",
            )
            .bind(site.id.0),
        )
        .await
        .unwrap();
    store.close().await;

    let base = format!("http://localhost:{}", app.addr.port());
    let site_url = format!("{base}/w/{}/sites/{}", ws.0, site.id.0);
    let dir = out_dir(backend);
    let browser = TestBrowser::launch().await;
    let page = browser.browser.new_page("about:blank").await.unwrap();
    open(&page, &format!("{base}/auth/sign-in")).await;
    fill(&page, "#f-email", "ada@example.com").await;
    fill(&page, "#f-password", PW).await;
    submit(&page, "button[type=submit]").await;

    shoot(
        &dir,
        &page,
        &site_url,
        "leads-overview",
        200,
        "Identified as a business",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{site_url}/companies"),
        "leads-feed",
        200,
        "Via cloud or VPN",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!(
            "{site_url}/companies?period=7d&page=%2Fpricing*&sort=visits&class=business&class=isp"
        ),
        "leads-feed-filtered",
        200,
        "companies, last 7 days",
    )
    .await;
    // Saving that view from its form: it opens as a saved feed, listed in the menu.
    fill(&page, "#f-name", "Pricing visitors").await;
    submit(&page, "form.saved-view button[type=submit]").await;
    let saved = format!(
        "{site_url}/companies?period=7d&class=business&class=isp&page=%2Fpricing*&sort=visits"
    );
    shoot(
        &dir,
        &page,
        &saved,
        "leads-saved-feed",
        200,
        "aria-current=\"page\">Pricing visitors</a>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{site_url}/companies/{first_company}"),
        "leads-company",
        200,
        "Every visit",
    )
    .await;
    // The workspace's exclusions: the list, a refused domain by its field, and a hidden
    // company's page.
    let store = app.db.store().await;
    for (kind, value) in [
        (
            Kind::Organisation,
            leadsment::leads::exclusions::by_company(first_company),
        ),
        (Kind::Domain, "customer-of-northwind.example".to_owned()),
        (Kind::Asn, "64500".to_owned()),
    ] {
        add_exclusion(&store, ws, kind, &value, Some(user.id.0), 200)
            .await
            .unwrap();
    }
    store.close().await;
    let exclusions_url = format!("{base}/w/{}/exclusions", ws.0);
    shoot(
        &dir,
        &page,
        &exclusions_url,
        "leads-exclusions",
        200,
        "Networks are not exclusions",
    )
    .await;
    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
        .await
        .unwrap();
    open(&page, &exclusions_url).await;
    fill(&page, "#f-domain", "com").await;
    submit(&page, "form:has(#f-domain) button[type=submit]").await;
    save(
        &dir,
        &page,
        "leads-exclusions-refused-1280",
        400,
        "is a top-level domain",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{site_url}/companies/{first_company}"),
        "leads-company-hidden",
        200,
        "This company is hidden",
    )
    .await;
    // The site's score rules, and a preview of documentation pages made to take 15 points each
    // away.
    let score_url = format!("{site_url}/settings");
    shoot(
        &dir,
        &page,
        &score_url,
        "site-settings",
        200,
        "saved rules apply to every score at once",
    )
    .await;
    for (width, mobile) in [(1280, false), (390, true)] {
        let height = if mobile { 844 } else { 900 };
        page.execute(SetDeviceMetricsOverrideParams::new(
            width, height, 1.0, mobile,
        ))
        .await
        .unwrap();
        open(&page, &score_url).await;
        let _: bool = eval(
            &page,
            "(document.querySelector('#f-page_rules').value += \
             '\\nDocumentation | /docs* | -15 | -60', true)",
        )
        .await;
        submit(&page, "button[value=preview]").await;
        let name = format!("site-settings-score-preview-{width}");
        save(&dir, &page, &name, 200, "Nothing is saved yet").await;
    }
    shoot(
        &dir,
        &page,
        &format!("{site_url}/companies?period=custom&from=2026-02-30&to=2026-03-01"),
        "leads-feed-bad-date",
        400,
        "YYYY-MM-DD",
    )
    .await;

    // At 390 pixels the navigation is folded and rows are cards.
    page.execute(SetDeviceMetricsOverrideParams::new(390, 844, 1.0, true))
        .await
        .unwrap();
    open(&page, &format!("{site_url}/companies")).await;
    // Once the page and its stylesheet have loaded.
    let mut folded = String::new();
    for _ in 0..50 {
        folded = eval(&page, "document.readyState === 'complete' ? getComputedStyle(document.querySelector('.nav-body')).display : 'loading'").await;
        if folded != "loading" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let why: String = eval(&page, "`${window.innerWidth} ${matchMedia('(max-width: 800px)').matches} ${document.styleSheets.length}`").await;
    assert_eq!(folded, "none", "width, media match, sheets: {why}");
    let card: String = eval(
        &page,
        "getComputedStyle(document.querySelector('table.feed tbody tr')).display",
    )
    .await;
    assert_eq!(card, "grid");
    let wide: bool = eval(
        &page,
        "document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await;
    assert!(wide, "the feed scrolls sideways at 390 pixels");

    // At 1280 pixels the keyboard reaches every filter, button and link of the main column.
    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
        .await
        .unwrap();
    for url in [site_url.clone(), format!("{site_url}/companies")] {
        open(&page, &url).await;
        let missed = unreachable_by_keyboard(&page).await;
        assert!(missed.is_empty(), "{url}: never focused: {missed:#?}");
    }
    browser.close().await;
    app.shutdown().await.unwrap();
}
