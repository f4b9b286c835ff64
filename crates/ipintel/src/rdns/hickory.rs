//! PTR lookups through hickory-resolver, bounded in time, with a bounded in-memory cache.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use super::ptr::company_domain_from_ptr;

/// How a [`HickoryReverseDns`] asks and remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseDnsConfig {
    /// The resolver to ask (UDP, with TCP on the same port for truncated answers); `None` uses
    /// the system's configuration (`/etc/resolv.conf` on Unix).
    pub resolver: Option<SocketAddr>,
    /// The most one lookup may take, retries included; past it the answer is `None`.
    pub timeout: Duration,
    /// How many addresses the cache holds at most; 0 turns the cache off.
    pub cache_size: usize,
    /// How long an answer (a domain, or none) is kept. Failures and timeouts are kept for at
    /// most a minute, so a resolver that was briefly away is asked again soon.
    pub cache_ttl: Duration,
}

impl Default for ReverseDnsConfig {
    /// The system's resolver, 300 ms per lookup, 10,000 cached addresses for an hour.
    fn default() -> Self {
        ReverseDnsConfig {
            resolver: None,
            timeout: Duration::from_millis(300),
            cache_size: 10_000,
            cache_ttl: Duration::from_secs(3600),
        }
    }
}

/// Why a [`HickoryReverseDns`] could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ReverseDnsError {
    /// The system's resolver configuration could not be read.
    #[error("cannot read the system's resolver configuration: {0}")]
    SystemConfig(String),
    /// The resolver could not be built from the configuration.
    #[error("cannot set up the resolver: {0}")]
    Resolver(String),
    /// A timeout of zero would refuse every lookup.
    #[error("the reverse DNS timeout must be more than zero")]
    ZeroTimeout,
}

/// Failures and timeouts are cached at most this long.
const FAILURE_TTL: Duration = Duration::from_secs(60);

/// Reverse DNS through hickory-resolver on the current tokio runtime.
///
/// Every lookup is bounded by the configured timeout. Answers are cached in memory by address
/// (the derived company domain or its absence, never the PTR name), up to `cache_size`
/// addresses for `cache_ttl`; the oldest entry goes first when the cache is full. Nothing is
/// logged or written anywhere. `Send + Sync`: share it in an `Arc`.
pub struct HickoryReverseDns {
    resolver: TokioResolver,
    timeout: Duration,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for HickoryReverseDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cache's keys are visitors' addresses: show only how many there are.
        f.debug_struct("HickoryReverseDns")
            .field("timeout", &self.timeout)
            .field("cached", &self.cached_len())
            .finish_non_exhaustive()
    }
}

/// A resolver configuration asking only the DNS server at `addr`, over UDP and TCP on its
/// port (a test's own server, or an operator's resolver).
pub fn one_server(addr: SocketAddr) -> ResolverConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    server.connections = vec![udp, tcp];
    ResolverConfig::from_name_servers(vec![server])
}

impl HickoryReverseDns {
    /// Sets up the resolver; no query is sent until the first lookup. Needs no runtime to be
    /// built, but lookups must run on a tokio runtime.
    pub fn new(config: ReverseDnsConfig) -> Result<Self, ReverseDnsError> {
        if config.timeout.is_zero() {
            return Err(ReverseDnsError::ZeroTimeout);
        }
        let provider = TokioRuntimeProvider::default();
        let mut builder = match config.resolver {
            Some(addr) => Resolver::builder_with_config(one_server(addr), provider),
            None => Resolver::builder(provider)
                .map_err(|e| ReverseDnsError::SystemConfig(e.to_string()))?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = config.timeout;
        opts.attempts = 1;
        // Our cache is the only one: it holds domains rather than PTR names and can be cleared.
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        let resolver = builder
            .build()
            .map_err(|e| ReverseDnsError::Resolver(e.to_string()))?;
        Ok(HickoryReverseDns {
            resolver,
            timeout: config.timeout,
            cache: Mutex::new(Cache::new(config.cache_size, config.cache_ttl)),
        })
    }

    /// The company domain for `ip` from its PTR name (see
    /// [`company_domain_from_ptr`](super::company_domain_from_ptr)), or `None`: no PTR record,
    /// a name that is not a company's, a name whose forward lookup does not give `ip` back, a
    /// failure, or no answer within the timeout (both lookups together). Cached. An
    /// IPv4-mapped IPv6 address is looked up as IPv4.
    ///
    /// Forward-confirmed: whoever runs a network writes its PTR records, so a PTR name alone
    /// could claim any company's domain. The name must resolve (A for IPv4, AAAA for IPv6) to
    /// the address again, which only the domain's owner can arrange.
    pub async fn company_domain(&self, ip: IpAddr) -> Option<String> {
        let ip = ip.to_canonical();
        let now = Instant::now();
        if let Some(hit) = self.lock().get(ip, now) {
            return hit;
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let (domain, ttl) = match self.query(ip).await {
            Answer::Name(name) => match company_domain_from_ptr(&name, ip) {
                None => (None, None),
                Some(domain) => match self.forward_confirms(&name, ip, deadline).await {
                    Answer::Name(_) => (Some(domain), None),
                    Answer::None => (None, None),
                    Answer::Failed => (None, Some(FAILURE_TTL)),
                },
            },
            Answer::None => (None, None),
            Answer::Failed => (None, Some(FAILURE_TTL)),
        };
        self.lock().insert(ip, domain.clone(), Instant::now(), ttl);
        domain
    }

    /// The PTR name of `ip` as the resolver gives it (first answer, without the trailing dot),
    /// or `None`. Bounded by the timeout; not cached.
    pub async fn ptr_name(&self, ip: IpAddr) -> Option<String> {
        match self.query(ip.to_canonical()).await {
            Answer::Name(name) => Some(name),
            Answer::None | Answer::Failed => None,
        }
    }

    /// Forgets every cached answer (and so every address the cache held).
    pub fn clear_cache(&self) {
        self.lock().clear();
    }

    /// How many addresses the cache holds now.
    pub fn cached_len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache stays consistent at every step, so a panic elsewhere cannot break it.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `name` resolves to `ip`: `Name` if it does, `None` if it does not (or does not
    /// exist), `Failed` on an error or past `deadline`.
    async fn forward_confirms(
        &self,
        name: &str,
        ip: IpAddr,
        deadline: tokio::time::Instant,
    ) -> Answer {
        let Ok(mut fqdn) = Name::from_ascii(name) else {
            return Answer::None;
        };
        fqdn.set_fqdn(true);
        let kind = if ip.is_ipv4() {
            RecordType::A
        } else {
            RecordType::AAAA
        };
        let lookup = tokio::time::timeout_at(deadline, self.resolver.lookup(fqdn, kind)).await;
        match lookup {
            Err(_elapsed) => Answer::Failed,
            Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => Answer::None,
            Ok(Err(_)) => Answer::Failed,
            Ok(Ok(found)) => {
                let back = found.answers().iter().any(|record| match &record.data {
                    RData::A(a) => IpAddr::V4(a.0) == ip,
                    RData::AAAA(a) => IpAddr::V6(a.0) == ip,
                    _ => false,
                });
                if back {
                    Answer::Name(name.to_owned())
                } else {
                    Answer::None
                }
            }
        }
    }

    async fn query(&self, ip: IpAddr) -> Answer {
        let mut name = Name::from(ip);
        name.set_fqdn(true);
        let lookup = tokio::time::timeout(self.timeout, self.resolver.reverse_lookup(name)).await;
        match lookup {
            Err(_elapsed) => Answer::Failed,
            Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => Answer::None,
            Ok(Err(_)) => Answer::Failed,
            Ok(Ok(found)) => found
                .answers()
                .iter()
                .find_map(|record| match &record.data {
                    RData::PTR(ptr) => Some(ptr.0.to_string()),
                    _ => None,
                })
                .map(|n| n.trim_end_matches('.').to_owned())
                .map_or(Answer::None, Answer::Name),
        }
    }
}

enum Answer {
    Name(String),
    None,
    Failed,
}

/// Answers by address, expiring, at most `capacity` of them; the oldest goes first.
struct Cache {
    capacity: usize,
    ttl: Duration,
    map: HashMap<IpAddr, (Option<String>, Instant)>,
    /// Keys in the order they entered `map`; always the same set as `map`'s keys.
    order: VecDeque<IpAddr>,
}

impl Cache {
    fn new(capacity: usize, ttl: Duration) -> Self {
        Cache {
            capacity,
            ttl,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// `Some(answer)` for a live entry, `None` for a miss.
    fn get(&self, ip: IpAddr, now: Instant) -> Option<Option<String>> {
        match self.map.get(&ip) {
            Some((answer, expires)) if *expires > now => Some(answer.clone()),
            _ => None,
        }
    }

    fn insert(&mut self, ip: IpAddr, answer: Option<String>, now: Instant, ttl: Option<Duration>) {
        if self.capacity == 0 {
            return;
        }
        let ttl = ttl.map_or(self.ttl, |t| t.min(self.ttl));
        let expires = now.checked_add(ttl).unwrap_or(now);
        if let Some(entry) = self.map.get_mut(&ip) {
            *entry = (answer, expires);
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.map.insert(ip, (answer, expires));
        self.order.push_back(ip);
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.map.shrink_to_fit();
        self.order.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn cache_expires_evicts_oldest_and_clears() {
        let t0 = Instant::now();
        let mut c = Cache::new(2, Duration::from_secs(10));
        c.insert(ip(1), Some("a.de".into()), t0, None);
        c.insert(ip(2), None, t0, Some(Duration::from_secs(1)));
        assert_eq!(c.get(ip(1), t0), Some(Some("a.de".into())));
        assert_eq!(c.get(ip(2), t0), Some(None));
        // The failure TTL is shorter.
        assert_eq!(c.get(ip(2), t0 + Duration::from_secs(2)), None);
        assert_eq!(
            c.get(ip(1), t0 + Duration::from_secs(2)),
            Some(Some("a.de".into()))
        );
        assert_eq!(c.get(ip(1), t0 + Duration::from_secs(11)), None);
        // Full: the oldest goes.
        c.insert(ip(3), Some("c.de".into()), t0, None);
        assert_eq!(c.map.len(), 2);
        assert_eq!(c.get(ip(1), t0), None);
        assert_eq!(c.get(ip(3), t0), Some(Some("c.de".into())));
        // Replacing an entry does not grow the cache.
        c.insert(ip(3), None, t0, None);
        assert_eq!((c.map.len(), c.order.len()), (2, 2));
        c.clear();
        assert_eq!((c.map.len(), c.order.len()), (0, 0));
        // Capacity 0 keeps nothing.
        let mut off = Cache::new(0, Duration::from_secs(10));
        off.insert(ip(1), None, t0, None);
        assert_eq!(off.get(ip(1), t0), None);
    }

    #[test]
    fn zero_timeout_is_refused() {
        let config = ReverseDnsConfig {
            resolver: Some("127.0.0.1:53".parse().unwrap()),
            timeout: Duration::ZERO,
            ..ReverseDnsConfig::default()
        };
        assert!(matches!(
            HickoryReverseDns::new(config),
            Err(ReverseDnsError::ZeroTimeout)
        ));
    }
}
