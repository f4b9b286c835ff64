//! Limits on email: at most three messages an hour to one address, the newest three links
//! of a kind all working, one bounded queue whose overflow changes no answer, and a budget
//! per client for the forms that send email.

use std::time::Duration;

use leadsment::auth::model::LinkPurpose;
use leadsment::auth::tokens::digest;
use reqwest::StatusCode;

use crate::accounts::{PW, make_user, spawn_with};
use crate::client::{Client, Resp};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(
    five_reset_requests_send_three_emails_and_get_the_same_answer,
    the_newest_three_links_of_a_kind_work_until_a_password_change,
    a_full_mail_queue_changes_nothing_in_the_answer,
    the_forms_that_send_email_have_a_budget_per_client,
);

/// A client behind the tests' trusted proxy, never 127.0.0.1 itself.
async fn behind_proxy(
    backend: Backend,
    configure: impl FnOnce(&mut leadsment::config::Config),
) -> (TestApp, crate::mail_sink::MailSink) {
    spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        configure(c);
    })
    .await
}

async fn forgot(c: &Client, email: &str) -> Resp {
    c.post_form("/auth/forgot", &[("email", email)]).await
}

async fn five_reset_requests_send_three_emails_and_get_the_same_answer(backend: Backend) {
    let (app, sink) = behind_proxy(backend, |_| {}).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let c = Client::forwarded_for(&app, "198.51.100.21");
    let first = forgot(&c, "ada@example.com").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    for _ in 0..4 {
        let again = forgot(&c, "ada@example.com").await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.body, first.body, "every request gets the same answer");
    }
    // Three messages arrive, and no more.
    for _ in 0..200 {
        if sink.count_to("ada@example.com") >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sink.count_to("ada@example.com"),
        3,
        "{:#?}",
        sink.messages()
    );
    // Every link mailed works: the later requests (and the two refused ones) broke none.
    let links: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.link_path("/auth/reset").unwrap())
        .collect();
    for link in &links {
        let page = c.get(link).await;
        assert_eq!(page.status, StatusCode::OK, "{link}: {}", page.body);
    }
    // The first one is used; the others die with the password change.
    let token = links[0].split("token=").nth(1).unwrap();
    let done = c
        .post_form(
            "/auth/reset",
            &[("token", token), ("password", "a brand new password")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    for link in &links {
        assert_eq!(c.get(link).await.status, StatusCode::BAD_REQUEST, "{link}");
    }
    app.shutdown().await.unwrap();
}

async fn the_newest_three_links_of_a_kind_work_until_a_password_change(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let user = make_user(&store, "ada@example.com", None).await;
    let far = leadsment::store::now_ms() + 3_600_000;
    let mut tokens = Vec::new();
    for i in 0..5 {
        let token = format!("reset-token-{i}");
        leadsment::auth::store::create_link(
            &store,
            &digest(&token),
            LinkPurpose::Reset,
            Some(user.id),
            None,
            far,
        )
        .await
        .unwrap();
        tokens.push(token);
        // Each link a millisecond newer than the last.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    // A link of another kind is counted apart.
    leadsment::auth::store::create_link(
        &store,
        &digest("verify-token"),
        LinkPurpose::Verify,
        Some(user.id),
        None,
        far,
    )
    .await
    .unwrap();
    let open = |t: String| {
        let store = store.clone();
        async move {
            leadsment::auth::store::peek_link(&store, &digest(&t), LinkPurpose::Reset)
                .await
                .unwrap()
                .is_some()
        }
    };
    let mut working = Vec::new();
    for t in &tokens {
        working.push(open(t.clone()).await);
    }
    assert_eq!(working, [false, false, true, true, true]);
    assert!(
        leadsment::auth::store::peek_link(&store, &digest("verify-token"), LinkPurpose::Verify)
            .await
            .unwrap()
            .is_some()
    );
    // Using one leaves the other two; a password change ends them all.
    let used =
        leadsment::auth::store::consume_link(&store, &digest(&tokens[2]), LinkPurpose::Reset)
            .await
            .unwrap();
    assert_eq!(used.unwrap().user_id, Some(user.id));
    assert!(open(tokens[3].clone()).await && open(tokens[4].clone()).await);
    leadsment::auth::store::drop_links(&store, user.id)
        .await
        .unwrap();
    for t in &tokens {
        assert!(!open(t.clone()).await, "{t}");
    }
}

/// An SMTP server that accepts connections and never answers: each send waits for its
/// greeting until lettre's timeout, so the queue fills.
async fn silent_smtp() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

/// The number after `name` in the Prometheus text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn a_full_mail_queue_changes_nothing_in_the_answer(backend: Backend) {
    let smtp = silent_smtp().await;
    let (app, _sink) = behind_proxy(backend, |c| {
        c.auth.smtp_url = Some(format!("smtp://{smtp}").into());
        c.auth.mail_queue = 1;
    })
    .await;
    let store = app.db.store().await;
    let workers = leadsment::auth::outbox::WORKERS;
    let n = workers + 4;
    for i in 0..n {
        make_user(&store, &format!("user{i}@example.com"), None).await;
    }
    let mut answers = Vec::new();
    for i in 0..n {
        // Its own client each, so that no per-client budget is reached.
        let c = Client::forwarded_for(&app, &format!("198.51.100.{}", 100 + i));
        let email = format!("user{i}@example.com");
        let r = forgot(&c, &email).await;
        answers.push((r.status, r.body.replace(&email, "ADDRESS")));
        // Time for an idle worker to take the message (and hang on the silent server).
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // The workers hold the first ones, the queue one more; the rest were dropped, and
    // nobody could tell.
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.0, StatusCode::OK, "request {i}");
        assert_eq!(a, &answers[0], "request {i} answered like the first");
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    let dropped = metric(&text, "leadsment_mail_dropped_total{reason=\"queue_full\"}");
    assert_eq!(dropped, Some((n - workers - 1) as u64), "{text}");
    app.shutdown().await.unwrap();
}

async fn the_forms_that_send_email_have_a_budget_per_client(backend: Backend) {
    let (app, _sink) = behind_proxy(backend, |c| c.auth.mail_forms_per_hour = 2).await;
    let store = app.db.store().await;
    make_user(&store, "ada@example.com", Some("Acme")).await;
    let first = Client::forwarded_for(&app, "198.51.100.31");
    for email in ["a@example.com", "b@example.com"] {
        assert_eq!(forgot(&first, email).await.status, StatusCode::OK);
    }
    let refused = forgot(&first, "c@example.com").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1800).contains(&retry), "Retry-After: {retry}");
    // Sign-up sends email too: the same budget.
    let sign_up = first
        .post_form(
            "/auth/sign-up",
            &[
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("password", PW),
                ("workspace", "Eve Inc"),
            ],
        )
        .await;
    assert_eq!(sign_up.status, StatusCode::TOO_MANY_REQUESTS);
    // Another client has its own budget.
    let second = Client::forwarded_for(&app, "203.0.113.31");
    assert_eq!(
        forgot(&second, "a@example.com").await.status,
        StatusCode::OK
    );
    // One IPv6 /64 is one client.
    for i in 1..=2 {
        let c = Client::forwarded_for(&app, &format!("2001:db8:77:1::{i}"));
        assert_eq!(forgot(&c, "a@example.com").await.status, StatusCode::OK);
    }
    let same_net = Client::forwarded_for(&app, "2001:db8:77:1:ffff::9");
    assert_eq!(
        forgot(&same_net, "a@example.com").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let other_net = Client::forwarded_for(&app, "2001:db8:77:2::1");
    assert_eq!(
        forgot(&other_net, "a@example.com").await.status,
        StatusCode::OK
    );
    app.shutdown().await.unwrap();
}
