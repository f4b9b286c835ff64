//! Hook for optional reverse DNS, implemented outside this crate.
//!
//! A PTR name such as `mail.example.com` can name a company where the IP data only names its
//! ISP. Lookups here never touch the network; a caller that wants reverse DNS implements
//! [`ReverseDns`] (with its own timeouts and cache) and merges the answer with
//! [`apply_reverse_dns`].

use std::net::IpAddr;

use crate::index::Lookup;

/// A source of PTR names. Implementations must not log or store the address.
pub trait ReverseDns: Send + Sync {
    /// The PTR name of `ip`, or `None` when there is none or the lookup failed or timed out.
    fn ptr_name(&self, ip: IpAddr) -> Option<String>;
}

/// What a caller may do with a PTR name: derive a domain when the data has none.
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
