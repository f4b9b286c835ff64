//! The storage layer, run against both backends.

use leadsment::accounts::errors::AccountError;
use leadsment::accounts::sites::{Hostname, NewSite};

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

on_both_backends!(
    migrations_are_idempotent,
    the_default_workspace_is_created_once,
    sites_are_created_listed_and_found_by_host,
    a_host_is_claimed_by_one_site_only,
    shared_secrets_are_the_same_for_every_node,
    concurrent_writers_from_two_nodes_all_succeed,
    a_second_writer_waits_for_the_first_instead_of_failing,
);

async fn migrations_are_idempotent(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let again = leadsment::store::migrate(&store).await.unwrap();
    assert!(again.applied_now.is_empty(), "{again:?}");
    assert!(again.already_applied >= 1);
    store.ping().await.unwrap();
}

async fn the_default_workspace_is_created_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = db.store().await;
    let b = db.store().await;
    let (wa, wb) = tokio::join!(
        leadsment::accounts::store::default_workspace(&a),
        leadsment::accounts::store::default_workspace(&b)
    );
    let (wa, wb) = (wa.unwrap(), wb.unwrap());
    assert_eq!(wa.id, wb.id);
    assert_eq!(
        leadsment::accounts::store::default_workspace(&a)
            .await
            .unwrap()
            .id,
        wa.id
    );
}

async fn sites_are_created_listed_and_found_by_host(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    let new = NewSite::new(ws.id, "Example.com", &["shop.example.net".into()]).unwrap();
    let site = leadsment::accounts::store::create_site(&store, &new)
        .await
        .unwrap();
    assert_eq!(site.domain.as_str(), "example.com");
    assert_eq!(
        site.aliases,
        vec![Hostname::parse("shop.example.net").unwrap()]
    );
    assert_eq!(site.time_zone, "UTC");

    let other = leadsment::accounts::store::create_site(
        &store,
        &NewSite::new(ws.id, "other.example", &[]).unwrap(),
    )
    .await
    .unwrap();

    let listed = leadsment::accounts::store::list_sites(&store)
        .await
        .unwrap();
    assert_eq!(listed, vec![site.clone(), other.clone()]);

    for host in [
        "example.com",
        "www.example.com",
        "shop.example.net",
        "www.shop.example.net",
    ] {
        let found =
            leadsment::accounts::store::site_by_host(&store, &Hostname::parse(host).unwrap())
                .await
                .unwrap();
        assert_eq!(found.as_ref().map(|s| s.id), Some(site.id), "{host}");
    }
    let none = leadsment::accounts::store::site_by_host(
        &store,
        &Hostname::parse("unknown.example").unwrap(),
    )
    .await
    .unwrap();
    assert!(none.is_none());
}

async fn a_host_is_claimed_by_one_site_only(backend: Backend) {
    let (_db, store) = TestDb::open(backend).await;
    let ws = leadsment::accounts::store::default_workspace(&store)
        .await
        .unwrap();
    leadsment::accounts::store::create_site(
        &store,
        &NewSite::new(ws.id, "example.com", &["alias.example".into()]).unwrap(),
    )
    .await
    .unwrap();
    let tenant = crate::accounts::make_user(&store, "tenant@example.org", Some("Tenant")).await;
    let other = crate::accounts::first_workspace(&store, tenant.id).await;
    for (domain, aliases) in [
        ("example.com", vec![]),
        ("www.example.com", vec![]),
        ("alias.example", vec![]),
        ("fresh.example", vec!["www.example.com".to_owned()]),
    ] {
        let err = leadsment::accounts::store::create_site(
            &store,
            &NewSite::new(ws.id, domain, &aliases).unwrap(),
        )
        .await
        .unwrap_err();
        match err {
            err @ AccountError::HostTaken { .. } => {
                let msg = err.to_string();
                // In the same workspace the site is named.
                assert!(
                    msg.contains("already belongs to the site example.com"),
                    "{msg}"
                );
            }
            other => panic!("{domain}: expected a conflict, got {other:?}"),
        }
        // From another tenant's workspace: only that it is taken.
        let err = leadsment::accounts::store::create_site(
            &store,
            &NewSite::new(other, domain, &aliases).unwrap(),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("already belongs to another site"), "{msg}");
        assert!(!msg.contains("the site"), "{msg}");
    }
    // Nothing of the refused sites was kept.
    assert_eq!(
        leadsment::accounts::store::list_sites(&store)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        leadsment::accounts::store::site_by_host(
            &store,
            &Hostname::parse("fresh.example").unwrap()
        )
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
        leadsment::store::secrets::shared(&node_a, "session-signing-key", 32),
        leadsment::store::secrets::shared(&node_b, "session-signing-key", 32)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len(), 32);
    assert_eq!(a, b);
    assert_ne!(a, vec![0u8; 32]);
    let other = leadsment::store::secrets::shared(&node_a, "another-key", 32)
        .await
        .unwrap();
    assert_ne!(a, other);
    // A restarted node reads the same value back.
    node_a.close().await;
    let node_c = db.store().await;
    assert_eq!(
        leadsment::store::secrets::shared(&node_c, "session-signing-key", 32)
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
    let ws = leadsment::accounts::store::default_workspace(&a)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let new = NewSite::new(ws.id, &format!("site{i}.example"), &[]).unwrap();
        tasks.push(tokio::spawn(async move {
            // A read in between, as a request handler would do.
            leadsment::accounts::store::list_sites(&store)
                .await
                .unwrap();
            leadsment::accounts::store::create_site(&store, &new).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        leadsment::accounts::store::list_sites(&a)
            .await
            .unwrap()
            .len(),
        40
    );
}

/// Two writers at once, each reading before it writes (as most transactions do): on SQLite the
/// second waits at `BEGIN IMMEDIATE` until the first commits, then succeeds. (With a deferred
/// `BEGIN` the second would read first and then fail at once with SQLITE_BUSY_SNAPSHOT.) On
/// PostgreSQL both go ahead.
async fn a_second_writer_waits_for_the_first_instead_of_failing(backend: Backend) {
    use leadsment::store::sql;
    let db = TestDb::new(backend).await;
    let a = db.store().await;
    let b = db.store().await;
    let insert = |name: &str| {
        sql("INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(vec![1u8])
            .bind(1i64)
    };
    let count = || sql("SELECT COUNT(*) FROM shared_secrets");

    let mut first = a.begin().await.unwrap();
    let _: i64 = first.value(count()).await.unwrap();
    first.execute(insert("first")).await.unwrap();
    let second = tokio::spawn(async move {
        let mut tx = b.begin().await?;
        let seen: i64 = tx.value(count()).await?;
        tx.execute(insert("second")).await?;
        tx.commit().await?;
        Ok::<i64, sqlx::Error>(seen)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    if backend == Backend::Sqlite {
        assert!(
            !second.is_finished(),
            "the second writer must wait for the first one's lock"
        );
    }
    first.commit().await.unwrap();
    let seen = second.await.unwrap().expect("the second writer succeeds");
    if backend == Backend::Sqlite {
        assert_eq!(seen, 1, "the second writer began after the first committed");
    }
    let names: Vec<String> = a
        .values(sql("SELECT name FROM shared_secrets ORDER BY name"))
        .await
        .unwrap();
    assert_eq!(names, ["first", "second"]);
}
