//! `leadsment demo` as a user runs it: a Demo workspace and site with made-up past traffic
//! from the organisations of the IP index.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use leadsment::store::sql;

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

/// The binary with only the given database and data folder (a developer's own LEADSMENT_*
/// settings must not leak into the run).
fn leadsment(dir: &Path, url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadsment"));
    cmd.current_dir(dir).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("LEADSMENT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LEADSMENT_DATABASE_URL", url)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fails unless the command failed with exit code 1 and one line on standard error naming
/// `names`.
fn assert_fails(out: &Output, names: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(names), "expected {names:?} in {stderr:?}");
}

fn assert_ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// A small index as `leadsment ipdb build` makes it: organisations of every class the demo
/// draws (as the classifier sees their names and ASNs), with countries.
fn write_index(data_dir: &Path) {
    let orgs: &[(&str, u32, &str, &str)] = &[
        ("193.0.1", 64500, "ACME - Acme Corporation Inc.", "DE"),
        ("193.0.2", 64501, "GLOBEX - Globex Industries GmbH", "DE"),
        ("193.0.3", 64502, "INITECH - Initech Software Ltd", "GB"),
        ("193.0.4", 64503, "UMBRELLA - Umbrella Pharma AG", "CH"),
        ("193.0.5", 64504, "HOOLI - Hooli Inc.", "US"),
        ("193.0.6", 64505, "STARK - Stark Industries Inc.", "US"),
        ("193.0.7", 3320, "DTAG - Deutsche Telekom AG", "DE"),
        ("193.0.8", 64506, "EXAMPLETEL - Example Telecom SA", "FR"),
        ("193.0.9", 16509, "AMAZON-02 - Amazon.com, Inc.", "US"),
        ("193.0.10", 14061, "DIGITALOCEAN - DigitalOcean, LLC", "NL"),
        ("193.0.11", 64507, "UNI-EX - University of Exampleton", "DE"),
    ];
    let mut asn = String::new();
    let mut country = String::new();
    for (net, number, org, cc) in orgs {
        asn.push_str(&format!("{net}.0,{net}.255,{number},{org}\n"));
        country.push_str(&format!("{net}.0,{net}.255,{cc}\n"));
    }
    std::fs::create_dir_all(data_dir).unwrap();
    let files: Vec<PathBuf> = [("asn-ipv4.csv", asn), ("country-ipv4.csv", country)]
        .into_iter()
        .map(|(name, body)| {
            let path = data_dir.join(name);
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect();
    leadsment::ipdb::build(data_dir, &files, Some("2026-11-01".into())).unwrap();
}

on_both_backends!(demo_fills_a_workspace_with_traffic_from_the_ip_data);

async fn demo_fills_a_workspace_with_traffic_from_the_ip_data(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    let url = db.url.clone();
    let run = {
        let (dir, url) = (dir.clone(), url.clone());
        move |args: &'static [&'static str]| {
            let (dir, url) = (dir.clone(), url.clone());
            async move {
                tokio::task::spawn_blocking(move || leadsment(&dir, &url, args))
                    .await
                    .unwrap()
            }
        }
    };
    // More organisations than the index has: every one of them is drawn.
    let demo = &["demo", "--events", "20000", "--organisations", "20"];

    // Without an index there is nothing to draw organisations from, and nothing is created.
    assert_fails(&run(demo).await, "run `leadsment ipdb fetch` first");
    write_index(&dir.join("data"));
    // Somebody must own the workspace.
    assert_fails(&run(demo).await, "platform administrator");
    assert_ok(
        &run(&[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--platform-admin",
        ])
        .await,
    );
    assert_ok(&run(&["user", "create", "--email", "bob@example.com"]).await);

    let stdout = assert_ok(&run(demo).await);
    assert!(stdout.contains("demo.leadsment.test"), "{stdout}");
    assert!(stdout.contains("ada@example.com"), "{stdout}");

    let store = db.store().await;
    let site: (i64, i64, String) = store
        .one(sql(
            "SELECT s.id, s.workspace_id, s.time_zone FROM sites s \
             JOIN workspaces w ON w.id = s.workspace_id \
             WHERE s.domain = 'demo.leadsment.test' AND w.name = 'Demo'",
        ))
        .await
        .unwrap();
    let (site_id, workspace, time_zone) = site;
    assert_eq!(time_zone, "Europe/Berlin");
    assert!(
        stdout.contains(&format!("/w/{workspace}/sites/{site_id}")),
        "the dashboard's address: {stdout}"
    );
    let owners: Vec<String> = store
        .values(
            sql(
                "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.workspace_id = $1 AND m.role = 'owner' ORDER BY u.email",
            )
            .bind(workspace),
        )
        .await
        .unwrap();
    assert_eq!(
        owners,
        ["ada@example.com"],
        "every platform admin, nobody else"
    );

    let events: i64 = store
        .value(sql("SELECT COUNT(*) FROM events WHERE site_id = $1").bind(site_id))
        .await
        .unwrap();
    assert!((18_000..=22_000).contains(&events), "{events} events");
    let classes: Vec<String> = store
        .values(
            sql(
                "SELECT DISTINCT t.class FROM visits v JOIN visit_traits t ON t.id = v.traits_id \
                 WHERE v.site_id = $1 ORDER BY t.class",
            )
            .bind(site_id),
        )
        .await
        .unwrap();
    for class in ["business", "education", "hosting", "isp", "unknown"] {
        assert!(classes.iter().any(|c| c == class), "{class} in {classes:?}");
    }
    let companies: i64 = store
        .value(
            sql("SELECT COUNT(DISTINCT company_id) FROM visits WHERE site_id = $1").bind(site_id),
        )
        .await
        .unwrap();
    assert_eq!(companies, 11, "{companies} companies");
    // Companies are the rows real traffic from those networks makes, with their countries.
    let acme: (String, Option<String>) = store
        .one(sql(
            "SELECT key, country FROM companies WHERE name = 'Acme'",
        ))
        .await
        .unwrap();
    assert_eq!(acme, ("asn:64500:Acme".into(), Some("DE".into())));
    let engaged: i64 = store
        .value(
            sql(
                "SELECT COUNT(*) FROM events WHERE site_id = $1 AND name = 'engagement' \
                 AND engaged_ms > 0",
            )
            .bind(site_id),
        )
        .await
        .unwrap();
    assert!(engaged > events / 4, "{engaged} engagement events");
    let days: i64 = store
        .value(
            sql(
                "SELECT (MAX(started_at) - MIN(started_at)) / 86400000 FROM visits \
                 WHERE site_id = $1",
            )
            .bind(site_id),
        )
        .await
        .unwrap();
    assert!(days >= 26, "four weeks of visits, not {days} days");

    // Run again, the site is there: an error that points at it, rather than twice the traffic.
    assert_fails(&run(demo).await, "exists already");
    // --owner names the one owner; an unknown user is an error.
    assert_fails(
        &run(&[
            "demo",
            "--owner",
            "nobody@example.com",
            "--domain",
            "demo2.example",
        ])
        .await,
        "no user has the email nobody@example.com",
    );
    assert_ok(
        &run(&[
            "demo",
            "--owner",
            "bob@example.com",
            "--domain",
            "demo2.example",
            "--events",
            "500",
            "--organisations",
            "3",
        ])
        .await,
    );
    let owners: Vec<String> = store
        .values(sql(
            "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
             JOIN sites s ON s.workspace_id = m.workspace_id \
             WHERE s.domain = 'demo2.example' AND m.role = 'owner'",
        ))
        .await
        .unwrap();
    assert_eq!(owners, ["bob@example.com"]);
    store.close().await;
}
