//! Name resolution for the fetcher: one lookup per connection, whose addresses are checked
//! against the [`AddressPolicy`] before the HTTP client sees them, so the connection goes to an
//! address that was checked and no second lookup can answer differently. Also TXT lookups.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use super::ranges::{AddressPolicy, RefusedRange};

/// Why a name gave no address to connect to; carried through the HTTP client's error.
#[derive(Debug, thiserror::Error)]
pub enum ResolveFailure {
    /// Every address of the name is in a refused range (the first one's is named).
    #[error("its address is in {0}")]
    Refused(RefusedRange),
    /// The name does not exist or has no A or AAAA record.
    #[error("the name has no address")]
    NoAddress,
    /// The resolver failed or did not answer.
    #[error("the name could not be resolved: {0}")]
    Lookup(String),
}

/// Why a TXT lookup gave no answer. A name without TXT records is not an error: it has none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("`{0}` is not a domain name")]
    BadName(String),
    /// A name of private networks (`.internal`, `.local`, a single label): not looked up.
    #[error("`{name}` is not a name on the internet ({why}), so it is not looked up")]
    PrivateName { name: String, why: &'static str },
    #[error("the DNS lookup took longer than {} ms", .0.as_millis())]
    TimedOut(Duration),
    #[error("the DNS lookup failed: {0}")]
    Failed(String),
}

/// A resolver for user-chosen names: the configured server (or the system's), no cache, so a
/// record just changed is seen at once, and no search domains.
pub(super) fn build_resolver(server: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match server {
        Some(addr) => Resolver::builder_with_config(ipintel::rdns::one_server(addr), provider),
        None => Resolver::builder(provider).map_err(|e| e.to_string())?,
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.cache_size = 0;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.timeout = Duration::from_secs(3);
    opts.attempts = 2;
    builder.build().map_err(|e| e.to_string())
}

/// `name` as a fully qualified name, so the system's search domains are never appended.
fn fqdn(name: &str) -> Option<Name> {
    let mut name = Name::from_utf8(name).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// The HTTP client's resolver: looks the name up once and hands over only allowed addresses.
/// Cheap to clone (the resolver is shared inside).
#[derive(Clone)]
pub(super) struct CheckedResolver {
    pub(super) resolver: TokioResolver,
    pub(super) policy: AddressPolicy,
}

impl CheckedResolver {
    /// The allowed addresses of `host` (port 0: the client sets the URL's).
    pub(super) async fn allowed_addresses(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, ResolveFailure> {
        let name = fqdn(host).ok_or(ResolveFailure::NoAddress)?;
        let found = match self.resolver.lookup_ip(name).await {
            Ok(found) => found,
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
                return Err(ResolveFailure::NoAddress);
            }
            Err(e) => return Err(ResolveFailure::Lookup(e.to_string())),
        };
        let mut allowed = Vec::new();
        let mut first_refusal = None;
        for ip in found.iter() {
            match self.policy.check(ip) {
                Ok(()) => allowed.push(SocketAddr::new(ip, 0)),
                Err(range) => {
                    first_refusal.get_or_insert(range);
                }
            }
        }
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(allowed),
            (true, Some(range)) => Err(ResolveFailure::Refused(range)),
            (true, None) => Err(ResolveFailure::NoAddress),
        }
    }
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.allowed_addresses(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The TXT records of `name`, each record's strings joined (as a long record is split into
/// strings of 255 bytes), invalid UTF-8 replaced. No records, or no such name: an empty list.
pub(super) async fn txt_records(
    resolver: &TokioResolver,
    name: &str,
    timeout: Duration,
) -> Result<Vec<String>, DnsError> {
    if let Some(why) = super::names::private_name(name) {
        return Err(DnsError::PrivateName {
            name: name.to_owned(),
            why,
        });
    }
    let fq = fqdn(name).ok_or_else(|| DnsError::BadName(name.to_owned()))?;
    let lookup = tokio::time::timeout(timeout, resolver.lookup(fq, RecordType::TXT)).await;
    match lookup {
        Err(_elapsed) => Err(DnsError::TimedOut(timeout)),
        Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
        Ok(Err(e)) => Err(DnsError::Failed(e.to_string())),
        Ok(Ok(found)) => Ok(found
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
    }
}
