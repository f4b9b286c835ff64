//! The platform administrators' tag panel (`/admin/tags`), on both backends: tags added with
//! the vendor's keys pre-filled, bad IDs and URLs refused next to their field with nothing
//! stored, switches that change the cookie policy's revision and the rule's keys, the audit
//! log of every change, and nobody else let in.

use reqwest::StatusCode;
use serde_json::Value;

use leadsment::auth::store::NewUser;
use leadsment::auth::users::User;
use leadsment::consent::tags::default_keys_text;
use leadsment::consent::tags::store as tags;
use leadsment::registry::TagKind;
use leadsment::store::Db;

use crate::accounts::{PW, make_user, pw_hash};
use crate::client::{Client, between};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

on_both_backends!(
    a_platform_admin_adds_switches_edits_and_sees_the_log,
    bad_ids_and_urls_are_refused_next_to_the_field_and_nothing_is_stored,
    only_platform_admins_reach_the_panel,
    the_banner_asks_again_only_when_a_consented_category_gains,
    a_change_made_at_another_node_is_followed_within_seconds,
);

async fn make_admin(store: &Db, email: &str) -> User {
    let new = NewUser {
        email: email.to_owned(),
        name: "Ada Admin".to_owned(),
        password_hash: Some(pw_hash().await),
        email_verified: true,
        is_platform_admin: true,
    };
    leadsment::auth::store::create_user(store, &new)
        .await
        .unwrap()
}

/// The app, its store and a signed-in platform administrator.
async fn setup(backend: Backend) -> (TestApp, Db, Client) {
    let app = TestApp::spawn(backend).await;
    let store = app.db.store().await;
    make_admin(&store, "ada@example.com").await;
    let c = Client::new(&app);
    c.sign_in("ada@example.com", PW, false).await;
    (app, store, c)
}

fn ga4(target: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kind", "ga4".to_owned()),
        ("label", String::new()),
        ("target", target.to_owned()),
        ("category", "analytics".to_owned()),
        ("keys", default_keys_text(TagKind::Ga4)),
    ]
}

async fn post(c: &Client, path: &str, fields: &[(&'static str, String)]) -> crate::client::Resp {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post_form(path, &fields).await
}

/// The text of the error shown under field `name`.
fn field_error<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    between(body, &format!("id=\"f-{name}-error\">"), "</p>")
}

/// The banner rule's revision, and the key names and tag ids of one category.
async fn rule(app: &TestApp, category: &str) -> (String, Vec<String>, Vec<i64>) {
    let res = app.get("/api/consent/rule").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let cat = body["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == category)
        .unwrap()
        .clone();
    let keys = cat["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    let ids = cat["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    (body["revision"].as_str().unwrap().to_owned(), keys, ids)
}

async fn a_platform_admin_adds_switches_edits_and_sees_the_log(backend: Backend) {
    let (app, store, c) = setup(backend).await;
    let empty = c.get("/admin/tags").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("No tags yet"), "{}", empty.body);

    // The new form of a known kind comes with its vendor's keys.
    let new = c.get("/admin/tags/new?kind=ga4").await;
    assert_eq!(new.status, StatusCode::OK);
    assert!(
        new.body.contains("_ga_* | cookie | 2 years | first"),
        "{}",
        new.body
    );
    assert!(new.body.contains("Measurement ID"));
    let clarity = c.get("/admin/tags/new?kind=clarity").await;
    assert!(
        clarity.body.contains("_clck | cookie | 1 year"),
        "{}",
        clarity.body
    );
    assert!(
        clarity
            .body
            .contains("<option value=\"analytics\" selected>")
    );

    let (r0, keys0, _) = rule(&app, "analytics").await;
    assert!(!keys0.iter().any(|k| k.starts_with("_ga")));

    // Added: stored switched off, with an audit row that has no "before".
    let added = post(&c, "/admin/tags", &ga4("G-ABC123XYZ9")).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(added.location(), "/admin/tags?done=created");
    let list = tags::list(&store).await.unwrap();
    assert_eq!(list.len(), 1);
    let tag = &list[0];
    assert_eq!(
        (tag.spec.kind, tag.spec.target.as_str(), tag.enabled),
        (TagKind::Ga4, "G-ABC123XYZ9", false)
    );
    assert_eq!(tag.spec.entries(), TagKind::Ga4.cookies());
    let log = tags::changes(&store, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].before, None);
    assert_eq!(log[0].who, "ada@example.com");
    assert_eq!(log[0].after["target"], "G-ABC123XYZ9");
    assert_eq!(log[0].after["enabled"], false);
    assert_eq!(
        rule(&app, "analytics").await.0,
        r0,
        "a switched-off tag changes nothing"
    );

    // Switched on: a new revision, its keys under analytics, the tag named there.
    let path = format!("/admin/tags/{}", tag.id);
    let on = post(&c, &path, &[("action", "on".to_owned())]).await;
    assert_eq!(on.status, StatusCode::SEE_OTHER, "{}", on.body);
    let (r1, keys1, ids1) = rule(&app, "analytics").await;
    assert_ne!(r1, r0);
    assert!(keys1.contains(&"_ga".to_owned()) && keys1.contains(&"_ga_*".to_owned()));
    assert_eq!(ids1, [tag.id]);
    assert!(rule(&app, "advertising").await.1.is_empty());
    assert_eq!(
        leadsment::consent::store::latest_revision(&store)
            .await
            .unwrap()
            .unwrap()
            .0,
        r1
    );

    // Edited: fewer keys and another category make another revision.
    let edit = c.get(&path).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(
        edit.body.contains("value=\"G-ABC123XYZ9\""),
        "{}",
        edit.body
    );
    let mut fields = ga4("G-ABC123XYZ9");
    fields.push(("action", "save".to_owned()));
    fields[1].1 = "Main site".to_owned();
    fields[3].1 = "advertising".to_owned();
    fields[4].1 = default_keys_text(TagKind::Ga4)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let saved = post(&c, &path, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (r2, analytics, _) = rule(&app, "analytics").await;
    let (_, advertising, ids2) = rule(&app, "advertising").await;
    assert!(r2 != r1 && r2 != r0);
    assert!(!analytics.iter().any(|k| k.starts_with("_ga")));
    assert_eq!(advertising, ["_ga"]);
    assert_eq!(ids2, [tag.id]);

    // Switched off: the registry is the built-in one again.
    let off = post(&c, &path, &[("action", "off".to_owned())]).await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    let (r3, _, _) = rule(&app, "analytics").await;
    assert_eq!(r3, r0);
    assert!(rule(&app, "advertising").await.1.is_empty());
    assert!(!tags::get(&store, tag.id).await.unwrap().unwrap().enabled);

    // The log: four rows, newest first, on the page too.
    let log = tags::changes(&store, 10).await.unwrap();
    assert_eq!(log.len(), 4);
    assert_eq!(
        (
            log[0].before.as_ref().unwrap()["enabled"].clone(),
            log[0].after["enabled"].clone()
        ),
        (true.into(), false.into())
    );
    assert_eq!(log[1].after["label"], "Main site");
    assert_eq!(log[1].before.as_ref().unwrap()["category"], "analytics");
    let page = c.get("/admin/tags?done=off").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("The tag is switched off."), "{body}");
    assert!(body.contains("Main site") && body.contains("ada@example.com"));
    let turned_off = body.find("enabled: on → off").expect("the switch-off row");
    let edited = body
        .find("category: analytics → advertising")
        .expect("the edit row");
    let turned_on = body.find("enabled: off → on").expect("the switch-on row");
    let created = body
        .find("added: ga4 G-ABC123XYZ9, analytics, 2 keys")
        .expect("the creation row");
    assert!(
        turned_off < edited && edited < turned_on && turned_on < created,
        "newest first"
    );
    assert!(body.contains("label: Google Analytics 4 → Main site"));
    assert!(body.contains("keys: 2 → 1"));
    app.shutdown().await.unwrap();
}

async fn bad_ids_and_urls_are_refused_next_to_the_field_and_nothing_is_stored(backend: Backend) {
    let (app, store, c) = setup(backend).await;
    let (r0, _, _) = rule(&app, "analytics").await;

    let bad_id = post(&c, "/admin/tags", &ga4("UA-12345-1")).await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST, "{}", bad_id.body);
    let message = field_error(&bad_id.body, "target").expect("an error under the ID");
    assert!(message.contains("measurement ID"), "{message}");
    assert!(
        bad_id.body.contains("value=\"UA-12345-1\""),
        "what was typed is kept"
    );

    let pixel = vec![
        ("kind", "pixel".to_owned()),
        ("target", "http://px.example.com/p.gif".to_owned()),
        ("category", "advertising".to_owned()),
        ("keys", String::new()),
    ];
    let http = post(&c, "/admin/tags", &pixel).await;
    assert_eq!(http.status, StatusCode::BAD_REQUEST);
    let message = field_error(&http.body, "target").expect("an error under the URL");
    assert!(message.contains("https"), "{message}");

    let mut custom = pixel.clone();
    custom[0].1 = "custom".to_owned();
    custom[1].1 = "https://cdn.example.com/t.js".to_owned();
    custom.push(("hosts", "not a host".to_owned()));
    custom[3].1 = "bad name | cookie | 1 day | first |  | Acme | x".to_owned();
    let both = post(&c, "/admin/tags", &custom).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert!(field_error(&both.body, "hosts").is_some(), "{}", both.body);
    assert!(field_error(&both.body, "keys").unwrap().contains("Line 1"));
    assert!(field_error(&both.body, "target").is_none());

    // An edit with a bad ID changes nothing either.
    let good = post(&c, "/admin/tags", &ga4("G-ABC123XYZ9")).await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    let id = tags::list(&store).await.unwrap()[0].id;
    let mut fields = ga4("G-abc");
    fields.push(("action", "save".to_owned()));
    let bad_edit = post(&c, &format!("/admin/tags/{id}"), &fields).await;
    assert_eq!(bad_edit.status, StatusCode::BAD_REQUEST);
    assert!(field_error(&bad_edit.body, "target").is_some());

    let list = tags::list(&store).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].spec.target, "G-ABC123XYZ9");
    assert_eq!(tags::changes(&store, 10).await.unwrap().len(), 1);
    assert_eq!(rule(&app, "analytics").await.0, r0);
    app.shutdown().await.unwrap();
}

async fn only_platform_admins_reach_the_panel(backend: Backend) {
    let (app, store, admin) = setup(backend).await;
    assert_eq!(
        post(&admin, "/admin/tags", &ga4("G-ABC123XYZ9"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let id = tags::list(&store).await.unwrap()[0].id;

    make_user(&store, "bob@example.com", Some("Bob Corp")).await;
    let bob = Client::new(&app);
    bob.sign_in("bob@example.com", PW, false).await;
    for path in [
        "/admin/tags".to_owned(),
        "/admin/tags/new?kind=ga4".to_owned(),
        format!("/admin/tags/{id}"),
    ] {
        assert_eq!(
            bob.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "GET {path}"
        );
    }
    let res = post(&bob, "/admin/tags", &ga4("G-XYZ98765")).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = post(
        &bob,
        &format!("/admin/tags/{id}"),
        &[("action", "on".to_owned())],
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let list = tags::list(&store).await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(!list[0].enabled);
    assert_eq!(tags::changes(&store, 10).await.unwrap().len(), 1);
    // The user's own pages do not offer the panel.
    let own = bob.get("/account").await;
    assert!(!own.body.contains("/admin/tags"));
    app.shutdown().await.unwrap();
}

/// A decision posted from the site's own origin; the `lm_consent` cookie it set.
async fn consent_to(app: &TestApp, action: &str, categories: &[&str], revision: &str) -> String {
    let body = serde_json::json!({
        "action": action,
        "categories": categories,
        "revision": revision,
        "banner": leadsment::consent::BANNER_VERSION,
    });
    let res = app
        .client
        .post(app.url("/api/consent"))
        .header("origin", app.url("").trim_end_matches('/'))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lm_consent="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The rule as a visitor holding `cookie` gets it.
async fn rule_for(app: &TestApp, cookie: &str) -> Value {
    let res = app
        .client
        .get(app.url("/api/consent/rule"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn loads(rule: &Value) -> Vec<String> {
    rule["load"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["kind"].as_str().unwrap(),
                t["target"].as_str().unwrap()
            )
        })
        .collect()
}

/// The Content-Security-Policy of a page.
async fn csp(c: &Client, path: &str) -> String {
    let res = c.get(path).await;
    assert_eq!(res.status, StatusCode::OK, "{path}");
    res.headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

async fn the_banner_asks_again_only_when_a_consented_category_gains(backend: Backend) {
    let (app, store, c) = setup(backend).await;
    assert!(
        post(&c, "/admin/tags", &ga4("G-ABC123XYZ9"))
            .await
            .status
            .is_redirection()
    );
    let linkedin = vec![
        ("kind", "linkedin".to_owned()),
        ("label", String::new()),
        ("target", "123456".to_owned()),
        ("category", "advertising".to_owned()),
        ("keys", default_keys_text(TagKind::LinkedIn)),
    ];
    assert!(
        post(&c, "/admin/tags", &linkedin)
            .await
            .status
            .is_redirection()
    );
    let list = tags::list(&store).await.unwrap();
    let id = |kind: TagKind| list.iter().find(|t| t.spec.kind == kind).unwrap().id;
    let (ga, li) = (id(TagKind::Ga4), id(TagKind::LinkedIn));
    let switch = |tag: i64, to: &'static str| {
        let c = &c;
        async move {
            let res = post(
                c,
                &format!("/admin/tags/{tag}"),
                &[("action", to.to_owned())],
            )
            .await;
            assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        }
    };

    // Switched off, a tag is on no page's policy; switched on, only the public pages allow
    // its hosts.
    assert!(!csp(&c, "/legal/cookies").await.contains("googletagmanager"));
    switch(ga, "on").await;
    switch(li, "on").await;
    let public = csp(&c, "/legal/cookies").await;
    assert!(
        public.contains("https://www.googletagmanager.com")
            && public.contains("https://px.ads.linkedin.com")
            && public.contains("https://*.google-analytics.com"),
        "{public}"
    );
    for signed_in in ["/account", "/admin/tags", "/app"] {
        let policy = c
            .get(signed_in)
            .await
            .headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            !policy.contains("google") && !policy.contains("linkedin"),
            "{signed_in}: {policy}"
        );
    }

    // Without a choice nothing is listed to load (opt-in); analytics alone lists GA4 alone.
    let (revision, _, _) = rule(&app, "analytics").await;
    let fresh = rule_for(&app, "x=1").await;
    assert!(loads(&fresh).is_empty(), "{fresh}");
    assert_eq!(fresh["ask"], true);
    let analytics_only = consent_to(&app, "save", &["analytics"], &revision).await;
    let refused_all = consent_to(&app, "reject_all", &[], &revision).await;
    let r = rule_for(&app, &analytics_only).await;
    assert_eq!(
        (r["ask"].clone(), loads(&r)),
        (Value::Bool(false), vec!["ga4:G-ABC123XYZ9".to_owned()])
    );

    // A tag switched off takes things away: a new revision, and nobody is asked again.
    switch(li, "off").await;
    let r = rule_for(&app, &analytics_only).await;
    assert_ne!(r["revision"], revision.as_str());
    assert_eq!(r["ask"], false, "{r}");
    assert!(!csp(&c, "/legal/cookies").await.contains("linkedin"));
    // Advertising gains a tag again: refused there, so not asked.
    switch(li, "on").await;
    assert_eq!(rule_for(&app, &analytics_only).await["ask"], false);
    assert_eq!(rule_for(&app, &refused_all).await["ask"], false);

    // Analytics gains a key (GA4's edited keys): asked again, and so is... only who consented.
    let path = format!("/admin/tags/{ga}");
    let mut fields = ga4("G-ABC123XYZ9");
    fields[4]
        .1
        .push_str("\n_ga_extra | local_storage | 1 day | first | | Google | A test key.");
    fields.push(("action", "save".to_owned()));
    let saved = post(&c, &path, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let r = rule_for(&app, &analytics_only).await;
    assert_eq!(r["ask"], true, "{r}");
    assert_eq!(rule_for(&app, &refused_all).await["ask"], false);

    // The same tag pointed at another measurement ID, with the same keys: a new revision, and
    // those who consented to analytics are asked again.
    let (before, _, _) = rule(&app, "analytics").await;
    let accepted = consent_to(&app, "accept_all", &[], &before).await;
    assert_eq!(rule_for(&app, &accepted).await["ask"], false);
    let mut fields = ga4("G-OTHER12345");
    fields[4].1 = saved_keys(&store, ga).await;
    fields.push(("action", "save".to_owned()));
    let saved = post(&c, &path, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (after, _, _) = rule(&app, "analytics").await;
    assert_ne!(after, before, "a new target is a new revision");
    let r = rule_for(&app, &accepted).await;
    assert_eq!(r["ask"], true, "{r}");
    app.shutdown().await.unwrap();
}

/// The keys field of a stored tag, as the form shows it.
async fn saved_keys(store: &Db, id: i64) -> String {
    tags::get(store, id)
        .await
        .unwrap()
        .unwrap()
        .spec
        .form()
        .keys
}

async fn a_change_made_at_another_node_is_followed_within_seconds(backend: Backend) {
    // A change written to the database by another node (here: straight to the store) reaches
    // this node's rule and CSP without its panel being used.
    let (app, store, c) = setup(backend).await;
    let spec = leadsment::consent::tags::TagSpec::parse(&leadsment::consent::tags::TagForm {
        kind: "ga4".to_owned(),
        label: String::new(),
        target: "G-ELSEWHERE1".to_owned(),
        hosts: String::new(),
        category: "analytics".to_owned(),
        keys: default_keys_text(TagKind::Ga4),
    })
    .unwrap();
    let who = tags::Who {
        user_id: 1,
        email: "ops@example.com".to_owned(),
    };
    let tag = tags::create(&store, &spec, &who, 1).await.unwrap();
    tags::set_enabled(&store, tag.id, true, &who, 2)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids = rule(&app, "analytics").await.2;
        if !ids.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(ids, [tag.id], "the other node's change never arrived");
    assert!(csp(&c, "/legal/cookies").await.contains("googletagmanager"));
    tags::set_enabled(&store, tag.id, false, &who, 3)
        .await
        .unwrap();
    for _ in 0..50 {
        ids = rule(&app, "analytics").await.2;
        if ids.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ids.is_empty(), "the switch-off never arrived");
    assert!(!csp(&c, "/legal/cookies").await.contains("googletagmanager"));
    app.shutdown().await.unwrap();
}
