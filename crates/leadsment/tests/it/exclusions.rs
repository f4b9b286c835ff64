//! Exclusions: organisations, domains and ASNs a workspace hides from its feed, overview
//! figures, CSV and scores, retroactively and reversibly; "Hide this company" in one POST;
//! only admins change them; one workspace's do not touch another's; values that would hide
//! everything, or are not values at all, are refused with nothing stored. On both backends.

use leadsment::accounts::WorkspaceId;
use leadsment::accounts::roles::Role;
use leadsment::accounts::sites::Site;
use leadsment::leads::cache::DayCache;
use leadsment::leads::feed::{self, Rows};
use leadsment::leads::filters::{RawFilters, parse};
use leadsment::leads::period::{Period, Range};
use leadsment::leads::store::exclusions::{excluded, exclusions};
use leadsment::store::{Db, now_ms, sql};
use leadsment::tracking::model::{CompanyInfo, NewEvent};
use reqwest::StatusCode;

use crate::accounts::member_client;
use crate::client::Client;
use crate::leads::{INDEX, app_with_index, owner_with_site};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};
use crate::tracking::{event_at, ingest_fresh};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

on_both_backends!(
    organisations_domains_and_asns_are_hidden_everywhere_until_removed,
    hide_this_company_takes_one_post_and_only_admins_change_exclusions,
    values_matching_everything_or_invalid_are_refused_and_nothing_is_stored,
    hiding_by_id_takes_only_companies_of_the_workspace,
    organisation_names_match_without_case_beyond_ascii,
    only_the_sites_own_companies_are_tested_against_exclusions,
    concurrent_adds_never_pass_the_cap,
);

/// "Hide this company" stores a company by id only when it visited one of the workspace's
/// sites: another tenant's companies cannot be named through the exclusions list (each id
/// answered 404). A name typed with digits is a name, never an id.
async fn hiding_by_id_takes_only_companies_of_the_workspace(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let (_, theirs, _) = owner_with_site(&app, "owner@other.example", "other.example").await;
    let store = app.db.store().await;
    // The four companies visit the other tenant's site only.
    visits(&store, &theirs, now_ms()).await;
    let acme = company_id(&store, 0).await.to_string();
    for site_id in [site.id.0, theirs.id.0] {
        let res = hide(&owner, ws, site_id, &acme).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    }
    assert!(exclusions(&store, ws).await.unwrap().is_empty());
    let list = owner.get(&format!("/w/{}/exclusions", ws.0)).await;
    assert!(!list.body.contains("Acme ("), "{}", list.body);
    // A `#` would read as an id: refused. Digits alone are a name, naming no company.
    assert_eq!(
        add(&owner, ws, "organisation", &format!("#{acme}")).await,
        StatusCode::BAD_REQUEST
    );
    add(&owner, ws, "organisation", &acme).await;
    let stored = exclusions(&store, ws).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value, acme, "stored as the name typed");
    let list = owner.get(&format!("/w/{}/exclusions", ws.0)).await;
    assert!(!list.body.contains("Acme ("), "{}", list.body);
    // This site's own visits from Acme stay in its feed: the digits hide no company.
    visits(&store, &site, now_ms()).await;
    let feed = owner
        .get(&format!("/w/{}/sites/{}/companies", ws.0, site.id.0))
        .await;
    assert!(feed.body.contains(">Acme</a>"), "{}", feed.body);
    app.shutdown().await.unwrap();
}

/// Four companies: (name, org, domain, ASN).
const COMPANIES: [(&str, &str, &str, i64); 4] = [
    (
        "Acme",
        "ACME-NET - Acme Corporation Inc.",
        "acme.example",
        64500,
    ),
    ("Globex", "GLOBEX - Globex Ltd", "eu.globex.example", 64510),
    ("Initech", "Initech Holdings", "initech.example", 64520),
    // Its domain ends as Globex's does, but is not under it: it stays.
    (
        "Umbrella",
        "UMBRELLA - Umbrella plc",
        "notglobex.example",
        64530,
    ),
];

fn info(i: usize) -> CompanyInfo {
    let (name, org, domain, asn) = COMPANIES[i];
    CompanyInfo {
        key: format!("domain:{domain}"),
        name: name.into(),
        org: Some(org.into()),
        domain: Some(domain.into()),
        asn: Some(asn),
        country: Some("DE".into()),
        class: "business".into(),
        class_reason: None,
    }
}

/// Each company views its own page (`/acme-only`, …) three days ago and an hour ago: two
/// visits, two pageviews each.
async fn visits(store: &Db, site: &Site, now: i64) {
    let mut events: Vec<NewEvent> = Vec::new();
    for (i, (name, ..)) in COMPANIES.iter().enumerate() {
        for (n, ago) in [3 * DAY, HOUR].into_iter().enumerate() {
            let mut e = event_at(
                site,
                now - ago,
                100 + i as i64 * 10 + n as i64,
                None,
                "pageview",
            );
            e.path = format!("/{}-only", name.to_lowercase());
            e.class = "business".into();
            e.company = Some(info(i));
            events.push(e);
        }
    }
    ingest_fresh(store, events).await;
}

async fn company_id(store: &Db, i: usize) -> i64 {
    store
        .value(sql("SELECT id FROM companies WHERE key = $1").bind(info(i).key))
        .await
        .unwrap()
}

/// What the owner sees: the feed's page, the CSV and the overview's page.
async fn pages(c: &Client, base: &str) -> (String, String, String) {
    let feed = c.get(&format!("{base}/companies")).await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.body);
    let csv = c.get(&format!("{base}/companies.csv")).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    let overview = c.get(base).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    (feed.body, csv.body, overview.body)
}

/// The names shown everywhere, and the overview's visits, through one cache kept across
/// changes (the app's own is checked through its pages).
async fn assert_shown(
    c: &Client,
    base: &str,
    store: &Db,
    cache: &DayCache,
    site: &Site,
    shown: &[usize],
    context: &str,
) {
    let (feed_page, csv, overview) = pages(c, base).await;
    let now = now_ms();
    let tz = jiff::tz::TimeZone::UTC;
    let q = parse(&RawFilters::from_query(None), &tz, now).unwrap();
    let f = feed::feed(store, cache, site.id, &q, now, Rows::Every)
        .await
        .unwrap();
    let p = Period::of(Range::Last(30), &tz, now);
    let o = leadsment::leads::overview::overview(store, cache, site.id, &p, now)
        .await
        .unwrap();
    for (i, (name, ..)) in COMPANIES.iter().enumerate() {
        let want = shown.contains(&i);
        let page = format!("/{}-only", name.to_lowercase());
        assert_eq!(
            feed_page.contains(&format!(">{name}</a>")),
            want,
            "{context}: {name} in the feed: {feed_page}"
        );
        assert_eq!(
            csv.lines().any(|l| l.starts_with(&format!("{name},"))),
            want,
            "{context}: {name} in the CSV: {csv}"
        );
        assert_eq!(
            overview.contains(&page),
            want,
            "{context}: {page} in the overview's top pages"
        );
        let row = f.rows.iter().find(|r| r.name == *name);
        assert_eq!(row.is_some(), want, "{context}: {name} scored in the feed");
        if let Some(r) = row {
            assert!(r.score.value > 0, "{context}: {name} has a score");
        }
        assert_eq!(
            o.pages.iter().any(|s| s.path == page),
            want,
            "{context}: {page} in the overview's pages"
        );
    }
    let n = shown.len() as i64;
    assert_eq!(f.total, shown.len(), "{context}: the feed's count");
    assert_eq!(
        (o.now.visits, o.now.business_visits, o.now.pageviews),
        (2 * n, 2 * n, 2 * n),
        "{context}: the overview's figures"
    );
    assert_eq!(o.now.visitors, 2 * n, "{context}: the overview's visitors");
}

/// "Hide this company" as the company page's form sends it.
async fn hide(c: &Client, ws: WorkspaceId, site: i64, company: &str) -> crate::client::Resp {
    let site = site.to_string();
    c.post_form(
        &format!("/w/{}/exclusions", ws.0),
        &[
            ("section", "add"),
            ("kind", "organisation"),
            ("organisation", company),
            ("site_id", &site),
            ("company_id", company),
        ],
    )
    .await
}

async fn add(c: &Client, ws: WorkspaceId, kind: &str, value: &str) -> StatusCode {
    let path = format!("/w/{}/exclusions", ws.0);
    let res = c
        .post_form(&path, &[("section", "add"), ("kind", kind), (kind, value)])
        .await;
    res.status
}

async fn organisations_domains_and_asns_are_hidden_everywhere_until_removed(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    visits(&store, &site, now_ms()).await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    let cache = DayCache::default();
    assert_shown(
        &owner,
        &base,
        &store,
        &cache,
        &site,
        &[0, 1, 2, 3],
        "before",
    )
    .await;

    // Initech by its organisation's name (any case), Globex by its parent domain, Acme by ASN.
    for (kind, value) in [
        ("organisation", "initech holdings"),
        ("domain", "globex.example"),
        ("asn", "AS64500"),
    ] {
        assert_eq!(add(&owner, ws, kind, value).await, StatusCode::SEE_OTHER);
    }
    let list = exclusions(&store, ws).await.unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    assert!(list.iter().any(|e| e.value == "64500"));
    assert!(
        list.iter()
            .all(|e| e.created_by.as_deref() == Some("owner@shop.example"))
    );
    let page = owner.get(&format!("/w/{}/exclusions", ws.0)).await;
    for text in [
        "AS64500",
        "globex.example",
        "initech holdings",
        "Ignored networks of shop.example",
    ] {
        assert!(
            page.body.contains(text),
            "the list lacks {text}: {}",
            page.body
        );
    }
    assert_shown(&owner, &base, &store, &cache, &site, &[3], "excluded").await;

    // The same exclusion again is stored once.
    assert_eq!(add(&owner, ws, "asn", "64500").await, StatusCode::SEE_OTHER);
    assert_eq!(exclusions(&store, ws).await.unwrap().len(), 3);

    // Removing them brings every company back, with its history.
    for e in exclusions(&store, ws).await.unwrap() {
        let id = e.id.to_string();
        let res = owner
            .post_form(
                &format!("/w/{}/exclusions", ws.0),
                &[("section", "remove"), ("id", &id)],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    }
    assert!(exclusions(&store, ws).await.unwrap().is_empty());
    assert_shown(
        &owner,
        &base,
        &store,
        &cache,
        &site,
        &[0, 1, 2, 3],
        "removed",
    )
    .await;
    store.close().await;
    app.shutdown().await.unwrap();
}

async fn hide_this_company_takes_one_post_and_only_admins_change_exclusions(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    visits(&store, &site, now_ms()).await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    let acme = company_id(&store, 0).await;
    let acme_page = format!("{base}/companies/{acme}");

    // Another workspace hides Acme by ASN and domain: nothing changes here.
    let (ws_b, _site_b, other) =
        owner_with_site(&app, "other@rival.example", "rival.example").await;
    assert_eq!(
        add(&other, ws_b, "asn", "64500").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        add(&other, ws_b, "domain", "acme.example").await,
        StatusCode::SEE_OTHER
    );
    let feed = owner.get(&format!("{base}/companies")).await;
    assert!(feed.body.contains(">Acme</a>"), "{}", feed.body);

    // Viewers and members read the list and the company page, but change nothing.
    for (email, role) in [
        ("viewer@shop.example", Role::Viewer),
        ("member@shop.example", Role::Member),
    ] {
        let c = member_client(&app, &store, ws, "owner@shop.example", email, role).await;
        let list = c.get(&format!("/w/{}/exclusions", ws.0)).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert!(list.body.contains("Workspace admins and owners can add"));
        assert!(!list.body.contains("Exclude domain"));
        let page = c.get(&acme_page).await;
        assert!(!page.body.contains("Hide this company"), "{}", page.body);
        assert!(page.body.contains("Workspace admins can hide this company"));
        assert_eq!(add(&c, ws, "asn", "64500").await, StatusCode::FORBIDDEN);
        let organisation = acme.to_string();
        let res = c
            .post_form(
                &format!("/w/{}/exclusions", ws.0),
                &[
                    ("section", "add"),
                    ("kind", "organisation"),
                    ("organisation", &organisation),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{email}");
        assert!(exclusions(&store, ws).await.unwrap().is_empty(), "{email}");
    }

    // The owner hides Acme from its page in one POST, as the page's form sends it.
    let page = owner.get(&acme_page).await;
    assert!(page.body.contains("Hide this company"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("name=\"organisation\" value=\"{acme}\""))
    );
    let res = hide(&owner, ws, site.id.0, &acme.to_string()).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), format!("{acme_page}?done=hidden"));
    let feed = owner.get(&format!("{base}/companies")).await;
    assert!(!feed.body.contains(">Acme</a>"), "{}", feed.body);
    assert!(feed.body.contains(">Umbrella</a>"), "{}", feed.body);
    let page = owner.get(&format!("{acme_page}?done=hidden")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("This company is hidden"),
        "{}",
        page.body
    );
    assert!(page.body.contains(">Unhide</button>"), "{}", page.body);
    assert!(!page.body.contains("Why it scores"), "{}", page.body);
    let list = owner.get(&format!("/w/{}/exclusions", ws.0)).await;
    assert!(
        list.body.contains(&format!("Acme (company {acme})")),
        "{}",
        list.body
    );

    // Unhide: one POST, back on the page, and Acme is back.
    let id = exclusions(&store, ws).await.unwrap()[0].id.to_string();
    let (acme_s, site_s) = (acme.to_string(), site.id.0.to_string());
    let res = owner
        .post_form(
            &format!("/w/{}/exclusions", ws.0),
            &[
                ("section", "remove"),
                ("id", &id),
                ("site_id", &site_s),
                ("company_id", &acme_s),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), format!("{acme_page}?done=unhidden"));
    let feed = owner.get(&format!("{base}/companies")).await;
    assert!(feed.body.contains(">Acme</a>"), "{}", feed.body);

    // Another workspace's exclusion is not removable from here.
    let theirs = exclusions(&store, ws_b).await.unwrap()[0].id.to_string();
    let res = owner
        .post_form(
            &format!("/w/{}/exclusions", ws.0),
            &[("section", "remove"), ("id", &theirs)],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(exclusions(&store, ws_b).await.unwrap().len(), 2);
    store.close().await;
    app.shutdown().await.unwrap();
}

async fn values_matching_everything_or_invalid_are_refused_and_nothing_is_stored(backend: Backend) {
    let app: TestApp = app_with_index(backend, INDEX).await;
    let (ws, _site, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    let path = format!("/w/{}/exclusions", ws.0);
    for (kind, value, says) in [
        ("organisation", "", "would hide every company"),
        ("organisation", "*", "would hide every company"),
        ("domain", "*", "would hide every company"),
        ("domain", "com", "top-level domain"),
        ("domain", "*.com", "top-level domain"),
        ("domain", "co.uk", "registry"),
        ("domain", "exa mple.com", "not a valid domain"),
        ("domain", "198.51.100.7", "IP address"),
        ("asn", "AS0", "reserved"),
        ("asn", "ASX", "not an ASN"),
        ("asn", "99999999999", "not an ASN"),
    ] {
        let res = owner
            .post_form(&path, &[("section", "add"), ("kind", kind), (kind, value)])
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{kind} {value:?}");
        let error = crate::client::between(&res.body, &format!("id=\"f-{kind}-error\">"), "</p>")
            .unwrap_or_else(|| panic!("{kind} {value:?}: no message by the field: {}", res.body));
        assert!(error.contains(says), "{kind} {value:?}: {error}");
        assert!(
            exclusions(&store, ws).await.unwrap().is_empty(),
            "{kind} {value:?}"
        );
    }
    store.close().await;
    app.shutdown().await.unwrap();
}

/// A company named `name` (its own domain and ASN from `n`), with one pageview an hour ago.
async fn visit_of(store: &Db, site: &Site, n: i64, name: &str) -> i64 {
    let key = format!("domain:org{n}.example");
    let mut e = event_at(site, now_ms() - HOUR, 900 + n, None, "pageview");
    e.class = "business".into();
    e.company = Some(CompanyInfo {
        key: key.clone(),
        name: name.into(),
        org: None,
        domain: Some(format!("org{n}.example")),
        asn: Some(65_000 + n),
        country: Some("FR".into()),
        class: "business".into(),
        class_reason: None,
    });
    ingest_fresh(store, vec![e]).await;
    store
        .value(sql("SELECT id FROM companies WHERE key = $1").bind(key))
        .await
        .unwrap()
}

/// An organisation's name matches without case beyond ASCII, the same on both backends
/// (SQLite's `LOWER` knows only ASCII): "école NORMALE" hides "École Normale", not
/// "Ecole Normale".
async fn organisation_names_match_without_case_beyond_ascii(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    let accented = visit_of(&store, &site, 1, "École Normale").await;
    let plain = visit_of(&store, &site, 2, "Ecole Normale").await;
    assert_eq!(
        add(&owner, ws, "organisation", "école NORMALE").await,
        StatusCode::SEE_OTHER
    );
    let hidden = excluded(&store, site.id).await.unwrap();
    assert_eq!(hidden.ids(), [accented], "{accented} hidden, {plain} not");
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    let feed = owner.get(&format!("{base}/companies")).await;
    assert!(!feed.body.contains(">École Normale</a>"), "{}", feed.body);
    assert!(feed.body.contains(">Ecole Normale</a>"), "{}", feed.body);
    let page = owner.get(&format!("{base}/companies/{accented}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    store.close().await;
    app.shutdown().await.unwrap();
}

/// The hidden set is computed among the companies that visited the site: a company matching
/// the exclusions that visited only another tenant's site is not in it (nor read).
async fn only_the_sites_own_companies_are_tested_against_exclusions(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let (_, theirs, _) = owner_with_site(&app, "owner@other.example", "other.example").await;
    let store = app.db.store().await;
    visits(&store, &theirs, now_ms()).await;
    add(&owner, ws, "organisation", "Acme").await;
    add(&owner, ws, "domain", "globex.example").await;
    add(&owner, ws, "asn", "AS64520").await;
    assert_eq!(exclusions(&store, ws).await.unwrap().len(), 3);
    assert!(
        excluded(&store, site.id).await.unwrap().is_empty(),
        "other tenants' companies are not tested"
    );
    visits(&store, &site, now_ms()).await;
    let mut want = vec![
        company_id(&store, 0).await,
        company_id(&store, 1).await,
        company_id(&store, 2).await,
    ];
    want.sort_unstable();
    assert_eq!(excluded(&store, site.id).await.unwrap().ids(), want);
    store.close().await;
    app.shutdown().await.unwrap();
}

/// Many adds at once never take a workspace past its 200 exclusions.
async fn concurrent_adds_never_pass_the_cap(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, _, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    for i in 0..190 {
        store
            .write(
                sql(
                    "INSERT INTO exclusions (workspace_id, kind, value, created_at) \
                     VALUES ($1, 'domain', $2, 0)",
                )
                .bind(ws.0)
                .bind(format!("prefilled{i}.example")),
            )
            .await
            .unwrap();
    }
    let owner = &owner;
    let adds = (0..40)
        .map(|i| async move { add(owner, ws, "domain", &format!("raced{i}.example")).await });
    let statuses = futures_util::future::join_all(adds).await;
    let added = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(
        exclusions(&store, ws).await.unwrap().len(),
        200,
        "{statuses:?}"
    );
    assert_eq!(added, 10, "{statuses:?}");
    store.close().await;
    app.shutdown().await.unwrap();
}
