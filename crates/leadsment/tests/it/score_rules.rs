//! A site's score rules, on its settings page: only admins change them; invalid rules are
//! refused next to their field, on the settings page, with nothing stored; the preview shows
//! the proposed scores without storing them;
//! saved rules give the feed, the CSV and the company page the scores computed here by hand,
//! at once and through a cache that held the old ones. On both backends.

use leadsment::accounts::roles::Role;
use leadsment::accounts::sites::Site;
use leadsment::leads::cache::DayCache;
use leadsment::leads::feed::{self, Rows};
use leadsment::leads::filters::{RawFilters, parse};
use leadsment::leads::rules::ScoreRules;
use leadsment::leads::store::score_rules;
use leadsment::leads::warm::recount;
use leadsment::store::{Db, now_ms, sql};
use leadsment::tracking::model::{CompanyInfo, NewEvent};
use reqwest::StatusCode;

use crate::accounts::member_client;
use crate::client::Client;
use crate::leads::{INDEX, app_with_index, owner_with_site};
use crate::on_both_backends;
use crate::support::Backend;
use crate::tracking::{event_at, ingest_fresh};

const MIN: i64 = 60_000;

on_both_backends!(
    only_admins_change_rules_and_saved_rules_give_the_scores_computed_by_hand,
    a_recount_runs_once_per_site_and_again_after_a_change_meanwhile,
    a_written_cursor_cannot_score_the_feed_at_another_time,
);

fn info(name: &str) -> CompanyInfo {
    let domain = format!("{}.example", name.to_lowercase());
    CompanyInfo {
        key: format!("domain:{domain}"),
        name: name.into(),
        org: None,
        domain: Some(domain),
        asn: None,
        country: Some("DE".into()),
        class: "business".into(),
        class_reason: None,
    }
}

/// Acme: one visit, `/pricing` three times and `/careers` once. Globex: two visits by two
/// people, three pages of `/docs`, one of them three days ago (a day read from the rollups).
/// The latest visits two hours ago, so no decay; no engaged time.
async fn visits(store: &Db, site: &Site, now: i64) {
    let mut events: Vec<NewEvent> = Vec::new();
    let t = now - 120 * MIN;
    let pages = [
        ("Acme", 1, "/pricing"),
        ("Acme", 1, "/pricing"),
        ("Acme", 1, "/pricing/teams"),
        ("Acme", 1, "/careers"),
        ("Globex", 2, "/docs/start"),
        ("Globex", 2, "/docs/api"),
    ];
    let mut old = event_at(site, now - 3 * 1440 * MIN, 3, None, "pageview");
    old.path = "/docs/old".to_owned();
    old.class = "business".into();
    old.company = Some(info("Globex"));
    events.push(old);
    for (i, (name, visitor, path)) in pages.into_iter().enumerate() {
        let mut e = event_at(site, t + i as i64 * 1000, visitor, None, "pageview");
        e.path = path.to_owned();
        e.class = "business".into();
        e.country = Some("DE".into());
        e.company = Some(info(name));
        events.push(e);
    }
    ingest_fresh(store, events).await;
}

/// Custom rules: docs pages are worth 20 each (at most 50), pricing 7 (at most 100), careers
/// nothing; 3 points a visit (at most 10); visitors and time nothing; half-life 7 days.
const CUSTOM: &[(&str, &str)] = &[
    (
        "page_rules",
        "Docs | /docs/*, /api* | 20 | 50\nPricing | /pricing* | 7 | 100",
    ),
    ("visit_points", "3"),
    ("visit_cap", "10"),
    ("visitor_points", "0"),
    ("visitor_cap", "0"),
    ("minute_points", "0"),
    ("minute_cap", "0"),
    ("half_life_days", "7"),
];

/// By hand, default rules: Acme 5 (a visit) + 30 (3 × 10 pricing) − 10 (careers) = 25;
/// Globex 10 (two visits) + 5 (a second visitor) = 15. Custom: Acme 3 + 21 (3 × 7) = 24;
/// Globex 6 (two visits) + 50 (3 × 20 docs, limited to 50) = 56.
const DEFAULT_SCORES: [(&str, u8); 2] = [("Acme", 25), ("Globex", 15)];
const CUSTOM_SCORES: [(&str, u8); 2] = [("Acme", 24), ("Globex", 56)];

fn with(action: &str, fields: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let mut out = vec![("action".to_owned(), action.to_owned())];
    out.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

async fn post(c: &Client, path: &str, fields: &[(String, String)]) -> crate::client::Resp {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    c.post_form(path, &pairs).await
}

/// The scores of the feed (through `cache`), the CSV and the company pages, each checked
/// against `want`.
async fn assert_scores(
    c: &Client,
    base: &str,
    store: &Db,
    cache: &DayCache,
    site: &Site,
    want: &[(&str, u8)],
    context: &str,
) {
    let now = now_ms();
    let q = parse(&RawFilters::from_query(None), &jiff::tz::TimeZone::UTC, now).unwrap();
    let f = feed::feed(store, cache, site.id, &q, now, Rows::Every)
        .await
        .unwrap();
    let csv = c.get(&format!("{base}/companies.csv")).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    for (name, score) in want {
        let row = f.rows.iter().find(|r| r.name == *name).unwrap();
        assert_eq!(row.score.value, *score, "{context}: {name} in the feed");
        let line = csv
            .body
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap_or_else(|| panic!("{context}: {name} in the CSV: {}", csv.body));
        assert_eq!(
            line.split(',').nth(4),
            Some(score.to_string().as_str()),
            "{context}: {name}'s score in the CSV: {line}"
        );
        let page = c.get(&format!("{base}/companies/{}", row.company_id)).await;
        assert!(
            page.body.contains(&format!("Why it scores {score}<")),
            "{context}: {name}'s page: {}",
            page.body
        );
    }
    let page = c.get(&format!("{base}/companies")).await;
    for (name, score) in want {
        assert!(page.body.contains(&format!(">{name}</a>")), "{}", page.body);
        assert!(
            page.body.contains(&format!("\">{score}</span>")),
            "{context}: {name}'s {score} on the feed's page"
        );
    }
}

async fn only_admins_change_rules_and_saved_rules_give_the_scores_computed_by_hand(
    backend: Backend,
) {
    let app = app_with_index(backend, INDEX).await;
    let (ws, site, owner) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    visits(&store, &site, now_ms()).await;
    let base = format!("/w/{}/sites/{}", ws.0, site.id.0);
    let path = format!("{base}/settings/score");
    let settings = format!("{base}/settings");
    let cache = DayCache::default();
    let (db, id) = (&store, site.id);
    let stored = move || async move { score_rules::changed(db, id).await.unwrap() };

    // The defaults give the scores they always gave.
    assert_scores(
        &owner,
        &base,
        &store,
        &cache,
        &site,
        &DEFAULT_SCORES,
        "default",
    )
    .await;
    // The rules are a section of the site's settings page, whose form posts to `path`.
    let page = owner.get(&settings).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("/pricing | /pricing*, /plans* | 10 | 30")
    );
    assert!(
        page.body
            .contains("saved rules apply to every score at once")
    );
    assert!(
        page.body
            .contains(&format!("action=\"{path}#score-rules\""))
    );
    assert!(page.body.contains("id=\"score-rules\""));
    let title = page
        .body
        .split("<title>")
        .nth(1)
        .unwrap()
        .split("</title>")
        .next()
        .unwrap();
    assert!(
        title.starts_with("Settings · shop.example") && !title.contains('<'),
        "{title}"
    );

    // Viewers and members neither see nor change the rules.
    for (email, role) in [
        ("viewer@shop.example", Role::Viewer),
        ("member@shop.example", Role::Member),
    ] {
        let c = member_client(&app, &store, ws, "owner@shop.example", email, role).await;
        assert_eq!(
            c.get(&settings).await.status,
            StatusCode::FORBIDDEN,
            "{email}"
        );
        for action in ["save", "preview"] {
            let res = post(&c, &path, &with(action, CUSTOM)).await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "{email} {action}");
        }
        let feed = c.get(&format!("{base}/companies")).await;
        assert!(!feed.body.contains(&settings), "{email} sees no link");
    }
    assert!(stored().await.is_none());

    // Invalid rules are refused by their field, with nothing stored.
    for (field, value, says) in [
        (
            "page_rules",
            "Everything | /* | 5 | 10",
            "matches every page",
        ),
        ("page_rules", "All | * | 5 | 10", "matches every page"),
        ("page_rules", "Bad | pricing | 5 | 10", "starts with / or *"),
        ("page_rules", "Big | /p* | 150 | 10", "from -100 to 100"),
        (
            "page_rules",
            "Sign | /p* | 5 | -10",
            "adds points is from 1 to 100",
        ),
        ("half_life_days", "0.5", "from 1 to 365"),
        ("visit_points", "-3", "from 0 to 100"),
    ] {
        let mut fields = with("save", CUSTOM);
        fields.retain(|(k, _)| k != field);
        fields.push((field.to_owned(), value.to_owned()));
        let res = post(&owner, &path, &fields).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{value}: {}", res.body);
        let error = format!("<p class=\"field-error\" id=\"f-{field}-error\">");
        let at = res
            .body
            .find(&error)
            .unwrap_or_else(|| panic!("{value}: {}", res.body));
        assert!(
            res.body[at..].split("</p>").next().unwrap().contains(says),
            "{value}"
        );
        assert!(
            res.body.contains(&askama_escape(value)),
            "{value} is kept in the form"
        );
        assert!(
            res.body.contains("Domain and time zone"),
            "{value}: shown on the settings page"
        );
        assert!(stored().await.is_none(), "{value} stored nothing");
    }
    let many: String = (0..21)
        .map(|i| format!("R{i} | /r{i}* | 1 | 1\n"))
        .collect();
    let mut fields = with("save", CUSTOM);
    fields.retain(|(k, _)| k != "page_rules");
    fields.push(("page_rules".to_owned(), many));
    let res = post(&owner, &path, &fields).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("at most 20 page rules"), "{}", res.body);
    assert!(stored().await.is_none());

    // The preview: both scores of each company and the change, nothing stored.
    let res = post(&owner, &path, &with("preview", CUSTOM)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(
        res.body.contains("Domain and time zone"),
        "on the settings page"
    );
    for (name, current, proposed, change) in
        [("Globex", 15, 56, "+41"), ("Acme", 25, 24, "\u{2212}1")]
    {
        let at = res.body.find(&format!(">{name}</a>")).unwrap();
        let row = res.body[at..].split("</tr>").next().unwrap();
        let cells: Vec<&str> = row
            .split("class=\"num\">")
            .skip(1)
            .map(|c| {
                c.split('<')
                    .find(|s| !s.is_empty() && !s.starts_with("strong"))
                    .unwrap()
            })
            .collect();
        assert_eq!(cells.len(), 3, "{row}");
        assert_eq!(cells[0], current.to_string(), "{name}: {row}");
        assert!(
            row.contains(&format!("<strong>{proposed}</strong>")),
            "{name}: {row}"
        );
        assert!(row.contains(&format!(">{change}</td>")), "{name}: {row}");
    }
    assert!(
        res.body.find(">Globex</a>") < res.body.find(">Acme</a>"),
        "the highest first"
    );
    assert!(stored().await.is_none(), "the preview stored nothing");
    assert_scores(
        &owner,
        &base,
        &store,
        &cache,
        &site,
        &DEFAULT_SCORES,
        "previewed",
    )
    .await;

    // Saved: every score uses the new rules at once, through the same cache.
    let res = post(&owner, &path, &with("save", CUSTOM)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(stored().await.is_some());
    let rules = score_rules::rules(&store, site.id).await.unwrap();
    assert_ne!(rules, ScoreRules::default());
    assert_eq!(rules.pages[0].patterns, ["/docs/*", "/api*"]);
    // The answer says whether the recount finished while it waited (a site this small does)
    // or goes on in the background.
    assert!(
        res.location() == format!("{settings}?done=score_saved#score-rules")
            || res.location() == format!("{settings}?done=score_recounting#score-rules"),
        "{}",
        res.location()
    );
    let page = owner.get(res.location()).await;
    assert!(
        page.body.contains("The score rules are saved."),
        "{}",
        page.body
    );
    let later = owner
        .get(&format!("{settings}?done=score_recounting"))
        .await;
    assert!(
        later
            .body
            .contains("being recounted with them in the background")
    );
    assert!(page.body.contains("Docs | /docs/*, /api* | 20 | 50"));
    assert!(page.body.contains("Last changed"));
    assert_scores(
        &owner,
        &base,
        &store,
        &cache,
        &site,
        &CUSTOM_SCORES,
        "saved",
    )
    .await;

    // The company page names the rule behind each line.
    let globex = owner
        .get(&format!(
            "{base}/companies/{}",
            company_id(&store, "domain:globex.example").await
        ))
        .await;
    for line in [
        "Rule \u{2018}Docs\u{2019}: 3 pageviews × 20 = 60, limited to 50",
        "Visits: 2 visits × 3 = 6",
    ] {
        assert!(globex.body.contains(line), "{line}: {}", globex.body);
    }
}

async fn company_id(store: &Db, key: &str) -> i64 {
    store
        .value(sql("SELECT id FROM companies WHERE key = $1").bind(key))
        .await
        .unwrap()
}

/// `s` as askama escapes it in a page.
fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Saving rules recounts the site's default pages: in the background when that takes longer
/// than the wait (none here), one recount per site at a time, and once more when the rules
/// change while it runs, never more.
async fn a_recount_runs_once_per_site_and_again_after_a_change_meanwhile(backend: Backend) {
    let app = app_with_index(backend, INDEX).await;
    let (_, site, _) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    visits(&store, &site, now_ms()).await;
    let cache = std::sync::Arc::new(DayCache::default());
    let wait = std::time::Duration::ZERO;
    assert!(
        !recount(&store, &cache, &site, wait).await,
        "not finished at once"
    );
    assert!(cache.recounting(site.id));
    // Saved again meanwhile: no second recount starts, the running one goes once more.
    assert!(!recount(&store, &cache, &site, wait).await);
    assert!(!recount(&store, &cache, &site, wait).await);
    for _ in 0..200 {
        if !cache.recounting(site.id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!cache.recounting(site.id), "the recount ends");
    let loads = cache.loads();
    assert!(loads > 0, "it read the site's pieces");
    // Run alone and waited for: done within the wait, and it reads the same pieces again
    // (they were let go), as many as one recount reads.
    let single = std::sync::Arc::new(DayCache::default());
    let long = std::time::Duration::from_secs(60);
    assert!(recount(&store, &single, &site, long).await);
    assert!(!single.recounting(site.id));
    assert_eq!(loads, 2 * single.loads(), "two recounts ran, not three");
}

/// A feed cursor carries the time its first page was scored at, for later pages; it is text
/// anyone can write, so a time more than a day back is taken as a day back: cursors written
/// with other old times read no new pieces (each time was a new window of days to read and
/// keep).
async fn a_written_cursor_cannot_score_the_feed_at_another_time(backend: Backend) {
    use base64::Engine as _;
    let app = app_with_index(backend, INDEX).await;
    let (_, site, _) = owner_with_site(&app, "owner@shop.example", "shop.example").await;
    let store = app.db.store().await;
    let now = now_ms();
    visits(&store, &site, now).await;
    let cache = DayCache::default();
    let tz = jiff::tz::TimeZone::UTC;
    let mut loads = Vec::new();
    for when in [
        0,
        86_400_000 * 400,
        now - 40 * 86_400_000,
        now - 2 * 86_400_000,
    ] {
        // After a score of 101 with id 0: every row comes after it.
        let cursor =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("score|0|{when}|101"));
        let raw = RawFilters::from_query(Some(&format!("cursor={cursor}")));
        let q = parse(&raw, &tz, now).unwrap();
        assert!(q.cursor.is_some(), "the cursor is read");
        feed::feed(&store, &cache, site.id, &q, now, Rows::Every)
            .await
            .unwrap();
        loads.push(cache.loads());
    }
    assert!(loads[0] > 0);
    assert_eq!(loads[1..], [loads[0]; 3], "old times read nothing new");
}
