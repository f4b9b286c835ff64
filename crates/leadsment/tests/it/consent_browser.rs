//! The consent banner in a real headless Chromium (ordinary user agent). The visitor's address
//! reaches the server through a trusted proxy (`X-Forwarded-For` on every request) as one in
//! Germany or one in the United States, from an index the test builds; the site is served as
//! `www.leadsment.test` (mapped to 127.0.0.1), so tags can set cookies on the parent domain;
//! every https request (every tag host) is intercepted and answered here, so nothing leaves
//! the machine, and recorded. Screenshots of both layers at 1280 and 390 pixels.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::fetch::{
    self, ContinueRequestParams, EventRequestPaused, FulfillRequestParams, HeaderEntry,
    RequestPattern,
};
use chromiumoxide::cdp::browser_protocol::input::{DispatchKeyEventParams, DispatchKeyEventType};
use chromiumoxide::cdp::browser_protocol::network::{
    ClearBrowserCookiesParams, Headers, SetExtraHttpHeadersParams,
};
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures_util::StreamExt;
use leadsment::consent::tags::store::{self as tags, Who};
use serde_json::Value;

use crate::accounts::{PW, make_user};
use crate::chromium::TestBrowser;
use crate::on_both_backends;
use crate::screenshots::{fill, open, out_dir, status, submit};
use crate::support::{Backend, TestDb};
use crate::tracking::CHROME;

const GERMANY: &str = "198.51.100.23";
const UNITED_STATES: &str = "203.0.113.40";
const HOST: &str = "www.leadsment.test";

/// What each tag host answers: scripts that say they ran and set what their vendors set.
fn fake(url: &str) -> Option<(&'static str, Vec<u8>)> {
    let js = |s: &str| Some(("text/javascript", s.as_bytes().to_vec()));
    if url.contains("googletagmanager.com/gtag/js") {
        return js("(window.__ran=window.__ran||[]).push('ga4');\
            document.cookie='_ga=GA1.1.7; path=/; max-age=3600; domain=leadsment.test';\
            document.cookie='_ga_TEST1=GS1.1; path=/; max-age=3600';\
            navigator.sendBeacon('https://region1.google-analytics.com/g/collect?v=2');");
    }
    if url.contains("clarity.ms/tag/") {
        return js("(window.__ran=window.__ran||[]).push('clarity');\
            document.cookie='_clck=c1; path=/; max-age=3600';");
    }
    if url.contains("snap.licdn.com") {
        return js("(window.__ran=window.__ran||[]).push('linkedin');\
            document.cookie='li_fat_id=l1; path=/; max-age=3600; domain=leadsment.test';");
    }
    if url.contains("cdn.tagco.example/on.js") {
        return js("(window.__ran=window.__ran||[]).push('custom');\
            localStorage.setItem('tc_id','1'); localStorage.setItem('tc_seen_2','1');\
            sessionStorage.setItem('tc_s','1');\
            fetch('https://api.tagco.example/hit',{method:'POST',mode:'no-cors'});");
    }
    if url.contains("off.tagco.example") {
        return js("(window.__ran=window.__ran||[]).push('switched-off');");
    }
    if url.contains("px.adtarget.example") {
        let gif = base64::engine::general_purpose::STANDARD
            .decode("R0lGODlhAQABAAAAACwAAAAAAQABAAACAkQBADs=")
            .unwrap();
        return Some(("image/gif", gif));
    }
    None
}

/// A page whose https requests are answered by [`fake`] and recorded, and whose requests all
/// carry the visitor's address for the trusted proxy.
struct Visitor {
    page: Page,
    hits: Arc<Mutex<Vec<String>>>,
    base: String,
}

impl Visitor {
    async fn new(browser: &TestBrowser, base: &str, from: &str) -> Visitor {
        let page = browser.browser.new_page("about:blank").await.unwrap();
        page.bring_to_front().await.unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let mut paused = page.event_listener::<EventRequestPaused>().await.unwrap();
        let (p, h) = (page.clone(), hits.clone());
        tokio::spawn(async move {
            while let Some(ev) = paused.next().await {
                let url = ev.request.url.clone();
                if url.contains(HOST) || url.contains("localhost") {
                    // A browser trying https first on the site itself: let it fail over.
                    let _ = p
                        .execute(ContinueRequestParams::new(ev.request_id.clone()))
                        .await;
                    continue;
                }
                h.lock().unwrap().push(url.clone());
                let (ctype, body) = fake(&url).unwrap_or(("text/plain", b"".to_vec()));
                let mut answer = FulfillRequestParams::new(ev.request_id.clone(), 200);
                answer.response_headers = Some(vec![
                    HeaderEntry::new("Content-Type", ctype),
                    HeaderEntry::new("Access-Control-Allow-Origin", "*"),
                ]);
                answer.body = Some(
                    base64::engine::general_purpose::STANDARD
                        .encode(body)
                        .into(),
                );
                let _ = p.execute(answer).await;
            }
        });
        page.execute(
            fetch::EnableParams::builder()
                .pattern(RequestPattern::builder().url_pattern("https://*").build())
                .build(),
        )
        .await
        .unwrap();
        page.execute(SetExtraHttpHeadersParams::new(Headers::new(
            serde_json::json!({ "X-Forwarded-For": from }),
        )))
        .await
        .unwrap();
        page.evaluate_on_new_document(
            "window.__csp=[];document.addEventListener('securitypolicyviolation',\
             e=>window.__csp.push(e.violatedDirective+' '+e.blockedURI));",
        )
        .await
        .unwrap();
        Visitor {
            page,
            hits,
            base: base.to_owned(),
        }
    }

    /// Opens `path` and waits for consent.js to have asked for the rule and acted on it.
    async fn open(&self, path: &str) {
        open(&self.page, &format!("{}{path}", self.base)).await;
        assert_eq!(status(&self.page).await, 200, "{path}");
        self.settle().await;
    }

    async fn settle(&self) {
        // The rule's answer, then the tags' scripts: a moment of quiet on the network.
        for _ in 0..40 {
            let done: bool = self
                .eval("performance.getEntriesByType('resource').some(e => e.name.includes('/api/consent/rule'))")
                .await;
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    /// Evaluates `js` (an expression, or a promise of one) and reads its value as JSON (so
    /// `null` reads as `None`).
    async fn eval<T: serde::de::DeserializeOwned>(&self, js: &str) -> T {
        let json: String = self
            .page
            .evaluate(format!(
                "Promise.resolve(({js})).then(v => JSON.stringify(v ?? null))"
            ))
            .await
            .unwrap()
            .into_value()
            .unwrap();
        serde_json::from_str(&json).unwrap()
    }

    fn take_hits(&self) -> Vec<String> {
        std::mem::take(&mut *self.hits.lock().unwrap())
    }

    async fn cookie_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .page
            .get_cookies()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        names.sort();
        names
    }

    async fn storage_keys(&self) -> Vec<String> {
        self.eval("Object.keys(localStorage).concat(Object.keys(sessionStorage)).sort()")
            .await
    }

    async fn banner_layer(&self) -> Option<String> {
        self.eval("(b => b && b.dataset.layer)(document.getElementById('lm-consent')) || null")
            .await
    }

    async fn click(&self, text: &str) {
        let clicked: bool = self
            .eval(&format!(
                "(b => b ? (b.click(), true) : false)([...document.querySelectorAll('#lm-consent button')].find(b => b.textContent == {text:?}))"
            ))
            .await;
        assert!(clicked, "no button {text:?} in the banner");
        self.settle().await;
    }

    async fn key(&self, key: &str, code: i64) {
        for kind in [DispatchKeyEventType::KeyDown, DispatchKeyEventType::KeyUp] {
            let mut ev = DispatchKeyEventParams::builder()
                .r#type(kind.clone())
                .key(key)
                .code(key)
                .windows_virtual_key_code(code)
                .native_virtual_key_code(code);
            if key == "Enter" && kind == DispatchKeyEventType::KeyDown {
                ev = ev.text("\r");
            }
            self.page.execute(ev.build().unwrap()).await.unwrap();
        }
    }

    /// Saves what the visitor sees (the viewport, where the banner is fixed at the bottom),
    /// after checking the page's status and text.
    async fn shot(&self, dir: &std::path::Path, name: &str, width: i64, text: &str) {
        assert_eq!(status(&self.page).await, 200, "{name}");
        let html = self.page.content().await.unwrap();
        assert!(html.contains(text), "{name}: no {text:?} in\n{html}");
        self.width(width).await;
        self.page
            .save_screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .build(),
                dir.join(format!("{name}.png")),
            )
            .await
            .unwrap();
    }

    async fn reset(&self) {
        self.page
            .execute(ClearBrowserCookiesParams::default())
            .await
            .unwrap();
        let _: Value = self
            .eval("(() => { try { localStorage.clear(); sessionStorage.clear() } catch (e) {} })()")
            .await;
        self.take_hits();
    }

    /// 1280: a desktop window; 640: the same window at 200% zoom; 390: a phone.
    async fn width(&self, width: i64) {
        let (height, scale) = match width {
            640 => (450, 2.0),
            w if w < 600 => (844, 1.0),
            _ => (900, 1.0),
        };
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(
                width,
                height,
                scale,
                width < 600,
            ))
            .await
            .unwrap();
    }
}

/// The tag hosts a list of requests reached, by tag.
fn tags_reached(hits: &[String]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = hits
        .iter()
        .filter_map(|u| {
            [
                ("googletagmanager.com", "ga4"),
                ("clarity.ms", "clarity"),
                ("licdn.com", "linkedin"),
                ("px.adtarget.example", "pixel"),
                ("cdn.tagco.example", "custom"),
                ("off.tagco.example", "switched-off"),
            ]
            .into_iter()
            .find(|(host, _)| u.contains(host))
            .map(|(_, tag)| tag)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

async fn consent_in_a_browser(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.store().await;
    add_every_tag_type(&db, "api.tagco.example").await;
    crate::consent::add_tag(
        &db,
        "custom",
        "https://off.tagco.example/off.js",
        "",
        None,
        false,
    )
    .await;
    // The server starts with the tags in its policy.
    let app = crate::consent::app_on(test_db, |c| {
        c.consent.outside_zone = leadsment::consent::settings::Mode::Notice;
        c.web.public_url = "http://www.leadsment.test:0".parse().unwrap();
    })
    .await;

    let port = app.addr.port();
    let base = format!("http://{HOST}:{port}");
    let browser = TestBrowser::launch_args(
        CHROME,
        &[
            ("host-resolver-rules", &format!("MAP {HOST} 127.0.0.1")),
            (
                "disable-features",
                "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
            ),
        ],
    )
    .await;
    let dir = out_dir(backend);
    let de = Visitor::new(&browser, &base, GERMANY).await;

    // A first visit from Germany: the banner, and nothing of any tag.
    de.open("/").await;
    assert_eq!(de.banner_layer().await.as_deref(), Some("1"));
    assert!(de.take_hits().is_empty(), "no tag host before consent");
    assert!(
        de.cookie_names().await.is_empty(),
        "no cookie before consent"
    );
    assert!(
        de.storage_keys().await.is_empty(),
        "no storage key before consent"
    );
    let dialog: Value = de
        .eval("(b => ({role: b.getAttribute('role'), label: document.getElementById(b.getAttribute('aria-labelledby')).textContent, focus: b.contains(document.activeElement)}))(document.getElementById('lm-consent'))")
        .await;
    assert_eq!(dialog["role"], "dialog");
    assert_eq!(dialog["label"], "Cookies on this site");
    assert_eq!(
        dialog["focus"],
        true,
        "focus moves into the banner: {}",
        de.eval::<String>(
            "document.activeElement.outerHTML.slice(0, 80) + ' ' + document.hasFocus()"
        )
        .await
    );
    // Reject and Accept look the same: size, weight, colours and so contrast.
    let looks: Value = de
        .eval(
            "(() => { const f = t => [...document.querySelectorAll('#lm-consent button')].find(b => b.textContent == t);
              const lum = c => { const [r, g, b] = c.match(/[0-9.]+/g).slice(0, 3).map(v => { v /= 255;
                  return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
              const l = b => { const s = getComputedStyle(b), r = b.getBoundingClientRect();
                const [hi, lo] = [lum(s.color), lum(s.backgroundColor)].sort((x, y) => y - x);
                // Layout splits a row in 1/64 px units: equal to the pixel.
                return {w: Math.round(r.width), h: Math.round(r.height), weight: s.fontWeight, color: s.color, bg: s.backgroundColor,
                  size: s.fontSize, contrast: Math.round((hi + 0.05) / (lo + 0.05) * 100) / 100}; };
              return {accept: l(f('Accept all')), reject: l(f('Reject all'))}; })()",
        )
        .await;
    assert_eq!(looks["accept"], looks["reject"], "Accept and Reject differ");
    assert!(
        looks["reject"]["contrast"].as_f64().unwrap() >= 4.5,
        "{looks}"
    );
    // 1280 and 390 pixels wide, and 200% zoom of a 1280-pixel window (a 640-pixel layout).
    for width in [1280, 640, 390] {
        de.width(width).await;
        de.open("/legal/cookies").await;
        de.shot(
            &dir,
            &format!("consent-banner-{width}"),
            width,
            "Accept all",
        )
        .await;
        de.click("Customise").await;
        assert_eq!(de.banner_layer().await.as_deref(), Some("2"));
        de.shot(
            &dir,
            &format!("consent-preferences-{width}"),
            width,
            "Save choices",
        )
        .await;
        // The page's main content can still be reached: the banner takes at most 60% of
        // the screen and the page scrolls past it.
        let share: f64 = de
            .eval("document.getElementById('lm-consent').getBoundingClientRect().height / innerHeight")
            .await;
        assert!(
            share <= 0.61,
            "{width}: the banner covers {share} of the screen"
        );
        de.key("Escape", 27).await;
        assert_eq!(
            de.banner_layer().await.as_deref(),
            Some("1"),
            "Escape closes the second layer"
        );
    }
    de.width(1280).await;
    assert!(de.take_hits().is_empty());

    // Reject: nothing on three pages, and no banner again.
    de.click("Reject all").await;
    assert_eq!(de.banner_layer().await, None);
    for path in [
        "/legal/cookies",
        "/legal/cookies?page=2",
        "/legal/cookies?page=3",
    ] {
        open(&de.page, &format!("{base}{path}")).await;
        de.settle().await;
        assert!(de.take_hits().is_empty(), "{path}: a tag host after Reject");
        assert_eq!(de.cookie_names().await, ["lm_consent"], "{path}");
        assert!(de.storage_keys().await.is_empty(), "{path}");
    }
    de.open("/legal/cookies").await;
    assert_eq!(de.banner_layer().await, None, "Reject is remembered");

    // Accept: exactly the switched-on tags, GA4 told "denied" before "granted", no CSP report.
    de.reset().await;
    de.open("/pricing").await;
    de.click("Accept all").await;
    let hits = de.take_hits();
    assert_eq!(
        tags_reached(&hits),
        ["clarity", "custom", "ga4", "linkedin", "pixel"],
        "{hits:?}"
    );
    let consent: Vec<Value> = de
        .eval("dataLayer.filter(a => a[0] == 'consent').map(a => [a[1], a[2].analytics_storage, a[2].ad_storage])")
        .await;
    assert_eq!(
        consent.first(),
        Some(&serde_json::json!(["default", "denied", "denied"])),
        "{consent:?}"
    );
    assert_eq!(
        consent.last(),
        Some(&serde_json::json!(["update", "granted", "granted"])),
        "{consent:?}"
    );
    let violations: Vec<String> = de.eval("window.__csp").await;
    assert!(violations.is_empty(), "{violations:?}");
    let ran: Vec<String> = de.eval("window.__ran.slice().sort()").await;
    assert_eq!(ran, ["clarity", "custom", "ga4", "linkedin"]);
    let cookies = de.cookie_names().await;
    for name in ["_ga", "_ga_TEST1", "_clck", "li_fat_id", "lm_consent"] {
        assert!(cookies.iter().any(|c| c == name), "{name} in {cookies:?}");
    }
    assert_eq!(de.storage_keys().await, ["tc_id", "tc_s", "tc_seen_2"]);
    // The next page loads them again, with no banner.
    de.open("/how-it-works").await;
    assert_eq!(de.banner_layer().await, None);
    assert_eq!(tags_reached(&de.take_hits()).len(), 5);
    let violations: Vec<String> = de.eval("window.__csp").await;
    assert!(violations.is_empty(), "{violations:?}");

    // Cookie Settings reopens the preferences; Reject all withdraws: the tags' cookies go
    // (on this host and on leadsment.test), their storage keys too, and the page reloads.
    let _: Value = de
        .eval("(document.querySelector('[data-cookie-settings]').click(), null)")
        .await;
    assert_eq!(de.banner_layer().await.as_deref(), Some("2"));
    let checked: Vec<bool> = de
        .eval("['analytics','advertising'].map(c => document.getElementById('lm-c-' + c).checked)")
        .await;
    assert_eq!(checked, [true, true]);
    de.click("Reject all").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    de.settle().await;
    assert_eq!(
        de.cookie_names().await,
        ["lm_consent"],
        "withdrawn cookies stay"
    );
    assert!(
        de.storage_keys().await.is_empty(),
        "withdrawn storage keys stay"
    );
    assert!(de.take_hits().is_empty(), "tags load after withdrawal");
    let ran: Option<Vec<String>> = de.eval("window.__ran || null").await;
    assert_eq!(ran, None, "the page reloaded without the tags");

    // Customise with analytics alone: GA4 and Clarity, nothing of advertising.
    de.reset().await;
    de.open("/legal/cookies").await;
    de.click("Customise").await;
    let _: Value = de
        .eval("(document.getElementById('lm-c-analytics').click(), null)")
        .await;
    de.click("Save choices").await;
    assert_eq!(tags_reached(&de.take_hits()), ["clarity", "ga4"]);
    let consent: Vec<Value> = de
        .eval("dataLayer.filter(a => a[0] == 'consent').map(a => [a[1], a[2].analytics_storage, a[2].ad_storage])")
        .await;
    assert_eq!(
        consent.last(),
        Some(&serde_json::json!(["update", "granted", "denied"]))
    );

    // A tampered lm_consent counts as none: the banner again, and nothing loads.
    de.page
        .set_cookie(
            chromiumoxide::cdp::browser_protocol::network::CookieParam::builder()
                .name("lm_consent")
                .value("v1.eyJjIjpbImFuYWx5dGljcyIsImFkdmVydGlzaW5nIl19.AAAA")
                .url(format!("{base}/"))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    de.open("/legal/cookies").await;
    assert_eq!(de.banner_layer().await.as_deref(), Some("1"));
    assert!(de.take_hits().is_empty());

    // Keys a tag left behind without a standing consent (one that expired, say) go as the
    // next page starts, on this host and on the parent domain.
    de.reset().await;
    for (name, domain) in [("_ga", ".leadsment.test"), ("_clck", HOST)] {
        de.page
            .set_cookie(
                chromiumoxide::cdp::browser_protocol::network::CookieParam::builder()
                    .name(name)
                    .value("old")
                    .domain(domain)
                    .path("/")
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    assert_eq!(de.cookie_names().await, ["_clck", "_ga"]);
    de.open("/").await;
    assert!(
        de.cookie_names().await.is_empty(),
        "{:?}",
        de.cookie_names().await
    );

    // By keyboard alone: focus starts in the banner; Tab reaches Accept, Enter accepts.
    de.reset().await;
    de.open("/legal/cookies").await;
    let mut on = String::new();
    for _ in 0..6 {
        de.key("Tab", 9).await;
        on = de.eval("document.activeElement.textContent").await;
        if on == "Accept all" {
            break;
        }
    }
    assert_eq!(on, "Accept all", "Tab never reached Accept");
    let outline: String = de
        .eval("getComputedStyle(document.activeElement).outlineStyle")
        .await;
    assert_eq!(outline, "solid", "focus is visible");
    de.key("Enter", 13).await;
    de.settle().await;
    assert_eq!(de.banner_layer().await, None);
    assert_eq!(tags_reached(&de.take_hits()).len(), 5);

    // The policy changes while the banner is open (the switched-off tag is switched on at
    // another node): the choice is refused as stale, the banner says so and stays; the
    // second click is stored under the new policy and loads the new tag too.
    de.reset().await;
    de.open("/").await;
    let before: String = de
        .eval("fetch('/api/consent/rule').then(r => r.json()).then(r => r.revision)")
        .await;
    let off = tags::list(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| !t.enabled)
        .unwrap();
    let who = Who {
        user_id: 1,
        email: "ops@example.com".to_owned(),
    };
    tags::set_enabled(&db, off.id, true, &who, 3).await.unwrap();
    let mut now = before.clone();
    for _ in 0..50 {
        now = de
            .eval("fetch('/api/consent/rule').then(r => r.json()).then(r => r.revision)")
            .await;
        if now != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(now, before, "the server never took the change in");
    de.click("Accept all").await;
    assert_eq!(de.banner_layer().await.as_deref(), Some("1"));
    let said: String = de
        .eval("document.querySelector('#lm-consent .lm-err').textContent")
        .await;
    assert!(said.contains("changed while you were choosing"), "{said}");
    assert!(de.take_hits().is_empty(), "a stale choice loaded tags");
    de.click("Accept all").await;
    assert_eq!(de.banner_layer().await, None);
    assert_eq!(tags_reached(&de.take_hits()).len(), 6);
    tags::set_enabled(&db, off.id, false, &who, 4)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Global Privacy Control: the banner says so, and Accept all grants analytics alone.
    let gpc = Visitor::new(&browser, &base, GERMANY).await;
    gpc.page
        .execute(SetExtraHttpHeadersParams::new(Headers::new(
            serde_json::json!({ "X-Forwarded-For": GERMANY, "Sec-GPC": "1" }),
        )))
        .await
        .unwrap();
    gpc.reset().await;
    gpc.open("/legal/cookies").await;
    let text: String = gpc
        .eval("document.getElementById('lm-consent').textContent")
        .await;
    assert!(text.contains("Global Privacy Control"), "{text}");
    gpc.click("Accept all").await;
    assert_eq!(tags_reached(&gpc.take_hits()), ["clarity", "ga4"]);
    let consent: Vec<Value> = gpc
        .eval("dataLayer.filter(a => a[0] == 'consent').map(a => [a[1], a[2].analytics_storage, a[2].ad_storage])")
        .await;
    assert_eq!(
        consent.last(),
        Some(&serde_json::json!(["update", "granted", "denied"]))
    );
    gpc.page.clone().close().await.unwrap();

    // The United States visitor gets the configured rule (notice): the banner says so, and
    // tags run unless refused.
    let us = Visitor::new(&browser, &base, UNITED_STATES).await;
    us.reset().await;
    us.open("/legal/cookies").await;
    let text: String = us
        .eval("document.getElementById('lm-consent').textContent")
        .await;
    assert!(text.contains("You can refuse them"), "{text}");
    assert_eq!(tags_reached(&us.take_hits()).len(), 5);
    us.page.clone().close().await.unwrap();

    // No tag loads on a signed-in page, even after Accept (on localhost, where the browser
    // keeps the session's Secure cookies over http).
    make_user(&db, "ada@example.com", Some("Ada's")).await;
    let local = Visitor::new(&browser, &format!("http://localhost:{port}"), GERMANY).await;
    local.open("/legal/cookies").await;
    local.click("Accept all").await;
    assert_eq!(tags_reached(&local.take_hits()).len(), 5);
    open(&local.page, &format!("{}/auth/sign-in", local.base)).await;
    fill(&local.page, "#f-email", "ada@example.com").await;
    fill(&local.page, "#f-password", PW).await;
    submit(&local.page, "button[type=submit]").await;
    for path in ["/app", "/account"] {
        open(&local.page, &format!("{}{path}", local.base)).await;
        local.settle().await;
        let html = local.page.content().await.unwrap();
        assert!(
            html.contains("Sign out"),
            "{path} is not signed in:\n{html}"
        );
        assert!(!html.contains("consent.js"), "{path}");
    }
    let hits = local.take_hits();
    assert!(
        tags_reached(&hits).is_empty(),
        "tags on signed-in pages: {hits:?}"
    );

    browser.close().await;
    app.shutdown().await.unwrap();
}

on_both_backends!(consent_in_a_browser);

/// One switched-on tag of every type: GA4, Clarity, LinkedIn, a pixel and a custom script
/// (TagCo, with local and session storage keys; `custom_hosts` its other hosts).
pub async fn add_every_tag_type(db: &leadsment::store::Db, custom_hosts: &str) {
    crate::consent::add_tag(db, "ga4", "G-TEST1", "", None, true).await;
    crate::consent::add_tag(db, "clarity", "abc123xyz", "", None, true).await;
    crate::consent::add_tag(db, "linkedin", "123456", "", None, true).await;
    crate::consent::add_tag(
        db,
        "pixel",
        "https://px.adtarget.example/p.gif?c=1",
        "",
        None,
        true,
    )
    .await;
    crate::consent::add_tag(
        db,
        "custom",
        "https://cdn.tagco.example/on.js",
        custom_hosts,
        Some(
            "tc_id | local_storage | 1 year | first | | TagCo | Counts visits.\n\
             tc_seen_* | local_storage | 1 year | first | | TagCo | Remembers pages seen.\n\
             tc_s | session_storage | session | first | | TagCo | Joins a visit's pages.",
        ),
        true,
    )
    .await;
}
