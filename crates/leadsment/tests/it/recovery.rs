//! A forgotten password: a known and an unknown address do the same work, counted on the
//! store and the mail queue, and only the known one gets an email.

use std::sync::Mutex;

use async_trait::async_trait;
use leadsment::auth::mail;
use leadsment::auth::model::LinkPurpose;
use leadsment::auth::recovery::{MailQueue, RecoveryStore, request_reset};
use leadsment::auth::users::{Email, UserId, UserWithPassword};
use leadsment::store::{Db, StoreError};

use crate::accounts::make_user;
use crate::on_both_backends;
use crate::support::{Backend, TestDb};

/// The real store, with a note of each call.
struct CountingStore {
    db: Db,
    calls: Mutex<Vec<String>>,
}

impl CountingStore {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl RecoveryStore for CountingStore {
    async fn user_by_email(&self, email: &str) -> Result<Option<UserWithPassword>, StoreError> {
        self.calls.lock().unwrap().push("user_by_email".into());
        self.db.user_by_email(email).await
    }

    async fn create_link(
        &self,
        hash: &[u8],
        purpose: LinkPurpose,
        user: Option<UserId>,
        email: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        // The purpose is part of the call; who it is for is not (that is the secret).
        let call = format!(
            "create_link({}, email: {})",
            purpose.as_str(),
            email.is_some()
        );
        self.calls.lock().unwrap().push(call);
        self.db
            .create_link(hash, purpose, user, email, expires_at)
            .await
    }
}

/// A mail queue that keeps the jobs instead of doing them.
#[derive(Default)]
struct CountingQueue(Mutex<Vec<mail::Job>>);

impl MailQueue for CountingQueue {
    fn admit(&self, _to: &str) -> bool {
        true
    }
    fn queue(&self, job: mail::Job) {
        self.0.lock().unwrap().push(job);
    }
}

impl CountingQueue {
    fn take(&self) -> Vec<mail::Job> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

on_both_backends!(a_reset_request_does_the_same_work_for_known_and_unknown_addresses);

async fn a_reset_request_does_the_same_work_for_known_and_unknown_addresses(backend: Backend) {
    let (test_db, db) = TestDb::open(backend).await;
    make_user(&db, "ada@example.com", Some("Acme")).await;
    let web = test_db.config().web;
    let store = CountingStore {
        db,
        calls: Mutex::default(),
    };
    let queue = CountingQueue::default();

    let known = Email::parse("ada@example.com").unwrap();
    request_reset(&store, &queue, &web, &known).await.unwrap();
    let known_calls = store.take();
    let known_jobs = queue.take();

    let unknown = Email::parse("nobody@example.com").unwrap();
    request_reset(&store, &queue, &web, &unknown).await.unwrap();
    let unknown_calls = store.take();
    let unknown_jobs = queue.take();

    assert_eq!(
        known_calls,
        ["user_by_email", "create_link(reset, email: false)"],
        "a known address"
    );
    assert_eq!(
        unknown_calls, known_calls,
        "an unknown address: the same calls"
    );
    assert_eq!(known_jobs.len(), 1, "one job for a known address");
    assert_eq!(unknown_jobs.len(), 1, "one job for an unknown address");
    // The known address gets its link; the unknown one gets no email at all.
    match &known_jobs[0] {
        mail::Job::Send(m) => {
            assert_eq!(m.to, "ada@example.com");
            assert!(m.link.as_deref().unwrap().contains("/auth/reset?token="));
        }
        other => panic!("the known address gets an email, not {other:?}"),
    }
    assert!(
        unknown_jobs[0].recipient().is_none(),
        "nothing is sent for an unknown address: {:?}",
        unknown_jobs[0]
    );
    // Requests from a crowd of unknown addresses leave no pile of rows behind.
    for i in 0..5 {
        let e = Email::parse(&format!("ghost{i}@example.com")).unwrap();
        request_reset(&store, &queue, &web, &e).await.unwrap();
    }
    let rows: i64 = store
        .db
        .value(leadsment::store::sql(
            "SELECT COUNT(*) FROM email_tokens WHERE user_id IS NULL",
        ))
        .await
        .unwrap();
    assert!(rows <= 1, "{rows} rows for unknown addresses");
}
