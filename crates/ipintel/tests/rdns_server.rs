//! `HickoryReverseDns` against a DNS server that the test starts on 127.0.0.1 (UDP, port 0).
//!
//! The server is a minimal responder written with hickory-proto: it answers PTR queries from a
//! fixed table (in-addr.arpa and ip6.arpa), A and AAAA queries for those names with the address
//! again (forward confirmation) except for the names listed as unconfirmed, NXDOMAIN otherwise,
//! and counts the queries it gets.
#![cfg(feature = "rdns")]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipintel::rdns::{HickoryReverseDns, ReverseDnsConfig};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

struct TestDns {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestDns {
    /// A server answering PTR queries for `records` (address, PTR name). With `silent`, it
    /// reads and counts queries but never answers.
    async fn start(records: &[(&str, &str)], silent: bool) -> TestDns {
        let table: HashMap<String, Name> = records
            .iter()
            .chain(UNCONFIRMED)
            .map(|(ip, ptr)| {
                let ip: IpAddr = ip.parse().unwrap();
                (key(&Name::from(ip)), Name::from_ascii(ptr).unwrap())
            })
            .collect();
        // Forward records: each confirmed PTR name gives its address back; the unconfirmed
        // names give another address, or nothing.
        let mut forward: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (ip, ptr) in records.iter().chain(FORWARD_ELSEWHERE) {
            let name = key(&Name::from_ascii(ptr).unwrap());
            forward.entry(name).or_default().push(ip.parse().unwrap());
        }
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&queries);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                if silent {
                    continue;
                }
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
                response.metadata.recursion_desired = request.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                if let Some(query) = request.queries.first() {
                    response.add_query(query.clone());
                    let forward_hit = match query.query_type() {
                        RecordType::A | RecordType::AAAA => forward.get(&key(query.name())),
                        _ => None,
                    };
                    match table.get(&key(query.name())) {
                        _ if forward_hit.is_some() => {
                            for ip in forward_hit.into_iter().flatten() {
                                let rdata = match (ip, query.query_type()) {
                                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                                    _ => continue,
                                };
                                response.add_answer(Record::from_rdata(
                                    query.name().clone(),
                                    3600,
                                    rdata,
                                ));
                            }
                        }
                        Some(target) => {
                            response.add_answer(Record::from_rdata(
                                query.name().clone(),
                                3600,
                                RData::PTR(PTR(target.clone())),
                            ));
                        }
                        None => response.metadata.response_code = ResponseCode::NXDomain,
                    }
                }
                let bytes = response.to_vec().unwrap();
                let _ = socket.send_to(&bytes, peer).await;
            }
        });
        TestDns {
            addr,
            queries,
            task,
        }
    }

    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    fn client(&self, timeout: Duration) -> HickoryReverseDns {
        HickoryReverseDns::new(ReverseDnsConfig {
            resolver: Some(self.addr),
            timeout,
            cache_size: 100,
            cache_ttl: Duration::from_secs(3600),
        })
        .unwrap()
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const RECORDS: &[(&str, &str)] = &[
    ("192.0.2.10", "mail.acme-gmbh.de."),
    ("192.0.2.20", "dsl-192-0-2-20.dyn.example-isp.de."),
    ("198.51.100.7", "fw1.hq.example.co.uk."),
    ("2001:db8::10", "gw.muster-ag.ch."),
    ("2001:db8::20", "2001-db8--20.pool.example-isp.net."),
];

/// PTR names that claim a company's domain without its forward records agreeing: one name has
/// no address at all, the other resolves to another address (`FORWARD_ELSEWHERE`).
const UNCONFIRMED: &[(&str, &str)] = &[
    ("192.0.2.30", "mail.bigbank-ag.de."),
    ("192.0.2.31", "vpn.globex-gmbh.de."),
    ("2001:db8::30", "gw.bigbank-ag.de."),
];
const FORWARD_ELSEWHERE: &[(&str, &str)] = &[("192.0.2.99", "vpn.globex-gmbh.de.")];

#[tokio::test]
async fn a_ptr_name_counts_only_when_its_forward_lookup_gives_the_address_back() {
    let dns = TestDns::start(RECORDS, false).await;
    let rdns = dns.client(Duration::from_millis(500));
    // Anyone who runs a network can write a PTR record naming a bank's domain.
    for spoofed in ["192.0.2.30", "192.0.2.31", "2001:db8::30"] {
        assert!(rdns.ptr_name(ip(spoofed)).await.is_some(), "{spoofed}");
        assert_eq!(rdns.company_domain(ip(spoofed)).await, None, "{spoofed}");
    }
    // The confirmed ones still name their company (forward A and AAAA both asked).
    assert_eq!(
        rdns.company_domain(ip("192.0.2.10")).await.as_deref(),
        Some("acme-gmbh.de")
    );
    assert_eq!(
        rdns.company_domain(ip("2001:db8::10")).await.as_deref(),
        Some("muster-ag.ch")
    );
}

#[tokio::test]
async fn business_ptr_names_the_company_access_and_missing_do_not() {
    let dns = TestDns::start(RECORDS, false).await;
    let rdns = dns.client(Duration::from_millis(500));

    assert_eq!(
        rdns.company_domain(ip("192.0.2.10")).await.as_deref(),
        Some("acme-gmbh.de")
    );
    assert_eq!(
        rdns.company_domain(ip("198.51.100.7")).await.as_deref(),
        Some("example.co.uk")
    );
    assert_eq!(
        rdns.company_domain(ip("2001:db8::10")).await.as_deref(),
        Some("muster-ag.ch")
    );
    // An IPv4-mapped address is asked as IPv4.
    assert_eq!(
        rdns.company_domain(ip("::ffff:192.0.2.10"))
            .await
            .as_deref(),
        Some("acme-gmbh.de")
    );

    // Access networks have a PTR name, but it names no company.
    assert_eq!(
        rdns.ptr_name(ip("192.0.2.20")).await.as_deref(),
        Some("dsl-192-0-2-20.dyn.example-isp.de")
    );
    assert_eq!(rdns.company_domain(ip("192.0.2.20")).await, None);
    assert_eq!(rdns.company_domain(ip("2001:db8::20")).await, None);

    // No PTR record.
    assert_eq!(rdns.ptr_name(ip("192.0.2.99")).await, None);
    assert_eq!(rdns.company_domain(ip("192.0.2.99")).await, None);
    assert_eq!(rdns.company_domain(ip("2001:db8::99")).await, None);
}

#[tokio::test]
async fn the_cache_answers_again_without_a_query() {
    let dns = TestDns::start(RECORDS, false).await;
    let rdns = dns.client(Duration::from_millis(500));

    let first = rdns.company_domain(ip("192.0.2.10")).await;
    assert_eq!(first.as_deref(), Some("acme-gmbh.de"));
    let asked = dns.queries();
    assert!(asked >= 1);
    assert_eq!(rdns.company_domain(ip("192.0.2.10")).await, first);
    assert_eq!(
        dns.queries(),
        asked,
        "the second answer came from the cache"
    );

    // Negative answers are cached too.
    assert_eq!(rdns.company_domain(ip("192.0.2.99")).await, None);
    let asked = dns.queries();
    assert_eq!(rdns.company_domain(ip("192.0.2.99")).await, None);
    assert_eq!(dns.queries(), asked);
    assert_eq!(rdns.cached_len(), 2);

    // Cleared, it asks again.
    rdns.clear_cache();
    assert_eq!(rdns.cached_len(), 0);
    assert_eq!(
        rdns.company_domain(ip("192.0.2.10")).await.as_deref(),
        Some("acme-gmbh.de")
    );
    assert!(dns.queries() > asked);
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_timeout() {
    let dns = TestDns::start(&[], true).await;
    let rdns = dns.client(Duration::from_millis(300));

    let start = Instant::now();
    assert_eq!(rdns.company_domain(ip("192.0.2.10")).await, None);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(dns.queries() >= 1, "the query reached the server");

    // The failure is remembered for a while: no second query, no second wait.
    let asked = dns.queries();
    let start = Instant::now();
    assert_eq!(rdns.company_domain(ip("192.0.2.10")).await, None);
    assert!(start.elapsed() < Duration::from_millis(250));
    assert_eq!(dns.queries(), asked);

    // Several lookups at once are each bounded too.
    let rdns = Arc::new(rdns);
    let start = Instant::now();
    let handles: Vec<_> = (1..=8u8)
        .map(|n| {
            let rdns = Arc::clone(&rdns);
            tokio::spawn(async move { rdns.company_domain(IpAddr::from([198, 51, 100, n])).await })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap(), None);
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
}
