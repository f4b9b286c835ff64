//! Accounts and sign-in over HTTP and in the store, on both backends: sessions with rotating
//! refresh tokens and reuse detection, CSRF, emailed links through a real SMTP exchange,
//! throttling, invitations and API keys. Tenant isolation, walked from the route table, is in
//! `route_walk.rs`.

use leadsment::accounts::WorkspaceId;
use leadsment::accounts::errors::AccountError;
use leadsment::accounts::roles::Role;
use leadsment::auth::model::{LinkPurpose, RefreshOutcome, SessionTtl};
use leadsment::auth::password;
use leadsment::auth::store::NewUser;
use leadsment::auth::store::{NewSession, PresentedRefresh};
use leadsment::auth::tokens::digest;
use leadsment::auth::users::{Password, User, UserId};
use leadsment::store::{Db, sql};
use reqwest::StatusCode;

use crate::client::{Client, between};
use crate::mail_sink::MailSink;
use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};

pub const PW: &str = "correct horse battery";

pub async fn spawn(backend: Backend) -> (TestApp, MailSink) {
    spawn_with(backend, |_| {}).await
}

pub async fn spawn_with(
    backend: Backend,
    configure: impl FnOnce(&mut leadsment::config::Config),
) -> (TestApp, MailSink) {
    let sink = MailSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(backend, move |c| {
        c.auth.smtp_url = Some(url.into());
        configure(c);
    })
    .await;
    (app, sink)
}

/// A user with a password and, when `workspace` is given, a workspace they own.
/// Makes `user` a member of `ws` with `role`, the way people join: an invitation from
/// `inviter`, accepted.
pub async fn join(store: &Db, ws: WorkspaceId, user: &User, role: Role, inviter: UserId) {
    let (_, h) = leadsment::auth::links::fresh_secret();
    let email = user.email.as_str();
    leadsment::accounts::store::create_invitation(store, ws, email, role, &h, inviter, i64::MAX)
        .await
        .unwrap();
    leadsment::accounts::store::accept_invitation(store, &h, user.id)
        .await
        .unwrap();
}

/// A new user `email` who joined `ws` with `role` (invited by the user `owner_email`), signed
/// in.
pub async fn member_client(
    app: &crate::support::TestApp,
    store: &Db,
    ws: WorkspaceId,
    owner_email: &str,
    email: &str,
    role: Role,
) -> crate::client::Client {
    let owner = leadsment::auth::store::user_by_email(store, owner_email)
        .await
        .unwrap()
        .unwrap()
        .user
        .id;
    let user = make_user(store, email, None).await;
    join(store, ws, &user, role, owner).await;
    let c = crate::client::Client::new(app);
    c.sign_in(email, PW, false).await;
    c
}

/// The address a user has now.
async fn email_of(store: &Db, user: UserId) -> String {
    leadsment::auth::store::user(store, user)
        .await
        .unwrap()
        .unwrap()
        .email
}

/// The Argon2 hash of the tests' password.
pub async fn pw_hash() -> String {
    password::Hasher::new(1, password::DEFAULT_QUEUE)
        .unwrap()
        .hash(&Password::parse(PW).unwrap())
        .await
        .unwrap()
}

pub async fn make_user(store: &Db, email: &str, workspace: Option<&str>) -> User {
    let hash = pw_hash().await;
    let new = NewUser {
        email: email.to_owned(),
        name: email.split('@').next().unwrap().to_owned(),
        password_hash: Some(hash),
        email_verified: true,
        is_platform_admin: false,
    };
    match workspace {
        Some(ws) => {
            leadsment::accounts::store::create_user_with_workspace(store, &new, ws)
                .await
                .unwrap()
                .0
        }
        None => leadsment::auth::store::create_user(store, &new)
            .await
            .unwrap(),
    }
}

/// The first workspace `user` belongs to.
pub async fn first_workspace(store: &Db, user: UserId) -> WorkspaceId {
    leadsment::accounts::store::memberships(store, user)
        .await
        .unwrap()[0]
        .workspace
        .id
}

/// A session of `user` whose refresh token is `token`, expiring in a minute.
async fn session_with_token(
    store: &Db,
    user: &User,
    persistent: bool,
    token: &str,
) -> leadsment::auth::model::Session {
    leadsment::auth::store::create_session(
        store,
        &NewSession {
            user_id: user.id,
            persistent,
            user_agent: "test".into(),
            refresh_hash: digest(token),
            expires_at: leadsment::store::now_ms() + 60_000,
        },
    )
    .await
    .unwrap()
}

fn ttl() -> SessionTtl {
    SessionTtl {
        persistent_ms: 30 * 24 * 3600 * 1000,
        transient_ms: 3600 * 1000,
        max_age_ms: 30 * 24 * 3600 * 1000,
    }
}

on_both_backends!(
    store_refresh_rotation_detects_reuse_and_tolerates_racing_tabs,
    store_keeps_at_least_one_owner,
    store_links_work_once,
    sign_up_verify_sign_in_and_sign_out,
    session_cookies_have_the_policy_names_and_attributes,
    refresh_token_reuse_revokes_the_whole_family,
    state_changing_requests_without_the_csrf_token_get_403_and_change_nothing,
    revoking_a_session_and_signing_out_everywhere_end_sessions,
    password_reset_by_link_signs_out_every_session,
    taken_emails_and_unknown_accounts_get_the_same_answer,
    invitations_are_emailed_single_use_and_make_members,
    api_keys_are_shown_once_scoped_and_revocable,
    email_change_is_confirmed_by_a_link_to_the_new_address,
    a_password_change_or_sign_out_everywhere_ends_every_pending_link,
    two_owners_demoting_each_other_at_once_leave_an_owner,
    an_unconfirmed_address_cannot_invite,
    an_email_change_is_confirmed_only_by_its_user_signed_in,
    deleting_an_account_and_a_workspace,
    mail_quotes_chosen_names_and_carries_no_link_of_theirs,
    refreshes_never_carry_a_session_past_its_absolute_lifetime,
);

async fn store_refresh_rotation_detects_reuse_and_tolerates_racing_tabs(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let user = make_user(&store, "ada@example.com", None).await;
    let session = session_with_token(&store, &user, false, "t0").await;
    let present = |t: &str, child: &str| PresentedRefresh {
        hash: digest(t),
        child_hash: digest(child),
        grace_ms: 10_000,
        ttl: ttl(),
    };
    let r = leadsment::auth::store::refresh(&store, &present("t0", "t1"))
        .await
        .unwrap();
    assert!(matches!(r, RefreshOutcome::Rotated { .. }), "{r:?}");
    // The same parent again within the grace period: the same child, no revocation.
    let r = leadsment::auth::store::refresh(&store, &present("t0", "t1"))
        .await
        .unwrap();
    assert!(matches!(r, RefreshOutcome::Replayed { .. }), "{r:?}");
    let r = leadsment::auth::store::refresh(&store, &present("t1", "t2"))
        .await
        .unwrap();
    assert!(matches!(r, RefreshOutcome::Rotated { .. }), "{r:?}");
    // t0's child is used now: presenting t0 is reuse, and the whole family goes.
    let r = leadsment::auth::store::refresh(&store, &present("t0", "t1"))
        .await
        .unwrap();
    assert_eq!(
        r,
        RefreshOutcome::ReuseDetected {
            session_id: session.id
        }
    );
    assert!(
        leadsment::auth::store::active_session(&store, session.id)
            .await
            .unwrap()
            .is_none()
    );
    let r = leadsment::auth::store::refresh(&store, &present("t2", "t3"))
        .await
        .unwrap();
    assert_eq!(
        r,
        RefreshOutcome::Invalid,
        "the current token died with its family"
    );
    assert_eq!(
        leadsment::auth::store::refresh(&store, &present("unknown", "x"))
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );
}

async fn store_keeps_at_least_one_owner(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = leadsment::accounts::store::memberships(&store, owner.id)
        .await
        .unwrap()[0]
        .workspace
        .id;
    let err = leadsment::accounts::members::set_role(&store, ws, owner.id, Role::Admin)
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::LastOwner), "{err:?}");
    let err = leadsment::accounts::members::remove_member(&store, ws, owner.id)
        .await
        .unwrap_err();
    assert!(matches!(err, AccountError::LastOwner), "{err:?}");
    assert_eq!(
        leadsment::accounts::store::membership(&store, ws, owner.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Owner
    );
    // With a second owner, the first may step down.
    let other = make_user(&store, "other@example.com", None).await;
    let (t, h) = leadsment::auth::links::fresh_secret();
    let _ = t;
    leadsment::accounts::store::create_invitation(
        &store,
        ws,
        "other@example.com",
        Role::Owner,
        &h,
        owner.id,
        i64::MAX,
    )
    .await
    .unwrap();
    assert_eq!(
        leadsment::accounts::store::accept_invitation(&store, &h, other.id)
            .await
            .unwrap(),
        Some(ws)
    );
    assert_eq!(
        leadsment::accounts::store::accept_invitation(&store, &h, other.id)
            .await
            .unwrap(),
        None,
        "single use"
    );
    assert!(
        leadsment::accounts::members::set_role(&store, ws, owner.id, Role::Viewer)
            .await
            .unwrap()
    );
    // The only remaining owner cannot delete their account while others remain.
    let err = leadsment::accounts::members::delete_user(&store, other.id)
        .await
        .unwrap_err();
    assert!(matches!(&err, AccountError::SoleOwner { workspace } if workspace == "Acme"));
    assert!(err.to_string().contains("Acme"), "{err}");
}

async fn store_links_work_once(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let user = make_user(&store, "ada@example.com", None).await;
    let now = leadsment::store::now_ms();
    leadsment::auth::store::create_link(
        &store,
        &digest("a"),
        LinkPurpose::Reset,
        Some(user.id),
        None,
        now + 60_000,
    )
    .await
    .unwrap();
    // Peeking (the page a link opens) does not use it; another purpose does not match.
    assert!(
        leadsment::auth::store::peek_link(&store, &digest("a"), LinkPurpose::Reset)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        leadsment::auth::store::peek_link(&store, &digest("a"), LinkPurpose::Verify)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        leadsment::auth::store::consume_link(&store, &digest("a"), LinkPurpose::Reset)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        leadsment::auth::store::consume_link(&store, &digest("a"), LinkPurpose::Reset)
            .await
            .unwrap()
            .is_none()
    );
    // Expired links do not work; a newer link leaves the older ones working (the newest three
    // of a kind work: tests/it/mail_limits.rs).
    leadsment::auth::store::create_link(
        &store,
        &digest("old"),
        LinkPurpose::Verify,
        Some(user.id),
        None,
        now - 1,
    )
    .await
    .unwrap();
    assert!(
        leadsment::auth::store::peek_link(&store, &digest("old"), LinkPurpose::Verify)
            .await
            .unwrap()
            .is_none()
    );
    leadsment::auth::store::create_link(
        &store,
        &digest("b"),
        LinkPurpose::Verify,
        Some(user.id),
        None,
        now + 60_000,
    )
    .await
    .unwrap();
    leadsment::auth::store::create_link(
        &store,
        &digest("c"),
        LinkPurpose::Verify,
        Some(user.id),
        None,
        now + 60_000,
    )
    .await
    .unwrap();
    assert!(
        leadsment::auth::store::peek_link(&store, &digest("b"), LinkPurpose::Verify)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        leadsment::auth::store::peek_link(&store, &digest("c"), LinkPurpose::Verify)
            .await
            .unwrap()
            .is_some()
    );
}

async fn sign_up_verify_sign_in_and_sign_out(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let c = Client::new(&app);
    let page = c.get("/auth/sign-up").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Create an account"));
    let res = c
        .post_form(
            "/auth/sign-up",
            &[
                ("name", "Ada <b>Lovelace</b>"),
                ("email", " Ada@Example.com "),
                ("password", PW),
                ("workspace", "Analytical <Engines>"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("Check your email"), "{}", res.body);
    let mail = sink.wait_for("ada@example.com", "/auth/verify").await;
    let link = mail.link_path("/auth/verify").unwrap();

    // Opening the link shows a button; only pressing it uses the link (scanners only GET).
    for _ in 0..2 {
        let page = c.get(&link).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Confirm my email address"),
            "{}",
            page.body
        );
    }
    let token = link.split("token=").nth(1).unwrap();
    let res = c.post_form("/auth/verify", &[("token", token)]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/auth/sign-in?done=verified");
    let again = c.post_form("/auth/verify", &[("token", token)]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("This link does not work"));

    // A wrong password: a clear message next to the field, and no session.
    let wrong = c
        .post_form(
            "/auth/sign-in",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("The email or password is not right."));
    assert!(wrong.body.contains("aria-invalid=\"true\""));
    assert!(c.cookie("sb-access-token").is_none());

    let res = c.sign_in("ADA@example.com", PW, false).await;
    assert_eq!(res.location(), "/app");
    let app_page = c.get("/app").await;
    assert_eq!(app_page.status, StatusCode::SEE_OTHER);
    let ws = c.get(app_page.location()).await;
    assert_eq!(ws.status, StatusCode::OK);
    // Names are kept as typed and escaped on output.
    assert!(
        ws.body.contains("Analytical &#60;Engines&#62;")
            || ws.body.contains("Analytical &lt;Engines&gt;"),
        "{}",
        ws.body
    );
    assert!(!ws.body.contains("<Engines>"));
    assert!(!ws.body.contains("<b>Lovelace</b>"));
    let account = c.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("ada@example.com"));

    let out = c.post_form("/auth/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(c.cookie("sb-access-token").is_none());
    assert!(c.cookie("sb-refresh-token").is_none());
    let after = c.get("/account").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(
        after
            .location()
            .starts_with("/auth/refresh?next=%2Faccount"),
        "{}",
        after.location()
    );
    let refresh = c.get(after.location()).await;
    assert!(
        refresh
            .location()
            .starts_with("/auth/sign-in?next=%2Faccount"),
        "{}",
        refresh.location()
    );
    app.shutdown().await.unwrap();
}

async fn session_cookies_have_the_policy_names_and_attributes(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    let csrf_page = c.get("/auth/sign-in").await;
    let csrf = csrf_page.set_cookie("__Host-csrf").unwrap();
    assert_eq!(csrf.path(), Some("/"));
    assert_eq!(csrf.secure(), Some(true));
    assert!(csrf.domain().is_none());

    let res = c.sign_in("ada@example.com", PW, false).await;
    let access = res.set_cookie("sb-access-token").unwrap();
    let refresh = res.set_cookie("sb-refresh-token").unwrap();
    for ck in [&access, &refresh] {
        assert_eq!(ck.http_only(), Some(true), "{ck}");
        assert_eq!(ck.secure(), Some(true), "{ck}");
        assert_eq!(
            ck.same_site(),
            Some(axum_extra::extract::cookie::SameSite::Lax),
            "{ck}"
        );
        assert!(
            ck.max_age().is_none() && ck.expires().is_none(),
            "a session cookie: {ck}"
        );
    }
    assert_eq!(access.path(), Some("/"));
    assert_eq!(refresh.path(), Some("/auth"));
    // The refresh token is opaque and stored only as a digest.
    assert_eq!(refresh.value().len(), 43);
    let db = app.db.store().await;
    let stored: Vec<Vec<u8>> = db
        .values(sql("SELECT token_hash FROM refresh_tokens"))
        .await
        .unwrap();
    db.close().await;
    assert_eq!(stored, vec![digest(refresh.value())]);

    // "Keep me signed in": the refresh cookie lasts 30 days.
    let c2 = Client::new(&app);
    let res = c2.sign_in("ada@example.com", PW, true).await;
    let refresh = res.set_cookie("sb-refresh-token").unwrap();
    assert_eq!(refresh.max_age(), Some(time::Duration::days(30)));
    assert!(
        res.set_cookie("sb-access-token")
            .unwrap()
            .max_age()
            .is_none()
    );
    app.shutdown().await.unwrap();
}

async fn refresh_token_reuse_revokes_the_whole_family(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    c.sign_in("ada@example.com", PW, false).await;
    let t0 = c.cookie("sb-refresh-token").unwrap();

    let r1 = c.post_form("/auth/refresh", &[]).await;
    assert_eq!(r1.status, StatusCode::NO_CONTENT, "{}", r1.body);
    let t1 = c.cookie("sb-refresh-token").unwrap();
    assert_ne!(t0, t1, "each refresh issues a new token");

    // A second tab that still had t0 refreshes at the same moment: it gets the same child.
    let tab = Client::new(&app);
    tab.set_cookie("__Host-csrf", &c.cookie("__Host-csrf").unwrap(), "/");
    tab.set_cookie("sb-refresh-token", &t0, "/auth");
    let r = tab.post_form("/auth/refresh", &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(tab.cookie("sb-refresh-token").unwrap(), t1);

    let r2 = c.get("/auth/refresh?next=/account").await;
    assert_eq!(r2.status, StatusCode::SEE_OTHER);
    assert_eq!(r2.location(), "/account");
    let t2 = c.cookie("sb-refresh-token").unwrap();
    assert_ne!(t2, t1);
    assert_eq!(c.get("/account").await.status, StatusCode::OK);

    // An attacker replays t0 (its child is used now): the whole family is revoked.
    let thief = Client::new(&app);
    thief.set_cookie("__Host-csrf", &c.cookie("__Host-csrf").unwrap(), "/");
    thief.set_cookie("sb-refresh-token", &t0, "/auth");
    let r = thief.post_form("/auth/refresh", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The legitimate holder's current token and access token stop working too.
    let r = c.post_form("/auth/refresh", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let page = c.get("/account").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "the revoked session's access token is refused"
    );

    // Tampered tokens are refused with a clear answer.
    let forger = Client::new(&app);
    forger.set_cookie(
        "sb-access-token",
        "eyJzaWQiOjEsInVpZCI6MSwiZXhwIjo5OTk5OTk5OTk5OTk5fQ.AAAA",
        "/",
    );
    let res = forger.get("/account").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let api = forger
        .send(
            reqwest::Client::new()
                .get(format!("{}/account", forger.base))
                .header("accept", "application/json"),
            "/account",
        )
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.json()["error"], "unauthorized");
    app.shutdown().await.unwrap();
}

async fn state_changing_requests_without_the_csrf_token_get_403_and_change_nothing(
    backend: Backend,
) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    let user = make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    c.sign_in("ada@example.com", PW, false).await;
    let token = c.cookie("__Host-csrf").unwrap();

    type Pairs<'a> = Vec<(&'a str, &'a str)>;
    let attempts: Vec<(Pairs, Pairs)> = vec![
        // No token at all.
        (vec![("name", "Mallory")], vec![]),
        // A wrong token.
        (vec![("name", "Mallory"), ("csrf", "forged.token")], vec![]),
        // The right token from another site.
        (
            vec![("name", "Mallory"), ("csrf", &token)],
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            vec![("name", "Mallory"), ("csrf", &token)],
            vec![("origin", "https://evil.example")],
        ),
    ];
    for (fields, headers) in attempts {
        let res = c.post_form_raw("/account/name", &fields, &headers).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{fields:?} {headers:?}");
        assert!(
            res.body.contains("expired") || res.body.contains("another site"),
            "{}",
            res.body
        );
    }
    // A script that sends the token in the header is fine; so is a same-origin form.
    let res = c
        .post_form_raw(
            "/account/name",
            &[("name", "Ada L.")],
            &[("x-csrf-token", &token), ("origin", &app.url(""))],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        leadsment::auth::store::user(&store, user.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Ada L."
    );
    // Forms without a session are protected too (no login CSRF).
    let anon = Client::new(&app);
    let res = anon
        .post_form_raw(
            "/auth/sign-in",
            &[("email", "ada@example.com"), ("password", PW)],
            &[],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(anon.cookie("sb-access-token").is_none());
    app.shutdown().await.unwrap();
}

async fn revoking_a_session_and_signing_out_everywhere_end_sessions(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let laptop = Client::with_agent(&app, "Mozilla/5.0 (Macintosh; Mac OS X 14) Firefox/130.0");
    let phone = Client::with_agent(&app, "Mozilla/5.0 (Linux; Android 14) Chrome/140.0");
    laptop.sign_in("ada@example.com", PW, false).await;
    phone.sign_in("ada@example.com", PW, true).await;
    let page = laptop.get("/account").await;
    assert!(
        page.body.contains("Firefox on macOS") && page.body.contains("Chrome on Android"),
        "{}",
        page.body
    );
    // Revoke the phone's session from the laptop.
    let ids: Vec<&str> = page
        .body
        .split("/account/sessions/")
        .skip(1)
        .map(|s| s.split('/').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let phone_id = ids
        .iter()
        .find(|id| {
            let row = between(&page.body, &format!("sessions/{id}/revoke"), "</tr>").unwrap_or("");
            let before = page
                .body
                .split(&format!("sessions/{id}/revoke"))
                .next()
                .unwrap();
            let _ = row;
            before.rsplit("<tr>").next().unwrap().contains("Android")
        })
        .unwrap();
    let res = laptop
        .post_form(&format!("/account/sessions/{phone_id}/revoke"), &[])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // Revocation takes effect on the phone's next request, without waiting for its token.
    assert_eq!(phone.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        phone.post_form("/auth/refresh", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(laptop.get("/account").await.status, StatusCode::OK);

    // Sign out everywhere.
    let phone2 = Client::new(&app);
    phone2.sign_in("ada@example.com", PW, false).await;
    let res = laptop.post_form("/account/sign-out-everywhere", &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    for c in [&laptop, &phone2] {
        assert_eq!(c.get("/account").await.status, StatusCode::SEE_OTHER);
    }
    app.shutdown().await.unwrap();
}

async fn password_reset_by_link_signs_out_every_session(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let old = Client::new(&app);
    old.sign_in("ada@example.com", PW, true).await;

    let c = Client::new(&app);
    let res = c
        .post_form("/auth/forgot", &[("email", "ada@example.com")])
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let mail = sink.wait_for("ada@example.com", "/auth/reset").await;
    let link = mail.link_path("/auth/reset").unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert!(c.get(&link).await.body.contains("Choose a new password"));
    // A too-short password is refused next to the field, and the link still works.
    let res = c
        .post_form("/auth/reset", &[("token", &token), ("password", "short")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("at least 10 characters"), "{}", res.body);
    let res = c
        .post_form(
            "/auth/reset",
            &[("token", &token), ("password", "a brand new password")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/auth/sign-in?done=password");
    // Used once only.
    let again = c
        .post_form(
            "/auth/reset",
            &[("token", &token), ("password", "another new password")],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    // The old session is gone; the old password no longer works; the new one does.
    assert_eq!(old.get("/account").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        old.post_form("/auth/refresh", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let wrong = c
        .post_form(
            "/auth/sign-in",
            &[("email", "ada@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    c.sign_in("ada@example.com", "a brand new password", false)
        .await;
    app.shutdown().await.unwrap();
}

async fn taken_emails_and_unknown_accounts_get_the_same_answer(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    let normalise = |body: &str, email: &str| body.replace(email, "EMAIL");
    let signup = |email: &'static str| {
        let c = &c;
        async move {
            c.post_form(
                "/auth/sign-up",
                &[
                    ("name", "X"),
                    ("email", email),
                    ("password", PW),
                    ("workspace", "W"),
                ],
            )
            .await
        }
    };
    let taken = signup("ada@example.com").await;
    let fresh = signup("new@example.com").await;
    assert_eq!(taken.status, fresh.status);
    assert_eq!(
        normalise(&taken.body, "ada@example.com"),
        normalise(&fresh.body, "new@example.com")
    );
    // The owner of the taken address is told; nothing else changed.
    sink.wait_for("ada@example.com", "already has one").await;
    assert_eq!(
        leadsment::accounts::store::memberships(
            &store,
            leadsment::auth::store::user_by_email(&store, "ada@example.com")
                .await
                .unwrap()
                .unwrap()
                .user
                .id
        )
        .await
        .unwrap()
        .len(),
        1
    );

    let known = c
        .post_form("/auth/forgot", &[("email", "ada@example.com")])
        .await;
    let unknown = c
        .post_form("/auth/forgot", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(
        normalise(&known.body, "ada@example.com"),
        normalise(&unknown.body, "nobody@example.com")
    );
    // Sign-in failures read the same for a wrong password and an unknown account.
    let a = c
        .post_form(
            "/auth/sign-in",
            &[
                ("email", "ada@example.com"),
                ("password", "wrong password!"),
            ],
        )
        .await;
    let b = c
        .post_form(
            "/auth/sign-in",
            &[
                ("email", "nobody@example.com"),
                ("password", "wrong password!"),
            ],
        )
        .await;
    assert_eq!(a.status, b.status);
    assert_eq!(
        normalise(&a.body, "ada@example.com"),
        normalise(&b.body, "nobody@example.com")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.count_to("nobody@example.com"), 0);
    app.shutdown().await.unwrap();
}

async fn invitations_are_emailed_single_use_and_make_members(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let store = app.db.store().await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = leadsment::accounts::store::memberships(&store, owner.id)
        .await
        .unwrap()[0]
        .workspace
        .id
        .0;
    let c = Client::new(&app);
    c.sign_in("owner@example.com", PW, false).await;
    let res = c
        .post_form(
            &format!("/w/{ws}/invitations"),
            &[("email", "Bob@Example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let bad = c
        .post_form(
            &format!("/w/{ws}/invitations"),
            &[("email", "not an email"), ("role", "viewer")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("f-invite_email-error"), "{}", bad.body);
    let mail = sink.wait_for("bob@example.com", "/invite").await;
    let link = mail.link_path("/invite").unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();

    let bob = Client::new(&app);
    let page = bob.get(&link).await;
    assert!(page.body.contains("Join Acme"), "{}", page.body);
    let res = bob
        .post_form(
            "/invite",
            &[("token", &token), ("name", "Bob"), ("password", PW)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), format!("/w/{ws}"));
    assert_eq!(bob.get(&format!("/w/{ws}")).await.status, StatusCode::OK);
    // A viewer cannot invite.
    let res = bob
        .post_form(
            &format!("/w/{ws}/invitations"),
            &[("email", "eve@example.com"), ("role", "owner")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    // The link is used up.
    let eve = Client::new(&app);
    let res = eve
        .post_form(
            "/invite",
            &[("token", &token), ("name", "Eve"), ("password", PW)],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        leadsment::auth::store::user_by_email(&store, "eve@example.com")
            .await
            .unwrap()
            .is_none()
    );
    app.shutdown().await.unwrap();
}

async fn api_keys_are_shown_once_scoped_and_revocable(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = leadsment::accounts::store::memberships(&store, owner.id)
        .await
        .unwrap()[0]
        .workspace
        .id
        .0;
    let c = Client::new(&app);
    c.sign_in("owner@example.com", PW, false).await;
    let res = c
        .post_form(
            &format!("/w/{ws}/api-keys"),
            &[("name", "CRM sync"), ("scope", "read")],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.headers["cache-control"], "no-store");
    let key = between(&res.body, "<pre><code>", "</code></pre>")
        .unwrap()
        .to_owned();
    assert!(key.starts_with("lm_"), "{key}");
    let list = c.get(&format!("/w/{ws}/api-keys")).await;
    assert!(!list.body.contains(&key), "shown once only");
    assert!(list.body.contains("never"));

    let api = reqwest::Client::new();
    let url = app.url(&format!("/api/v1/workspaces/{ws}/sites"));
    let res = api.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Read scope cannot write; requests with a key need no CSRF token.
    let res = api
        .post(&url)
        .bearer_auth(&key)
        .json(&serde_json::json!({"domain": "example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let list = c.get(&format!("/w/{ws}/api-keys")).await;
    assert!(
        !list.body.contains(">never<"),
        "last use is recorded: {}",
        list.body
    );

    let res = c
        .post_form(
            &format!("/w/{ws}/api-keys"),
            &[("name", "Writer"), ("scope", "write")],
        )
        .await;
    let writer = between(&res.body, "<pre><code>", "</code></pre>")
        .unwrap()
        .to_owned();
    let res = api
        .post(&url)
        .bearer_auth(&writer)
        .json(&serde_json::json!({"domain": "example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Another workspace's address with this key: 404.
    let res = api
        .get(app.url(&format!("/api/v1/workspaces/{}/sites", ws + 1000)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let id = leadsment::accounts::store::api_keys(&store, leadsment::accounts::WorkspaceId(ws))
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "CRM sync")
        .unwrap()
        .id;
    let res = c
        .post_form(&format!("/w/{ws}/api-keys/{id}/revoke"), &[])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let res = api.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let made_up = "lm_made_up";
    let res = api.get(&url).bearer_auth(made_up).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.shutdown().await.unwrap();
}

async fn email_change_is_confirmed_by_a_link_to_the_new_address(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let store = app.db.store().await;
    let user = make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    c.sign_in("ada@example.com", PW, false).await;
    let res = c
        .post_form(
            "/account/email",
            &[("email", "ada@new.example"), ("password", "wrong password")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("not your current password"));
    let res = c
        .post_form(
            "/account/email",
            &[("email", "ada@new.example"), ("password", PW)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        email_of(&store, user.id).await,
        "ada@example.com",
        "not before the link"
    );
    sink.wait_for("ada@example.com", "about to change").await;
    let mail = sink
        .wait_for("ada@new.example", "/auth/confirm-email")
        .await;
    let link = mail.link_path("/auth/confirm-email").unwrap();
    assert!(c.get(&link).await.body.contains("Use this address"));
    let token = link.split("token=").nth(1).unwrap();
    let res = c
        .post_form("/auth/confirm-email", &[("token", token)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(email_of(&store, user.id).await, "ada@new.example");
    app.shutdown().await.unwrap();
}

async fn deleting_an_account_and_a_workspace(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    let owner = make_user(&store, "owner@example.com", Some("Acme")).await;
    let ws = leadsment::accounts::store::memberships(&store, owner.id)
        .await
        .unwrap()[0]
        .workspace
        .id
        .0;
    let c = Client::new(&app);
    c.sign_in("owner@example.com", PW, false).await;
    let res = c
        .post_form(&format!("/w/{ws}/delete"), &[("confirm", "Acm")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        leadsment::accounts::store::memberships(&store, owner.id)
            .await
            .unwrap()
            .len(),
        1
    );
    let res = c
        .post_form(&format!("/w/{ws}/delete"), &[("confirm", "Acme")])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        leadsment::accounts::store::memberships(&store, owner.id)
            .await
            .unwrap()
            .is_empty()
    );

    let res = c
        .post_form("/account/delete", &[("password", "wrong password")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let res = c.post_form("/account/delete", &[("password", PW)]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        leadsment::auth::store::user(&store, owner.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(c.get("/account").await.status, StatusCode::SEE_OTHER);
    app.shutdown().await.unwrap();
}

on_both_backends!(an_expired_access_token_is_renewed_through_the_refresh_redirect);

async fn an_expired_access_token_is_renewed_through_the_refresh_redirect(backend: Backend) {
    let (app, _sink) = spawn_with(backend, |c| {
        c.auth.access_token_ttl = std::time::Duration::from_secs(1);
    })
    .await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    c.sign_in("ada@example.com", PW, false).await;
    assert_eq!(c.get("/account").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let res = c.get("/account?x=1").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/auth/refresh?next=%2Faccount%3Fx%3D1");
    let res = c.get(res.location()).await;
    assert_eq!(res.location(), "/account?x=1");
    assert_eq!(c.get("/account?x=1").await.status, StatusCode::OK);
    app.shutdown().await.unwrap();
}

on_both_backends!(failed_sign_ins_are_throttled_per_account_with_retry_after);

async fn failed_sign_ins_are_throttled_per_account_with_retry_after(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    for _ in 0..4 {
        let r = c
            .post_form(
                "/auth/sign-in",
                &[("email", "ada@example.com"), ("password", "wrong password")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password waits, and an unknown account reads the same.
    let r = c
        .post_form(
            "/auth/sign-in",
            &[("email", "ada@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(r.body.contains("Too many failed attempts for this account"));
    assert!(c.cookie("sb-access-token").is_none());
    for _ in 0..4 {
        c.post_form(
            "/auth/sign-in",
            &[
                ("email", "ghost@example.com"),
                ("password", "wrong password"),
            ],
        )
        .await;
    }
    let g = c
        .post_form(
            "/auth/sign-in",
            &[("email", "ghost@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(g.status, StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    c.sign_in("ada@example.com", PW, false).await;
    app.shutdown().await.unwrap();
}

on_both_backends!(sign_ins_are_throttled_per_address);

async fn sign_ins_are_throttled_per_address(backend: Backend) {
    let (app, _sink) = spawn_with(backend, |c| c.auth.login_attempts_per_minute = 3).await;
    let c = Client::new(&app);
    for i in 0..3 {
        let r = c
            .post_form(
                "/auth/sign-in",
                &[
                    ("email", &format!("u{i}@example.com")),
                    ("password", "whatever123"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = c
        .post_form(
            "/auth/sign-in",
            &[("email", "u9@example.com"), ("password", "whatever123")],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
    assert!(
        r.body
            .contains("Too many sign-in attempts from your network")
    );
    app.shutdown().await.unwrap();
}

/// A failed sign-in, each for another address so that only the per-client limit can bite.
async fn attempt(c: &Client) -> StatusCode {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    c.post_form(
        "/auth/sign-in",
        &[
            ("email", &format!("nobody{n}@example.com")),
            ("password", "whatever123"),
        ],
    )
    .await
    .status
}

on_both_backends!(sign_ins_behind_a_trusted_proxy_are_counted_per_client);

/// Behind a trusted proxy, each client has its own budget: the proxy's address is not the key.
/// IPv6 clients are counted by their /64.
async fn sign_ins_behind_a_trusted_proxy_are_counted_per_client(backend: Backend) {
    let (app, _sink) = spawn_with(backend, |c| {
        c.auth.login_attempts_per_minute = 3;
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let first = Client::forwarded_for(&app, "198.51.100.7");
    for _ in 0..3 {
        assert_eq!(attempt(&first).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(&first).await, StatusCode::TOO_MANY_REQUESTS);
    // Another client through the same proxy still has its attempts.
    let second = Client::forwarded_for(&app, "203.0.113.9");
    assert_eq!(attempt(&second).await, StatusCode::UNAUTHORIZED);
    // A forged hop to the left of the real one changes nothing.
    let forged = Client::forwarded_for(&app, "192.0.2.1, 198.51.100.7");
    assert_eq!(attempt(&forged).await, StatusCode::TOO_MANY_REQUESTS);
    // One IPv6 /64 is one client, whichever address of it signs in.
    for i in 1..=3 {
        let c = Client::forwarded_for(&app, &format!("2001:db8:5:6::{i}"));
        assert_eq!(attempt(&c).await, StatusCode::UNAUTHORIZED);
    }
    let same_net = Client::forwarded_for(&app, "2001:db8:5:6:ffff::1");
    assert_eq!(attempt(&same_net).await, StatusCode::TOO_MANY_REQUESTS);
    let other_net = Client::forwarded_for(&app, "2001:db8:5:7::1");
    assert_eq!(attempt(&other_net).await, StatusCode::UNAUTHORIZED);
    app.shutdown().await.unwrap();
}

on_both_backends!(oversize_and_bad_fields_get_clear_messages_and_change_nothing);

async fn oversize_and_bad_fields_get_clear_messages_and_change_nothing(backend: Backend) {
    let (app, _sink) = spawn(backend).await;
    let store = app.db.store().await;
    let user = make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::new(&app);
    let long = "x".repeat(1025);
    let res = c
        .post_form(
            "/auth/sign-up",
            &[
                ("name", &"n".repeat(101)),
                ("email", "bad"),
                ("password", &long),
                ("workspace", ""),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    for id in [
        "f-name-error",
        "f-email-error",
        "f-password-error",
        "f-workspace-error",
    ] {
        assert!(res.body.contains(id), "{id}: {}", res.body);
    }
    assert!(res.body.contains("at most 100 characters"));
    assert!(res.body.contains("at most 1024 characters"));
    c.sign_in("ada@example.com", PW, false).await;
    let res = c
        .post_form("/account/name", &[("name", "<script>alert(1)</script>")])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let page = c.get("/account").await;
    assert!(!page.body.contains("<script>alert(1)</script>"));
    assert!(
        page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"),
        "{}",
        page.body
    );
    assert_eq!(
        leadsment::auth::store::user(&store, user.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "<script>alert(1)</script>",
        "stored as given"
    );
    let res = c
        .post_form("/account/password", &[("current", PW), ("new", "short")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("f-new-error"));
    c.sign_in("ada@example.com", PW, false).await;
    app.shutdown().await.unwrap();
}

on_both_backends!(invite_only_sign_up_is_refused_with_a_clear_message);

async fn invite_only_sign_up_is_refused_with_a_clear_message(backend: Backend) {
    let (app, _sink) = spawn_with(backend, |c| {
        c.auth.signup = leadsment::config::SignupMode::Invite
    })
    .await;
    let c = Client::new(&app);
    let page = c.get("/auth/sign-up").await;
    assert!(page.body.contains("by invitation"));
    let res = c
        .post_form(
            "/auth/sign-up",
            &[
                ("name", "X"),
                ("email", "x@example.com"),
                ("password", PW),
                ("workspace", "W"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("invitation"));
    let store = app.db.store().await;
    assert!(
        leadsment::auth::store::user_by_email(&store, "x@example.com")
            .await
            .unwrap()
            .is_none()
    );
    app.shutdown().await.unwrap();
}

on_both_backends!(without_smtp_links_are_logged_and_the_page_says_so);

async fn without_smtp_links_are_logged_and_the_page_says_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = Client::new(&app);
    let res = c
        .post_form("/auth/forgot", &[("email", "ada@example.com")])
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.body.contains("written to the server&#39;s log")
            || res.body.contains("written to the server's log")
            || res.body.contains("log"),
        "{}",
        res.body
    );
    assert!(res.body.contains("smtp_url"));
    app.shutdown().await.unwrap();
}

on_both_backends!(the_setup_link_creates_the_first_platform_admin_once);

async fn the_setup_link_creates_the_first_platform_admin_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.db.store().await;
    // The server printed a link at start; a new one (as at the next start) replaces it.
    let url = leadsment::accounts::pages::announce_setup(&app.db.config().web, &store)
        .await
        .unwrap()
        .unwrap();
    let path = format!("/auth/setup?{}", url.split('?').nth(1).unwrap());
    let token = url.split("token=").nth(1).unwrap().to_owned();
    // A site added from the command line before set-up went to the default workspace.
    let default = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let c = Client::new(&app);
    let page = c.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Set up Leadsment"));
    let res = c
        .post_form(
            "/auth/setup",
            &[
                ("token", &token),
                ("name", "Op"),
                ("email", "op@example.com"),
                ("password", PW),
                ("workspace", "Operator"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.location().starts_with("/w/"));
    let admin = leadsment::auth::store::user_by_email(&store, "op@example.com")
        .await
        .unwrap()
        .unwrap()
        .user;
    assert!(admin.is_platform_admin && admin.email_verified);
    assert_eq!(c.get("/admin/users").await.status, StatusCode::OK);
    // The first administrator owns their own workspace and the default one, so the sites
    // added before set-up are theirs to see.
    let mut theirs: Vec<(String, Role)> = leadsment::accounts::store::memberships(&store, admin.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.workspace.name, m.role))
        .collect();
    theirs.sort();
    assert_eq!(
        theirs,
        vec![
            ("Default".into(), Role::Owner),
            ("Operator".into(), Role::Owner)
        ]
    );
    assert_eq!(
        c.get(&format!("/w/{}", default.id.0)).await.status,
        StatusCode::OK
    );
    // Single use, and no more setup links once an administrator exists.
    let other = Client::new(&app);
    let res = other
        .post_form(
            "/auth/setup",
            &[
                ("token", &token),
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("password", PW),
                ("workspace", "E"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        leadsment::accounts::pages::announce_setup(&app.db.config().web, &store)
            .await
            .unwrap()
            .is_none()
    );
    app.shutdown().await.unwrap();
}

/// Asks, as the signed-in `c` (password `PW`), to move the account to `to`; returns the
/// confirmation link mailed there and its token.
async fn ask_email_change(c: &Client, sink: &MailSink, to: &str) -> (String, String) {
    let res = c
        .post_form("/account/email", &[("email", to), ("password", PW)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let mail = sink.wait_for(to, "/auth/confirm-email").await;
    let link = mail.link_path("/auth/confirm-email").unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    (link, token)
}

/// The takeover an outside review reproduced: with the victim's password an attacker asks to
/// move the account to his own address and keeps an older reset link; the victim changes the
/// password (or signs out everywhere). Neither link works any more, signed in or not.
async fn a_password_change_or_sign_out_everywhere_ends_every_pending_link(backend: Backend) {
    for how in ["password", "everywhere"] {
        let (app, sink) = spawn(backend).await;
        let store = app.db.store().await;
        let user = make_user(&store, "ada@example.com", Some("Acme")).await;
        let attacker = Client::new(&app);
        attacker.sign_in("ada@example.com", PW, false).await;
        let (_, change_token) =
            ask_email_change(&attacker, &sink, "mallory@attacker.example").await;
        let res = attacker
            .post_form("/auth/forgot", &[("email", "ada@example.com")])
            .await;
        assert_eq!(res.status, StatusCode::OK);
        let mail = sink.wait_for("ada@example.com", "/auth/reset").await;
        let reset = mail.link_path("/auth/reset").unwrap();
        let reset_token = reset.split("token=").nth(1).unwrap().to_owned();

        let victim = Client::new(&app);
        victim.sign_in("ada@example.com", PW, false).await;
        let res = match how {
            "password" => {
                victim
                    .post_form(
                        "/account/password",
                        &[("current", PW), ("new", "a brand new password")],
                    )
                    .await
            }
            _ => victim.post_form("/account/sign-out-everywhere", &[]).await,
        };
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{how}: {}", res.body);

        // The attacker, signed out by the change, tries both links.
        let res = attacker
            .post_form("/auth/confirm-email", &[("token", &change_token)])
            .await;
        assert_ne!(res.location(), "/account?done=email", "{how}");
        let res = attacker
            .post_form(
                "/auth/reset",
                &[
                    ("token", &reset_token),
                    ("password", "mallory owns this now"),
                ],
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{how}: the reset link is dead"
        );
        // Signed in, the victim cannot be made to use the attacker's link either.
        if how == "password" {
            let res = victim
                .post_form("/auth/confirm-email", &[("token", &change_token)])
                .await;
            assert_eq!(
                res.status,
                StatusCode::BAD_REQUEST,
                "{how}: the change link is dead"
            );
        }
        assert_eq!(email_of(&store, user.id).await, "ada@example.com", "{how}");
        app.shutdown().await.unwrap();
    }
}

/// An email change is confirmed in a browser signed in as the user who asked for it: signed
/// out, the link leads to sign-in and back; signed in as someone else, it is refused.
async fn an_email_change_is_confirmed_only_by_its_user_signed_in(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let store = app.db.store().await;
    let user = make_user(&store, "ada@example.com", Some("Acme")).await;
    make_user(&store, "bob@example.com", Some("Bobco")).await;
    let ada = Client::new(&app);
    ada.sign_in("ada@example.com", PW, false).await;
    let (link, token) = ask_email_change(&ada, &sink, "ada@new.example").await;

    let stranger = Client::new(&app);
    let res = stranger.get(&link).await;
    // Signed out: on to sign-in (through the refresh step), and back to the link after.
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        res.location().starts_with("/auth/") && res.location().contains("confirm-email"),
        "{}",
        res.location()
    );
    let res = stranger
        .post_form("/auth/confirm-email", &[("token", &token)])
        .await;
    assert_ne!(res.location(), "/account?done=email");
    let bob = Client::new(&app);
    bob.sign_in("bob@example.com", PW, false).await;
    let res = bob
        .post_form("/auth/confirm-email", &[("token", &token)])
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "another user: {}",
        res.body
    );
    assert_eq!(email_of(&store, user.id).await, "ada@example.com");
    // Ada, signed in, confirms: the link still works for her.
    let res = ada
        .post_form("/auth/confirm-email", &[("token", &token)])
        .await;
    assert_eq!(res.location(), "/account?done=email", "{}", res.body);
    assert_eq!(email_of(&store, user.id).await, "ada@new.example");
    app.shutdown().await.unwrap();
}

/// Two owners demote each other at the same moment, many times over: one of the two changes
/// is refused, never both applied (on PostgreSQL each once counted the other as an owner
/// still, and both went through).
async fn two_owners_demoting_each_other_at_once_leave_an_owner(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let a = make_user(&store, "a@example.com", Some("Acme")).await;
    let b = make_user(&store, "b@example.com", None).await;
    let ws = first_workspace(&store, a.id).await;
    let owners = |s: Db| async move {
        let n: i64 = s
            .value(
                sql("SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'")
                    .bind(ws.0),
            )
            .await
            .unwrap();
        n
    };
    for round in 0..30 {
        for (user, role) in [(a.id, Role::Owner), (b.id, Role::Owner)] {
            let mut tx = store.begin().await.unwrap();
            leadsment::accounts::store::add_or_raise_member(&mut tx, ws, user, role)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        assert_eq!(owners(store.clone()).await, 2);
        let (x, y) = tokio::join!(
            leadsment::accounts::members::set_role(&store, ws, a.id, Role::Admin),
            leadsment::accounts::members::set_role(&store, ws, b.id, Role::Admin),
        );
        // Exactly one goes through; the other is refused as the last owner's.
        let refused = [&x, &y]
            .iter()
            .filter(|r| matches!(r, Err(AccountError::LastOwner)))
            .count();
        let done = [&x, &y].iter().filter(|r| matches!(r, Ok(true))).count();
        assert_eq!((done, refused), (1, 1), "round {round}: {x:?} {y:?}");
        assert!(owners(store.clone()).await >= 1, "round {round}");
        // Put the demoted one back for the next round.
        for user in [a.id, b.id] {
            let mut tx = store.begin().await.unwrap();
            leadsment::accounts::store::set_role(&mut tx, ws, user, Role::Owner)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
}

/// Someone whose own address is not confirmed cannot send invitations (a throwaway account
/// would otherwise mail anyone it likes in our name).
async fn an_unconfirmed_address_cannot_invite(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let store = app.db.store().await;
    let hash = pw_hash().await;
    let new = NewUser {
        email: "fresh@example.com".to_owned(),
        name: "Fresh".to_owned(),
        password_hash: Some(hash),
        email_verified: false,
        is_platform_admin: false,
    };
    let (user, _) = leadsment::accounts::store::create_user_with_workspace(&store, &new, "Fresh")
        .await
        .unwrap();
    let ws = first_workspace(&store, user.id).await.0;
    let c = Client::new(&app);
    c.sign_in("fresh@example.com", PW, false).await;
    let res = c
        .post_form(
            &format!("/w/{ws}/invitations"),
            &[("email", "target@example.org"), ("role", "viewer")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(
        res.body.contains("Confirm your own address"),
        "{}",
        res.body
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.to.iter().any(|t| t == "target@example.org")),
        "no invitation was mailed"
    );
    app.shutdown().await.unwrap();
}

/// A user's and a workspace's names are theirs to choose: an invitation quotes them as data,
/// and no link or line of theirs reaches the invited person's mail.
async fn mail_quotes_chosen_names_and_carries_no_link_of_theirs(backend: Backend) {
    let (app, sink) = spawn(backend).await;
    let store = app.db.store().await;
    let hostile = "Acme. Sign in at https://evil.example/login\nor www.evil.example";
    let hash = pw_hash().await;
    let new = NewUser {
        email: "owner@example.com".to_owned(),
        name: "Your IT team: open evil.example/reset".to_owned(),
        password_hash: Some(hash),
        email_verified: true,
        is_platform_admin: false,
    };
    let (_owner, ws) =
        leadsment::accounts::store::create_user_with_workspace(&store, &new, hostile)
            .await
            .unwrap();
    let c = Client::new(&app);
    c.sign_in("owner@example.com", PW, false).await;
    let res = c
        .post_form(
            &format!("/w/{}/invitations", ws.id.0),
            &[("email", "bob@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let mail = sink.wait_for("bob@example.com", "/invite").await;
    let text = mail.data.to_lowercase();
    for bad in [
        "evil.example",
        "https://evil",
        "www.evil",
        "/login",
        "/reset",
    ] {
        assert!(
            !text.contains(bad),
            "the mail carries {bad:?}: {}",
            mail.data
        );
    }
    assert!(mail.link("/invite").is_some(), "{}", mail.data);
    // The names are still there to read, in quotation marks.
    assert!(mail.data.contains("Sign in at"), "{}", mail.data);
    app.shutdown().await.unwrap();
}

/// Each refresh extends a session by its idle lifetime, but never past the absolute cap from
/// sign-in (`session_max_age_days`): a stolen refresh token kept fresh dies at the cap.
async fn refreshes_never_carry_a_session_past_its_absolute_lifetime(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let user = make_user(&store, "ada@example.com", None).await;
    let session = session_with_token(&store, &user, true, "t0").await;
    let capped = SessionTtl {
        max_age_ms: 600,
        ..ttl()
    };
    let present = |t: &str, child: &str| PresentedRefresh {
        hash: digest(t),
        child_hash: digest(child),
        grace_ms: 0,
        ttl: capped,
    };
    let r = leadsment::auth::store::refresh(&store, &present("t0", "t1"))
        .await
        .unwrap();
    let RefreshOutcome::Rotated { session: s, .. } = r else {
        panic!("{r:?}");
    };
    assert!(
        s.expires_at <= session.created_at + 600,
        "refreshed to {} past the cap {}",
        s.expires_at,
        session.created_at + 600
    );
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let r = leadsment::auth::store::refresh(&store, &present("t1", "t2"))
        .await
        .unwrap();
    assert_eq!(r, RefreshOutcome::Invalid, "the session outlived its cap");
}
