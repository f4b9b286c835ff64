//! A DNS server of the tests' own, for reverse DNS and the outbound fetcher: UDP on a free port
//! of 127.0.0.1, answering PTR queries from one table and A, AAAA and TXT queries from another,
//! NXDOMAIN for any other name, and never answering the addresses it is told to ignore. It remembers which names it was asked, so a test can prove that an
//! address was (or was not) sent. Written with hickory-proto, as ipintel's own test server is.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What the server does when asked for an address's PTR name.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// Answers with this name, whose forward record (A or AAAA) gives the address back.
    Ptr(&'static str),
    /// Answers with this name, which has no forward record: a PTR record anyone could write.
    PtrUnconfirmed(&'static str),
    /// Reads the query and never answers: a resolver that is down or filtered.
    Silent,
}

/// A forward record of a name.
#[derive(Debug, Clone, Copy)]
pub enum Rr {
    A(&'static str),
    Aaaa(&'static str),
    /// One TXT record of these strings.
    Txt(&'static [&'static str]),
}

impl Rr {
    fn rdata(self, kind: RecordType) -> Option<RData> {
        match (self, kind) {
            (Rr::A(ip), RecordType::A) => Some(RData::A(A(ip.parse().unwrap()))),
            (Rr::Aaaa(ip), RecordType::AAAA) => Some(RData::AAAA(AAAA(ip.parse().unwrap()))),
            (Rr::Txt(parts), RecordType::TXT) => Some(RData::TXT(TXT::new(
                parts.iter().map(|p| (*p).to_owned()).collect(),
            ))),
            _ => None,
        }
    }
}

pub struct TestDns {
    pub addr: SocketAddr,
    /// Every query name received, lower case, without the trailing dot.
    asked: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

/// `10.113.0.203.in-addr.arpa` for 203.0.113.10: the name a PTR query asks for.
fn reverse_name(ip: IpAddr) -> String {
    key(&Name::from(ip.to_canonical()))
}

fn key(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

impl TestDns {
    /// Starts the server on the current runtime; addresses not in `table` get NXDOMAIN.
    pub async fn start(table: &[(&str, Answer)]) -> TestDns {
        Self::start_with(table, &[]).await
    }

    /// A server answering forward queries from `records` (a name may have several; a name
    /// without a record of the type asked gets an empty answer) and no PTR queries.
    pub async fn serving(records: &[(&str, Rr)]) -> TestDns {
        Self::start_with(&[], records).await
    }

    async fn start_with(table: &[(&str, Answer)], records: &[(&str, Rr)]) -> TestDns {
        let mut names: HashMap<String, Vec<Rr>> = HashMap::new();
        for (name, rr) in records {
            names
                .entry(key(&Name::from_ascii(name).unwrap()))
                .or_default()
                .push(*rr);
        }
        let forward: HashMap<String, IpAddr> = table
            .iter()
            .filter_map(|(ip, answer)| match answer {
                Answer::Ptr(name) => Some((
                    key(&Name::from_ascii(name).unwrap()),
                    ip.parse::<IpAddr>().unwrap().to_canonical(),
                )),
                _ => None,
            })
            .collect();
        let table: HashMap<String, Answer> = table
            .iter()
            .map(|(ip, answer)| (reverse_name(ip.parse().unwrap()), *answer))
            .collect();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(request) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(query) = request.queries.first() else {
                    continue;
                };
                let name = key(query.name());
                log.lock().unwrap().push(name.clone());
                let mut response = Message::response(request.metadata.id, request.metadata.op_code);
                response.metadata.recursion_desired = request.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.add_query(query.clone());
                let address = match (forward.get(&name), query.query_type()) {
                    (Some(IpAddr::V4(v4)), RecordType::A) => Some(RData::A(A(*v4))),
                    (Some(IpAddr::V6(v6)), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                    _ => None,
                };
                match table.get(&name) {
                    _ if names.contains_key(&name) => {
                        for rr in &names[&name] {
                            if let Some(rdata) = rr.rdata(query.query_type()) {
                                response.add_answer(Record::from_rdata(
                                    query.name().clone(),
                                    60,
                                    rdata,
                                ));
                            }
                        }
                    }
                    _ if forward.contains_key(&name) => {
                        if let Some(rdata) = address {
                            response.add_answer(Record::from_rdata(
                                query.name().clone(),
                                3600,
                                rdata,
                            ));
                        }
                    }
                    Some(Answer::Silent) => continue,
                    Some(Answer::Ptr(target) | Answer::PtrUnconfirmed(target)) => {
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            3600,
                            RData::PTR(PTR(Name::from_ascii(target).unwrap())),
                        ));
                    }
                    None => response.metadata.response_code = ResponseCode::NXDomain,
                }
                let bytes = response.to_vec().unwrap();
                let _ = socket.send_to(&bytes, peer).await;
            }
        });
        TestDns { addr, asked, task }
    }

    /// How many queries asked for `ip`'s PTR name.
    pub fn asked_for(&self, ip: &str) -> usize {
        let name = reverse_name(ip.parse().unwrap());
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|n| **n == name)
            .count()
    }

    /// How many queries asked for `name` (any type).
    pub fn asked_for_name(&self, name: &str) -> usize {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|n| **n == name)
            .count()
    }

    /// How many queries arrived in all.
    pub fn queries(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
