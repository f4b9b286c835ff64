//! A site's settings page, on both backends: domain, aliases and time zone saved in one go
//! (and refused whole, with the reason next to the field), ignored networks that ingest
//! applies, and who may open the page.

use std::time::{Duration, Instant};

use leadsment::accounts::WorkspaceId;
use leadsment::accounts::roles::Role;
use leadsment::accounts::sites::{Hostname, NewSite, SITE_CHANGES_APPLY_WITHIN, Site};
use leadsment::auth::users::User;
use leadsment::store::Db;
use reqwest::StatusCode;
use serde_json::json;

use crate::accounts::{PW, join, make_user};
use crate::client::Client;
use crate::on_both_backends;
use crate::support::{Backend, TestApp};
use crate::tracking::{CHROME, export_all, post};

on_both_backends!(
    an_admin_changes_the_domain_aliases_and_time_zone_and_sees_them,
    a_host_another_site_claims_is_a_field_error_and_changes_nothing,
    bad_input_is_refused_next_to_its_field_and_kept,
    ignored_networks_are_added_removed_and_applied_by_ingest,
    viewers_members_other_workspaces_and_forged_forms_are_refused,
    waiting_for_consent_is_switched_by_admins_and_changes_every_shown_snippet,
);

/// The app (trusting 127.0.0.1 as a proxy, so tests can send events as other addresses), an
/// owner with the workspace Acme, and its site acme.example.
async fn setup(backend: Backend) -> (TestApp, Db, User, Site) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let store = app.db.store().await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = workspace_of(&store, &owner).await;
    let site = add_site(&store, ws, "acme.example").await;
    (app, store, owner, site)
}

pub async fn workspace_of(store: &Db, user: &User) -> WorkspaceId {
    leadsment::accounts::store::memberships(store, user.id)
        .await
        .unwrap()[0]
        .workspace
        .id
}

pub async fn add_site(store: &Db, ws: WorkspaceId, domain: &str) -> Site {
    leadsment::accounts::store::create_site(store, &NewSite::new(ws, domain, &[]).unwrap())
        .await
        .unwrap()
}

/// A member of the site's workspace with `role`, signed in.
async fn signed_in(app: &TestApp, store: &Db, site: &Site, owner: &User, role: Role) -> Client {
    let email = format!("{}@example.com", role.as_str());
    let user = make_user(store, &email, None).await;
    join(store, site.workspace_id, &user, role, owner.id).await;
    let c = Client::new(app);
    c.sign_in(&email, PW, false).await;
    c
}

fn settings(site: &Site) -> String {
    format!("/w/{}/sites/{}/settings", site.workspace_id.0, site.id.0)
}

async fn reload(store: &Db, site: &Site) -> Site {
    leadsment::accounts::store::workspace_site(store, site.workspace_id, site.id)
        .await
        .unwrap()
        .unwrap()
}

async fn owner_of(store: &Db, host: &str) -> Option<Site> {
    leadsment::accounts::store::site_by_host(store, &Hostname::parse(host).unwrap())
        .await
        .unwrap()
}

/// A form's fields as the tests write them.
type Fields = Vec<(&'static str, String)>;

fn save(domain: &str, aliases: &str, time_zone: &str) -> Fields {
    vec![
        ("section", "site".to_owned()),
        ("domain", domain.to_owned()),
        ("aliases", aliases.to_owned()),
        ("time_zone", time_zone.to_owned()),
    ]
}

/// Posts `fields` to the settings form without its CSRF token (or with `token`, a forged one)
/// and checks the answer is 403.
async fn assert_refused_without_token(
    c: &Client,
    site: &Site,
    fields: &[(&'static str, String)],
    token: Option<&str>,
) {
    let mut fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(token) = token {
        fields.push(("csrf", token));
    }
    let res = c
        .post_form_raw(
            &settings(site),
            &fields,
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
}

async fn submit(c: &Client, site: &Site, fields: &[(&'static str, String)]) -> crate::client::Resp {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post_form(&settings(site), &fields).await
}

/// The text of the error shown under field `name`.
fn field_error<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    crate::client::between(body, &format!("id=\"f-{name}-error\">"), "</p>")
}

async fn an_admin_changes_the_domain_aliases_and_time_zone_and_sees_them(backend: Backend) {
    let (app, store, owner, site) = setup(backend).await;
    let admin = signed_in(&app, &store, &site, &owner, Role::Admin).await;

    let overview = admin.get(&format!("/w/{}", site.workspace_id.0)).await;
    assert!(
        overview
            .body
            .contains(&format!("href=\"{}\"", settings(&site))),
        "the overview links each site's settings for admins: {}",
        overview.body
    );
    let page = admin.get(&settings(&site)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("value=\"acme.example\""));
    assert!(
        page.body.contains("data-domain=&#34;acme.example&#34;")
            || page.body.contains("data-domain=&quot;acme.example&quot;"),
        "the snippet, escaped: {}",
        page.body
    );
    let within = format!("within {} seconds", SITE_CHANGES_APPLY_WITHIN.as_secs());
    assert!(page.body.contains(&within), "{}", page.body);

    let res = submit(
        &admin,
        &site,
        &save(
            "https://www.Acme-Corp.example/",
            "shop.acme-corp.example, staging.acme.example\nshop.acme-corp.example",
            " Europe/Berlin ",
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), format!("{}?done=site", settings(&site)));
    let page = admin.get(res.location()).await;
    assert!(page.body.contains("The site is saved"), "{}", page.body);
    assert!(page.body.contains("value=\"www.acme-corp.example\""));
    assert!(
        page.body
            .contains("value=\"shop.acme-corp.example, staging.acme.example\"")
    );
    assert!(page.body.contains("value=\"Europe/Berlin\""));
    assert!(
        page.body
            .contains("data-domain=&#34;www.acme-corp.example&#34;")
            || page
                .body
                .contains("data-domain=&quot;www.acme-corp.example&quot;")
    );

    let saved = reload(&store, &site).await;
    assert_eq!(saved.domain.as_str(), "www.acme-corp.example");
    assert_eq!(saved.time_zone, "Europe/Berlin");
    assert_eq!(saved.aliases.len(), 2);
    // The hosts moved with it: the old domain is free, the new ones are this site's.
    assert!(owner_of(&store, "acme.example").await.is_none());
    for host in [
        "acme-corp.example",
        "shop.acme-corp.example",
        "staging.acme.example",
    ] {
        assert_eq!(
            owner_of(&store, host).await.map(|s| s.id),
            Some(site.id),
            "{host}"
        );
    }
    // Ingest takes the new domain at once (it has never been looked up).
    let event = json!({"name": "pageview", "url": "https://shop.acme-corp.example/", "domain": "www.acme-corp.example"});
    let res = post(&app, &event, CHROME, Some("198.51.100.23")).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(export_all(&app, &saved).await.len(), 1);
    // Another site can now take the old domain.
    add_site(&store, site.workspace_id, "acme.example").await;
    app.shutdown().await.unwrap();
}

async fn a_host_another_site_claims_is_a_field_error_and_changes_nothing(backend: Backend) {
    let (app, store, owner, site) = setup(backend).await;
    let sibling = add_site(&store, site.workspace_id, "acme.shop").await;
    let stranger = make_user(&store, "stranger@example.com", Some("Other Ltd")).await;
    let elsewhere = workspace_of(&store, &stranger).await;
    add_site(&store, elsewhere, "other.example").await;
    let admin = signed_in(&app, &store, &site, &owner, Role::Admin).await;

    // A sibling's host as an alias: named, since it is in this workspace.
    let res = submit(
        &admin,
        &site,
        &save(
            "acme.example",
            "blog.acme.example, www.acme.shop",
            "Europe/Paris",
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    let error = field_error(&res.body, "aliases").expect(&res.body);
    assert!(
        error.contains("acme.shop is already used by another site"),
        "{error}"
    );
    assert!(error.contains("in this workspace"), "{error}");
    assert!(
        res.body
            .contains("value=\"blog.acme.example, www.acme.shop\""),
        "kept"
    );
    // Another customer's host as the domain: refused without naming their site.
    let res = submit(&admin, &site, &save("www.other.example", "", "UTC")).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    let error = field_error(&res.body, "domain").expect(&res.body);
    assert_eq!(error, "other.example is already used by another site.");
    assert!(field_error(&res.body, "aliases").is_none());

    let after = reload(&store, &site).await;
    assert_eq!(after, site, "nothing changed");
    assert_eq!(
        owner_of(&store, "acme.example").await.map(|s| s.id),
        Some(site.id)
    );
    assert!(owner_of(&store, "blog.acme.example").await.is_none());
    assert_eq!(
        owner_of(&store, "acme.shop").await.map(|s| s.id),
        Some(sibling.id)
    );
    app.shutdown().await.unwrap();
}

async fn bad_input_is_refused_next_to_its_field_and_kept(backend: Backend) {
    let (app, store, owner, site) = setup(backend).await;
    let admin = signed_in(&app, &store, &site, &owner, Role::Admin).await;
    let long = format!("{}.example", "a".repeat(5000));
    let many = (0..60)
        .map(|i| format!("a{i}.example"))
        .collect::<Vec<_>>()
        .join(",");
    let cases: Vec<(Fields, &str, &str)> = vec![
        (
            save("not a domain", "", "UTC"),
            "domain",
            "not a valid domain name",
        ),
        (save("", "", "UTC"), "domain", "The domain is empty"),
        (save("192.0.2.1", "", "UTC"), "domain", "IP address"),
        (save(&long, "", "UTC"), "domain", "not a valid domain name"),
        (
            save("acme.example", "www.acme.example", "UTC"),
            "aliases",
            "own domain",
        ),
        (
            save("acme.example", "ok.example, bad..example", "UTC"),
            "aliases",
            "`bad..example` is not a valid domain name",
        ),
        (
            save("acme.example", &many, "UTC"),
            "aliases",
            "at most 50 aliases",
        ),
        (
            save("acme.example", "", "Mars/Olympus"),
            "time_zone",
            "not an IANA time zone",
        ),
        (
            save("acme.example", "", ""),
            "time_zone",
            "not an IANA time zone",
        ),
        (
            save("<script>alert(1)</script>.example", "", "UTC"),
            "domain",
            "not a valid domain name",
        ),
        (
            vec![
                ("section", "add_network".into()),
                ("network", "203.0.113.0/33".into()),
            ],
            "network",
            "not a network",
        ),
        (
            vec![
                ("section", "add_network".into()),
                ("network", "<b>office</b>".into()),
            ],
            "network",
            "not a network",
        ),
        (
            vec![
                ("section", "add_network".into()),
                ("network", "9".repeat(3000)),
            ],
            "network",
            "not a network",
        ),
        (
            vec![("section", "add_network".into()), ("network", " ".into())],
            "network",
            "empty",
        ),
    ];
    for (fields, field, words) in cases {
        let res = submit(&admin, &site, &fields).await;
        assert!(res.status.is_client_error(), "{fields:?}: {}", res.status);
        let error =
            field_error(&res.body, field).unwrap_or_else(|| panic!("{fields:?}: {}", res.body));
        assert!(error.contains(words), "{field}: {error}");
        assert!(
            error.len() < 400,
            "an overlong input is not repeated whole: {error}"
        );
        // What was typed is kept (cut to a sane length) and escaped.
        let (_, typed) = fields.iter().find(|(k, _)| *k == field).unwrap();
        let shown: String = typed.chars().take(40).collect();
        if !shown.trim().is_empty() && !shown.contains('<') {
            assert!(
                res.body.contains(&format!("value=\"{shown}")),
                "{field} kept: {}",
                res.body
            );
        }
        assert!(!res.body.contains("<script>alert(1)"), "escaped");
        assert!(!res.body.contains("<b>office"), "escaped");
    }
    assert_eq!(reload(&store, &site).await, site, "nothing changed");
    assert!(
        leadsment::accounts::store::ignored_networks(&store, site.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Forms the page never sends get an answer, not a failure.
    let res = submit(&admin, &site, &[("section", "nonsense".into())]).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = submit(
        &admin,
        &site,
        &[
            ("section", "remove_network".into()),
            ("network", "10.0.0.0/8".into()),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = submit(
        &admin,
        &site,
        &[
            ("section", "remove_network".into()),
            ("network", "junk".into()),
        ],
    )
    .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    app.shutdown().await.unwrap();
}

/// Sends a pageview to acme.example as `client` (through the trusted proxy); whether it was
/// stored.
async fn stored(app: &TestApp, site: &Site, client: &str, path: &str) -> bool {
    let url = format!("https://acme.example{path}");
    let event = json!({"name": "pageview", "url": url, "domain": "acme.example"});
    let res = post(app, &event, CHROME, Some(client)).await;
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "dropped events are accepted too"
    );
    export_all(app, site)
        .await
        .iter()
        .any(|e| e["path"] == path)
}

async fn ignored_networks_are_added_removed_and_applied_by_ingest(backend: Backend) {
    let (app, store, owner, site) = setup(backend).await;
    let admin = signed_in(&app, &store, &site, &owner, Role::Admin).await;
    let page = admin.get(&settings(&site)).await;
    assert!(page.body.contains("No ignored networks"), "{}", page.body);
    let add = |network: &str| {
        vec![
            ("section", "add_network".to_owned()),
            ("network", network.to_owned()),
        ]
    };
    let remove = |network: &str| {
        vec![
            ("section", "remove_network".to_owned()),
            ("network", network.to_owned()),
        ]
    };

    for (typed, listed) in [
        ("198.51.100.0/24", "198.51.100.0/24"),
        ("2001:db8::/48", "2001:db8::/48"),
        (" 203.0.113.9 ", "203.0.113.9/32"),
    ] {
        let res = submit(&admin, &site, &add(typed)).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{typed}: {}", res.body);
        assert_eq!(
            res.location(),
            format!("{}?done=network_added", settings(&site))
        );
        let page = admin.get(res.location()).await;
        assert!(
            page.body.contains("The network is ignored"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains(&format!("<code>{listed}</code>")),
            "{listed}: {}",
            page.body
        );
    }
    // Ingest has not looked the site up yet, so the list applies to the first events.
    assert!(
        !stored(&app, &site, "198.51.100.23", "/office").await,
        "ignored"
    );
    assert!(
        !stored(&app, &site, "2001:db8::7", "/office-v6").await,
        "ignored"
    );
    assert!(
        stored(&app, &site, "192.0.2.77", "/customer").await,
        "not ignored"
    );

    // Now that ingest holds the site, one network goes and another comes.
    let res = submit(&admin, &site, &remove("198.51.100.0/24")).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = admin.get(res.location()).await;
    assert!(page.body.contains("no longer ignored"));
    assert!(!page.body.contains("198.51.100.0/24"));
    let res = submit(&admin, &site, &add("192.0.2.0/24")).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let changed = Instant::now();
    let listed = leadsment::accounts::store::ignored_networks(&store, site.id)
        .await
        .unwrap();
    let listed: Vec<String> = listed.iter().map(ToString::to_string).collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(!listed.contains(&"198.51.100.0/24".to_owned()));

    // Both changes reach ingest together, within the time the page states: until then the
    // old list holds (the first attempt shows that the cache was in play).
    let limit = SITE_CHANGES_APPLY_WITHIN + Duration::from_secs(2);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let office = stored(&app, &site, "198.51.100.23", &format!("/office-{attempt}")).await;
        let customer = stored(&app, &site, "192.0.2.77", &format!("/customer-{attempt}")).await;
        if attempt == 1 {
            assert_eq!(
                (office, customer),
                (false, true),
                "the first events used the cached list"
            );
        }
        if office && !customer {
            break;
        }
        assert!(
            changed.elapsed() < limit,
            "not applied after {:?}",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.shutdown().await.unwrap();
}

async fn viewers_members_other_workspaces_and_forged_forms_are_refused(backend: Backend) {
    let (app, store, owner, site) = setup(backend).await;
    let stranger = make_user(&store, "stranger@example.com", Some("Other Ltd")).await;
    let theirs = add_site(
        &store,
        workspace_of(&store, &stranger).await,
        "other.example",
    )
    .await;
    let change = save("evil.example", "", "UTC");

    for role in [Role::Viewer, Role::Member] {
        let c = signed_in(&app, &store, &site, &owner, role).await;
        let res = c.get(&settings(&site)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{role:?} GET");
        let res = submit(&c, &site, &change).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{role:?} POST");
        let overview = c.get(&format!("/w/{}", site.workspace_id.0)).await;
        assert!(
            !overview.body.contains(&settings(&site)),
            "no link for {role:?}"
        );
    }

    let admin = signed_in(&app, &store, &site, &owner, Role::Admin).await;
    // Another workspace's site under this workspace's address, and a site that does not
    // exist: both 404, and nothing about the other site shows.
    let ws = site.workspace_id.0;
    for path in [
        format!("/w/{ws}/sites/{}/settings", theirs.id.0),
        format!("/w/{ws}/sites/{}/settings", theirs.id.0 + 1000),
    ] {
        let res = admin.get(&path).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!res.body.contains("other.example"));
        let fields: Vec<(&str, &str)> = change.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = admin.post_form(&path, &fields).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
        let res = admin
            .post_form(
                &path,
                &[("section", "add_network"), ("network", "10.0.0.0/8")],
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Their workspace's address: not a member, 404.
    let res = admin
        .get(&format!(
            "/w/{}/sites/{}/settings",
            theirs.workspace_id.0, theirs.id.0
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    // A form without the CSRF token, or with a forged one, is refused.
    assert_refused_without_token(&admin, &site, &change, None).await;
    assert_refused_without_token(&admin, &site, &change, Some("forged.token")).await;

    assert_eq!(reload(&store, &site).await, site, "nothing changed");
    assert_eq!(
        leadsment::accounts::store::workspace_site(&store, theirs.workspace_id, theirs.id)
            .await
            .unwrap()
            .unwrap(),
        theirs
    );
    assert!(
        leadsment::accounts::store::ignored_networks(&store, theirs.id)
            .await
            .unwrap()
            .is_empty()
    );
    // The owner may use the page too.
    let owner_c = Client::new(&app);
    owner_c.sign_in("owner@example.com", PW, false).await;
    assert_eq!(owner_c.get(&settings(&site)).await.status, StatusCode::OK);
    app.shutdown().await.unwrap();
}

/// Whether the snippets a page shows wait for consent: every snippet on it (escaped, as the
/// page shows it) carries the attribute, or none does.
fn waits(body: &str) -> Option<bool> {
    let snippets =
        body.matches("&lt;script defer").count() + body.matches("&#60;script defer").count();
    let waiting = body.matches("data-require-consent src=").count();
    assert!(snippets > 0, "no snippet shown: {body}");
    match waiting {
        0 => Some(false),
        n if n == snippets => Some(true),
        _ => None,
    }
}

async fn waiting_for_consent_is_switched_by_admins_and_changes_every_shown_snippet(
    backend: Backend,
) {
    let (app, store, owner, site) = setup(backend).await;
    let admin = signed_in(&app, &store, &site, &owner, Role::Admin).await;
    let ws = site.workspace_id.0;
    // Every page that shows the snippet: the settings, the workspace's overview and the
    // site's page (which shows it while the site has no visit).
    let pages = [
        settings(&site),
        format!("/w/{ws}"),
        format!("/w/{ws}/sites/{}", site.id.0),
    ];
    for page in &pages {
        assert_eq!(waits(&admin.get(page).await.body), Some(false), "{page}");
    }
    let page = admin.get(&settings(&site)).await;
    assert!(page.body.contains("Require consent before counting"));
    assert!(
        !page
            .body
            .contains("name=\"require_consent\" type=\"checkbox\" value=\"on\" checked")
    );

    let on: Fields = vec![
        ("section", "consent".to_owned()),
        ("require_consent", "on".to_owned()),
    ];
    let res = submit(&admin, &site, &on).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        res.location(),
        format!("{}?done=consent_on", settings(&site))
    );
    assert!(reload(&store, &site).await.require_consent);
    let page = admin.get(res.location()).await;
    assert!(
        page.body.contains("Paste the new snippet below"),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"on\" checked"));
    for page in &pages {
        assert_eq!(waits(&admin.get(page).await.body), Some(true), "{page}");
    }

    // Unticked, the box is not sent at all.
    let off: Fields = vec![("section", "consent".to_owned())];
    let res = submit(&admin, &site, &off).await;
    assert_eq!(
        res.location(),
        format!("{}?done=consent_off", settings(&site))
    );
    assert!(!reload(&store, &site).await.require_consent);
    assert!(
        admin
            .get(res.location())
            .await
            .body
            .contains("Paste the new snippet below")
    );
    for page in &pages {
        assert_eq!(waits(&admin.get(page).await.body), Some(false), "{page}");
    }

    // Viewers and members may not switch it; nor may a form without its CSRF token.
    for role in [Role::Viewer, Role::Member] {
        let c = signed_in(&app, &store, &site, &owner, role).await;
        let res = submit(&c, &site, &on).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{role:?}");
    }
    assert_refused_without_token(&admin, &site, &on, None).await;
    // Nor an admin of another workspace, through its own workspace's address.
    let stranger = make_user(&store, "stranger@example.com", Some("Other Ltd")).await;
    let theirs = add_site(
        &store,
        workspace_of(&store, &stranger).await,
        "other.example",
    )
    .await;
    let res = submit(&admin, &theirs, &on).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let path = format!("/w/{ws}/sites/{}/settings", theirs.id.0);
    let fields: Vec<(&str, &str)> = on.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = admin.post_form(&path, &fields).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(!reload(&store, &site).await.require_consent);
    assert!(!reload(&store, &theirs).await.require_consent);
    app.shutdown().await.unwrap();
}
