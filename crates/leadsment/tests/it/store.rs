//! The storage trait, run against both backends.

use leadsment::accounts::sites::{Hostname, NewSite};
use leadsment::store::StoreError;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

on_both_backends!(
    migrations_are_idempotent,
    the_default_workspace_is_created_once,
    sites_are_created_listed_and_found_by_host,
    a_host_is_claimed_by_one_site_only,
    shared_secrets_are_the_same_for_every_node,
    concurrent_writers_from_two_nodes_all_succeed,
);

async fn migrations_are_idempotent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let again = store.migrate().await.unwrap();
    assert!(again.applied_now.is_empty(), "{again:?}");
    assert!(again.already_applied >= 1);
    store.ping().await.unwrap();
}

async fn the_default_workspace_is_created_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = db.store().await;
    let b = db.store().await;
    let (wa, wb) = tokio::join!(a.default_workspace(), b.default_workspace());
    let (wa, wb) = (wa.unwrap(), wb.unwrap());
    assert_eq!(wa.id, wb.id);
    assert_eq!(a.default_workspace().await.unwrap().id, wa.id);
}

async fn sites_are_created_listed_and_found_by_host(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ws = store.default_workspace().await.unwrap();
    let new = NewSite::new(ws.id, "Example.com", &["shop.example.net".into()]).unwrap();
    let site = store.create_site(&new).await.unwrap();
    assert_eq!(site.domain.as_str(), "example.com");
    assert_eq!(
        site.aliases,
        vec![Hostname::parse("shop.example.net").unwrap()]
    );
    assert_eq!(site.time_zone, "UTC");

    let other = store
        .create_site(&NewSite::new(ws.id, "other.example", &[]).unwrap())
        .await
        .unwrap();

    let listed = store.list_sites().await.unwrap();
    assert_eq!(listed, vec![site.clone(), other.clone()]);

    for host in [
        "example.com",
        "www.example.com",
        "shop.example.net",
        "www.shop.example.net",
    ] {
        let found = store
            .site_by_host(&Hostname::parse(host).unwrap())
            .await
            .unwrap();
        assert_eq!(found.as_ref().map(|s| s.id), Some(site.id), "{host}");
    }
    let none = store
        .site_by_host(&Hostname::parse("unknown.example").unwrap())
        .await
        .unwrap();
    assert!(none.is_none());
}

async fn a_host_is_claimed_by_one_site_only(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ws = store.default_workspace().await.unwrap();
    store
        .create_site(&NewSite::new(ws.id, "example.com", &["alias.example".into()]).unwrap())
        .await
        .unwrap();
    for (domain, aliases) in [
        ("example.com", vec![]),
        ("www.example.com", vec![]),
        ("alias.example", vec![]),
        ("fresh.example", vec!["www.example.com".to_owned()]),
    ] {
        let err = store
            .create_site(&NewSite::new(ws.id, domain, &aliases).unwrap())
            .await
            .unwrap_err();
        match err {
            StoreError::Conflict(msg) => assert!(msg.contains("already belongs"), "{msg}"),
            other => panic!("{domain}: expected a conflict, got {other:?}"),
        }
    }
    // Nothing of the refused sites was kept.
    assert_eq!(store.list_sites().await.unwrap().len(), 1);
    assert!(
        store
            .site_by_host(&Hostname::parse("fresh.example").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

async fn shared_secrets_are_the_same_for_every_node(backend: Backend) {
    let db = TestDb::new(backend).await;
    let node_a = db.store().await;
    let node_b = db.store().await;
    let (a, b) = tokio::join!(
        node_a.shared_secret("session-signing-key", 32),
        node_b.shared_secret("session-signing-key", 32)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len(), 32);
    assert_eq!(a, b);
    assert_ne!(a, vec![0u8; 32]);
    let other = node_a.shared_secret("another-key", 32).await.unwrap();
    assert_ne!(a, other);
    // A restarted node reads the same value back.
    node_a.close().await;
    let node_c = db.store().await;
    assert_eq!(
        node_c
            .shared_secret("session-signing-key", 32)
            .await
            .unwrap(),
        a
    );
}

/// Two stores on one database stand for two processes (a server and `leadsment site add`, or
/// two nodes). Each create_site reads before it writes, which on SQLite needs BEGIN IMMEDIATE
/// to avoid SQLITE_BUSY_SNAPSHOT.
async fn concurrent_writers_from_two_nodes_all_succeed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = db.store().await;
    let b = db.store().await;
    let ws = a.default_workspace().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let new = NewSite::new(ws.id, &format!("site{i}.example"), &[]).unwrap();
        tasks.push(tokio::spawn(async move {
            // A read in between, as a request handler would do.
            store.list_sites().await.unwrap();
            store.create_site(&new).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(a.list_sites().await.unwrap().len(), 40);
}
