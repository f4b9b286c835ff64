//! A blocked account is not a locked-out owner: failed attempts (anyone's) block sign-in by
//! password, and an emailed one-time link still lets the owner in. Asking for the link answers
//! the same for every address; the link works once and dies with a password change.

use std::time::Duration;

use leadsment::auth::tokens::Keys;
use leadsment::store::Db;
use reqwest::StatusCode;

use crate::accounts::{PW, make_user, spawn_with};
use crate::client::{Client, Resp};
use crate::mail_sink::MailSink;
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

on_both_backends!(
    an_attacker_keeps_an_account_blocked_and_the_owner_gets_in_by_link,
    a_sign_in_link_works_once,
    asking_for_a_link_answers_alike_and_mails_only_confirmed_accounts,
    a_sign_in_link_dies_with_a_password_reset,
    notices_an_attacker_triggers_leave_the_owner_a_way_in,
);

const SECRET: &str = "a session secret of the tests, 32+ characters long";

/// The app behind the tests' trusted proxy, with a known signing key (to reach the
/// per-account failure count the way the server keys it).
async fn app(backend: Backend) -> (TestApp, MailSink, Db) {
    let (app, sink) = spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.auth.session_secret = Some(SECRET.to_owned().into());
    })
    .await;
    let store = app.db.store().await;
    (app, sink, store)
}

/// Failed sign-ins counted against `email`, as a patient attacker piles them up.
async fn fail_many_times(store: &Db, email: &str) {
    let key = Keys::derive(SECRET.as_bytes()).throttle_key(email);
    for _ in 0..12 {
        leadsment::auth::throttle::record_failure(store, &key)
            .await
            .unwrap();
    }
}

async fn sign_in(c: &Client, email: &str, password: &str) -> Resp {
    c.post_form("/auth/sign-in", &[("email", email), ("password", password)])
        .await
}

async fn ask_link(c: &Client, email: &str) -> Resp {
    c.post_form("/auth/sign-in-link", &[("email", email)]).await
}

/// The token of the newest sign-in link mailed to `to`.
async fn mailed_token(sink: &MailSink, to: &str) -> String {
    let m = sink.wait_for(to, "/auth/sign-in-link/use").await;
    let link = m.link_path("/auth/sign-in-link/use").unwrap();
    link.split("token=").nth(1).unwrap().to_owned()
}

async fn an_attacker_keeps_an_account_blocked_and_the_owner_gets_in_by_link(backend: Backend) {
    let (app, sink, store) = app(backend).await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let attacker = Client::forwarded_for(&app, "198.51.100.66");
    for _ in 0..4 {
        let r = sign_in(&attacker, "ada@example.com", "wrong password!").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    fail_many_times(&store, "ada@example.com").await;
    assert_eq!(
        sign_in(&attacker, "ada@example.com", "wrong password!")
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, with the right password, is blocked too, and offered the link.
    let owner = Client::forwarded_for(&app, "203.0.113.66");
    let blocked = sign_in(&owner, "ada@example.com", PW).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        blocked.body.contains("action=\"/auth/sign-in-link\""),
        "{}",
        blocked.body
    );
    assert!(blocked.body.contains("Email me a sign-in link"));
    let asked = ask_link(&owner, "ada@example.com").await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let token = mailed_token(&sink, "ada@example.com").await;
    // Opening the link (as a mail scanner would) uses nothing; it names the account.
    let path = format!("/auth/sign-in-link/use?token={token}");
    let page = owner.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ada@example.com"), "{}", page.body);
    assert_eq!(owner.get(&path).await.status, StatusCode::OK);
    // The button signs in, while the attacker's block still stands.
    let used = owner
        .post_form("/auth/sign-in-link/use", &[("token", &token)])
        .await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    assert_eq!(used.location(), "/app");
    assert!(used.set_cookie("sb-access-token").is_some());
    assert_eq!(owner.get("/account").await.status, StatusCode::OK);
    // The failures are forgotten: the password works again.
    let again = Client::forwarded_for(&app, "203.0.113.67");
    assert_eq!(
        sign_in(&again, "ada@example.com", PW).await.status,
        StatusCode::SEE_OTHER
    );
    app.shutdown().await.unwrap();
}

async fn a_sign_in_link_works_once(backend: Backend) {
    let (app, sink, store) = app(backend).await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let owner = Client::forwarded_for(&app, "203.0.113.70");
    assert_eq!(
        ask_link(&owner, "ada@example.com").await.status,
        StatusCode::OK
    );
    let token = mailed_token(&sink, "ada@example.com").await;
    let first = owner
        .post_form("/auth/sign-in-link/use", &[("token", &token)])
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let thief = Client::forwarded_for(&app, "198.51.100.70");
    let second = thief
        .post_form("/auth/sign-in-link/use", &[("token", &token)])
        .await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert!(second.set_cookie("sb-access-token").is_none());
    let path = format!("/auth/sign-in-link/use?token={token}");
    assert_eq!(thief.get(&path).await.status, StatusCode::BAD_REQUEST);
    // A made-up token is no better.
    let made_up = thief
        .post_form("/auth/sign-in-link/use", &[("token", "made-up")])
        .await;
    assert_eq!(made_up.status, StatusCode::BAD_REQUEST);
    app.shutdown().await.unwrap();
}

async fn asking_for_a_link_answers_alike_and_mails_only_confirmed_accounts(backend: Backend) {
    let (app, sink, store) = app(backend).await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    // An account someone made with this address and never confirmed: its password is theirs.
    leadsment::auth::store::create_user(
        &store,
        &leadsment::auth::store::NewUser {
            email: "eve@example.com".to_owned(),
            name: "eve".to_owned(),
            password_hash: Some(crate::accounts::pw_hash().await),
            email_verified: false,
            is_platform_admin: false,
        },
    )
    .await
    .unwrap();
    // Blocked, a known and an unknown address get the same offer.
    fail_many_times(&store, "ada@example.com").await;
    fail_many_times(&store, "nobody@example.com").await;
    let c = Client::forwarded_for(&app, "198.51.100.80");
    let known = sign_in(&c, "ada@example.com", PW).await;
    let unknown = sign_in(&c, "nobody@example.com", PW).await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(
        known.body.replace("ada@example.com", "X"),
        unknown.body.replace("nobody@example.com", "X")
    );
    // Asking answers the same for all three.
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com", "eve@example.com"] {
        let r = ask_link(&c, email).await;
        answers.push((r.status, r.body.replace(email, "X")));
    }
    assert_eq!(answers[0].0, StatusCode::OK);
    assert_eq!(answers[1], answers[0]);
    assert_eq!(answers[2], answers[0]);
    // Only the confirmed account gets a link.
    mailed_token(&sink, "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count_to("nobody@example.com"), 0);
    assert_eq!(sink.count_to("eve@example.com"), 0);
    // Not an address: both forms come back with the message next to the field and what was
    // typed, and send nothing.
    for path in ["/auth/sign-in-link", "/auth/forgot"] {
        let r = c.post_form(path, &[("email", "ada at example")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            r.body.contains("value=\"ada at example\""),
            "{path}: {}",
            r.body
        );
        assert!(r.body.contains("id=\"f-email-error\""), "{path}");
    }
    app.shutdown().await.unwrap();
}

async fn a_sign_in_link_dies_with_a_password_reset(backend: Backend) {
    let (app, sink, store) = app(backend).await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let owner = Client::forwarded_for(&app, "203.0.113.90");
    ask_link(&owner, "ada@example.com").await;
    let token = mailed_token(&sink, "ada@example.com").await;
    owner
        .post_form("/auth/forgot", &[("email", "ada@example.com")])
        .await;
    let reset = sink.wait_for("ada@example.com", "/auth/reset").await;
    let reset_token = reset.link_path("/auth/reset").unwrap();
    let reset_token = reset_token.split("token=").nth(1).unwrap();
    let done = owner
        .post_form(
            "/auth/reset",
            &[("token", reset_token), ("password", "a brand new password")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let used = owner
        .post_form("/auth/sign-in-link/use", &[("token", &token)])
        .await;
    assert_eq!(used.status, StatusCode::BAD_REQUEST);
    app.shutdown().await.unwrap();
}

/// Whoever may trigger mail to the owner's address (here: sign-ups with it, which mail a
/// notice each) cannot spend the hourly cap that the owner's sign-in link needs: notices take
/// at most one of the three messages an hour.
async fn notices_an_attacker_triggers_leave_the_owner_a_way_in(backend: Backend) {
    let (app, sink, store) = app(backend).await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    fail_many_times(&store, "ada@example.com").await;
    let attacker = Client::forwarded_for(&app, "198.51.100.67");
    for i in 0..3 {
        let r = attacker
            .post_form(
                "/auth/sign-up",
                &[
                    ("name", "Mallory"),
                    ("email", "ada@example.com"),
                    ("password", PW),
                    ("workspace", &format!("Spam {i}")),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    sink.wait_for("ada@example.com", "Someone (perhaps you)")
        .await;
    let owner = Client::forwarded_for(&app, "203.0.113.67");
    assert_eq!(
        ask_link(&owner, "ada@example.com").await.status,
        StatusCode::OK
    );
    let token = mailed_token(&sink, "ada@example.com").await;
    assert!(!token.is_empty());
    let notices = sink
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "ada@example.com"))
        .filter(|m| m.data.contains("Someone (perhaps you)"))
        .count();
    assert_eq!(notices, 1, "one notice an hour");
    // The link works for an hour, as long as the cap's window.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let r = owner
        .post_form("/auth/sign-in-link/use", &[("token", token.as_str())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    app.shutdown().await.unwrap();
}
