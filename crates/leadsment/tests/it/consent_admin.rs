//! The platform administrators' consents page (`/admin/consents`) and its CSV export, on both
//! backends: a decision looked up with the one it replaced and the one that replaced it, bad
//! or unknown IDs answered on the page, the export holding exactly the decisions of its UTC
//! days (formula-like cells escaped), bad dates refused next to their field, a large export
//! complete, and nobody else let in.

use reqwest::StatusCode;
use serde_json::Value;

use leadsment::consent::Proof;
use leadsment::consent::choice::Action;
use leadsment::consent::store;
use leadsment::store::Db;

use crate::accounts::{PW, make_user, pw_hash};
use crate::client::{Client, between};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

on_both_backends!(
    only_platform_admins_reach_the_consents_page,
    a_decision_is_looked_up_with_what_it_replaced_and_what_replaced_it,
    the_export_holds_exactly_the_decisions_of_its_days,
    bad_dates_are_refused_next_to_their_field,
    a_large_export_is_streamed_and_complete,
);

const COLUMNS: &str = "consent_id,previous_id,time,revision,banner_version,action,analytics,advertising,gpc,country,browser";

/// The app, its store and a signed-in platform administrator.
pub async fn setup(backend: Backend) -> (TestApp, Db, Client) {
    let app = TestApp::spawn(backend).await;
    let store = app.db.store().await;
    let admin = leadsment::auth::store::NewUser {
        email: "ada@example.com".to_owned(),
        name: "Ada Admin".to_owned(),
        password_hash: Some(pw_hash().await),
        email_verified: true,
        is_platform_admin: true,
    };
    leadsment::auth::store::create_user(&store, &admin)
        .await
        .unwrap();
    let c = Client::new(&app);
    c.sign_in("ada@example.com", PW, false).await;
    (app, store, c)
}

/// A decision made as a visitor's banner makes it, from the instance's own origin, with the
/// browser's `lm_consent` if any; its consent ID and the new `lm_consent` pair.
async fn decide(app: &TestApp, action: &str, cookie: Option<&str>) -> (String, String) {
    let rule: Value = app.get("/api/consent/rule").await.json().await.unwrap();
    let body = serde_json::json!({
        "action": action,
        "revision": rule["revision"],
        "banner": rule["banner"],
    });
    let mut req = app
        .client
        .post(app.url("/api/consent"))
        .header("origin", app.url("").trim_end_matches('/'))
        .header("user-agent", crate::tracking::CHROME)
        .json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pair = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("lm_consent="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let answer: Value = res.json().await.unwrap();
    (answer["consent_id"].as_str().unwrap().to_owned(), pair)
}

/// A decision as the proof log keeps it, made at `at` (RFC 3339).
fn proof(consent_id: &str, at: &str) -> Proof {
    Proof {
        consent_id: consent_id.to_owned(),
        previous_id: None,
        created_at: at.parse::<jiff::Timestamp>().unwrap().as_millisecond(),
        revision: "5069ba13025b9590".to_owned(),
        banner_version: leadsment::consent::BANNER_VERSION.to_owned(),
        action: Action::Save,
        analytics: true,
        advertising: false,
        gpc: false,
        country: Some("DE".to_owned()),
        browser: Some("Firefox".to_owned()),
    }
}

/// A consent ID as the server makes them, numbered.
fn id(n: usize) -> String {
    format!("c_{n:0>22}")
}

fn field_error<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    between(body, &format!("id=\"f-{name}-error\">"), "</p>")
}

/// The CSV's records, header first, as the `csv` crate reads them.
fn records(body: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn only_platform_admins_reach_the_consents_page(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    let csv = "/admin/consents.csv?from=2026-01-01&to=2026-12-31";
    assert_eq!(admin.get("/admin/consents").await.status, StatusCode::OK);
    assert_eq!(admin.get(csv).await.status, StatusCode::OK);
    assert!(
        admin
            .get("/account")
            .await
            .body
            .contains("href=\"/admin/consents\"")
    );

    store::record(&store, &proof(&id(1), "2026-06-01T10:00:00Z"))
        .await
        .unwrap();
    make_user(&store, "bob@example.com", Some("Bob Corp")).await;
    let bob = Client::new(&app);
    bob.sign_in("bob@example.com", PW, false).await;
    for path in [
        "/admin/consents".to_owned(),
        format!("/admin/consents?id={}", id(1)),
        csv.to_owned(),
    ] {
        let res = bob.get(&path).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "GET {path}");
        assert!(!res.body.contains(&id(1)), "{path}: {}", res.body);
    }
    assert!(!bob.get("/account").await.body.contains("/admin/consents"));
    app.shutdown().await.unwrap();
}

async fn a_decision_is_looked_up_with_what_it_replaced_and_what_replaced_it(backend: Backend) {
    let (app, _store, admin) = setup(backend).await;
    let (first, cookie) = decide(&app, "accept_all", None).await;
    let (second, _) = decide(&app, "reject_all", Some(&cookie)).await;
    let rule: Value = app.get("/api/consent/rule").await.json().await.unwrap();
    let revision = rule["revision"].as_str().unwrap();

    let page = admin.get(&format!("/admin/consents?id={second}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let found = between(&page.body, "<div id=\"found\">", "</div>").unwrap();
    assert!(found.contains(&format!("<code>{second}</code>")), "{found}");
    assert!(found.contains("Reject all"), "{found}");
    assert!(found.contains(revision), "{found}");
    assert!(
        found.contains(leadsment::consent::BANNER_VERSION),
        "{found}"
    );
    assert!(found.contains("Chrome"), "{found}");
    assert!(found.contains(" UTC</td>"), "{found}");
    assert!(
        found.contains(&format!("href=\"/admin/consents?id={first}\"")),
        "the decision it replaced is linked: {found}"
    );
    assert!(found.contains("No later decision"), "{found}");

    let page = admin.get(&format!("/admin/consents?id={first}")).await;
    let found = between(&page.body, "<div id=\"found\">", "</div>").unwrap();
    assert!(found.contains("Accept all"), "{found}");
    assert!(found.contains("the browser's first decision"), "{found}");
    let replaced = between(found, "Replaced by", "</ul>").unwrap();
    assert!(
        replaced.contains(&format!("href=\"/admin/consents?id={second}\"")),
        "{found}"
    );

    // The latest list and the counts show both.
    assert!(
        page.body.contains("Accept all <strong>1</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Reject all <strong>1</strong>"));
    let recent = between(&page.body, "id=\"recent\"", "</section>").unwrap();
    assert!(recent.contains(&first) && recent.contains(&second));
    assert!(recent.find(&second) < recent.find(&first), "newest first");

    // An unknown ID and a malformed one: the page, with a message, no decision.
    let unknown = admin.get(&format!("/admin/consents?id={}", id(7))).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(unknown.body.contains("No decision has the consent ID"));
    assert!(!unknown.body.contains("id=\"found\""));
    let bad = admin
        .get("/admin/consents?id=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        field_error(&bad.body, "id")
            .unwrap()
            .contains("c_ followed by 22"),
        "{}",
        bad.body
    );
    assert!(!bad.body.contains("<script>alert"), "shown back escaped");
    assert!(!bad.body.contains("id=\"found\""));
    app.shutdown().await.unwrap();
}

async fn the_export_holds_exactly_the_decisions_of_its_days(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    let times = [
        "2026-11-30T23:59:59.999Z",
        "2026-12-01T00:00:00Z",
        "2026-12-02T12:30:00.250Z",
        "2026-12-03T23:59:59.999Z",
        "2026-12-04T00:00:00Z",
    ];
    for (n, at) in times.iter().enumerate() {
        let mut p = proof(&id(n), at);
        if n == 2 {
            // Every value in the log is the server's own, but a cell must never run.
            p.previous_id = Some(id(1));
            p.browser = Some("=HYPERLINK(\"http://evil.example\")".to_owned());
            p.country = Some("+1".to_owned());
            p.action = Action::AcceptAll;
            p.advertising = true;
            p.gpc = true;
        }
        store::record(&store, &p).await.unwrap();
    }

    let res = admin
        .get("/admin/consents.csv?from=2026-12-01&to=2026-12-03")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        res.headers["content-disposition"],
        "attachment; filename=\"consents-2026-12-01-2026-12-03.csv\""
    );
    assert_eq!(res.body.lines().next(), Some(COLUMNS));
    let rows = records(&res.body);
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, [id(1), id(2), id(3)], "{}", res.body);
    assert_eq!(
        rows[2],
        [
            id(2).as_str(),
            id(1).as_str(),
            "2026-12-02T12:30:00.25Z",
            "5069ba13025b9590",
            leadsment::consent::BANNER_VERSION,
            "accept_all",
            "true",
            "true",
            "true",
            "'+1",
            "'=HYPERLINK(\"http://evil.example\")",
        ]
    );
    assert_eq!(
        rows[1],
        [
            id(1).as_str(),
            "",
            "2026-12-01T00:00:00Z",
            "5069ba13025b9590",
            leadsment::consent::BANNER_VERSION,
            "save",
            "true",
            "false",
            "false",
            "DE",
            "Firefox",
        ]
    );

    // One day, and a day without decisions: the header alone.
    let one = admin
        .get("/admin/consents.csv?from=2026-12-04&to=2026-12-04")
        .await;
    let ids: Vec<String> = records(&one.body)[1..]
        .iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(ids, [id(4)]);
    let none = admin
        .get("/admin/consents.csv?from=2025-01-01&to=2025-01-31")
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body, format!("{COLUMNS}\n"));
    app.shutdown().await.unwrap();
}

async fn bad_dates_are_refused_next_to_their_field(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    store::record(&store, &proof(&id(1), "2026-12-01T10:00:00Z"))
        .await
        .unwrap();
    for (query, field, says) in [
        ("from=2026-13-01&to=2026-12-31", "from", "is not a date"),
        ("from=01.12.2026&to=2026-12-31", "from", "is not a date"),
        ("from=2026-12-01&to=tomorrow", "to", "is not a date"),
        ("to=2026-12-31", "from", "Enter the first day"),
        (
            "from=2026-12-02&to=2026-12-01",
            "to",
            "the first day or later",
        ),
    ] {
        let res = admin.get(&format!("/admin/consents.csv?{query}")).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            res.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{query}"
        );
        let error =
            field_error(&res.body, field).unwrap_or_else(|| panic!("{query}: {}", res.body));
        assert!(error.contains(says), "{query}: {error}");
        let other = if field == "from" { "to" } else { "from" };
        if query != "to=2026-12-31" {
            assert!(field_error(&res.body, other).is_none(), "{query}");
        }
        assert!(!res.body.contains(COLUMNS), "{query}");
    }
    app.shutdown().await.unwrap();
}

async fn a_large_export_is_streamed_and_complete(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    let total = 2_500;
    let start = "2026-10-01T00:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let mut tx = store.begin().await.unwrap();
    for n in 0..total {
        // One a minute from 1 October: the last ones fall on 2 October.
        tx.execute(
            leadsment::store::sql(
                "INSERT INTO consent_log (consent_id, previous_id, created_at, revision, \
                 banner_version, action, analytics, advertising, gpc, country, browser) \
                 VALUES ($1, NULL, $2, 'r1', 'b1', 'reject_all', FALSE, FALSE, FALSE, 'FR', 'Safari')",
            )
            .bind(id(n))
            .bind(start + n as i64 * 60_000),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    assert!(total as i64 > 2 * leadsment::consent::proof_page::EXPORT_PAGE);

    let res = admin
        .get("/admin/consents.csv?from=2026-10-01&to=2026-10-02")
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.headers.get("content-length").is_none(),
        "streamed, not built whole first: {:?}",
        res.headers
    );
    let rows = records(&res.body);
    assert_eq!(rows[0].join(","), COLUMNS);
    let ids: Vec<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
    let expected: Vec<String> = (0..total).map(id).collect();
    assert_eq!(ids.len(), total);
    assert!(ids == expected, "every decision once, in order");
    app.shutdown().await.unwrap();
}
