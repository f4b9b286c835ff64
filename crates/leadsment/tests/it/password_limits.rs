//! What unauthenticated password forms may cost: a bad link is refused before any hash, the
//! hashes run one per core with a bounded queue (503 beyond it), each client has a budget of
//! password forms, and the account page's password checks are throttled as sign-in is.

use leadsment::auth::AuthState;
use leadsment::config::Config;
use leadsment::server::Server;
use reqwest::StatusCode;

use crate::accounts::{PW, make_user};
use crate::client::Client;
use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};

/// The application behind a trusted proxy on 127.0.0.1, and its sign-in state (the
/// password hasher, the keys).
async fn app_and_auth(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> (TestApp, AuthState) {
    let db = TestDb::new(backend).await;
    let mut config = db.config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    configure(&mut config);
    let server = Server::bind(config).await.unwrap();
    let auth = server.state().auth.clone();
    (TestApp::start(db, server, None).await, auth)
}

fn retry_after(r: &crate::client::Resp) -> u64 {
    r.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("{} without Retry-After: {}", r.status, r.body))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

on_both_backends!(
    a_bogus_reset_or_setup_link_is_refused_before_any_hash,
    password_checks_beyond_the_cores_and_the_queue_get_503_with_retry_after,
    password_forms_are_limited_per_client,
    account_page_password_checks_are_throttled_like_sign_in,
);

async fn a_bogus_reset_or_setup_link_is_refused_before_any_hash(backend: Backend) {
    let (app, auth) = app_and_auth(backend, |_| {}).await;
    let hasher = &auth.hasher;
    let c = Client::forwarded_for(&app, "198.51.100.20");
    let before = hasher.computed();
    let r = c
        .post_form(
            "/auth/reset",
            &[("token", "bogus"), ("password", "a long enough password")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("This link does not work"), "{}", r.body);
    assert_eq!(hasher.computed(), before, "a hash for a bogus reset link");
    let r = c
        .post_form(
            "/auth/setup",
            &[
                ("token", "bogus"),
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("password", "a long enough password"),
                ("workspace", "Evil"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("This link does not work"), "{}", r.body);
    assert_eq!(hasher.computed(), before, "a hash for a bogus setup link");
    app.shutdown().await.unwrap();
}

/// Every core is held (as though busy hashing); the queue then fills with sign-ins, and the
/// ones past it are refused at once. Released, the queued ones are answered as usual.
async fn password_checks_beyond_the_cores_and_the_queue_get_503_with_retry_after(backend: Backend) {
    const QUEUE: usize = 64;
    const EXTRA: usize = 3;
    let (app, auth) = app_and_auth(backend, |_| {}).await;
    let hasher = &auth.hasher;
    let mut clients = Vec::new();
    for i in 0..QUEUE + EXTRA {
        // Each from its own address and for its own account, so no other throttle bites.
        let c = Client::forwarded_for(&app, &format!("198.51.{}.{}", 100 + i / 200, i % 200 + 1));
        c.csrf().await;
        clients.push((i, c));
    }
    let held = hasher.occupy_all().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, c) in clients {
        let tx = tx.clone();
        tokio::spawn(async move {
            let email = format!("crowd{i}@example.com");
            let r = c
                .post_form(
                    "/auth/sign-in",
                    &[("email", &email), ("password", "whatever123")],
                )
                .await;
            let _ = tx.send(r);
        });
    }
    drop(tx);
    // A guard against hanging, not a timing target: refusals come at once.
    let guard = std::time::Duration::from_secs(60);
    for n in 0..EXTRA {
        let r = tokio::time::timeout(guard, rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{n} of {EXTRA} requests past the queue were refused while every core was held \
                     ({} waiting)",
                    hasher.waiting()
                )
            })
            .unwrap();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert!(retry_after(&r) >= 1);
        assert!(r.body.contains("busy"), "{}", r.body);
    }
    assert_eq!(hasher.waiting(), QUEUE);
    drop(held);
    for _ in 0..QUEUE {
        let r = tokio::time::timeout(guard, rx.recv())
            .await
            .expect("the queued sign-ins are answered once cores are free")
            .unwrap();
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    assert_eq!(hasher.waiting(), 0);
    app.shutdown().await.unwrap();
}

/// Sign-up, first-run setup, a reset and a reset request share one budget per client
/// (an IPv4 address or an IPv6 /64); another client keeps its own.
async fn password_forms_are_limited_per_client(backend: Backend) {
    let (app, _) = app_and_auth(backend, |_| {}).await;
    let reset = [("token", "bogus"), ("password", "a long enough password")];
    let first = Client::forwarded_for(&app, "198.51.100.7");
    for _ in 0..10 {
        let r = first.post_form("/auth/reset", &reset).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    let sign_up = [
        ("name", "Bea"),
        ("email", "bea@example.com"),
        ("password", PW),
        ("workspace", "Bea Co"),
    ];
    let setup = [
        ("token", "bogus"),
        ("name", "Bea"),
        ("email", "bea@example.com"),
        ("password", PW),
        ("workspace", "Bea Co"),
    ];
    let forgot = [("email", "bea@example.com")];
    let forms: [(&str, &[(&str, &str)]); 4] = [
        ("/auth/reset", &reset),
        ("/auth/sign-up", &sign_up),
        ("/auth/setup", &setup),
        ("/auth/forgot", &forgot),
    ];
    for (path, fields) in forms {
        let r = first.post_form(path, fields).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            r.body
        );
        assert!(retry_after(&r) >= 1, "{path}");
        assert!(r.body.contains("Too many"), "{path}: {}", r.body);
    }
    let second = Client::forwarded_for(&app, "203.0.113.9");
    let expected = [
        StatusCode::BAD_REQUEST,
        StatusCode::OK,
        StatusCode::BAD_REQUEST,
        StatusCode::OK,
    ];
    for ((path, fields), status) in forms.into_iter().zip(expected) {
        let r = second.post_form(path, fields).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
    }
    // One IPv6 /64 is one client.
    for i in 1..=10 {
        let c = Client::forwarded_for(&app, &format!("2001:db8:5:6::{i}"));
        let r = c.post_form("/auth/reset", &reset).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    let same_net = Client::forwarded_for(&app, "2001:db8:5:6:ffff::1");
    let r = same_net.post_form("/auth/reset", &reset).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let other_net = Client::forwarded_for(&app, "2001:db8:5:7::1");
    let r = other_net.post_form("/auth/reset", &reset).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    app.shutdown().await.unwrap();
}

/// Wrong current passwords on the account page count as failed sign-ins of the account: after
/// three, each waits longer, and while it waits no password is checked at all.
async fn account_page_password_checks_are_throttled_like_sign_in(backend: Backend) {
    let (app, auth) = app_and_auth(backend, |_| {}).await;
    let hasher = &auth.hasher;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::forwarded_for(&app, "198.51.100.30");
    c.sign_in("ada@example.com", PW, false).await;
    let change = |current: &'static str| {
        let c = &c;
        async move {
            c.post_form(
                "/account/password",
                &[("current", current), ("new", "a brand new password")],
            )
            .await
        }
    };
    for _ in 0..4 {
        let r = change("wrong password!").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("This is not your current password"));
    }
    // The fourth failure made the account wait 2 seconds.
    let r = change("wrong password!").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!((1..=2).contains(&retry_after(&r)));
    assert!(r.body.contains("Too many failed attempts"), "{}", r.body);
    // Four failures more (as from sign-in elsewhere) make it 32 seconds, time enough to
    // look at every form of the page.
    let key = auth.keys.throttle_key("ada@example.com");
    for _ in 0..4 {
        leadsment::auth::throttle::record_failure(&store, &key)
            .await
            .unwrap();
    }
    let before = hasher.computed();
    let email_change = [("email", "new@example.com"), ("password", PW)];
    for r in [
        // Even the right password waits: the throttle does not say which guess was right.
        change(PW).await,
        c.post_form("/account/email", &email_change).await,
        c.post_form("/account/delete", &[("password", PW)]).await,
    ] {
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
        assert!(retry_after(&r) > 2);
        assert!(r.body.contains("Too many failed attempts"), "{}", r.body);
    }
    assert_eq!(hasher.computed(), before, "no hash while throttled");
    assert!(
        leadsment::auth::store::user_by_email(&store, "ada@example.com")
            .await
            .unwrap()
            .is_some()
    );
    app.shutdown().await.unwrap();
}
