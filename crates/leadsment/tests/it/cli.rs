//! The `leadsment` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

/// The built binary, run from `dir`, with no `LEADSMENT_*` setting of the caller's.
pub fn leadsment(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadsment"));
    cmd.current_dir(dir).stdin(Stdio::null());
    // A developer's own settings must not leak into these runs.
    for (key, _) in std::env::vars() {
        if key.starts_with("LEADSMENT_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.success(),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// A failure is one line on standard error that names the problem, and a non-zero exit.
fn assert_one_line_error(cmd: &mut Command, names: &str) {
    let (ok, _, stderr) = run(cmd);
    assert!(!ok, "expected a failure: {cmd:?}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(names), "expected {names:?} in {stderr:?}");
}

#[test]
fn every_subcommand_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["site", "--help"],
        vec!["site", "add", "--help"],
        vec!["site", "list", "--help"],
        vec!["user", "create", "--help"],
        vec!["backup", "--help"],
        vec!["audit", "--help"],
        vec!["site", "release", "--help"],
    ] {
        let (ok, stdout, _) = run(leadsment(dir.path()).args(&args));
        assert!(ok, "{args:?}");
        assert!(stdout.contains("Usage: leadsment"), "{args:?}: {stdout}");
        assert!(stdout.lines().count() > 4, "{args:?}: {stdout}");
    }
    let (_, top, _) = run(leadsment(dir.path()).arg("--help"));
    for sub in ["serve", "migrate", "site", "user", "audit"] {
        assert!(top.contains(sub), "{top}");
    }
}

#[test]
fn unknown_subcommands_and_flags_get_one_line() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(leadsment(dir.path()).arg("sevre"), "sevre");
    assert_one_line_error(leadsment(dir.path()).args(["serve", "--bogus"]), "--bogus");
    assert_one_line_error(leadsment(dir.path()).args(["site", "add"]), "DOMAIN");
}

#[test]
fn site_add_works_in_an_empty_folder_with_the_default_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(leadsment(dir.path()).args([
        "site",
        "add",
        "https://Example.COM/",
        "--alias",
        "shop.example.net",
    ]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(
            "<script defer data-domain=\"example.com\" src=\"http://127.0.0.1:8080/js/t.js\"></script>"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("shop.example.net"), "{stdout}");
    assert!(dir.path().join("leadsment-data/leadsment.db").is_file());

    let (ok, stdout, _) = run(leadsment(dir.path()).args(["site", "list"]));
    assert!(ok);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("DOMAIN"), "{stdout}");
    assert!(
        lines[1].contains("example.com") && lines[1].contains("shop.example.net"),
        "{stdout}"
    );

    // The public URL in the snippet follows the configuration.
    let (ok, stdout, _) = run(leadsment(dir.path())
        .env("LEADSMENT_PUBLIC_URL", "https://stats.example.org")
        .args(["site", "add", "bücher.example"]));
    assert!(ok);
    assert!(
        stdout.contains("data-domain=\"xn--bcher-kva.example\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://stats.example.org/js/t.js"),
        "{stdout}"
    );
}

on_both_backends!(site_commands_use_the_configured_database);

async fn site_commands_use_the_configured_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let (ok, _, stderr) = run(leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
            "site",
            "add",
            "example.com",
        ]));
        assert!(ok, "{stderr}");
        assert_one_line_error(
            leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
                "site",
                "add",
                "www.example.com",
            ]),
            "already belongs",
        );
        let (ok, stdout, _) = run(leadsment(&dir)
            .env("LEADSMENT_DATABASE_URL", &url)
            .args(["site", "list", "--format", "json"]));
        assert!(ok);
        let site: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(site["domain"], "example.com");
        let (ok, stdout, _) = run(leadsment(&dir)
            .env("LEADSMENT_DATABASE_URL", &url)
            .arg("migrate"));
        assert!(ok);
        assert!(stdout.contains("up to date"), "{stdout}");
    })
    .await
    .unwrap();
}

on_both_backends!(site_add_goes_to_the_only_workspace_or_the_one_named);

async fn site_add_goes_to_the_only_workspace_or_the_one_named(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let lm = |args: &[&str]| {
            let mut cmd = leadsment(&dir);
            cmd.env("LEADSMENT_DATABASE_URL", &url).args(args);
            cmd
        };
        let create = |email: &str, ws: &str| {
            let (ok, _, stderr) = run(&mut lm(&[
                "user",
                "create",
                "--email",
                email,
                "--workspace",
                ws,
            ]));
            assert!(ok, "{stderr}");
        };
        let added = |args: &[&str], workspace: &str| {
            let (ok, stdout, stderr) = run(&mut lm(args));
            assert!(ok, "{stderr}");
            assert!(
                stdout.contains(&format!("to the workspace {workspace}.")),
                "{stdout}"
            );
        };
        // The first administrator's workspace is the only one: sites go there.
        create("ada@example.com", "Acme");
        added(&["site", "add", "one.example"], "Acme");
        // With two, the command asks which, naming them.
        create("bob@example.com", "Beta");
        assert_one_line_error(&mut lm(&["site", "add", "two.example"]), "--workspace");
        let (_, _, stderr) = run(&mut lm(&["site", "add", "two.example"]));
        assert!(
            stderr.contains("(Acme)") && stderr.contains("(Beta)"),
            "{stderr}"
        );
        added(
            &["site", "add", "two.example", "--workspace", "Beta"],
            "Beta",
        );
        let acme_id = stderr
            .split(" (Acme)")
            .next()
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap();
        added(
            &["site", "add", "three.example", "--workspace", acme_id],
            "Acme",
        );
        assert_one_line_error(
            &mut lm(&["site", "add", "four.example", "--workspace", "Nope"]),
            "no workspace `Nope`",
        );
        let (ok, stdout, _) = run(&mut lm(&["site", "list", "--format", "json"]));
        assert!(ok);
        assert_eq!(
            stdout.lines().count(),
            3,
            "four.example was not added: {stdout}"
        );
    })
    .await
    .unwrap();
}

#[test]
fn bad_input_gets_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(
        leadsment(dir.path()).args(["site", "add", "not a domain"]),
        "not a domain",
    );
    assert_one_line_error(
        leadsment(dir.path()).args(["site", "add", "192.0.2.1"]),
        "IP address",
    );
    assert_one_line_error(
        leadsment(dir.path())
            .env(
                "LEADSMENT_DATABASE_URL",
                "postgres://postgres@127.0.0.1:1/nothing",
            )
            .arg("migrate"),
        "cannot connect to the database at postgres://postgres@127.0.0.1:1/nothing",
    );
    assert_one_line_error(
        leadsment(dir.path())
            .env(
                "LEADSMENT_DATABASE_URL",
                "postgres://app:hunter2@127.0.0.1:1/nothing",
            )
            .arg("migrate"),
        "postgres://app:***@127.0.0.1:1/nothing",
    );
    let (_, _, stderr) = run(leadsment(dir.path())
        .env(
            "LEADSMENT_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:1/nothing",
        )
        .arg("migrate"));
    assert!(
        !stderr.contains("hunter2"),
        "secrets are never printed: {stderr}"
    );

    std::fs::write(dir.path().join("a-file"), "").unwrap();
    assert_one_line_error(
        leadsment(dir.path()).args(["--data-dir", "a-file/data", "site", "list"]),
        "data directory a-file/data",
    );
    assert_one_line_error(
        leadsment(dir.path())
            .env("LEADSMENT_LISTEN", "nowhere")
            .arg("serve"),
        "LEADSMENT_LISTEN",
    );
    assert_one_line_error(
        leadsment(dir.path())
            .env("LEADSMENT_REVERSE_DNS_TIMEOUT_MS", "0")
            .arg("serve"),
        "reverse_dns_timeout_ms",
    );
    std::fs::write(
        dir.path().join("bad.toml"),
        "listen = \"127.0.0.1:1\"\nlistn = 3\n",
    )
    .unwrap();
    assert_one_line_error(
        leadsment(dir.path()).args(["--config", "bad.toml", "serve"]),
        "listn",
    );
    assert_one_line_error(
        leadsment(dir.path()).args(["--config", "missing.toml", "serve"]),
        "missing.toml",
    );
}

#[test]
fn serve_refuses_a_port_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_one_line_error(
        leadsment(dir.path()).args(["serve", "--listen", &addr]),
        &format!("cannot listen on {addr}"),
    );
}

/// Reads the server's log until it says where it listens.
/// Reads the server's log into `log` until the line that names its address; the address.
pub fn wait_for_listen_line(stderr: &mut impl BufRead, log: &mut String) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the server exited early: {log}");
        }
        log.push_str(&line);
        if let Some(rest) = line.split("addr=").nth(1) {
            return rest.split_whitespace().next().unwrap().to_owned();
        }
    }
    panic!("the server did not start: {log}");
}

on_both_backends!(serve_starts_in_an_empty_folder_and_stops_on_sigterm);

async fn serve_starts_in_an_empty_folder_and_stops_on_sigterm(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    // A password in the URL must never reach the log (the test server trusts any password).
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(db.url.replacen(
            "postgres://postgres@",
            "postgres://postgres:pw-never-logged@",
            1,
        )),
    };
    let mut cmd = leadsment(&dir);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(url) = &url {
        cmd.env("LEADSMENT_DATABASE_URL", url);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = tokio::task::block_in_place(|| wait_for_listen_line(&mut stderr, &mut log));

    let res = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    if backend == Backend::Sqlite {
        assert!(dir.join("leadsment-data/leadsment.db").is_file());
    }

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::block_in_place(|| {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        log.push_str(&rest);
        child.wait().unwrap()
    });
    assert!(status.success(), "exit status {status:?}: {log}");
    assert!(log.contains("received SIGTERM"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("pw-never-logged"), "{log}");
}

on_both_backends!(user_create_prints_a_one_time_link_to_set_the_password);

async fn user_create_prints_a_one_time_link_to_set_the_password(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let (ok, stdout, stderr) = run(leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
            "user",
            "create",
            "--email",
            "Op@Example.com",
            "--platform-admin",
            "--workspace",
            "Operator",
            "--public-url",
            "https://stats.example.org",
        ]));
        assert!(ok, "{stderr}");
        assert_one_line_error(
            leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
                "user",
                "create",
                "--email",
                "op@example.com",
            ]),
            "already exists",
        );
        assert_one_line_error(
            leadsment(&dir)
                .env("LEADSMENT_DATABASE_URL", &url)
                .args(["user", "create", "--email", "nope"]),
            "--email",
        );
        stdout
    })
    .await
    .unwrap();
    assert!(
        out.contains("platform administrator op <op@example.com>"),
        "{out}"
    );
    let link = out
        .split_whitespace()
        .find(|w| w.starts_with("https://stats.example.org/auth/reset?token="))
        .unwrap_or_else(|| panic!("{out}"));
    // The link is a set-password link for that user, and there is no password yet.
    let store = db.store().await;
    let user = leadsment::auth::store::user_by_email(&store, "op@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(user.user.is_platform_admin && !user.user.has_password);
    let token = link.split("token=").nth(1).unwrap();
    let found = leadsment::auth::store::peek_link(
        &store,
        &leadsment::auth::tokens::digest(token),
        leadsment::auth::model::LinkPurpose::SetPassword,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.user_id, Some(user.user.id));
    assert_eq!(
        leadsment::accounts::store::memberships(&store, user.user.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

on_both_backends!(serve_prints_a_one_time_setup_url_until_an_administrator_exists);

/// On a fresh database of either kind (on PostgreSQL the statement log once swallowed it).
async fn serve_prints_a_one_time_setup_url_until_an_administrator_exists(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut cmd = leadsment(db.dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if backend == Backend::Postgres {
        cmd.env("LEADSMENT_DATABASE_URL", &db.url);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let _addr = tokio::task::block_in_place(|| wait_for_listen_line(&mut stderr, &mut log));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    tokio::task::block_in_place(|| {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        child.wait().unwrap();
        log.push_str(&rest);
    });
    assert!(log.contains("/auth/setup?token="), "{log}");
    assert!(!log.to_lowercase().contains("default password"), "{log}");
}

/// Starts `serve` in `dir` on a free port; returns the child, its log reader and its address.
fn start_serve(
    dir: &Path,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStderr>,
    String,
) {
    let mut child = leadsment(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = wait_for_listen_line(&mut stderr, &mut log);
    (child, stderr, addr)
}

#[test]
fn a_second_server_on_the_same_sqlite_file_exits_at_once_and_a_killed_one_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, _log, _addr) = start_serve(dir.path());
    let lock = dir.path().join("leadsment-data/leadsment.db.lock");
    assert!(lock.is_file(), "the lock file sits beside the database");

    // A second server on the same file: one line, at once, whatever the port.
    let started = Instant::now();
    assert_one_line_error(
        leadsment(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]),
        "another `leadsment serve` is already running",
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // One-shot commands still run beside the server.
    let (ok, _, stderr) = run(leadsment(dir.path()).args(["site", "add", "beside.example"]));
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(leadsment(dir.path()).arg("migrate"));
    assert!(ok, "{stderr}");

    // SIGKILL leaves no clean-up to do: the kernel releases the lock with the process.
    first.kill().unwrap();
    first.wait().unwrap();
    let (mut again, mut log, _addr) = start_serve(dir.path());
    again.kill().unwrap();
    again.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut log, &mut rest).unwrap();
}

/// Distinctive client addresses, sent through a trusted proxy.
const ADDRESSES: [&str; 3] = ["203.0.113.77", "198.51.100.123", "2001:db8:beef::4242"];

on_both_backends!(
    no_raw_ip_address_reaches_disk_or_logs,
    no_raw_ip_address_reaches_disk_or_logs_with_reverse_dns,
);

async fn no_raw_ip_address_reaches_disk_or_logs(backend: Backend) {
    let written = everything_written_while_serving(backend, &[]).await;
    for ip in ADDRESSES {
        assert!(!written.contains(ip), "{ip} was written somewhere");
    }
}

/// With reverse DNS on and hickory asked for its most verbose logs by name: neither the
/// addresses nor the names that spell them (query names, PTR names) are written anywhere.
async fn no_raw_ip_address_reaches_disk_or_logs_with_reverse_dns(backend: Backend) {
    use crate::dns_server::{Answer, TestDns};
    let dns = TestDns::start(&[
        (ADDRESSES[0], Answer::Ptr("mail.acme-gmbh.de.")),
        (
            ADDRESSES[1],
            Answer::Ptr("host-198-51-100-123.dyn.example-isp.net."),
        ),
        (ADDRESSES[2], Answer::Silent),
    ])
    .await;
    let resolver = dns.addr.to_string();
    let written = everything_written_while_serving(
        backend,
        &[
            ("LEADSMENT_REVERSE_DNS", "true"),
            ("LEADSMENT_REVERSE_DNS_RESOLVER", &resolver),
            (
                "LEADSMENT_LOG",
                "trace,sqlx=trace,hyper=info,h2=info,hickory_proto=trace,hickory_net=trace,hickory_resolver=trace",
            ),
        ],
    )
    .await;
    for ip in ADDRESSES {
        assert!(dns.asked_for(ip) >= 1, "{ip} was looked up");
    }
    assert!(
        written.contains("acme-gmbh.de"),
        "the company the PTR names is stored"
    );
    for ip in ADDRESSES {
        assert!(!written.contains(ip), "{ip} was written somewhere");
    }
    for name in [
        // Query names, the address reversed: hickory's debug logs carry them.
        "77.113.0.203",
        "123.100.51.198",
        "2.4.2.4.0.0.0.0",
        "in-addr.arpa",
        "ip6.arpa",
        // PTR names: only the company domain is kept, never the name.
        "mail.acme-gmbh.de",
        "198-51-100-123",
        "example-isp.net",
    ] {
        assert!(!written.contains(name), "{name} was written somewhere");
    }
}

/// Runs `leadsment serve` with logging at `trace` and `env`, sends events from [`ADDRESSES`]
/// through a trusted proxy, stops it, and returns everything it wrote: its log and its
/// database (the SQLite files, or a dump of every PostgreSQL table).
async fn everything_written_while_serving(backend: Backend, env: &[(&str, &str)]) -> String {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    let data_dir = dir.join("leadsment-data");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", data_dir.join("leadsment.db").display()),
        Backend::Postgres => db.url.clone(),
    };
    let (ok, _, stderr) = run(leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
        "site",
        "add",
        "acme.example",
    ]));
    assert!(ok, "{stderr}");

    let mut child = leadsment(&dir)
        .env("LEADSMENT_DATABASE_URL", &url)
        .env("LEADSMENT_TRUSTED_PROXIES", "127.0.0.1/32")
        // As much logging as there is, SQL statements included.
        .env("LEADSMENT_LOG", "trace,sqlx=trace,hyper=info,h2=info")
        .envs(env.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = tokio::task::block_in_place(|| wait_for_listen_line(&mut stderr, &mut log));
    // Keep reading the log while requests run, so the pipe never fills.
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        rest
    });

    let client = reqwest::Client::new();
    let ua = crate::tracking::CHROME;
    for (i, ip) in ADDRESSES.iter().enumerate() {
        for (body, agent) in [
            (
                format!(
                    r#"{{"name":"pageview","url":"https://acme.example/p{i}","domain":"acme.example"}}"#
                ),
                ua,
            ),
            (
                format!(
                    r#"{{"name":"Signup","url":"https://acme.example/p{i}","domain":"acme.example","props":{{"plan":"pro"}}}}"#
                ),
                ua,
            ),
            (
                r#"{"name":"pageview","url":"https://acme.example/","domain":"acme.example"}"#
                    .to_owned(),
                "curl/8.0",
            ),
            (
                r#"{"name":"pageview","domain":"acme.example"}"#.to_owned(),
                ua,
            ),
            (
                r#"{"name":"pageview","url":"https://evil.example/","domain":"acme.example"}"#
                    .to_owned(),
                ua,
            ),
        ] {
            let res = client
                .post(format!("http://{addr}/api/event"))
                .header("user-agent", agent)
                .header("x-forwarded-for", format!("10.9.8.7, {ip}"))
                .header("forwarded", format!("for=\"{ip}\""))
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(res.status().as_u16() < 500, "{}", res.status());
        }
    }

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::block_in_place(|| child.wait().unwrap());
    log.push_str(&reader.join().unwrap());
    assert!(status.success(), "{log}");
    assert!(
        log.contains("/api/event"),
        "the requests were logged: {log:.2000}"
    );

    // Everything Leadsment wrote: its log, and its database.
    let mut written = log.clone();
    match backend {
        Backend::Sqlite => {
            let mut files = 0;
            for entry in std::fs::read_dir(&data_dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    written.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
                    files += 1;
                }
            }
            assert!(files >= 1);
            assert!(
                written.contains("/p1"),
                "the events are in the SQLite files"
            );
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(tables.len() >= 5, "{tables:?}");
            for table in tables {
                let dump: Option<String> = sqlx::query_scalar(&format!(
                    "SELECT string_agg(row_to_json(t)::text, E'\\n') FROM \"{table}\" t"
                ))
                .fetch_one(&pool)
                .await
                .unwrap();
                written.push_str(&dump.unwrap_or_default());
            }
            pool.close().await;
            assert!(written.contains("/p1"), "the events are in the dump");
        }
    }
    written
}

on_both_backends!(export_writes_the_days_of_the_site_time_zone);

async fn export_writes_the_days_of_the_site_time_zone(backend: Backend) {
    use leadsment::accounts::sites::Hostname;

    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    let url = db.url.clone();
    let (ok, _, stderr) = run(leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
        "site",
        "add",
        "acme.example",
        "--time-zone",
        "Europe/Berlin",
    ]));
    assert!(ok, "{stderr}");
    assert_one_line_error(
        leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
            "site",
            "add",
            "other.example",
            "--time-zone",
            "Mars/Olympus",
        ]),
        "Mars/Olympus",
    );

    let store = db.store().await;
    let site =
        leadsment::accounts::store::site_by_host(&store, &Hostname::parse("acme.example").unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(site.time_zone, "Europe/Berlin");
    // 23:30 UTC on the 24th is already the 25th in Berlin.
    let late: jiff::Timestamp = "2026-11-24T23:30:00Z".parse().unwrap();
    let noon: jiff::Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
    let mut events = Vec::new();
    for (i, t) in [late, noon].iter().enumerate() {
        let mut e = crate::tracking::event_at(&site, t.as_millisecond(), 9, None, "pageview");
        e.path = format!("/page-{i}");
        e.props = Some(r#"{"note":"a, \"quoted\" value"}"#.to_owned());
        events.push(e);
    }
    // A visitor chooses the event name and campaign values: a spreadsheet must not run them.
    events[0].name = r#"=HYPERLINK("http://evil.example","x")"#.to_owned();
    events[0].utm_source = Some("+1+1".to_owned());
    events[0].utm_medium = Some("-2+3".to_owned());
    events[0].utm_campaign = Some("@SUM(A1)".to_owned());
    events[0].utm_term = Some("\t=1".to_owned());
    events[0].engaged_ms = Some(-5);
    crate::tracking::ingest_fresh(&store, events).await;
    store.close().await;

    tokio::task::spawn_blocking(move || {
        let export = |args: &[&str]| {
            let (ok, stdout, stderr) = run(leadsment(&dir)
                .env("LEADSMENT_DATABASE_URL", &url)
                .args(["export", "--site", "acme.example"])
                .args(args));
            assert!(ok, "{stderr}");
            stdout
        };
        let jsonl = export(&["--from", "2026-11-25", "--to", "2026-11-25"]);
        assert_eq!(jsonl.lines().count(), 2, "{jsonl}");
        let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(first["path"], "/page-0");
        assert_eq!(first["time"], "2026-11-24T23:30:00Z");
        assert_eq!(export(&["--from", "2026-11-24", "--to", "2026-11-24"]), "");

        let csv = export(&["--format", "csv"]);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(&reader.headers().unwrap()[2], "visit_id");
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][4], "/page-1");
        assert_eq!(&rows[0][5], r#"{"note":"a, \"quoted\" value"}"#);
        assert_eq!(&rows[0][3], r#"'=HYPERLINK("http://evil.example","x")"#);
        assert_eq!(&rows[0][13], "'+1+1");
        assert_eq!(&rows[0][14], "'-2+3");
        assert_eq!(&rows[0][15], "'@SUM(A1)");
        assert_eq!(&rows[0][16], "'\t=1");
        assert_eq!(&rows[0][6], "-5", "numbers are left alone");
        assert_eq!(&rows[1][3], "pageview");
        // An empty export still names its columns.
        let empty = export(&[
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-02",
            "--format",
            "csv",
        ]);
        assert!(empty.starts_with("id,time,visit_id,name,path"), "{empty}");
        assert_one_line_error(
            leadsment(&dir).env("LEADSMENT_DATABASE_URL", &url).args([
                "export",
                "--site",
                "acme.example",
                "--from",
                "yesterday",
            ]),
            "yesterday",
        );
    })
    .await
    .unwrap();
}

on_both_backends!(site_release_unverifies_a_host_so_that_a_proof_can_take_it);

/// The operator's way out when a verified domain changed hands.
async fn site_release_unverifies_a_host_so_that_a_proof_can_take_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = db.dir.path().to_owned();
    let url = db.url.clone();
    let holder = |store: leadsment::store::Db| async move {
        let host = leadsment::accounts::sites::Hostname::parse("example.com").unwrap();
        let held = leadsment::accounts::store::holder(&store, &host)
            .await
            .unwrap();
        held.unwrap().verified
    };
    let cli = |args: &'static [&'static str]| {
        let (dir, url) = (dir.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            run(leadsment(&dir)
                .env("LEADSMENT_DATABASE_URL", &url)
                .args(args))
        })
    };
    let (ok, _, stderr) = cli(&["site", "add", "example.com"]).await.unwrap();
    assert!(ok, "{stderr}");
    let store = db.store().await;
    assert!(holder(store.clone()).await, "a site added here is verified");

    let (ok, stdout, stderr) = cli(&["site", "release", "www.example.com"]).await.unwrap();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("example.com is no longer verified"),
        "{stdout}"
    );
    assert!(!holder(store.clone()).await);

    let (dir2, url2) = (dir.clone(), url.clone());
    tokio::task::spawn_blocking(move || {
        assert_one_line_error(
            leadsment(&dir2).env("LEADSMENT_DATABASE_URL", &url2).args([
                "site",
                "release",
                "nobody.example",
            ]),
            "no site claims nobody.example",
        );
    })
    .await
    .unwrap();
    store.close().await;
}
