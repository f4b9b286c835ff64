//! The legal pages (`/legal/privacy`, `/legal/terms`, `/legal/acceptable-use`) and their
//! editor (`/admin/legal`), on both backends: the templates served with their note and date,
//! an administrator's edit served at once (also when another node writes it), the same text
//! saved again keeping its date, raw HTML shown as text, oversized or empty texts refused with
//! the text kept, nobody else let in; and the cookie policy's sections.

use reqwest::StatusCode;

use leadsment::legal::{LegalPage, MAX_MARKDOWN_BYTES, store};
use leadsment::store::{Db, sql};

use crate::accounts::{PW, make_user};
use crate::client::{Client, between};
use crate::consent_admin::setup;
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

on_both_backends!(
    the_templates_are_served_with_their_note_and_date,
    an_edit_is_served_at_once_and_the_same_text_keeps_its_date,
    raw_html_in_a_page_is_shown_as_text,
    an_oversized_or_empty_text_is_refused_and_kept,
    only_platform_admins_reach_the_editor,
    the_cookie_policy_explains_categories_choices_deletion_and_the_tracker,
);

const NOTE: &str = "id=\"template-note\"";

fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

fn updated(html: &str) -> &str {
    between(html, "Last updated: <time datetime=\"", "\"").unwrap_or_else(|| panic!("{html}"))
}

/// Puts a page's "Last updated" back to a day long past, as if its text was written then.
async fn age(store: &Db, page: LegalPage) {
    let then = "2025-01-02T10:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let n = store
        .write(
            sql("UPDATE legal_pages SET updated_at = $1 WHERE page = $2")
                .bind(then)
                .bind(page.slug()),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
}

async fn save(c: &Client, page: &str, markdown: &str) -> crate::client::Resp {
    c.post_form(
        &format!("/admin/legal/{page}"),
        &[("action", "save"), ("markdown", markdown)],
    )
    .await
}

async fn the_templates_are_served_with_their_note_and_date(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let visitor = Client::new(&app);
    for (path, title, phrase) in [
        ("/legal/privacy", "Privacy Policy", "is not stored"),
        ("/legal/terms", "Terms of Service", "Acceptable Use Policy"),
        (
            "/legal/acceptable-use",
            "Acceptable Use Policy",
            "visitor hash",
        ),
    ] {
        let res = visitor.get(path).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        // No form, so no cookie: the cookie policy promises it.
        assert!(res.set_cookies.is_empty(), "{path}: {:?}", res.set_cookies);
        let html = &res.body;
        assert!(
            html.contains(&format!("<h1>{title}</h1>")),
            "{path}: {html}"
        );
        assert!(html.contains(NOTE), "{path}: no template note");
        assert!(html.contains(phrase), "{path}: {phrase}");
        assert_eq!(updated(html), today(), "{path}");
        // The footer links the legal pages; consent.js runs for Cookie Settings.
        for link in ["/legal/privacy", "/legal/terms", "/legal/cookies"] {
            assert!(html.contains(&format!("href=\"{link}\"")), "{path}: {link}");
        }
        assert!(html.contains("src=\"/js/consent.js\""), "{path}");
    }
    // The store holds each page once, as the template, whichever node asked first.
    let store = app.db.store().await;
    for page in LegalPage::ALL {
        let stored = store::get(&store, page, 0).await.unwrap();
        assert!(stored.is_template, "{}", page.slug());
        assert_eq!(stored.markdown, page.default_markdown());
    }
    let rows: i64 = store
        .value(sql("SELECT COUNT(*) FROM legal_pages"))
        .await
        .unwrap();
    assert_eq!(rows, 3);
    app.shutdown().await.unwrap();
}

async fn an_edit_is_served_at_once_and_the_same_text_keeps_its_date(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    let list = admin.get("/admin/legal").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.matches("Template, not reviewed").count(), 3);
    let form = admin.get("/admin/legal/privacy").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("id=\"template-state\""), "{}", form.body);
    age(&store, LegalPage::Privacy).await;

    // The same text, sent as a browser sends a textarea (CR LF): reviewed, date kept.
    let same = LegalPage::Privacy.default_markdown().replace('\n', "\r\n");
    let res = save(&admin, "privacy", &same).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/admin/legal/privacy?done=unchanged");
    let html = Client::new(&app).get("/legal/privacy").await.body;
    assert_eq!(updated(&html), "2025-01-02");
    assert!(!html.contains(NOTE), "reviewed, so no template note");
    let notice = admin.get(res.location()).await.body;
    assert!(notice.contains("its Last updated date is kept"), "{notice}");

    // A new text: served at once, dated today, with who saved it on the list.
    let res = save(
        &admin,
        "privacy",
        "## Our promise\r\n\r\nWe keep *nothing*.\r\n",
    )
    .await;
    assert_eq!(res.location(), "/admin/legal/privacy?done=saved");
    let html = Client::new(&app).get("/legal/privacy").await.body;
    assert!(html.contains("<h2>Our promise</h2>"), "{html}");
    assert!(html.contains("We keep <em>nothing</em>."), "{html}");
    assert!(
        !html.contains("is not stored"),
        "the template's text is gone"
    );
    assert!(!html.contains(NOTE));
    assert_eq!(updated(&html), today());
    let list = admin.get("/admin/legal").await.body;
    assert_eq!(list.matches("Template, not reviewed").count(), 2, "{list}");
    assert!(list.contains("ada@example.com"), "{list}");

    // Saved again unchanged a day later: the date stays.
    age(&store, LegalPage::Privacy).await;
    let res = save(&admin, "privacy", "## Our promise\n\nWe keep *nothing*.").await;
    assert_eq!(res.location(), "/admin/legal/privacy?done=unchanged");
    let html = Client::new(&app).get("/legal/privacy").await.body;
    assert_eq!(updated(&html), "2025-01-02");

    // Another node's save (straight to the store) is what this node serves next: no cache.
    store::save(
        &store,
        LegalPage::Privacy,
        "## From the other node\n",
        "x@example.com",
        1,
    )
    .await
    .unwrap();
    let html = Client::new(&app).get("/legal/privacy").await.body;
    assert!(html.contains("From the other node"), "{html}");

    // Restoring the template brings the note back; the other pages were never touched.
    let res = admin
        .post_form("/admin/legal/privacy", &[("action", "restore")])
        .await;
    assert_eq!(res.location(), "/admin/legal/privacy?done=restored");
    let html = Client::new(&app).get("/legal/privacy").await.body;
    assert!(
        html.contains(NOTE) && html.contains("is not stored"),
        "{html}"
    );
    assert!(
        Client::new(&app)
            .get("/legal/terms")
            .await
            .body
            .contains(NOTE)
    );
    let res = admin
        .post_form("/admin/legal/privacy", &[("action", "delete")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        admin.get("/admin/legal/cookies").await.status,
        StatusCode::NOT_FOUND
    );
    app.shutdown().await.unwrap();
}

async fn raw_html_in_a_page_is_shown_as_text(backend: Backend) {
    let (app, _store, admin) = setup(backend).await;
    let md = "## Terms\n\n<script>alert(1)</script>\n\nText <img src=x onerror=alert(2)> \
              [a link](javascript:alert(3)) and [ours](/legal/privacy).\n";
    let res = save(&admin, "terms", md).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let html = Client::new(&app).get("/legal/terms").await.body;
    let body = between(&html, "<article", "</article>").unwrap();
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script"), "{body}");
    assert!(!body.contains("<img"), "{body}");
    assert!(!body.to_ascii_lowercase().contains("javascript:"), "{body}");
    assert!(body.contains("href=\"/legal/privacy\""), "{body}");
    // The editor shows the text escaped in its textarea, not as markup.
    let form = admin.get("/admin/legal/terms").await.body;
    assert!(form.contains("&#60;script&#62;alert(1)"), "{form}");
    assert!(!form.contains("<script>alert(1)"), "{form}");
    app.shutdown().await.unwrap();
}

async fn an_oversized_or_empty_text_is_refused_and_kept(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    let before = store::get(&store, LegalPage::AcceptableUse, 0)
        .await
        .unwrap();
    // Over the limit by one byte, with a marker at its end: all of it comes back.
    let mut big = "x".repeat(MAX_MARKDOWN_BYTES - 7);
    big.push_str(" THE-END");
    assert_eq!(big.len(), MAX_MARKDOWN_BYTES + 1);
    let res = save(&admin, "acceptable-use", &big).await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "{}",
        res.body.chars().take(200).collect::<String>()
    );
    let error = between(&res.body, "id=\"f-markdown-error\">", "</p>").unwrap();
    assert!(error.contains("at most 32768"), "{error}");
    let kept = between(&res.body, "name=\"markdown\"", "</textarea>").unwrap();
    assert!(kept.contains(&"x".repeat(1000)) && kept.contains("THE-END"));
    // Exactly at the limit is fine.
    let res = save(&admin, "acceptable-use", &big[1..]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    store::restore_template(&store, LegalPage::AcceptableUse, "t", before.updated_at)
        .await
        .unwrap();

    let res = save(&admin, "acceptable-use", " \r\n \r\n").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("cannot be empty"), "{}", res.body);
    let after = store::get(&store, LegalPage::AcceptableUse, 0)
        .await
        .unwrap();
    assert!(after.is_template);
    assert_eq!(after.markdown, before.markdown);
    app.shutdown().await.unwrap();
}

async fn only_platform_admins_reach_the_editor(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    assert!(
        admin
            .get("/account")
            .await
            .body
            .contains("href=\"/admin/legal\""),
        "the navigation links the editor"
    );
    make_user(&store, "bob@example.com", Some("Bob Corp")).await;
    let bob = Client::new(&app);
    bob.sign_in("bob@example.com", PW, false).await;
    assert!(!bob.get("/account").await.body.contains("/admin/legal"));
    for path in ["/admin/legal", "/admin/legal/privacy"] {
        assert_eq!(bob.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let res = save(&bob, "privacy", "## Pwned\n").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = bob
        .post_form("/admin/legal/privacy", &[("action", "restore")])
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    // The administrator without the form's token, or from another site: refused.
    let no_token = admin
        .post_form_raw(
            "/admin/legal/privacy",
            &[("action", "save"), ("markdown", "## Pwned\n")],
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let token = admin.csrf().await;
    let cross = admin
        .post_form_raw(
            "/admin/legal/privacy",
            &[
                ("action", "save"),
                ("markdown", "## Pwned\n"),
                ("csrf", &token),
            ],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);

    let stored = store::get(&store, LegalPage::Privacy, 0).await.unwrap();
    assert!(stored.is_template && stored.saved_by.is_none());
    assert!(
        !Client::new(&app)
            .get("/legal/privacy")
            .await
            .body
            .contains("Pwned")
    );
    app.shutdown().await.unwrap();
}

async fn the_cookie_policy_explains_categories_choices_deletion_and_the_tracker(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = Client::new(&app).get("/legal/cookies").await;
    assert_eq!(res.status, StatusCode::OK);
    // Words as a reader sees them, whatever the template's line breaks.
    let html = &res.body.split_whitespace().collect::<Vec<_>>().join(" ");
    let section = |id: &str| {
        let start = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no section {id}"));
        let rest = &html[start..];
        let end = rest[1..].find(" id=\"").map_or(rest.len(), |i| i + 1);
        rest[..end].to_owned()
    };
    // Every category of the registry says what it means.
    for (id, words) in [
        ("necessary", "keep you signed in"),
        ("analytics", "measure how the site is used"),
        ("advertising", "advertising networks"),
    ] {
        let s = section(id);
        let meaning = between(&s, "<p class=\"category-meaning\">", "</p>").unwrap();
        assert!(meaning.contains(words), "{id}: {meaning}");
    }
    // Changing one's choice: the link that opens the banner's preferences.
    let settings = section("cookie-settings");
    assert!(
        settings.contains("<a href=\"#cookie-settings\" data-cookie-settings>Cookie Settings</a>")
    );
    assert!(settings.contains("lm_consent"), "{settings}");
    // Deleting cookies, browser by browser.
    let deleting = section("deleting-cookies");
    for browser in ["Chrome:", "Firefox:", "Safari on a Mac:", "Edge:"] {
        assert!(
            deleting.contains(&format!("<strong>{browser}</strong>")),
            "{browser}"
        );
    }
    // The tracker, honestly: what it sends, no storage, the address dropped, the law.
    let tracker = section("tracker");
    for words in [
        "the page's address",
        "sets no cookie and writes nothing",
        "is then dropped",
        "an IP address is personal data",
        "C-582/14",
        "wait for its visitors' consent",
    ] {
        assert!(tracker.contains(words), "{words}: {tracker}");
    }
    app.shutdown().await.unwrap();
}
