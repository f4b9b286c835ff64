//! The outbound fetcher against an HTTP server and a DNS server the test starts, both on
//! 127.0.0.1, which the fetcher reaches only when `outbound_allow` lets it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use leadsment::outbound::{
    DnsError, Embedding, FetchError, Limits, Outbound, OutboundSettings, RangeKind,
};
use tokio::net::{TcpListener, UdpSocket};

use crate::dns_server::{Rr, TestDns};

const CAP: usize = 64 * 1024;

/// Fails a test that hangs instead of letting it run forever.
async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test finished")
}

/// An HTTP server with the answers the tests need.
async fn http_server() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "hello" }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/to-ok", get(|| async { Redirect::to("/ok") }))
        .route(
            "/to-private",
            get(|| async { Redirect::to("http://10.0.0.1/") }),
        )
        .route(
            "/to-metadata",
            get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/to-mapped",
            get(|| async { Redirect::to("http://[::ffff:192.168.0.1]/") }),
        )
        .route(
            "/to-private-name",
            get(|| async { Redirect::to("http://private.test/") }),
        )
        .route(
            "/to-internal-name",
            get(|| async { Redirect::to("http://db.internal/") }),
        )
        .route(
            "/to-file",
            get(|| async { Redirect::to("file:///etc/passwd") }),
        )
        .route(
            "/to-other-host",
            get(|| async { Redirect::to("http://elsewhere.test/ok") }),
        )
        .route("/loop-a", get(|| async { Redirect::to("/loop-b") }))
        .route("/loop-b", get(|| async { Redirect::to("/loop-a") }))
        .route(
            "/hop/{n}",
            get(|n: Path<u32>| async move { Redirect::to(&format!("/hop/{}", n.0 + 1)) }),
        )
        .route("/exact", get(|| async { vec![b'x'; CAP] }))
        .route("/big", get(|| async { vec![b'x'; CAP + 1] }))
        .route("/big-stream", get(|| async { big_stream() }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// 128 KiB in chunks without a `Content-Length`, so only counting the body can stop it.
fn big_stream() -> Response {
    let chunks = (0..32).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 4096])));
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// A server that accepts connections and never answers.
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

async fn dns() -> TestDns {
    TestDns::serving(&[
        ("internal.test", Rr::A("127.0.0.1")),
        ("private.test", Rr::A("10.0.0.1")),
        ("mixed.test", Rr::A("127.0.0.1")),
        ("mixed.test", Rr::Aaaa("::ffff:169.254.169.254")),
        ("acme.test", Rr::Txt(&["leadsment-verify=abc123"])),
        ("acme.test", Rr::Txt(&["v=spf1 -all"])),
        (
            "_split.acme.test",
            Rr::Txt(&["leadsment-verify=", "def456"]),
        ),
        ("nothing.test", Rr::A("127.0.0.1")),
        ("db.internal", Rr::A("127.0.0.1")),
        ("db.internal", Rr::Txt(&["leadsment-verify=abc123"])),
        ("printer.local", Rr::A("127.0.0.1")),
    ])
    .await
}

fn fetcher(dns: &TestDns, allow: &[&str]) -> Outbound {
    Outbound::new(&OutboundSettings {
        allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
        resolver: Some(dns.addr),
    })
    .unwrap()
}

fn refused_network(result: Result<leadsment::outbound::Fetched, FetchError>) -> String {
    match result {
        Err(FetchError::Refused { range, .. }) => range.network.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_unless_allowed() {
    bounded(async {
        let server = http_server().await;
        let dns = dns().await;
        let url = format!("http://internal.test:{}/ok", server.port());

        let refused = fetcher(&dns, &[]).get(&url, Limits::default()).await;
        match refused {
            Err(FetchError::Refused { host, range }) => {
                assert_eq!(host, "internal.test");
                assert_eq!(range.kind, RangeKind::Loopback);
                assert_eq!(range.network.to_string(), "127.0.0.0/8");
            }
            other => panic!("{other:?}"),
        }
        let literal = format!("http://127.0.0.1:{}/ok", server.port());
        let refused = fetcher(&dns, &[]).get(&literal, Limits::default()).await;
        assert_eq!(refused_network(refused), "127.0.0.0/8");

        let before = dns.asked_for_name("internal.test");
        let fetched = fetcher(&dns, &["127.0.0.1/32"])
            .get(&url, Limits::default())
            .await
            .unwrap();
        assert_eq!(fetched.body, b"hello");
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.url.as_str(), url);
        assert_eq!(
            dns.asked_for_name("internal.test") - before,
            2,
            "one lookup (A and AAAA) for the one connection"
        );

        // Only the allowed addresses are handed to the client: the metadata address beside
        // the allowed one is left out, and the fetch goes to the allowed one.
        let mixed = format!("http://mixed.test:{}/ok", server.port());
        let fetched = fetcher(&dns, &["127.0.0.1/32"])
            .get(&mixed, Limits::default())
            .await
            .unwrap();
        assert_eq!(fetched.body, b"hello");
        match fetcher(&dns, &[]).get(&mixed, Limits::default()).await {
            Err(FetchError::Refused { range, .. }) => {
                assert!(
                    range.kind == RangeKind::Loopback
                        || (range.kind == RangeKind::CloudMetadata
                            && range.embedded == Some(Embedding::Ipv4Mapped)),
                    "{range:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused() {
    bounded(async {
        let server = http_server().await;
        let dns = dns().await;
        let fetcher = fetcher(&dns, &["127.0.0.1/32"]);
        let at = |path: &str| format!("http://127.0.0.1:{}{path}", server.port());

        let fetched = fetcher.get(&at("/to-ok"), Limits::default()).await.unwrap();
        assert_eq!(fetched.body, b"hello", "an allowed redirect is followed");
        assert_eq!(fetched.url.path(), "/ok");

        for (path, network) in [
            ("/to-private", "10.0.0.0/8"),
            ("/to-metadata", "169.254.169.254/32"),
            ("/to-mapped", "192.168.0.0/16"),
            ("/to-private-name", "10.0.0.0/8"),
        ] {
            let result = fetcher.get(&at(path), Limits::default()).await;
            assert_eq!(refused_network(result), network, "{path}");
        }
        let result = fetcher.get(&at("/to-file"), Limits::default()).await;
        assert!(matches!(result, Err(FetchError::BadUrl(_))), "{result:?}");
    })
    .await;
}

#[tokio::test]
async fn redirect_loops_and_chains_end() {
    bounded(async {
        let server = http_server().await;
        let dns = dns().await;
        let fetcher = fetcher(&dns, &["127.0.0.1/32"]);
        let at = |path: &str| format!("http://127.0.0.1:{}{path}", server.port());

        let result = fetcher.get(&at("/loop-a"), Limits::default()).await;
        assert_eq!(
            result.unwrap_err(),
            FetchError::RedirectLoop { url: at("/loop-a") }
        );
        let result = fetcher.get(&at("/hop/0"), Limits::default()).await;
        assert_eq!(
            result.unwrap_err(),
            FetchError::TooManyRedirects { limit: 5 }
        );
        let two = Limits {
            max_redirects: 2,
            ..Limits::default()
        };
        let result = fetcher.get(&at("/hop/0"), two).await;
        assert_eq!(
            result.unwrap_err(),
            FetchError::TooManyRedirects { limit: 2 }
        );
        let result = fetcher.get(&at("/missing"), Limits::default()).await;
        assert_eq!(result.unwrap_err(), FetchError::Status(404));

        // Only the same host may answer a proof: a redirect elsewhere is refused before
        // anything is looked up; one on the same host is followed.
        let same = Limits {
            same_host: true,
            ..Limits::default()
        };
        let result = fetcher.get(&at("/to-other-host"), same).await;
        assert_eq!(
            result.unwrap_err(),
            FetchError::OffHost {
                url: "http://elsewhere.test/ok".to_owned()
            }
        );
        let fetched = fetcher.get(&at("/to-ok"), same).await.unwrap();
        assert_eq!(fetched.body, b"hello");
    })
    .await;
}

#[tokio::test]
async fn a_body_larger_than_the_cap_is_refused() {
    bounded(async {
        let server = http_server().await;
        let dns = dns().await;
        let fetcher = fetcher(&dns, &["127.0.0.1/32"]);
        let at = |path: &str| format!("http://127.0.0.1:{}{path}", server.port());

        let exact = fetcher.get(&at("/exact"), Limits::default()).await.unwrap();
        assert_eq!(exact.body.len(), CAP);
        for path in ["/big", "/big-stream"] {
            let result = fetcher.get(&at(path), Limits::default()).await;
            assert_eq!(
                result.unwrap_err(),
                FetchError::TooLarge { limit: CAP },
                "{path}"
            );
        }
        let small = Limits {
            max_bytes: 4,
            ..Limits::default()
        };
        let result = fetcher.get(&at("/ok"), small).await;
        assert_eq!(result.unwrap_err(), FetchError::TooLarge { limit: 4 });
    })
    .await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    bounded(async {
        let silent = silent_server().await;
        let dns = dns().await;
        let limits = Limits {
            time: Duration::from_millis(500),
            ..Limits::default()
        };
        let result = fetcher(&dns, &["127.0.0.1/32"])
            .get(&format!("http://127.0.0.1:{}/", silent.port()), limits)
            .await;
        assert_eq!(
            result.unwrap_err(),
            FetchError::TimedOut(Duration::from_millis(500))
        );
    })
    .await;
}

/// Names of private networks are neither looked up nor fetched, even when their address is
/// allowed and even as a redirect's target: what the instance's own resolver answers for them
/// describes the network the server runs in.
#[tokio::test]
async fn names_of_private_networks_are_never_looked_up() {
    bounded(async {
        let server = http_server().await;
        let dns = dns().await;
        let allowed = fetcher(&dns, &["127.0.0.1/32"]);
        for name in ["db.internal", "printer.local", "intranet"] {
            let url = format!("http://{name}:{}/ok", server.port());
            match allowed.get(&url, Limits::default()).await {
                Err(e @ FetchError::PrivateName { .. }) => {
                    assert!(e.to_string().contains("not a name on the internet"), "{e}");
                    assert!(!e.to_string().contains("127."), "{e}");
                }
                other => panic!("{name}: {other:?}"),
            }
            let txt = allowed.txt_records(name, Duration::from_secs(5)).await;
            assert!(
                matches!(txt, Err(DnsError::PrivateName { .. })),
                "{name}: {txt:?}"
            );
        }
        let hop = format!("http://127.0.0.1:{}/to-internal-name", server.port());
        match allowed.get(&hop, Limits::default()).await {
            Err(FetchError::PrivateName { host, .. }) => assert_eq!(host, "db.internal"),
            other => panic!("{other:?}"),
        }
        assert_eq!(dns.asked_for_name("db.internal"), 0);
        assert_eq!(dns.asked_for_name("printer.local"), 0);
    })
    .await;
}

#[tokio::test]
async fn txt_records_come_from_the_configured_resolver() {
    bounded(async {
        let dns = dns().await;
        let fetcher = fetcher(&dns, &[]);
        let timeout = Duration::from_secs(5);

        let mut found = fetcher.txt_records("acme.test", timeout).await.unwrap();
        found.sort();
        assert_eq!(found, ["leadsment-verify=abc123", "v=spf1 -all"]);
        let split = fetcher.txt_records("_split.acme.test", timeout).await;
        assert_eq!(split.unwrap(), ["leadsment-verify=def456"]);
        let none = fetcher.txt_records("nothing.test", timeout).await;
        assert_eq!(none.unwrap(), Vec::<String>::new(), "a name without TXT");
        let none = fetcher.txt_records("absent.test", timeout).await;
        assert_eq!(none.unwrap(), Vec::<String>::new(), "no such name");
        assert!(dns.asked_for_name("acme.test") >= 1);

        // A resolver that never answers.
        let mute = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let deaf = Outbound::new(&OutboundSettings {
            allow: Vec::new(),
            resolver: Some(mute.local_addr().unwrap()),
        })
        .unwrap();
        let short = Duration::from_millis(300);
        let result = deaf.txt_records("acme.test", short).await;
        assert_eq!(result.unwrap_err(), DnsError::TimedOut(short));
    })
    .await;
}
