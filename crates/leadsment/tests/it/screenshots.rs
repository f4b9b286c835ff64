//! Every account page in a real headless Chromium, at 1280 and 390 pixels wide: signs in
//! through the real form (the Secure cookies work on http://localhost), then saves a
//! screenshot of each page to `target/screenshots/` for people to look at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::page::{Page, ScreenshotParams};
use leadsment::accounts::roles::Role;
use leadsment::auth::model::LinkPurpose;
use leadsment::auth::tokens::digest;

use crate::accounts::{PW, join, make_user, spawn};
use crate::chromium::TestBrowser;
use crate::on_both_backends;
use crate::support::Backend;

/// `target/screenshots/`, and its `postgres/` folder for the same pages over PostgreSQL.
pub fn out_dir(backend: Backend) -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    if backend == Backend::Postgres {
        dir.push("postgres");
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn open(page: &Page, url: &str) {
    page.goto(url).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), page.wait_for_navigation()).await;
}

/// The HTTP status of the page's last navigation, as the browser received it; while a slow
/// answer to a form is still arriving (the page has no context yet), asked again for up to
/// 20 s.
pub async fn status(page: &Page) -> i64 {
    let js = "performance.getEntriesByType('navigation')[0].responseStatus";
    for _ in 0..40 {
        match page.evaluate(js).await {
            Ok(v) => return v.into_value::<i64>().unwrap(),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    page.evaluate(js)
        .await
        .unwrap()
        .into_value::<i64>()
        .unwrap()
}

/// Saves the page as `name-{width}.png` after checking that it answered `want_status` and
/// shows `text`: a picture of an error page must not pass for the page.
pub async fn save(dir: &Path, page: &Page, name: &str, want_status: i64, text: &str) {
    let got = status(page).await;
    let html = content_with(page, text).await;
    assert_eq!(got, want_status, "{name}: status {got}\n{html}");
    assert!(html.contains(text), "{name}: no {text:?} in\n{html}");
    page.save_screenshot(
        ScreenshotParams::builder()
            .format(CaptureScreenshotFormat::Png)
            .full_page(true)
            .build(),
        dir.join(format!("{name}.png")),
    )
    .await
    .unwrap();
}

/// Opens `url` at desktop and phone widths and saves each (see [`save`]).
pub async fn shoot(dir: &Path, page: &Page, url: &str, name: &str, want_status: i64, text: &str) {
    for (width, mobile) in [(1280, false), (390, true)] {
        page.execute(SetDeviceMetricsOverrideParams::new(
            width,
            if mobile { 844 } else { 900 },
            1.0,
            mobile,
        ))
        .await
        .unwrap();
        open(page, url).await;
        save(dir, page, &format!("{name}-{width}"), want_status, text).await;
    }
}

pub async fn fill(page: &Page, selector: &str, text: &str) {
    page.find_element(selector)
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
        .type_str(text)
        .await
        .unwrap();
}

pub async fn submit(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), page.wait_for_navigation()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The page's HTML once it holds `text`, or after 10 s whatever it holds: on a busy machine
/// the page a form submission leads to can arrive after `submit` has returned.
pub async fn content_with(page: &Page, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let html = page.content().await.unwrap_or_default();
        if html.contains(text) || std::time::Instant::now() > deadline {
            return html;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

on_both_backends!(screenshots_of_every_account_page_at_desktop_and_phone_widths);

async fn screenshots_of_every_account_page_at_desktop_and_phone_widths(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let base = format!("http://localhost:{}", app.addr.port());
    let store = app.db.store().await;
    let owner = make_user(&store, "ada@example.com", Some("Acme <Analytics>")).await;
    let ws = leadsment::accounts::store::memberships(&store, owner.id)
        .await
        .unwrap()[0]
        .workspace
        .id;
    leadsment::auth::store::set_user_name(&store, owner.id, "Ada Lovelace")
        .await
        .unwrap();
    let bob = make_user(&store, "bob@example.com", None).await;
    join(&store, ws, &bob, Role::Viewer, owner.id).await;
    let (invite_token, ih) = leadsment::auth::links::fresh_secret();
    leadsment::accounts::store::create_invitation(
        &store,
        ws,
        "carol@example.com",
        Role::Member,
        &ih,
        owner.id,
        leadsment::store::now_ms() + 86_400_000,
    )
    .await
    .unwrap();
    let acme = leadsment::accounts::store::create_site(
        &store,
        &leadsment::accounts::sites::NewSite::new(
            ws,
            "acme.example",
            &["shop.acme.example".into()],
        )
        .unwrap(),
    )
    .await
    .unwrap();
    // One host checked (and not found), for the Ownership section.
    leadsment::accounts::store::record_check(
        &store,
        acme.id,
        "shop.acme.example",
        &leadsment::accounts::ownership::LastCheck {
            at: leadsment::store::now_ms(),
            how: "dns, file".into(),
            sought: "TXT records of shop.acme.example: leadsment-verify=…\nhttps://shop.acme.example/.well-known/leadsment-verify.txt (then http) with the line leadsment-verify=…".into(),
            found: "TXT records of shop.acme.example: none\nhttps://shop.acme.example/.well-known/leadsment-verify.txt: the file answered 404".into(),
        },
        false,
    )
    .await
    .unwrap();
    leadsment::auth::store::create_link(
        &store,
        &digest("reset-token"),
        LinkPurpose::Reset,
        Some(owner.id),
        None,
        leadsment::store::now_ms() + 60_000,
    )
    .await
    .unwrap();
    let setup = leadsment::accounts::pages::announce_setup(&app.db.config().web, &store)
        .await
        .unwrap()
        .unwrap();
    let setup_query = setup.split('?').nth(1).unwrap().to_owned();
    // The owner runs the instance too, so the platform pages are in the walk (after the
    // first-run setup link is made: setup is offered only while there is no administrator).
    store
        .write(
            leadsment::store::sql("UPDATE users SET is_platform_admin = TRUE WHERE id = $1")
                .bind(owner.id.0),
        )
        .await
        .unwrap();

    let dir = out_dir(backend);
    let browser = TestBrowser::launch().await;
    let page = browser.browser.new_page("about:blank").await.unwrap();

    // Public pages.
    for (path, name, text) in [
        (
            "/",
            "home",
            "<h1>See which companies visit your website</h1>",
        ),
        ("/pricing", "pricing", "<h1>Pricing</h1>"),
        ("/how-it-works", "how-it-works", "<h1>How it works</h1>"),
    ] {
        shoot(&dir, &page, &format!("{base}{path}"), name, 200, text).await;
    }
    shoot(
        &dir,
        &page,
        &format!("{base}/legal/cookies"),
        "cookie-policy",
        200,
        "<h1>Cookie Policy</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/legal/privacy"),
        "privacy-template",
        200,
        "id=\"template-note\"",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/auth/sign-in"),
        "sign-in",
        200,
        "<h1>Sign in</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/auth/sign-up"),
        "sign-up",
        200,
        "<h1>Create an account</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/auth/forgot"),
        "forgot-password",
        200,
        "<h1>Forgot your password?</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/auth/reset?token=reset-token"),
        "reset-password",
        200,
        "<h1>Choose a new password</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/auth/setup?{setup_query}"),
        "setup",
        200,
        "<h1>Set up Leadsment</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/invite?token={invite_token}"),
        "invitation",
        200,
        "<h1>Join Acme &lt;Analytics&gt;</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/auth/verify?token=used-or-wrong"),
        "link-invalid",
        400,
        "This link does not work",
    )
    .await;

    // A form with errors next to its fields, submitted in the browser.
    open(&page, &format!("{base}/auth/sign-up")).await;
    fill(&page, "#f-name", "Ada").await;
    fill(&page, "#f-email", "not-an-email").await;
    fill(&page, "#f-password", "short").await;
    submit(&page, "button[type=submit]").await;
    let html = content_with(&page, "f-workspace-error").await;
    assert!(
        html.contains("f-email-error") && html.contains("f-workspace-error"),
        "{html}"
    );
    save(&dir, &page, "sign-up-errors-1280", 400, "f-email-error").await;

    // Sign in through the real form: the cookies are Secure, and localhost accepts them.
    open(&page, &format!("{base}/auth/sign-in")).await;
    fill(&page, "#f-email", "ada@example.com").await;
    fill(&page, "#f-password", PW).await;
    submit(&page, "button[type=submit]").await;
    // Signing in hashes a password and follows a redirect; on a busy machine (the whole suite
    // at once) that can outlast `submit`'s wait, so look again for a while before failing.
    let want = format!("/w/{}", ws.0);
    let mut url = String::new();
    for _ in 0..50 {
        url = page.url().await.unwrap().unwrap_or_default();
        if url.contains(&want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = if url.contains(&want) {
        String::new()
    } else {
        page.content().await.unwrap_or_default()
    };
    assert!(
        url.contains(&want),
        "signed in and sent to the workspace: {url}\n{body}"
    );
    let cookies = page.get_cookies().await.unwrap();
    let names: Vec<&str> = cookies.iter().map(|c| c.name.as_str()).collect();
    assert!(
        names.contains(&"sb-access-token") && names.contains(&"__Host-csrf"),
        "{names:?}"
    );

    let overview = format!("{base}/w/{}", ws.0);
    shoot(
        &dir,
        &page,
        &overview,
        "workspace-overview",
        200,
        "acme.example",
    )
    .await;
    let members = format!("{base}/w/{}/members", ws.0);
    shoot(&dir, &page, &members, "members", 200, "bob@example.com").await;
    let site_settings = format!("{base}/w/{}/sites/{}/settings", ws.0, acme.id.0);
    shoot(
        &dir,
        &page,
        &site_settings,
        "site-settings",
        200,
        "the file answered 404",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/account"),
        "account",
        200,
        "<h1>Account</h1>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/workspaces"),
        "workspaces",
        200,
        "<h1>Workspaces</h1>",
    )
    .await;

    // The tag panel: a new GA4 tag's form, pre-filled from Google's documentation, then a bad
    // ID refused next to the field, then the tag added.
    shoot(
        &dir,
        &page,
        &format!("{base}/admin/tags/new?kind=ga4"),
        "admin-tag-new",
        200,
        "_ga_*",
    )
    .await;
    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
        .await
        .unwrap();
    open(&page, &format!("{base}/admin/tags/new?kind=ga4")).await;
    fill(&page, "#f-target", "UA-12345").await;
    submit(&page, "form[action='/admin/tags'] button[type=submit]").await;
    content_with(&page, "field-error").await;
    save(&dir, &page, "admin-tag-bad-id-1280", 400, "field-error").await;
    page.evaluate("document.querySelector('#f-target').value = ''")
        .await
        .unwrap();
    fill(&page, "#f-target", "G-ABC1234").await;
    submit(&page, "form[action='/admin/tags'] button[type=submit]").await;
    content_with(&page, "G-ABC1234").await;
    shoot(
        &dir,
        &page,
        &format!("{base}/admin/tags"),
        "admin-tags",
        200,
        "G-ABC1234",
    )
    .await;

    // The consents page: a decision looked up, linked to the one it replaced, and an export
    // whose last day comes before its first, refused next to the field.
    for (n, previous) in [(1, None), (2, Some("c_screenshotdecision0001"))] {
        let proof = leadsment::consent::Proof {
            consent_id: format!("c_screenshotdecision000{n}"),
            previous_id: previous.map(str::to_owned),
            created_at: leadsment::store::now_ms() - 3_600_000 + n * 60_000,
            revision: "5069ba13025b9590".to_owned(),
            banner_version: leadsment::consent::BANNER_VERSION.to_owned(),
            action: match n {
                1 => leadsment::consent::choice::Action::AcceptAll,
                _ => leadsment::consent::choice::Action::Save,
            },
            analytics: true,
            advertising: n == 1,
            gpc: false,
            country: Some("DE".to_owned()),
            browser: Some("Firefox".to_owned()),
        };
        leadsment::consent::store::record(&store, &proof)
            .await
            .unwrap();
    }
    shoot(
        &dir,
        &page,
        &format!("{base}/admin/consents?id=c_screenshotdecision0002"),
        "admin-consents",
        200,
        "c_screenshotdecision0001</code></a>",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/admin/consents.csv?from=2026-12-05&to=2026-12-01"),
        "admin-consents-bad-range",
        400,
        "f-to-error",
    )
    .await;

    // The legal pages' editor: the list, and a page's form while it is still the template.
    shoot(
        &dir,
        &page,
        &format!("{base}/admin/legal"),
        "admin-legal",
        200,
        "Template, not reviewed",
    )
    .await;
    shoot(
        &dir,
        &page,
        &format!("{base}/admin/legal/privacy"),
        "admin-legal-privacy",
        200,
        "id=\"template-state\"",
    )
    .await;

    // Create an API key in the browser: the page shows it once.
    page.execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
        .await
        .unwrap();
    open(&page, &format!("{base}/w/{}/api-keys", ws.0)).await;
    fill(&page, "#f-name", "CRM sync").await;
    submit(&page, "form[action$='/api-keys'] button[type=submit]").await;
    let html = content_with(&page, "Your new key").await;
    assert!(
        html.contains("Your new key") && html.contains("lm_"),
        "{html}"
    );
    save(&dir, &page, "api-key-created-1280", 200, "Your new key").await;
    let keys = format!("{base}/w/{}/api-keys", ws.0);
    shoot(&dir, &page, &keys, "api-keys", 200, "CRM sync").await;

    // A form posted from the page works (CSRF token echoed), and sign-out clears the session.
    open(&page, &format!("{base}/account")).await;
    page.find_element("details.menu summary")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit(&page, "form[action='/auth/sign-out'] button").await;
    // On a busy machine the redirect can land after `submit` has returned: wait up to 10 s.
    let mut url = String::new();
    for _ in 0..50 {
        url = page.url().await.unwrap().unwrap_or_default();
        if url.contains("/auth/sign-in") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(url.contains("/auth/sign-in"), "{url}");
    save(&dir, &page, "signed-out-1280", 200, "<h1>Sign in</h1>").await;

    browser.close().await;
    app.shutdown().await.unwrap();
}
