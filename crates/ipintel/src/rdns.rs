//! Optional reverse DNS: a PTR name such as `mail.acme-gmbh.de` can name a company where the IP
//! data only names its ISP.
//!
//! Without the cargo feature `rdns` (the default) this module holds only the hook: the
//! [`ReverseDns`] trait and [`apply_reverse_dns`], and the crate never touches the network.
//! With `rdns` it adds:
//!
//! - [`company_domain_from_ptr`]: pure; the registrable domain of a PTR name that looks like a
//!   company's own host, `None` for access networks, providers and anything else;
//! - [`HickoryReverseDns`]: PTR lookups through a configured (or the system's) resolver with a
//!   hard timeout per lookup and a bounded in-memory cache, for a tokio runtime.
//!
//! **Privacy:** a lookup sends the visitor's address to the resolver (and, unless it answers
//! from its own cache, on to the network that holds the reverse zone). Operators must weigh and
//! disclose that; a resolver on the same machine or network keeps the queries closer to home.
//! Nothing here logs or persists an address; the cache holds addresses in memory only.
//!
//! The lookup is async ([`HickoryReverseDns::company_domain`]); the synchronous
//! [`ReverseDns`] trait stays for callers that bring their own blocking source, and
//! `HickoryReverseDns` does not implement it (blocking a runtime thread on a network answer
//! is what the async API avoids). Either way the result goes through [`apply_reverse_dns`]:
//!
//! ```ignore
//! let domain = rdns.company_domain(ip).await;          // None when off, slow or refused
//! ipintel::rdns::apply_reverse_dns(&mut lookup, domain.as_deref());
//! ```

use std::net::IpAddr;

use crate::index::Lookup;

#[cfg(feature = "rdns")]
mod hickory;
#[cfg(feature = "rdns")]
mod ptr;

#[cfg(feature = "rdns")]
pub use hickory::{HickoryReverseDns, ReverseDnsConfig, ReverseDnsError};
#[cfg(feature = "rdns")]
pub use ptr::company_domain_from_ptr;

/// A blocking source of PTR names. Implementations must not log or store the address.
pub trait ReverseDns: Send + Sync {
    /// The PTR name of `ip`, or `None` when there is none or the lookup failed or timed out.
    fn ptr_name(&self, ip: IpAddr) -> Option<String>;
}

/// What a caller may do with a company domain derived from a PTR name (for example by
/// `company_domain_from_ptr`, feature `rdns`): fill the domain when the data has none.
///
/// Only a business-classed result without a domain is touched, and only its `domain` field,
/// so reverse DNS can never make an ISP or hosting address look like a company.
pub fn apply_reverse_dns(lookup: &mut Lookup, ptr_domain: Option<&str>) {
    if lookup.class == crate::Class::Business
        && lookup.domain.is_none()
        && let Some(d) = ptr_domain
    {
        lookup.domain = Some(d.to_owned());
    }
}
