//! The route walk: every route of the table the server composes (`leadsment::app::routes`), so
//! a new route is walked without being named here, called
//!
//! - without a session: a browser is sent to sign in, a program gets 401, an API route without
//!   its key 401, a public route answers (never 404, 405 or 5xx), a method the route does not
//!   have 405;
//! - by a member of another workspace (with a valid CSRF token), with the victim's ids in the
//!   path, and with its own workspace but the victim's objects: 404 or 403, nothing of the
//!   victim in the answer, the victim's data unchanged;
//! - with the victim's own session and CSRF token but from another site (`Origin`,
//!   `Sec-Fetch-Site`): every state-changing method refused with 403 and nothing changed; the
//!   tracker's events, public across sites, refused with `origin_not_allowed` for an Origin
//!   that is not one of the site's hosts;
//! - by the victim, every signed-in page: answered, with `Cache-Control: no-store`.
//!
//! Every check is recorded; a walk fails at its end listing every mismatch at once.

use std::collections::BTreeMap;

use leadsment::accounts::Access;
use leadsment::accounts::WorkspaceId;
use leadsment::accounts::roles::Role;
use leadsment::auth::Access as SignIn;
use leadsment::auth::tokens::digest;
use leadsment::auth::users::UserId;
use leadsment::store::Db;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::accounts::{PW, join, make_user};
use crate::client::{Client, Resp};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

on_both_backends!(
    without_a_session_every_route_answers_as_its_access_says,
    tenant_isolation_every_authenticated_route_refuses_other_workspaces,
    cross_site_requests_with_the_victims_own_session_are_refused_everywhere,
);

/// Public routes, reviewed: each is meant to answer without a session. A route that becomes
/// public must be added here after review, so a route that forgets its check fails.
const REVIEWED_PUBLIC: &[&str] = &[
    "/",
    // The public site's marketing pages: the same for everyone.
    "/pricing",
    "/how-it-works",
    "/healthz",
    "/assets/{name}",
    "/auth/sign-in",
    "/auth/sign-up",
    "/auth/sign-out",
    "/auth/refresh",
    "/auth/forgot",
    "/auth/reset",
    "/auth/verify",
    "/auth/setup",
    // Asking for a one-time sign-in link, and using one: the same answer for any address;
    // the link is checked by the handler.
    "/auth/sign-in-link",
    "/auth/sign-in-link/use",
    "/invite",
    // The tracker script and the consent banner's: static, the same for everyone.
    "/js/t.js",
    "/js/consent.js",
    // The tracker's events: no credentials, answered the same to everyone.
    "/api/event",
    // The consent banner's rule and the visitor's decision: no session; the rule is the
    // visitor's own, the decision is refused from other sites' pages and rate-limited.
    "/api/consent/rule",
    "/api/consent",
    // The cookie policy, generated from the registry: the same for everyone.
    "/legal/cookies",
    "/legal/cookies.json",
    // The legal pages in Markdown, from the store: the same for everyone.
    "/legal/privacy",
    "/legal/terms",
    "/legal/acceptable-use",
    // The operator's metrics: a token or the loopback address, checked by the handler.
    "/metrics",
    // The API's OpenAPI document: the same for everyone, nothing of any workspace.
    "/api/v1/openapi.json",
];

const VICTIM_DOMAIN: &str = "victim.example";

/// The victim's workspace and objects, an outsider with a workspace of their own, a viewer
/// of the victim's workspace, and signed-in browsers for each.
struct World {
    app: TestApp,
    store: Db,
    victim: UserId,
    victim_ws: WorkspaceId,
    outsider_ws: WorkspaceId,
    /// The victim's ids, for every path parameter.
    ids: Ids,
    victim_c: Client,
    outsider_c: Client,
    viewer_c: Client,
}

#[derive(Clone)]
struct Ids {
    workspace: i64,
    user: i64,
    invitation: i64,
    key: i64,
    session: i64,
    site: i64,
    company: i64,
    saved_feed: i64,
}

impl Ids {
    /// `path` with its parameters filled; panics on a parameter this walk does not know, so a
    /// new kind of parameter gets a real value here.
    fn fill(&self, path: &str) -> String {
        let mut p = path.to_owned();
        for (name, value) in [
            ("{workspace_id}", self.workspace),
            ("{user_id}", self.user),
            ("{invitation_id}", self.invitation),
            ("{key_id}", self.key),
            ("{session_id}", self.session),
            ("{site_id}", self.site),
            ("{company_id}", self.company),
            ("{feed_id}", self.saved_feed),
        ] {
            p = p.replace(name, &value.to_string());
        }
        p = p.replace("{name}", "app.css");
        // No tag exists: the panel is the platform administrators', 404 for everyone else.
        p = p.replace("{tag_id}", "1");
        // The legal pages' editor is the platform administrators', 404 for everyone else.
        p = p.replace("{page}", "privacy");
        assert!(!p.contains('{'), "add a value for the parameter in {path}");
        p
    }
}

async fn world(backend: Backend) -> World {
    let app = crate::leads::app_with_index(backend, crate::leads::INDEX).await;
    let store = app.db.store().await;
    let victim = make_user(&store, "victim@example.com", Some("Victim Corp")).await;
    let vws = crate::accounts::first_workspace(&store, victim.id).await;
    let viewer = make_user(&store, "viewer@example.com", None).await;
    join(&store, vws, &viewer, Role::Viewer, victim.id).await;
    let (_, pending) = leadsment::auth::links::fresh_secret();
    let inv = leadsment::accounts::store::create_invitation(
        &store,
        vws,
        "pending@example.com",
        Role::Admin,
        &pending,
        victim.id,
        i64::MAX,
    )
    .await
    .unwrap();
    let key = leadsment::accounts::store::create_api_key(
        &store,
        vws,
        "victim key",
        "lm_xxxx",
        &digest("lm_victim"),
        leadsment::accounts::api_keys::Scope::Write,
        victim.id,
    )
    .await
    .unwrap();
    let site = leadsment::accounts::store::create_site(
        &store,
        &leadsment::accounts::sites::NewSite::new(vws, VICTIM_DOMAIN, &[]).unwrap(),
    )
    .await
    .unwrap();

    // Score rules of the victim's, which nobody else may change.
    let rules = leadsment::leads::rules::ScoreRules {
        half_life_days: 30.0,
        ..Default::default()
    };
    leadsment::leads::store::score_rules::save(&store, site.id, &rules, Some(victim.id.0))
        .await
        .unwrap();

    // An exclusion of the victim's, which nobody else may remove.
    leadsment::leads::store::exclusions::add_exclusion(
        &store,
        vws,
        leadsment::leads::exclusions::Kind::Domain,
        "victim-customer.example",
        Some(victim.id.0),
        leadsment::leads::exclusions::MAX_EXCLUSIONS,
    )
    .await
    .unwrap();

    let outsider = make_user(&store, "outsider@example.com", Some("Outsider Ltd")).await;
    let ows = crate::accounts::first_workspace(&store, outsider.id).await;
    leadsment::accounts::store::create_site(
        &store,
        &leadsment::accounts::sites::NewSite::new(ows, "outsider.example", &[]).unwrap(),
    )
    .await
    .unwrap();
    leadsment::accounts::store::create_api_key(
        &store,
        ows,
        "mine",
        "lm_mine",
        &digest("lm_outsider"),
        leadsment::accounts::api_keys::Scope::Write,
        outsider.id,
    )
    .await
    .unwrap();

    let victim_c = Client::new(&app);
    victim_c.sign_in("victim@example.com", PW, false).await;
    let session = leadsment::auth::store::sessions(&store, victim.id)
        .await
        .unwrap()[0]
        .id
        .0;
    let outsider_c = Client::new(&app);
    outsider_c.sign_in("outsider@example.com", PW, false).await;
    let viewer_c = Client::new(&app);
    viewer_c.sign_in("viewer@example.com", PW, false).await;

    // A visit from a company's network, so the company page has a real id of the victim's.
    let event = json!({"name": "pageview", "url": format!("https://{VICTIM_DOMAIN}/pricing"), "domain": VICTIM_DOMAIN});
    crate::leads::send(&app, "198.51.100.7", event).await;
    let feed = format!("/w/{}/sites/{}/companies", vws.0, site.id.0);
    let mut company = None;
    for _ in 0..100 {
        let body = victim_c.get(&feed).await.body;
        company = body.split(&format!("{feed}/")).skip(1).find_map(|rest| {
            let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
            id.parse::<i64>().ok()
        });
        if company.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let company = company.expect("the victim's feed links to the visiting company");
    let saved_feed = leadsment::leads::store::saved::create_saved_feed(
        &store,
        site.id,
        "Victim's pricing visitors",
        "victim's pricing visitors",
        "period=30d&page=%2Fpricing",
        victim.id,
        50,
    )
    .await
    .unwrap_or_else(|_| panic!("the victim's saved feed"))
    .id;

    World {
        ids: Ids {
            workspace: vws.0,
            user: victim.id.0,
            invitation: inv.id,
            key: key.id,
            session,
            site: site.id.0,
            company,
            saved_feed,
        },
        app,
        store,
        victim: victim.id,
        victim_ws: vws,
        outsider_ws: ows,
        victim_c,
        outsider_c,
        viewer_c,
    }
}

/// The routes as the server composes them (a second server on the same database, never
/// started: only its table is read): method, path and access.
async fn table(app: &TestApp) -> Vec<(Method, &'static str, Access)> {
    let composed = leadsment::server::Server::bind(app.db.config())
        .await
        .unwrap();
    let routes: Vec<_> = leadsment::app::routes(composed.state())
        .into_iter()
        .map(|r| (r.method, r.path, r.access))
        .collect();
    assert!(
        routes.len() >= 30,
        "only {} routes in the table",
        routes.len()
    );
    routes
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a route needs the browser's sign-in (by the session cookie).
fn needs_sign_in(access: Access) -> bool {
    matches!(
        access,
        Access::Member(_) | Access::SignIn(SignIn::Session | SignIn::PlatformAdmin)
    )
}

fn is_public(access: Access) -> bool {
    matches!(
        access,
        Access::SignIn(SignIn::Public | SignIn::Beacon | SignIn::Operator)
    )
}

/// What a check expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Status(StatusCode),
    /// 404 or 403: the object is not the caller's.
    Refused,
    /// 303 into the sign-in flow (`/auth/refresh`, which sends on to `/auth/sign-in`).
    SignIn,
    /// 303 to the sign-in page.
    SignInPage,
    /// 401 and `WWW-Authenticate: Bearer`.
    NeedsKey,
    /// 403 with the tracker's `origin_not_allowed`.
    OriginNotAllowed,
    /// A public route's own answer: anything but 404, 405 or a server error.
    Answers,
    /// 200 and `Cache-Control: no-store`.
    NotStored(StatusCode),
    /// Not refused for want of access (401, 403, 404) and no server error; `no-store`.
    OwnPage,
}

impl Expect {
    fn holds(self, res: &Resp) -> bool {
        let s = res.status;
        let location = res.location();
        let no_store = res
            .headers
            .get("cache-control")
            .is_some_and(|v| v == "no-store");
        match self {
            Expect::Status(want) => s == want,
            Expect::Refused => s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
            Expect::SignIn => {
                s == StatusCode::SEE_OTHER && location.starts_with("/auth/refresh?next=")
            }
            Expect::SignInPage => {
                s == StatusCode::SEE_OTHER && location.starts_with("/auth/sign-in")
            }
            Expect::NeedsKey => {
                s == StatusCode::UNAUTHORIZED
                    && res
                        .headers
                        .get("www-authenticate")
                        .is_some_and(|v| v == "Bearer")
            }
            Expect::OriginNotAllowed => {
                s == StatusCode::FORBIDDEN && res.body.contains("origin_not_allowed")
            }
            Expect::Answers => {
                !s.is_server_error()
                    && s != StatusCode::NOT_FOUND
                    && s != StatusCode::METHOD_NOT_ALLOWED
            }
            Expect::NotStored(want) => s == want && no_store,
            Expect::OwnPage => {
                !s.is_server_error()
                    && ![
                        StatusCode::UNAUTHORIZED,
                        StatusCode::FORBIDDEN,
                        StatusCode::NOT_FOUND,
                    ]
                    .contains(&s)
                    && no_store
            }
        }
    }
}

/// The checks of one walk, by group: how many requests each sent, and every mismatch.
#[derive(Default)]
struct Walk {
    sent: BTreeMap<&'static str, usize>,
    mismatches: Vec<String>,
    /// Every cookie name a `Set-Cookie` of the walk named.
    cookies: std::collections::BTreeSet<String>,
}

impl Walk {
    fn check(
        &mut self,
        group: &'static str,
        method: &Method,
        path: &str,
        want: Expect,
        res: &Resp,
    ) {
        *self.sent.entry(group).or_default() += 1;
        self.cookies_in_registry(group, method, path, res);
        if !want.holds(res) {
            let body: String = res.body.chars().take(160).collect();
            self.mismatches.push(format!(
                "[{group}] {method} {path}: expected {want:?}, got {} (location {:?}, cache-control {:?}) {body:?}",
                res.status,
                res.location(),
                res.headers.get("cache-control"),
            ));
        }
    }

    /// Every cookie an answer sets is one the cookie registry lists (the instance's own: no
    /// tag is on in the walk), and one an anonymous visitor is sent appears on public pages
    /// by its entry (removals aside).
    fn cookies_in_registry(&mut self, group: &str, method: &Method, path: &str, res: &Resp) {
        let registry = leadsment::registry::builtin(30);
        for header in res.headers.get_all("set-cookie") {
            let text = header.to_str().unwrap_or("");
            let name = text.split('=').next().unwrap_or("").trim().to_owned();
            let removal = text.contains("Max-Age=0");
            let problem = match registry.iter().find(|e| e.matches(&name)) {
                None => Some(format!(
                    "sets {name}, which the cookie registry does not list"
                )),
                Some(e)
                    if group.starts_with("no session")
                        && !removal
                        && e.appears != leadsment::registry::Appears::PublicPages =>
                {
                    Some(format!(
                        "sets {name} for an anonymous visitor; its entry says {:?}",
                        e.appears
                    ))
                }
                Some(_) => None,
            };
            if let Some(p) = problem {
                self.mismatches
                    .push(format!("[{group}] {method} {path}: {p}"));
            }
            self.cookies.insert(name);
        }
    }

    /// A check that is not a status: `ok` or the mismatch `what`.
    fn assert(&mut self, group: &'static str, ok: bool, what: String) {
        *self.sent.entry(group).or_default() += 1;
        if !ok {
            self.mismatches.push(format!("[{group}] {what}"));
        }
    }

    /// Compares two snapshots, naming the lines that differ.
    fn unchanged(&mut self, group: &'static str, before: &str, after: &str) {
        let changed: Vec<String> = before
            .lines()
            .zip(after.lines())
            .filter(|(b, a)| b != a)
            .map(|(b, a)| format!("  was {b}\n  now {a}"))
            .collect();
        self.assert(
            group,
            changed.is_empty(),
            format!("the victim's data changed:\n{}", changed.join("\n")),
        );
    }

    /// Fails listing every mismatch, and when a group sent nothing.
    fn finish(self, groups: &[&str]) {
        eprintln!("requests sent, by group: {:?}", self.sent);
        let mut problems = self.mismatches;
        for g in groups {
            if self.sent.get(g).copied().unwrap_or(0) == 0 {
                problems.push(format!("[{g}] sent no request: the walk checked nothing"));
            }
        }
        assert!(
            problems.is_empty(),
            "{} mismatches:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
}

/// One request with no cookies at all.
async fn bare(
    app: &TestApp,
    method: Method,
    path: &str,
    accept: &str,
    body: Option<String>,
) -> Resp {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = http
        .request(method, app.url(path))
        .header("accept", accept)
        .header("sec-fetch-site", "same-origin");
    if let Some(body) = body {
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
    }
    resp(req.send().await.unwrap()).await
}

async fn resp(res: reqwest::Response) -> Resp {
    let status = res.status();
    let headers: HeaderMap = res.headers().clone();
    let set_cookies = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = res.text().await.unwrap();
    Resp {
        status,
        headers,
        body,
        set_cookies,
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

const HTML: &str = "text/html,application/xhtml+xml";
const JSON: &str = "application/json";

/// Every field a form of the table reads, with values that would do harm if accepted.
const FIELDS: &[(&str, &str)] = &[
    ("name", "Pwned"),
    ("email", "evil@example.com"),
    ("role", "owner"),
    ("scope", "write"),
    ("domain", "evil.example"),
    ("aliases", "evil.example"),
    ("time_zone", "UTC"),
    ("section", "site"),
    ("query", "period=7d&class=isp"),
    ("network", "10.0.0.0/8"),
    ("confirm", "Victim Corp"),
    ("password", PW),
    ("current", PW),
    ("new", "a new password!"),
    ("action", "save"),
    ("page_rules", "Pwned | /pwned* | 100 | 100"),
    ("visit_points", "100"),
    ("visit_cap", "100"),
    ("visitor_points", "0"),
    ("visitor_cap", "0"),
    ("minute_points", "0"),
    ("minute_cap", "0"),
    ("half_life_days", "365"),
    ("markdown", "## Pwned"),
];

async fn without_a_session_every_route_answers_as_its_access_says(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let routes = table(app).await;
    let mut walk = Walk::default();
    // A CSRF token with no session, as a signed-out browser holds after loading a page.
    let csrf = Client::new(app).csrf().await;
    let with_token = |fields: &[(&str, &str)]| {
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        form(&all)
    };
    let mut walked = 0;
    for (method, route, access) in &routes {
        let path = w.ids.fill(route);
        let methods: Vec<Method> = if *method == Method::GET {
            vec![Method::GET, Method::HEAD]
        } else {
            vec![method.clone()]
        };
        for m in methods {
            let unsafe_ = is_unsafe(&m);
            let body = || unsafe_.then(|| form(FIELDS));
            match *access {
                Access::ApiKey(_) => {
                    for accept in [JSON, HTML] {
                        let res = bare(app, m.clone(), &path, accept, body()).await;
                        walk.check("no session: API", &m, &path, Expect::NeedsKey, &res);
                    }
                }
                a if needs_sign_in(a) => {
                    if unsafe_ {
                        // No cookies: the CSRF check refuses first.
                        let res = bare(app, m.clone(), &path, HTML, body()).await;
                        let want = Expect::Status(StatusCode::FORBIDDEN);
                        walk.check("no session: form, no token", &m, &path, want, &res);
                        // A token but no session: sent to sign in, or 401.
                        for (accept, want) in [
                            (HTML, Expect::SignIn),
                            (JSON, Expect::Status(StatusCode::UNAUTHORIZED)),
                        ] {
                            let c = Client::new(app);
                            c.set_cookie(leadsment::auth::CSRF_COOKIE, &csrf, "/");
                            let req = c
                                .request(m.clone(), &path)
                                .header("accept", accept)
                                .header("sec-fetch-site", "same-origin")
                                .header("content-type", "application/x-www-form-urlencoded")
                                .body(with_token(FIELDS));
                            let res = c.send(req, &path).await;
                            walk.check("no session: form with token", &m, &path, want, &res);
                        }
                    } else {
                        let res = bare(app, m.clone(), &path, HTML, None).await;
                        walk.check("no session: page", &m, &path, Expect::SignIn, &res);
                        if m == Method::GET && res.location().starts_with("/auth/refresh") {
                            // And on from the refresh to the sign-in page.
                            let next = res.location().to_owned();
                            let res = bare(app, Method::GET, &next, HTML, None).await;
                            walk.check("no session: page", &m, &next, Expect::SignInPage, &res);
                        }
                        let res = bare(app, m.clone(), &path, JSON, None).await;
                        let want = Expect::Status(StatusCode::UNAUTHORIZED);
                        walk.check("no session: program", &m, &path, want, &res);
                    }
                }
                Access::SignIn(SignIn::Beacon) => {
                    let res = bare(app, m.clone(), &path, JSON, body()).await;
                    walk.check("no session: public", &m, &path, Expect::Answers, &res);
                }
                _ => {
                    assert!(is_public(*access), "{route}: {access:?}");
                    if unsafe_ {
                        let res = bare(app, m.clone(), &path, HTML, body()).await;
                        let want = Expect::Status(StatusCode::FORBIDDEN);
                        walk.check("no session: form, no token", &m, &path, want, &res);
                        // With a token and nothing else, the route answers in its own way (a
                        // form's fields left empty, so nothing is created).
                        let c = Client::new(app);
                        c.set_cookie(leadsment::auth::CSRF_COOKIE, &csrf, "/");
                        let req = c
                            .request(m.clone(), &path)
                            .header("accept", HTML)
                            .header("sec-fetch-site", "same-origin")
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(with_token(&[]));
                        let res = c.send(req, &path).await;
                        walk.check("no session: public", &m, &path, Expect::Answers, &res);
                    } else {
                        let res = bare(app, m.clone(), &path, HTML, None).await;
                        walk.check("no session: public", &m, &path, Expect::Answers, &res);
                    }
                }
            }
        }
        walked += 1;
    }

    // A method a path does not have is 405 (the preflight of the tracker's events is its own).
    let mut by_path: BTreeMap<&str, Vec<Method>> = BTreeMap::new();
    for (method, route, _) in &routes {
        by_path.entry(route).or_default().push(method.clone());
    }
    for (route, methods) in &by_path {
        let path = w.ids.fill(route);
        for m in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            if methods.contains(&m) {
                continue;
            }
            let res = bare(app, m.clone(), &path, HTML, None).await;
            let want = if *route == "/api/event" && m == Method::OPTIONS {
                Expect::Answers
            } else {
                Expect::Status(StatusCode::METHOD_NOT_ALLOWED)
            };
            walk.check("no session: other methods", &m, &path, want, &res);
        }
    }
    assert!(
        walked >= routes.len(),
        "walked {walked} of {}",
        routes.len()
    );
    assert!(
        walk.cookies.contains(leadsment::auth::CSRF_COOKIE),
        "a page with a form sets the CSRF cookie: {:?}",
        walk.cookies
    );
    walk.finish(&[
        "no session: API",
        "no session: form, no token",
        "no session: form with token",
        "no session: page",
        "no session: program",
        "no session: public",
        "no session: other methods",
    ]);
    w.app.shutdown().await.unwrap();
}

/// The victim's data, as one comparable text: what any of the walked requests could change.
async fn snapshot(w: &World) -> String {
    let store = &w.store;
    let vws = w.victim_ws;
    let members: Vec<_> = leadsment::accounts::store::members(store, vws)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.user, m.role))
        .collect();
    let invitations = leadsment::accounts::store::invitations(store, vws)
        .await
        .unwrap();
    let keys: Vec<_> = leadsment::accounts::store::api_keys(store, vws)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.id, k.name, k.scope))
        .collect();
    let sites = leadsment::accounts::store::workspace_sites(store, vws)
        .await
        .unwrap();
    let mut networks = Vec::new();
    let mut saved_feeds = Vec::new();
    let mut score_rules = Vec::new();
    for s in &sites {
        score_rules.push(
            leadsment::leads::store::score_rules::rules(store, s.id)
                .await
                .unwrap(),
        );
        networks.push(
            leadsment::accounts::store::ignored_networks(store, s.id)
                .await
                .unwrap(),
        );
        saved_feeds.push(
            leadsment::leads::store::saved::saved_feeds(store, s.id)
                .await
                .unwrap(),
        );
    }
    let exclusions = leadsment::leads::store::exclusions::exclusions(store, vws)
        .await
        .unwrap();
    let sessions: Vec<_> = leadsment::auth::store::sessions(store, w.victim)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let user = leadsment::auth::store::user_by_email(store, "victim@example.com")
        .await
        .unwrap()
        .map(|u| (u.user, u.password_hash));
    let memberships = leadsment::accounts::store::memberships(store, w.victim)
        .await
        .unwrap();
    let workspace = leadsment::accounts::store::workspace(store, vws)
        .await
        .unwrap();
    let events = leadsment::tracking::store::export_events(
        store,
        leadsment::accounts::sites::SiteId(w.ids.site),
        0,
        i64::MAX,
        None,
        10_000,
    )
    .await
    .unwrap()
    .len();
    // The instance's legal pages, which only a platform administrator may change.
    let mut legal = Vec::new();
    for page in leadsment::legal::LegalPage::ALL {
        legal.push(leadsment::legal::store::get(store, page, 0).await.unwrap());
    }
    format!(
        "{members:?}\n{invitations:?}\n{keys:?}\n{sites:?}\n{networks:?}\n{saved_feeds:?}\n{exclusions:?}\n\
         {score_rules:?}\n\
         {sessions:?}\n{user:?}\n{memberships:?}\n{workspace:?}\nevents: {events}\n{legal:?}"
    )
}

/// Walks the route table: every route that needs a session, a membership, a platform
/// administrator or an API key is called by an outsider (a member of another workspace,
/// with a valid CSRF token) with the victim's ids, and with its own workspace but the
/// victim's objects; where it needs more than a viewer, by a viewer of the victim's
/// workspace. Each gets 404 or 403, shows nothing of the victim, and the victim's data is
/// unchanged. A new public route must be added to `REVIEWED_PUBLIC` after review.
async fn tenant_isolation_every_authenticated_route_refuses_other_workspaces(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let routes = table(app).await;
    let before = snapshot(&w).await;
    let mut walk = Walk::default();
    let foreign_objects = Ids {
        workspace: w.outsider_ws.0,
        ..w.ids.clone()
    };
    let leaks = |body: &str| {
        ["Victim Corp", "victim@", VICTIM_DOMAIN, "victim key"]
            .iter()
            .any(|t| body.contains(t))
    };
    let send = |c: &'static str, m: Method, path: String| {
        let client = match c {
            "outsider" => &w.outsider_c,
            _ => &w.viewer_c,
        };
        async move {
            if is_unsafe(&m) {
                let token = client.csrf().await;
                let mut all = FIELDS.to_vec();
                all.push(("csrf", &token));
                let req = client
                    .request(m, &path)
                    .header("accept", HTML)
                    .header("sec-fetch-site", "same-origin")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form(&all));
                client.send(req, &path).await
            } else {
                client
                    .send(client.request(m, &path).header("accept", HTML), &path)
                    .await
            }
        }
    };
    let mut walked = 0;
    let mut skipped_own_account = 0;
    for (method, route, access) in &routes {
        walked += 1;
        let m = method.clone();
        if route.contains("{workspace_id}") {
            walk.assert(
                "outsider: table",
                matches!(access, Access::Member(_) | Access::ApiKey(_)),
                format!("{route} names a workspace but is {access:?}"),
            );
        }
        if is_public(*access) {
            walk.assert(
                "outsider: table",
                REVIEWED_PUBLIC.contains(route),
                format!("{method} {route} is public: review it and add it to REVIEWED_PUBLIC"),
            );
            continue;
        }
        let path = w.ids.fill(route);
        match *access {
            Access::ApiKey(_) => {
                let req = reqwest::Client::new()
                    .request(m.clone(), app.url(&path))
                    .bearer_auth("lm_outsider")
                    .json(&json!({"domain": "evil.example"}));
                let res = resp(req.send().await.unwrap()).await;
                walk.check(
                    "outsider: API key",
                    &m,
                    &path,
                    Expect::Status(StatusCode::NOT_FOUND),
                    &res,
                );
                walk.assert(
                    "outsider: API key",
                    !leaks(&res.body),
                    format!("{m} {path} shows the victim's"),
                );
            }
            Access::Member(role) => {
                let res = send("outsider", m.clone(), path.clone()).await;
                walk.check(
                    "outsider: victim's workspace",
                    &m,
                    &path,
                    Expect::Status(StatusCode::NOT_FOUND),
                    &res,
                );
                walk.assert(
                    "outsider: victim's workspace",
                    !leaks(&res.body),
                    format!("{m} {path} shows the victim's"),
                );
                // The outsider's own workspace with the victim's objects in it.
                if route.matches('{').count() > 1 {
                    let path = foreign_objects.fill(route);
                    let res = send("outsider", m.clone(), path.clone()).await;
                    walk.check(
                        "outsider: own workspace, victim's objects",
                        &m,
                        &path,
                        Expect::Refused,
                        &res,
                    );
                    walk.assert(
                        "outsider: own workspace, victim's objects",
                        !leaks(&res.body),
                        format!("{m} {path} shows the victim's"),
                    );
                }
                if role > Role::Viewer {
                    let res = send("viewer", m.clone(), path.clone()).await;
                    walk.check(
                        "viewer",
                        &m,
                        &path,
                        Expect::Status(StatusCode::FORBIDDEN),
                        &res,
                    );
                }
            }
            Access::SESSION => {
                // The outsider's own account is theirs to change: what must hold is that no
                // other user's data changes (the snapshot) and that an id of the victim's is
                // refused. Its pages show nothing of the victim.
                if route.contains("{session_id}") {
                    let res = send("outsider", m.clone(), path.clone()).await;
                    walk.check(
                        "outsider: victim's session",
                        &m,
                        &path,
                        Expect::Status(StatusCode::NOT_FOUND),
                        &res,
                    );
                } else if !is_unsafe(&m) {
                    let res = send("outsider", m.clone(), path.clone()).await;
                    walk.check("outsider: own pages", &m, &path, Expect::OwnPage, &res);
                    walk.assert(
                        "outsider: own pages",
                        !leaks(&res.body),
                        format!("{m} {path} shows the victim's"),
                    );
                } else {
                    skipped_own_account += 1;
                }
            }
            Access::PLATFORM_ADMIN => {
                let res = send("outsider", m.clone(), path.clone()).await;
                walk.check(
                    "outsider: platform admin",
                    &m,
                    &path,
                    Expect::Status(StatusCode::NOT_FOUND),
                    &res,
                );
            }
            other => panic!("{route}: an access this walk does not know: {other:?}"),
        }
    }
    assert!(
        walked >= routes.len(),
        "walked {walked} of {}",
        routes.len()
    );
    assert!(
        skipped_own_account < routes.len() / 2,
        "most routes skipped"
    );
    let after = snapshot(&w).await;
    walk.unchanged("outsider: data unchanged", &before, &after);
    let res = w.victim_c.get(&format!("/w/{}", w.victim_ws.0)).await;
    walk.check(
        "outsider: data unchanged",
        &Method::GET,
        "/w/{victim}",
        Expect::Status(StatusCode::OK),
        &res,
    );
    walk.finish(&[
        "outsider: table",
        "outsider: API key",
        "outsider: victim's workspace",
        "outsider: own workspace, victim's objects",
        "viewer",
        "outsider: victim's session",
        "outsider: own pages",
        "outsider: platform admin",
        "outsider: data unchanged",
    ]);
    w.app.shutdown().await.unwrap();
}

/// The ways a request says it comes from another site: an Origin of another host, the
/// `null` Origin (a sandboxed frame, a cross-site redirect), and the browser's own
/// Sec-Fetch-Site for another site or a sibling host.
const CROSS_SITE: &[(&str, &str)] = &[
    ("origin", "https://attacker.example"),
    ("origin", "null"),
    ("sec-fetch-site", "cross-site"),
    ("sec-fetch-site", "same-site"),
];

async fn cross_site_requests_with_the_victims_own_session_are_refused_everywhere(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let routes = table(app).await;
    let c = &w.victim_c;
    let mut walk = Walk::default();

    // Signing in (kept signed in) sets the session's cookies, which the registry lists and
    // says appear once signed in.
    let fresh = Client::new(app);
    let res = fresh.sign_in("victim@example.com", PW, true).await;
    walk.check(
        "victim: sign in",
        &Method::POST,
        "/auth/sign-in",
        Expect::Status(StatusCode::SEE_OTHER),
        &res,
    );
    for name in [
        leadsment::auth::ACCESS_COOKIE,
        leadsment::auth::REFRESH_COOKIE,
    ] {
        assert!(walk.cookies.contains(name), "{name}: {:?}", walk.cookies);
    }
    let entry = |name: &str| {
        leadsment::registry::builtin(30)
            .into_iter()
            .find(|e| e.name == name)
            .unwrap()
    };
    assert_eq!(
        entry(leadsment::auth::ACCESS_COOKIE).appears,
        leadsment::registry::Appears::SignedInPages
    );

    // The victim's session, token and ids are good: every signed-in page answers, and none
    // may be kept by a cache; the API answers the victim's key.
    for (method, route, access) in &routes {
        if *method != Method::GET {
            continue;
        }
        let path = w.ids.fill(route);
        let want = match *access {
            Access::Member(_) => Expect::NotStored(StatusCode::OK),
            Access::SESSION => Expect::OwnPage,
            Access::PLATFORM_ADMIN => Expect::NotStored(StatusCode::NOT_FOUND),
            Access::ApiKey(_) => {
                let req = reqwest::Client::new()
                    .get(app.url(&path))
                    .bearer_auth("lm_victim");
                let res = resp(req.send().await.unwrap()).await;
                walk.check(
                    "victim: own pages",
                    method,
                    &path,
                    Expect::Status(StatusCode::OK),
                    &res,
                );
                continue;
            }
            _ => continue,
        };
        let res = c.get(&path).await;
        walk.check("victim: own pages", method, &path, want, &res);
    }
    // The token works: the same form from the server's own origin is taken (the name is the
    // one it has, so nothing changes).
    let same_origin = format!("http://{}", app.addr);
    let token = c.csrf().await;
    let res = c
        .post_form_raw(
            "/account/name",
            &[("name", "victim"), ("csrf", &token)],
            &[("origin", &same_origin), ("sec-fetch-site", "same-origin")],
        )
        .await;
    walk.check(
        "victim: same origin",
        &Method::POST,
        "/account/name",
        Expect::Status(StatusCode::SEE_OTHER),
        &res,
    );
    let res = c
        .post_form_raw(
            "/account/name",
            &[("name", "victim"), ("csrf", &token)],
            &[],
        )
        .await;
    walk.check(
        "victim: no Origin",
        &Method::POST,
        "/account/name",
        Expect::Status(StatusCode::SEE_OTHER),
        &res,
    );

    let before = snapshot(&w).await;
    let mut walked = 0;
    for (method, route, access) in &routes {
        walked += 1;
        if !is_unsafe(method) {
            continue;
        }
        let path = w.ids.fill(route);
        for (name, value) in CROSS_SITE {
            let (body, content_type, want, accept) = match *access {
                Access::SignIn(SignIn::Beacon) => {
                    // Public across sites by design; but only the site's own hosts.
                    if *name != "origin" {
                        continue;
                    }
                    let event = json!({"name": "pageview", "url": format!("https://{VICTIM_DOMAIN}/"), "domain": VICTIM_DOMAIN});
                    (
                        event.to_string(),
                        "text/plain",
                        Expect::OriginNotAllowed,
                        JSON,
                    )
                }
                Access::ApiKey(_) => {
                    // Cookies open no API route, from any site.
                    let mut all = FIELDS.to_vec();
                    all.push(("csrf", &token));
                    (
                        form(&all),
                        "application/x-www-form-urlencoded",
                        Expect::NeedsKey,
                        HTML,
                    )
                }
                _ => {
                    let mut all = FIELDS.to_vec();
                    all.push(("csrf", &token));
                    let want = Expect::Status(StatusCode::FORBIDDEN);
                    (form(&all), "application/x-www-form-urlencoded", want, HTML)
                }
            };
            let req = c
                .request(method.clone(), &path)
                .header("accept", accept)
                .header("content-type", content_type)
                .header(*name, *value)
                .body(body);
            let res = c.send(req, &path).await;
            let group = if *name == "origin" {
                "cross-site: Origin"
            } else {
                "cross-site: Sec-Fetch-Site"
            };
            walk.check(
                group,
                method,
                &format!("{path} ({name}: {value})"),
                want,
                &res,
            );
        }
    }
    assert!(
        walked >= routes.len(),
        "walked {walked} of {}",
        routes.len()
    );
    let after = snapshot(&w).await;
    walk.unchanged("cross-site: data unchanged", &before, &after);
    // Still signed in: no cross-site request signed the victim out.
    let res = c.get(&format!("/w/{}", w.victim_ws.0)).await;
    walk.check(
        "cross-site: data unchanged",
        &Method::GET,
        "/w/{victim}",
        Expect::Status(StatusCode::OK),
        &res,
    );
    walk.finish(&[
        "victim: own pages",
        "victim: same origin",
        "victim: no Origin",
        "cross-site: Origin",
        "cross-site: Sec-Fetch-Site",
        "cross-site: data unchanged",
    ]);
    w.app.shutdown().await.unwrap();
}
