//! Site ownership, on both backends: hosts proven by a DNS TXT record or the well-known file
//! (against a DNS server and an HTTP server the test starts), every bad answer said in words
//! within bounded time, the 72-hour grace and then 403 `site_unverified`, the operator's sites
//! verified, taking a host another workspace holds unverified (never a verified one), and who
//! may press Check now.

use leadsment::accounts::WorkspaceId;
use leadsment::accounts::ownership::HostClaim;
use leadsment::accounts::roles::Role;
use leadsment::accounts::sites::{NewSite, Site};
use leadsment::auth::users::User;
use leadsment::store::{Db, sql};
use reqwest::StatusCode;
use serde_json::json;

use crate::accounts::{PW, join, make_user};
use crate::client::Client;
use crate::dns_server::{Rr, TestDns};
use crate::mail_sink::MailSink;
use crate::on_both_backends;
use crate::site_settings::{add_site, workspace_of};
use crate::support::{Backend, TestApp, TestDb};
use crate::tracking::{CHROME, post};

on_both_backends!(
    an_unverified_host_takes_events_for_72_hours_then_gets_403_site_unverified,
    migrated_command_line_and_platform_sites_are_verified,
    the_ownership_section_shows_the_token_and_both_ways,
    check_now_is_for_the_workspaces_admins_only,
    a_verified_host_cannot_be_taken_and_the_form_names_no_other_tenant,
    a_taken_host_moves_in_one_go_and_the_old_site_keeps_its_data,
    hosts_are_verified_by_a_txt_record_or_by_the_file,
    wrong_tokens_large_files_slow_hosts_and_redirect_loops_each_say_why,
    verify_and_take_moves_the_host_and_mails_the_old_owners,
    the_hourly_job_checks_each_due_host_once_across_nodes,
    the_hourly_job_checks_several_hosts_at_once,
);

const HOUR_MS: i64 = 3600 * 1000;

struct Setup {
    app: TestApp,
    store: Db,
    owner: User,
    site: Site,
    sink: MailSink,
}

/// The app (trusting 127.0.0.1 as a proxy), a mail sink, an owner with the workspace Acme and
/// its site acme.example.
async fn setup(backend: Backend) -> Setup {
    let sink = MailSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(backend, move |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.auth.smtp_url = Some(url.into());
    })
    .await;
    let store = app.db.store().await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = workspace_of(&store, &owner).await;
    let site = add_site(&store, ws, "acme.example").await;
    Setup {
        app,
        store,
        owner,
        site,
        sink,
    }
}

async fn claims(store: &Db, site: &Site) -> Vec<HostClaim> {
    leadsment::accounts::store::host_claims(store, site.id)
        .await
        .unwrap()
}

async fn signed_in(s: &Setup, email: &str, role: Role) -> Client {
    let user = make_user(&s.store, email, None).await;
    join(&s.store, s.site.workspace_id, &user, role, s.owner.id).await;
    let c = Client::new(&s.app);
    c.sign_in(email, PW, false).await;
    c
}

fn settings(site: &Site) -> String {
    format!("/w/{}/sites/{}/settings", site.workspace_id.0, site.id.0)
}

async fn pageview(app: &TestApp, host: &str) -> StatusCode {
    let body = json!({"name": "pageview", "url": format!("https://{host}/"), "domain": host});
    post(app, &body, CHROME, Some("203.0.113.9")).await.status()
}

async fn backdate(store: &Db, host: &str, hours: i64) {
    let at = leadsment::store::now_ms() - hours * HOUR_MS;
    assert!(
        leadsment::accounts::store::set_claimed_at(store, host, at)
            .await
            .unwrap()
    );
}

async fn an_unverified_host_takes_events_for_72_hours_then_gets_403_site_unverified(
    backend: Backend,
) {
    let s = setup(backend).await;
    let ws = s.site.workspace_id;
    // Each host is first seen by ingest after its state is set: the site cache keeps a site
    // for a few seconds, so no host is looked at twice.
    assert!(!claims(&s.store, &s.site).await[0].is_verified());
    backdate(&s.store, "acme.example", 71).await;
    assert_eq!(pageview(&s.app, "acme.example").await, StatusCode::ACCEPTED);

    add_site(&s.store, ws, "late.example").await;
    backdate(&s.store, "late.example", 73).await;
    let body =
        json!({"name": "pageview", "url": "https://www.late.example/", "domain": "late.example"});
    let res = post(&s.app, &body, CHROME, Some("203.0.113.9")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["error"], "site_unverified", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("late.example"),
        "{err}"
    );
    let metrics = s.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("leadsment_events_dropped_total{reason=\"site_unverified\"} 1\n"),
        "{metrics}"
    );

    // Letting a host past its grace go and claiming it again starts no new grace: not as
    // an alias again, not as another site's domain.
    let keep = leadsment::accounts::store::create_site(
        &s.store,
        &NewSite::new(ws, "keep.example", &["again.example".to_owned()]).unwrap(),
    )
    .await
    .unwrap();
    backdate(&s.store, "again.example", 73).await;
    let past = |claims: Vec<HostClaim>| {
        let now = leadsment::store::now_ms();
        let again = claims
            .into_iter()
            .find(|c| c.host == "again.example")
            .unwrap();
        !again.takes_events(now)
    };
    assert!(past(claims(&s.store, &keep).await));
    for aliases in [vec![], vec!["again.example".to_owned()], vec![]] {
        let new = NewSite::new(ws, "keep.example", &aliases).unwrap();
        leadsment::accounts::store::update_site(&s.store, keep.id, &new)
            .await
            .unwrap();
        if !aliases.is_empty() {
            assert!(
                past(claims(&s.store, &keep).await),
                "an alias again, no new grace"
            );
        }
    }
    let elsewhere = add_site(&s.store, ws, "again.example").await;
    assert!(
        past(claims(&s.store, &elsewhere).await),
        "claimed again, no new grace"
    );

    // Verified, the same age takes events.
    let done = add_site(&s.store, ws, "done.example").await;
    backdate(&s.store, "done.example", 500).await;
    s.store
        .write(sql(
            "UPDATE site_hosts SET verified_at = 1 WHERE host = 'done.example'",
        ))
        .await
        .unwrap();
    assert!(claims(&s.store, &done).await[0].is_verified());
    assert_eq!(pageview(&s.app, "done.example").await, StatusCode::ACCEPTED);
    s.app.shutdown().await.unwrap();
}

async fn migrated_command_line_and_platform_sites_are_verified(backend: Backend) {
    // A site stored before migration 0018 is verified by it.
    let old_rows = [
        "INSERT INTO workspaces (name, created_at) VALUES ('Old', 1000)",
        "INSERT INTO sites (workspace_id, domain, created_at) VALUES (1, 'old.example', 1000)",
        "INSERT INTO site_hosts (host, site_id, is_alias) VALUES ('old.example', 1, FALSE)",
    ];
    let db = TestDb::migrated_below(backend, 18, &old_rows).await;
    let store = db.store().await;
    let old = leadsment::accounts::store::list_sites(&store)
        .await
        .unwrap();
    let claim = &claims(&store, &old[0]).await[0];
    assert_eq!(claim.host, "old.example");
    assert_eq!(claim.verified_at, Some(1000), "{claim:?}");
    assert_eq!(claim.claimed_at, 1000);
    store.close().await;

    // `leadsment site add`.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadsment"))
        .args(["site", "add", "cli.example", "--alias", "shop.cli.example"])
        .env("LEADSMENT_DATABASE_URL", &db.url)
        .env("LEADSMENT_DATA_DIR", db.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let store = db.store().await;
    let cli = leadsment::accounts::store::site_by_host(
        &store,
        &leadsment::accounts::sites::Hostname::parse("cli.example").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let cli_claims = claims(&store, &cli).await;
    assert_eq!(cli_claims.len(), 2);
    assert!(
        cli_claims.iter().all(HostClaim::is_verified),
        "{cli_claims:?}"
    );

    // The instance's own site, made at start-up from the public URL.
    let app = TestApp::spawn_with(backend, |c| {
        c.web.public_url = "http://localhost:0".parse().unwrap();
    })
    .await;
    let store = app.db.store().await;
    let platform = leadsment::accounts::store::platform_workspace(&store)
        .await
        .unwrap()
        .unwrap();
    let sites = leadsment::accounts::store::workspace_sites(&store, platform.id)
        .await
        .unwrap();
    assert!(!sites.is_empty());
    for site in &sites {
        assert!(
            claims(&store, site)
                .await
                .iter()
                .all(HostClaim::is_verified)
        );
    }
    // A customer's site is not.
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let theirs = add_site(&store, workspace_of(&store, &owner).await, "new.example").await;
    assert!(!claims(&store, &theirs).await[0].is_verified());
    app.shutdown().await.unwrap();
}

async fn the_ownership_section_shows_the_token_and_both_ways(backend: Backend) {
    let s = setup(backend).await;
    let admin = signed_in(&s, "admin@example.com", Role::Admin).await;
    let page = admin.get(&settings(&s.site)).await;
    assert_eq!(page.status, StatusCode::OK);
    let token = leadsment::accounts::store::verify_token(&s.store, s.site.workspace_id)
        .await
        .unwrap();
    assert!(token.len() >= 32, "{token}");
    let line = format!("leadsment-verify={token}");
    assert!(page.body.contains(&line), "{}", page.body);
    assert!(page.body.contains("/.well-known/leadsment-verify.txt"));
    assert!(page.body.contains("TXT record"));
    assert!(page.body.contains("Check now"));
    assert!(page.body.contains("Not verified yet"));
    // One token per workspace, kept.
    let again = leadsment::accounts::store::verify_token(&s.store, s.site.workspace_id)
        .await
        .unwrap();
    assert_eq!(again, token);
    let other = make_user(&s.store, "other@example.com", Some("Other")).await;
    let theirs =
        leadsment::accounts::store::verify_token(&s.store, workspace_of(&s.store, &other).await)
            .await
            .unwrap();
    assert_ne!(theirs, token);
    s.app.shutdown().await.unwrap();
}

async fn check_now_is_for_the_workspaces_admins_only(backend: Backend) {
    let s = setup(backend).await;
    let check = [("section", "check_ownership")];
    for (email, role) in [
        ("viewer@example.com", Role::Viewer),
        ("member@example.com", Role::Member),
    ] {
        let c = signed_in(&s, email, role).await;
        let res = c.post_form(&settings(&s.site), &check).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{role:?}");
        let res = c
            .post_form(
                &format!("/w/{}/claim", s.site.workspace_id.0),
                &[("host", "x.example")],
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{role:?} claim");
    }
    // An admin of another workspace: the site is not found, under either address.
    let stranger_user = make_user(&s.store, "stranger@example.com", Some("Other")).await;
    let stranger = Client::new(&s.app);
    stranger.sign_in("stranger@example.com", PW, false).await;
    let res = stranger.post_form(&settings(&s.site), &check).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let other_ws = workspace_of(&s.store, &stranger_user).await;
    let res = stranger
        .post_form(
            &format!("/w/{}/sites/{}/settings", other_ws.0, s.site.id.0),
            &check,
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(claims(&s.store, &s.site).await[0].last_check.is_none());

    // An admin checks as often as the hour allows, then is told when to try again; Verify
    // and take draws on the same allowance.
    let admin = signed_in(&s, "admin@example.com", Role::Admin).await;
    for i in 0..leadsment::accounts::ownership::CHECKS_PER_HOUR {
        let res = admin.post_form(&settings(&s.site), &check).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "check {i}: {}", res.body);
    }
    let res = admin.post_form(&settings(&s.site), &check).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(res.headers.get("retry-after").is_some());
    assert!(
        res.body.contains("ownership checks of the last hour"),
        "{}",
        res.body
    );
    let res = admin
        .post_form(
            &format!("/w/{}/claim", s.site.workspace_id.0),
            &[("host", "x.example")],
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    s.app.shutdown().await.unwrap();
}

async fn a_verified_host_cannot_be_taken_and_the_form_names_no_other_tenant(backend: Backend) {
    let s = setup(backend).await;
    let squatter = make_user(&s.store, "squatter@example.com", Some("Squatter Ltd")).await;
    let sq_ws = workspace_of(&s.store, &squatter).await;
    add_site(&s.store, sq_ws, "held.example").await;
    let verified = add_site(&s.store, sq_ws, "proven.example").await;
    s.store
        .write(sql(
            "UPDATE site_hosts SET verified_at = 1 WHERE host = 'proven.example'",
        ))
        .await
        .unwrap();
    let admin = signed_in(&s, "admin@example.com", Role::Admin).await;
    let ws = s.site.workspace_id.0;

    // Held unverified: taken, with a way to prove it.
    let res = admin
        .post_form(&format!("/w/{ws}/sites"), &[("domain", "held.example")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.body
            .contains("held.example is already used by another site.")
    );
    assert!(
        res.body
            .contains(&format!("href=\"/w/{ws}/claim?host=held.example\"")),
        "{}",
        res.body
    );
    assert!(!res.body.contains("Squatter"), "{}", res.body);
    // As an alias too.
    let fields = [
        ("section", "site"),
        ("domain", "acme.example"),
        ("aliases", "www.held.example"),
        ("time_zone", "UTC"),
    ];
    let res = admin.post_form(&settings(&s.site), &fields).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(
        res.body.contains(&format!(
            "/w/{ws}/claim?host=www.held.example&#38;site={}",
            s.site.id.0
        )),
        "{}",
        res.body
    );
    assert!(!res.body.contains("Squatter"));
    let page = admin.get(&format!("/w/{ws}/claim?host=held.example")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Verify and take"));
    assert!(!page.body.contains("Squatter"));

    // Verified: taken, no way to prove it, and a forged take changes nothing.
    let res = admin
        .post_form(&format!("/w/{ws}/sites"), &[("domain", "proven.example")])
        .await;
    assert!(
        res.body
            .contains("proven.example is already used by another site.")
    );
    assert!(!res.body.contains("/claim?"), "{}", res.body);
    let res = admin
        .post_form(&format!("/w/{ws}/claim"), &[("host", "proven.example")])
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body.contains("cannot be taken"), "{}", res.body);
    assert!(!res.body.contains("Squatter"));
    let still = leadsment::accounts::store::site_by_host(
        &s.store,
        &leadsment::accounts::sites::Hostname::parse("proven.example").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(still.id, verified.id);
    assert!(s.sink.messages().is_empty());
    s.app.shutdown().await.unwrap();
}

async fn a_taken_host_moves_in_one_go_and_the_old_site_keeps_its_data(backend: Backend) {
    use leadsment::accounts::errors::AccountError;
    use leadsment::accounts::sites::Hostname;
    use leadsment::accounts::store::{TakeInto, take_host, workspace_site};
    let s = setup(backend).await;
    let ours = s.site.workspace_id;
    let squatter = make_user(&s.store, "squatter@example.com", Some("Squatter Ltd")).await;
    let sq_ws = workspace_of(&s.store, &squatter).await;
    let two = leadsment::accounts::store::create_site(
        &s.store,
        &NewSite::new(sq_ws, "sq.example", &["www.b.example".into()]).unwrap(),
    )
    .await
    .unwrap();
    let one = add_site(&s.store, sq_ws, "only.example").await;
    let host = |h: &str| Hostname::parse(h).unwrap();

    // The old site's domain: its remaining host becomes its domain.
    let new = NewSite::new(ours, "sq.example", &[]).unwrap();
    let moved = take_host(&s.store, ours, &host("sq.example"), &TakeInto::NewSite(new))
        .await
        .unwrap();
    assert_eq!(moved.from_workspace, sq_ws);
    assert_eq!(moved.from_domain_after, "www.b.example");
    let old = workspace_site(&s.store, sq_ws, two.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.domain.as_str(), "www.b.example");
    assert!(old.aliases.is_empty());
    let now_ours = workspace_site(&s.store, ours, moved.site)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now_ours.domain.as_str(), "sq.example");
    assert!(claims(&s.store, &now_ours).await[0].is_verified());

    // With no other host, the old site keeps its id under a name that claims nothing.
    let into = TakeInto::Alias(s.site.id, host("www.only.example"));
    let moved = take_host(&s.store, ours, &host("only.example"), &into)
        .await
        .unwrap();
    assert_eq!(moved.site, s.site.id);
    let old = workspace_site(&s.store, sq_ws, one.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.domain.as_str(), format!("moved-{}.invalid", one.id.0));
    assert!(claims(&s.store, &old).await.is_empty());
    let acme = workspace_site(&s.store, ours, s.site.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(acme.aliases[0].as_str(), "www.only.example");

    // Verified now: nobody takes it back, and a workspace does not take from itself.
    let third = make_user(&s.store, "third@example.com", Some("Third")).await;
    let third_ws = workspace_of(&s.store, &third).await;
    let again = NewSite::new(third_ws, "sq.example", &[]).unwrap();
    let err = take_host(
        &s.store,
        third_ws,
        &host("sq.example"),
        &TakeInto::NewSite(again),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, AccountError::HostTaken { owner: None, .. }),
        "{err:?}"
    );
    let own = add_site(&s.store, ours, "mine.example").await;
    let into = TakeInto::Alias(own.id, host("mine.example"));
    let err = take_host(&s.store, ours, &host("mine.example"), &into)
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::HostTaken { .. }), "{err:?}");
    s.app.shutdown().await.unwrap();
}

// --- against a DNS server and an HTTP server of the test's own ---------------------------

/// The token the tests' workspace (Acme) is given, so that the servers can hold it.
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const LINE: &str = "leadsment-verify=0123456789abcdef0123456789abcdef";

/// A loopback address of the test's own (all of 127/8 reaches this machine), so that its
/// HTTP server can listen on port 80, where the file is looked for, beside other tests'.
fn own_loopback() -> &'static str {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let base = std::process::id() % 200 + 20;
    Box::leak(format!("127.{base}.{}.{}", n / 200, n % 200 + 2).into_boxed_str())
}

/// The file server on `ip`:80, answering by the request's host: the token, another token, a
/// file too large, never, a redirect loop, or 404.
async fn file_server(ip: &str) {
    use axum::extract::Request;
    use axum::response::{IntoResponse, Redirect, Response};
    async fn answer(req: Request) -> Response {
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let path = req.uri().path().to_owned();
        match host.as_str() {
            "file.example" | "held.example" => format!("# ours\n  {LINE}  \n").into_response(),
            "wrong.example" => "leadsment-verify=nottheirs\n".into_response(),
            "large.example" => format!("{LINE}\n{}", "x".repeat(5000)).into_response(),
            "slow.example" => {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                "late".into_response()
            }
            "loop.example" if path == "/a" => {
                Redirect::to("http://loop.example/.well-known/leadsment-verify.txt").into_response()
            }
            "loop.example" => Redirect::to("http://loop.example/a").into_response(),
            _ => axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind(format!("{ip}:80"))
        .await
        .expect("port 80 on a loopback address of the test's own (run as root)");
    let app = axum::Router::new().fallback(answer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// A DNS server naming the file server for every test host, with TXT records for some.
async fn dns_for(ip: &'static str) -> TestDns {
    let mut records: Vec<(&str, Rr)> = [
        "txt.example",
        "file.example",
        "wrong.example",
        "large.example",
        "slow.example",
        "loop.example",
        "missing.example",
        "held.example",
        "held2.example",
    ]
    .iter()
    .map(|h| (*h, Rr::A(ip)))
    .collect();
    records.push(("txt.example", Rr::Txt(&["v=spf1 -all"])));
    records.push(("txt.example", Rr::Txt(&[LINE])));
    records.push((
        "wrong.example",
        Rr::Txt(&["leadsment-verify=", "nottheirs"]),
    ));
    TestDns::serving(&records).await
}

/// [`setup`] with the servers, the fetcher allowed to reach them, and Acme's token fixed.
async fn setup_online(backend: Backend) -> (Setup, TestDns) {
    let ip = own_loopback();
    file_server(ip).await;
    let dns = dns_for(ip).await;
    let (resolver, url) = (dns.addr, MailSink::start().await);
    let mail = url.url();
    let app = TestApp::spawn_with(backend, move |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.auth.smtp_url = Some(mail.into());
        c.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
        c.outbound.resolver = Some(resolver);
    })
    .await;
    let store = app.db.store().await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = workspace_of(&store, &owner).await;
    store
        .write(
            sql("UPDATE workspaces SET verify_token = $1 WHERE id = $2")
                .bind(TOKEN)
                .bind(ws.0),
        )
        .await
        .unwrap();
    let site = add_site(&store, ws, "acme.example").await;
    let s = Setup {
        app,
        store,
        owner,
        site,
        sink: url,
    };
    (s, dns)
}

async fn site_with(store: &Db, ws: WorkspaceId, domain: &str, aliases: &[&str]) -> Site {
    let aliases: Vec<String> = aliases.iter().map(|a| (*a).to_owned()).collect();
    leadsment::accounts::store::create_site(store, &NewSite::new(ws, domain, &aliases).unwrap())
        .await
        .unwrap()
}

async fn check_now(c: &Client, site: &Site) -> String {
    let res = c
        .post_form(&settings(site), &[("section", "check_ownership")])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(
        res.location().contains("done=checked"),
        "{}",
        res.location()
    );
    let page = c.get(&settings(site)).await;
    assert_eq!(page.status, StatusCode::OK);
    page.body
}

fn found(claims: &[HostClaim], host: &str) -> String {
    let claim = claims.iter().find(|c| c.host == host).unwrap();
    claim.last_check.as_ref().expect("checked").found.clone()
}

async fn hosts_are_verified_by_a_txt_record_or_by_the_file(backend: Backend) {
    let (s, _dns) = setup_online(backend).await;
    let site = site_with(
        &s.store,
        s.site.workspace_id,
        "txt.example",
        &["www.file.example", "missing.example"],
    )
    .await;
    let admin = signed_in(&s, "admin@example.com", Role::Admin).await;
    let page = check_now(&admin, &site).await;
    let got = claims(&s.store, &site).await;
    let by = |h: &str| got.iter().find(|c| c.host == h).unwrap();
    assert!(by("txt.example").is_verified(), "{got:?}");
    assert!(by("file.example").is_verified(), "{got:?}");
    assert!(!by("missing.example").is_verified(), "{got:?}");
    assert_eq!(
        found(&got, "txt.example"),
        format!("TXT records of txt.example: found {LINE}")
    );
    assert!(
        found(&got, "file.example").contains("TXT records of file.example: none"),
        "{got:?}"
    );
    assert!(
        found(&got, "file.example").contains(&format!(
            "http://file.example/.well-known/leadsment-verify.txt: found {LINE}"
        )),
        "{got:?}"
    );
    assert!(
        found(&got, "missing.example").contains(
            "http://missing.example/.well-known/leadsment-verify.txt: the file answered 404"
        ),
        "{got:?}"
    );
    // The page says it too.
    assert!(page.contains("the file answered 404"), "{page}");
    assert!(page.contains(&format!("TXT records of txt.example: found {LINE}")));
    assert!(page.contains("Verified on"));
    s.app.shutdown().await.unwrap();
}

async fn wrong_tokens_large_files_slow_hosts_and_redirect_loops_each_say_why(backend: Backend) {
    let (s, _dns) = setup_online(backend).await;
    let site = site_with(
        &s.store,
        s.site.workspace_id,
        "wrong.example",
        &[
            "large.example",
            "slow.example",
            "loop.example",
            "gone.example",
        ],
    )
    .await;
    let admin = signed_in(&s, "admin@example.com", Role::Admin).await;
    let page = check_now(&admin, &site).await;
    let got = claims(&s.store, &site).await;
    assert!(got.iter().all(|c| !c.is_verified()), "{got:?}");
    let wrong = found(&got, "wrong.example");
    assert!(
        wrong.contains(
            "TXT records of wrong.example: found leadsment-verify=nottheirs, not this workspace's token"
        ),
        "{wrong}"
    );
    // The file says the same of its line, named by its address.
    assert!(
        wrong.lines().any(|l| l.contains(
            "/.well-known/leadsment-verify.txt: found \
             leadsment-verify=nottheirs, not this workspace's token"
        )),
        "{wrong}"
    );
    let large = found(&got, "large.example");
    assert!(large.contains("the file is larger than 4 KiB"), "{large}");
    let slow = found(&got, "slow.example");
    assert!(slow.contains("timed out after 5 s"), "{slow}");
    let looped = found(&got, "loop.example");
    assert!(looped.contains("redirect loop"), "{looped}");
    let gone = found(&got, "gone.example");
    assert!(gone.contains("TXT records of gone.example: none"), "{gone}");
    assert!(gone.contains("has no address in DNS"), "{gone}");
    for words in ["larger than 4 KiB", "timed out after 5 s", "redirect loop"] {
        assert!(page.contains(words), "{words}: {page}");
    }
    s.app.shutdown().await.unwrap();
}

async fn verify_and_take_moves_the_host_and_mails_the_old_owners(backend: Backend) {
    let (s, _dns) = setup_online(backend).await;
    let squatter = make_user(&s.store, "squatter@example.com", Some("Squatter Ltd")).await;
    let sq_ws = workspace_of(&s.store, &squatter).await;
    let held = add_site(&s.store, sq_ws, "held.example").await;
    add_site(&s.store, sq_ws, "held2.example").await;
    let admin = signed_in(&s, "admin@example.com", Role::Admin).await;
    let ws = s.site.workspace_id.0;

    // Not proven: nothing moves, and the page says what was found.
    let res = admin
        .post_form(&format!("/w/{ws}/claim"), &[("host", "held2.example")])
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(
        res.body.contains("TXT records of held2.example: none"),
        "{}",
        res.body
    );
    assert!(res.body.contains("the file answered 404"), "{}", res.body);
    assert!(!res.body.contains("Squatter"));

    // Proven by the file: the host becomes a new site here.
    let page = admin.get(&format!("/w/{ws}/claim?host=held.example")).await;
    assert!(page.body.contains(LINE), "{}", page.body);
    assert!(!page.body.contains("Squatter"));
    let res = admin
        .post_form(&format!("/w/{ws}/claim"), &[("host", "held.example")])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.location().contains("done=taken"));
    let now = leadsment::accounts::store::site_by_host(
        &s.store,
        &leadsment::accounts::sites::Hostname::parse("held.example").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(now.workspace_id, s.site.workspace_id);
    assert!(claims(&s.store, &now).await[0].is_verified());
    let page = admin.get(&settings(&now)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Squatter"), "{}", page.body);
    // The old site keeps its id and data, under a name that claims nothing.
    let old = leadsment::accounts::store::workspace_site(&s.store, sq_ws, held.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.domain.as_str(), format!("moved-{}.invalid", held.id.0));

    let mail = s
        .sink
        .wait_for(
            "squatter@example.com",
            "held.example moved to another workspace",
        )
        .await;
    assert!(mail.data.contains("never verified"), "{}", mail.data);
    assert!(
        mail.data.contains("keeps all its events and data"),
        "{}",
        mail.data
    );
    assert!(!mail.data.contains("Acme"), "{}", mail.data);
    assert_eq!(s.sink.count_to("owner@example.com"), 0);
    s.app.shutdown().await.unwrap();
}

async fn the_hourly_job_checks_each_due_host_once_across_nodes(backend: Backend) {
    use leadsment::accounts::ownership::recheck_due;
    use leadsment::accounts::probe::NetProbe;
    let (s, dns) = setup_online(backend).await;
    let site = site_with(
        &s.store,
        s.site.workspace_id,
        "txt.example",
        &["missing.example"],
    )
    .await;
    let mut config = s.app.db.config();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.outbound.resolver = Some(dns.addr);
    let probe = NetProbe::new(&config);
    // acme.example (no DNS), txt.example and missing.example are due; acme.example's lookup
    // finds no such name.
    let (checked, verified) = recheck_due(&s.store, &probe).await.unwrap();
    assert_eq!((checked, verified), (3, 1));
    let got = claims(&s.store, &site).await;
    assert!(
        got.iter()
            .find(|c| c.host == "txt.example")
            .unwrap()
            .is_verified()
    );
    // A second node, or the next round within the hour, finds nothing due.
    assert_eq!(recheck_due(&s.store, &probe).await.unwrap(), (0, 0));
    // An hour later the unverified ones are due again, the verified one never.
    s.store
        .write(sql(
            "UPDATE site_hosts SET checked_at = checked_at - 3600001",
        ))
        .await
        .unwrap();
    assert_eq!(recheck_due(&s.store, &probe).await.unwrap(), (2, 0));

    // A host never checked comes before those checked long ago, however many wait.
    s.store
        .write(sql("UPDATE site_hosts SET checked_at = 1"))
        .await
        .unwrap();
    site_with(&s.store, s.site.workspace_id, "fresh.example", &[]).await;
    let now = leadsment::store::now_ms();
    let first = leadsment::accounts::store::claim_due_hosts(&s.store, now, 1)
        .await
        .unwrap();
    let hosts: Vec<&str> = first.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(hosts, ["fresh.example"]);
    s.app.shutdown().await.unwrap();
}

/// A probe whose every step waits a while, counting the steps in flight.
#[derive(Default)]
struct SlowProbe {
    now: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl SlowProbe {
    async fn step(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        self.now.fetch_sub(1, SeqCst);
    }
}

#[async_trait::async_trait]
impl leadsment::accounts::ownership::Probe for SlowProbe {
    async fn txt(&self, _: &str) -> leadsment::accounts::ownership::TxtLookup {
        self.step().await;
        leadsment::accounts::ownership::TxtLookup::Records(Vec::new())
    }
    async fn fetch(&self, _: &str) -> leadsment::accounts::ownership::FileFetch {
        self.step().await;
        leadsment::accounts::ownership::FileFetch::Answered {
            status: 404,
            body: Vec::new(),
        }
    }
}

/// One slow host does not hold up the round: hosts are checked several at a time, never more
/// than `CHECKS_AT_ONCE`.
async fn the_hourly_job_checks_several_hosts_at_once(backend: Backend) {
    use leadsment::accounts::ownership::{CHECKS_AT_ONCE, recheck_due};
    let s = setup(backend).await;
    for n in 0..20 {
        site_with(
            &s.store,
            s.site.workspace_id,
            &format!("slow{n}.example"),
            &[],
        )
        .await;
    }
    let probe = SlowProbe::default();
    let (checked, verified) = recheck_due(&s.store, &probe).await.unwrap();
    assert_eq!((checked, verified), (21, 0));
    let most = probe.most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most > 1 && most <= CHECKS_AT_ONCE, "{most} checks at once");
    s.app.shutdown().await.unwrap();
}
