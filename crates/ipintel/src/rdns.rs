//! Optional reverse DNS: a PTR name such as `mail.acme-gmbh.de` can name a company where the IP
//! data only names its ISP.
//!
//! Without the cargo feature `rdns` (the default) this module holds only the hook: the
//! [`ReverseDns`] trait, [`wants_reverse_dns`] and [`apply_reverse_dns`], and the crate never
//! touches the network.
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
//! if ipintel::rdns::wants_reverse_dns(&lookup) {          // hosting, mobile: not even asked
//!     let domain = rdns.company_domain(ip).await;         // None when slow, refused or absent
//!     ipintel::rdns::apply_reverse_dns(&mut lookup, domain.as_deref());
//! }
//! ```

use std::net::IpAddr;

use crate::index::Lookup;

#[cfg(feature = "rdns")]
mod hickory;
#[cfg(feature = "rdns")]
mod ptr;

#[cfg(feature = "rdns")]
pub use hickory::{HickoryReverseDns, ReverseDnsConfig, ReverseDnsError, one_server};
#[cfg(feature = "rdns")]
pub use ptr::company_domain_from_ptr;

/// A blocking source of PTR names. Implementations must not log or store the address.
pub trait ReverseDns: Send + Sync {
    /// The PTR name of `ip`, or `None` when there is none or the lookup failed or timed out.
    fn ptr_name(&self, ip: IpAddr) -> Option<String>;
}

/// Whether [`apply_reverse_dns`] could change `lookup`, so whether a PTR lookup is worth
/// sending at all. Ask the resolver only when this is true: an address whose answer would be
/// thrown away is not sent anywhere.
///
/// True for ISP and unknown results (the data names no company), and for business, education
/// and government results without a domain. False for hosting and mobile results and for
/// results that already have their domain.
pub fn wants_reverse_dns(lookup: &Lookup) -> bool {
    use crate::Class;
    match lookup.class {
        Class::Isp | Class::Unknown => true,
        Class::Business | Class::Education | Class::Government => lookup.domain.is_none(),
        Class::Hosting | Class::Mobile => false,
    }
}

/// Applies a company domain derived from a PTR name (for example by `company_domain_from_ptr`,
/// feature `rdns`) to a lookup. `None` changes nothing.
///
/// - An ISP or unknown result, where the data names no company (a business line on an ISP, an
///   address the data does not know), becomes that company: `domain`, a `name` derived from
///   the domain ([`display_name_from_domain`](crate::display_name_from_domain)), class
///   `business`, no published `org` (the data's is the ISP's), and a `class_reason` that says
///   it came from reverse DNS. Network, ASN and country stay: they describe the address.
/// - A business, education or government result without a domain gets the domain; its name
///   and class stay.
/// - Hosting and mobile results never change: a hoster's PTR names its customer's server, not
///   a visitor, and a mobile network's names its subscribers' carrier. Nor does a result that
///   already has a domain.
///
/// A result from an operator's override should not be passed here at all: an override wins
/// over every source, reverse DNS included.
pub fn apply_reverse_dns(lookup: &mut Lookup, ptr_domain: Option<&str>) {
    use crate::Class;
    let Some(domain) = ptr_domain.map(str::trim).filter(|d| !d.is_empty()) else {
        return;
    };
    if !wants_reverse_dns(lookup) {
        return;
    }
    let domain = domain.to_ascii_lowercase();
    match lookup.class {
        Class::Isp | Class::Unknown => {
            let was = match (lookup.class, lookup.name.as_deref()) {
                (Class::Isp, Some(isp)) => format!("the IP data names the ISP {isp}"),
                (Class::Isp, None) => "the IP data names an ISP".to_owned(),
                _ => "the IP data names no organisation".to_owned(),
            };
            lookup.name = Some(crate::display_name_from_domain(&domain));
            lookup.org = None;
            lookup.class = Class::Business;
            lookup.class_reason = Some(format!("reverse DNS names {domain}; {was}"));
            lookup.domain = Some(domain);
        }
        _ => {
            lookup.class_reason = Some(match lookup.class_reason.take() {
                Some(reason) => format!("{reason}; domain from reverse DNS"),
                None => "domain from reverse DNS".to_owned(),
            });
            lookup.domain = Some(domain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Class;

    fn lookup(class: Class, name: Option<&str>, domain: Option<&str>) -> Lookup {
        Lookup {
            ip: "203.0.113.10".to_owned(),
            network: Some("203.0.113.0/24".to_owned()),
            asn: Some(64501),
            org: name.map(|n| format!("{n} Ltd")),
            name: name.map(str::to_owned),
            domain: domain.map(str::to_owned),
            country: Some("DE".to_owned()),
            consent_zone: true,
            class,
            class_reason: Some("org keyword: broadband".to_owned()),
        }
    }

    #[test]
    fn an_isp_result_becomes_the_company_its_ptr_names() {
        let mut l = lookup(Class::Isp, Some("Example Broadband"), None);
        assert!(wants_reverse_dns(&l));
        apply_reverse_dns(&mut l, Some("acme-gmbh.de"));
        assert_eq!(l.class, Class::Business);
        assert_eq!(l.domain.as_deref(), Some("acme-gmbh.de"));
        assert_eq!(l.name.as_deref(), Some("Acme"));
        assert_eq!(l.org, None);
        assert_eq!(
            l.class_reason.as_deref(),
            Some("reverse DNS names acme-gmbh.de; the IP data names the ISP Example Broadband")
        );
        // What describes the address stays.
        assert_eq!(l.asn, Some(64501));
        assert_eq!(l.network.as_deref(), Some("203.0.113.0/24"));
        assert_eq!(l.country.as_deref(), Some("DE"));

        // An ISP's own domain in the data does not stop it: it names the ISP.
        let mut l = lookup(
            Class::Isp,
            Some("Example Broadband"),
            Some("example-isp.de"),
        );
        apply_reverse_dns(&mut l, Some("Acme-GmbH.de"));
        assert_eq!(l.domain.as_deref(), Some("acme-gmbh.de"));
        assert_eq!(l.class, Class::Business);
    }

    #[test]
    fn an_unknown_address_is_named_by_its_ptr() {
        let ip = "192.0.2.1".parse().unwrap();
        let mut l = Lookup::unknown(ip);
        apply_reverse_dns(&mut l, Some("kanzlei-mueller.de"));
        assert_eq!(l.class, Class::Business);
        assert_eq!(l.name.as_deref(), Some("Kanzlei Mueller"));
        assert_eq!(l.domain.as_deref(), Some("kanzlei-mueller.de"));
        assert!(l.class_reason.unwrap().starts_with("reverse DNS names"));
    }

    #[test]
    fn a_business_without_a_domain_gets_it_and_keeps_its_name() {
        for class in [Class::Business, Class::Education, Class::Government] {
            let mut l = lookup(class, Some("Globex Industries"), None);
            assert!(wants_reverse_dns(&l));
            apply_reverse_dns(&mut l, Some("globex.de"));
            assert_eq!(l.class, class);
            assert_eq!(l.name.as_deref(), Some("Globex Industries"));
            assert_eq!(l.org.as_deref(), Some("Globex Industries Ltd"));
            assert_eq!(l.domain.as_deref(), Some("globex.de"));
            assert_eq!(
                l.class_reason.as_deref(),
                Some("org keyword: broadband; domain from reverse DNS")
            );
        }
    }

    #[test]
    fn hosting_mobile_and_known_domains_are_left_alone() {
        for l in [
            lookup(Class::Hosting, Some("Example Cloud"), None),
            lookup(Class::Mobile, Some("Example Mobile"), None),
            lookup(Class::Business, Some("Globex"), Some("globex.com")),
        ] {
            assert!(!wants_reverse_dns(&l), "{l:?}");
            let mut changed = l.clone();
            apply_reverse_dns(&mut changed, Some("acme-gmbh.de"));
            assert_eq!(changed, l);
        }
        // No domain changes nothing.
        let l = lookup(Class::Isp, Some("Example Broadband"), None);
        for none in [None, Some(""), Some("  ")] {
            let mut changed = l.clone();
            apply_reverse_dns(&mut changed, none);
            assert_eq!(changed, l);
        }
    }
}
