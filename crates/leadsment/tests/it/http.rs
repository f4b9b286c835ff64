//! The HTTP server: health, metrics, security headers, error bodies, limits, shutdown.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use leadsment::app::{self, AppState};
use leadsment::server::Server;
use leadsment::web;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb};

on_both_backends!(healthz_checks_the_database, metrics_count_requests_by_route,);

async fn healthz_checks_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    let expected = if backend == Backend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(body["backend"], expected);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn healthz_answers_503_when_the_database_is_gone() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let name = app.db.pg_name().unwrap().to_owned();
    let admin_url = std::env::var("LEADSMENT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
}

async fn metrics_count_requests_by_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/page?email=someone@example.com").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[CONTENT_TYPE],
        "text/plain; version=0.0.4",
        "Prometheus text format"
    );
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"leadsment_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(
        text.contains("leadsment_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains(r#"leadsment_build_info{version=""#), "{text}");
    assert!(
        !text.contains("someone@example.com"),
        "raw paths never become labels"
    );
    app.shutdown().await.unwrap();
}

on_both_backends!(metrics_can_require_a_bearer_token);
on_both_backends!(metrics_stay_small_and_local_without_a_token);

/// Made-up HTTP methods are counted as `other`, never as a label of their own (3,000 of 8 KB
/// made a 413 MB scrape); without a token or a listener of its own, `/metrics` answers only a
/// loopback peer that is not a proxy passing on someone else's request.
async fn metrics_stay_small_and_local_without_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        let method = format!("M{i}{}", "X".repeat(8_000));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let _ = client.request(method, app.url("/healthz")).send().await;
    }
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(!text.contains("XXXXXXXX"), "{} bytes", text.len());
    assert!(text.contains(r#"method="other""#), "{text}");
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
        ("x-real-ip", "203.0.113.9"),
    ] {
        let res = client
            .get(app.url("/metrics"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{name}");
    }
    app.shutdown().await.unwrap();
}

async fn metrics_can_require_a_bearer_token(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.metrics_token = Some("0123456789abcdef-token".to_owned().into());
    })
    .await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("0123456789abcdef-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("0123456789abcdef-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    app.shutdown().await.unwrap();
}

on_both_backends!(metrics_can_move_to_a_separate_address);

async fn metrics_can_move_to_a_separate_address(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = db.config();
    config.web.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let server = Server::bind(config).await.unwrap();
    let metrics_addr = server.metrics_addr().unwrap();
    let app = TestApp::start(db, server, None).await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let res = app
        .client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("leadsment_build_info"));
    app.shutdown().await.unwrap();
}

on_both_backends!(every_response_carries_the_security_headers_with_a_fresh_nonce);

async fn every_response_carries_the_security_headers_with_a_fresh_nonce(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut nonces = Vec::new();
    for path in ["/", "/", "/healthz", "/nowhere"] {
        let res = app.get(path).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("'strict-dynamic'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("object-src 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        assert!(
            h["permissions-policy"]
                .to_str()
                .unwrap()
                .contains("camera=()")
        );
        assert!(h.contains_key("x-request-id"));
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap()
            .to_owned();
        assert!(nonce.len() >= 22, "{nonce}");
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "each response has its own nonce");
    app.shutdown().await.unwrap();
}

on_both_backends!(pages_are_never_stored_and_static_files_are);

/// A page (signed in, or holding a token in its address) is not kept by the browser or a
/// proxy: every response that sets no caching of its own says `no-store`. The tracker
/// script and the assets keep theirs.
async fn pages_are_never_stored_and_static_files_are(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/",
        "/auth/sign-in",
        "/auth/reset?token=made-up",
        "/auth/confirm-email?token=made-up",
        "/account",
        "/healthz",
        "/nowhere",
    ] {
        let res = app.get(path).await;
        assert_eq!(
            res.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some("no-store".to_owned()),
            "{path}"
        );
    }
    let res = app.get("/js/t.js").await;
    let cc = res.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cc.contains("max-age"), "{cc}");
    app.shutdown().await.unwrap();
}

on_both_backends!(errors_are_json_for_programs_and_html_for_browsers);

async fn errors_are_json_for_programs_and_html_for_browsers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let json = app.get("/no/such/page").await;
    assert_eq!(json.status(), StatusCode::NOT_FOUND);
    assert_eq!(json.headers()[CONTENT_TYPE], "application/json");
    let body: Value = json.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].as_str().unwrap().len() > 5);

    let html = app
        .client
        .get(app.url("/no/such/page"))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::NOT_FOUND);
    assert_eq!(html.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let page = html.text().await.unwrap();
    assert!(page.contains("<h1>Not Found</h1>"), "{page}");

    // The API answers JSON even to a browser.
    let api = app
        .client
        .get(app.url("/api/nothing"))
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()[CONTENT_TYPE], "application/json");

    let wrong_method = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.headers().contains_key("allow"));
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
    app.shutdown().await.unwrap();
}

/// The application with routes of the test's own behind the real middleware.
async fn spawn_with_routes(
    configure: impl FnOnce(&mut leadsment::config::Config),
    extra: Router<AppState>,
) -> TestApp {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = db.config();
    configure(&mut config);
    let server = Server::bind(config).await.unwrap();
    let router = app::router_with(server.state().clone(), extra);
    TestApp::start(db, server, Some(router)).await
}

#[tokio::test]
async fn a_panicking_handler_answers_500_without_details() {
    let app = spawn_with_routes(
        |_| {},
        Router::new().route(
            "/boom",
            get(|| async {
                if true {
                    panic!("secret internal detail");
                }
                ""
            }),
        ),
    )
    .await;
    let res = app.get("/boom").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = res.text().await.unwrap();
    assert!(!text.contains("secret internal detail"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "internal");
    // The server keeps serving.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = spawn_with_routes(
        |c| c.web.body_limit = 2048,
        Router::new().route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        ),
    )
    .await;
    let ok = app
        .client
        .post(app.url("/echo"))
        .body(vec![b'x'; 2000])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let big = app
        .client
        .post(app.url("/echo"))
        .body(vec![b'x'; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_requests_time_out_with_408() {
    let app = spawn_with_routes(
        |c| c.web.request_timeout = Duration::from_millis(300),
        Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        ),
    )
    .await;
    let res = app.get("/slow").await;
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "timeout");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let app = spawn_with_routes(
        |_| {},
        Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "finished"
            }),
        ),
    )
    .await;
    let url = app.url("/slow");
    let client = app.client.clone();
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = app.addr;
    app.shutdown().await.unwrap();
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "finished");
    // New connections are refused once it has stopped.
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err()
    );
}

on_both_backends!(embedded_assets_have_exact_content_types_and_validators);

async fn embedded_assets_have_exact_content_types_and_validators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (name, ct) in [
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let res = app.get(&format!("/assets/{name}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[CONTENT_TYPE], ct);
        assert_eq!(web::assets::content_type_of(name), Some(ct));
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let again = app
            .client
            .get(app.url(&format!("/assets/{name}")))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
    assert_eq!(
        app.get("/assets/nope.js").await.status(),
        StatusCode::NOT_FOUND
    );
    app.shutdown().await.unwrap();
}

on_both_backends!(the_home_page_is_html_and_shows_the_public_url);

async fn the_home_page_is_html_and_shows_the_public_url(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.public_url = "https://stats.example.org".parse().unwrap();
    })
    .await;
    let res = app.get("/").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(res.headers().contains_key("strict-transport-security"));
    let html = res.text().await.unwrap();
    assert!(html.contains("https://stats.example.org/js/t.js"), "{html}");
    app.shutdown().await.unwrap();
}

on_both_backends!(half_sent_request_heads_cannot_hold_the_server);

/// Connections that send part of a request head (or nothing) and then wait are closed after
/// the header timeout; with the connection cap full, the connections past it wait their turn
/// and `/healthz` still gets through once the slots are freed.
async fn half_sent_request_heads_cannot_hold_the_server(backend: Backend) {
    let header_timeout = Duration::from_secs(2);
    let app = TestApp::spawn_with(backend, |c| {
        c.web.header_read_timeout = header_timeout;
        c.web.max_connections = 50;
    })
    .await;
    let mut held = Vec::new();
    for i in 0..60 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        // One in ten sends nothing at all.
        if i % 10 != 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .await
                .unwrap();
        }
        held.push(stream);
    }
    let res = app
        .client
        .get(app.url("/healthz"))
        .timeout(header_timeout + Duration::from_secs(2))
        .send()
        .await
        .expect("/healthz answers while half-sent heads fill the connection cap");
    assert_eq!(res.status(), StatusCode::OK);

    // Every held connection is closed by the server: the 50 admitted at once after the
    // header timeout, the 10 that waited after theirs.
    let until = tokio::time::Instant::now() + header_timeout * 2 + Duration::from_secs(5);
    for (i, mut stream) in held.into_iter().enumerate() {
        let mut buf = [0u8; 256];
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(n)) => panic!(
                "connection {i} got an answer to half a request: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => panic!("connection {i} is still open"),
        }
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    let timed_out = metric(
        &text,
        r#"leadsment_http_connections_closed_total{reason="header_timeout"}"#,
    );
    assert!(timed_out >= 60.0, "{text}");
    assert!(
        metric(&text, "leadsment_http_connection_limit_reached_total") >= 1.0,
        "{text}"
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.shutdown().await.unwrap();
}

on_both_backends!(idle_connections_close_after_the_idle_timeout_not_the_header_timeout);

/// Between two requests a connection may wait for the idle timeout, longer than the header
/// timeout; then it is closed.
async fn idle_connections_close_after_the_idle_timeout_not_the_header_timeout(backend: Backend) {
    let header_timeout = Duration::from_secs(1);
    let idle_timeout = Duration::from_secs(3);
    let app = TestApp::spawn_with(backend, |c| {
        c.web.header_read_timeout = header_timeout;
        c.web.idle_timeout = idle_timeout;
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(request).await.unwrap();
    let first = read_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Longer than the header timeout: an idle wait is not a slow head.
    tokio::time::sleep(header_timeout * 2).await;
    stream.write_all(request).await.unwrap();
    let second = read_response(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");

    let mut buf = [0u8; 64];
    let until = tokio::time::Instant::now() + idle_timeout + Duration::from_secs(5);
    match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("unexpected bytes: {}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => panic!("the idle connection is still open"),
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    let idle = metric(
        &text,
        r#"leadsment_http_connections_closed_total{reason="idle_timeout"}"#,
    );
    assert!(idle >= 1.0, "{text}");
    app.shutdown().await.unwrap();
}

/// One HTTP/1.1 response with a `content-length`, read off a raw connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("a content-length");
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// The value of one sample in Prometheus' text format (0 when absent).
fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}
