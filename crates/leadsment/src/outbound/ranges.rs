//! Which addresses the fetcher refuses, each range named.
//!
//! A user-chosen URL must not reach the machine itself, the operator's private networks or a
//! cloud provider's metadata service (which hands out credentials to anyone on the instance).
//! IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-translated, 6to4, NAT64) are judged
//! by the address they carry, so `::ffff:127.0.0.1` is loopback like `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use ipnet::IpNet;

/// Why a range is not fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeKind {
    /// `0.0.0.0/8`, `::`: "this host"; connecting to it reaches the machine itself.
    ThisNetwork,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// `100.64/10`, carrier-grade NAT: a provider's internal network.
    SharedAddressSpace,
    /// `127/8`, `::1`.
    Loopback,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// A cloud provider's metadata or host service (AWS, GCP, Azure, Alibaba, ...).
    CloudMetadata,
    /// `192.0.0/24`: IETF protocol assignments.
    ProtocolAssignments,
    /// Documentation ranges, never on the internet.
    Documentation,
    /// `198.18/15`, `2001:2::/48`: benchmarking networks.
    Benchmarking,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `240/4` and IPv6 ranges reserved by the IETF.
    Reserved,
    /// `255.255.255.255`.
    Broadcast,
    /// `fc00::/7`: IPv6's private networks.
    UniqueLocal,
    /// `fec0::/10`: deprecated site-local IPv6.
    SiteLocal,
    /// `::/96`: deprecated IPv4-compatible IPv6.
    Ipv4Compatible,
    /// `64:ff9b:1::/48`: a network's own NAT64 prefix.
    LocalNat64,
    /// `100::/64`: discard-only.
    Discard,
    /// `2001::/32`: Teredo tunnels, whose far end cannot be checked.
    Teredo,
    /// Anything outside `2000::/3`, the only IPv6 space on the internet.
    NotGlobalUnicast,
}

impl RangeKind {
    pub fn describe(self) -> &'static str {
        match self {
            RangeKind::ThisNetwork => "this host",
            RangeKind::Private => "private network",
            RangeKind::SharedAddressSpace => "carrier-grade NAT",
            RangeKind::Loopback => "loopback",
            RangeKind::LinkLocal => "link-local",
            RangeKind::CloudMetadata => "cloud metadata service",
            RangeKind::ProtocolAssignments => "IETF protocol assignments",
            RangeKind::Documentation => "documentation",
            RangeKind::Benchmarking => "benchmarking",
            RangeKind::Multicast => "multicast",
            RangeKind::Reserved => "reserved",
            RangeKind::Broadcast => "broadcast",
            RangeKind::UniqueLocal => "unique-local",
            RangeKind::SiteLocal => "site-local",
            RangeKind::Ipv4Compatible => "IPv4-compatible IPv6",
            RangeKind::LocalNat64 => "local NAT64",
            RangeKind::Discard => "discard-only",
            RangeKind::Teredo => "Teredo tunnel",
            RangeKind::NotGlobalUnicast => "not global unicast",
        }
    }
}

/// How an IPv6 address carried the IPv4 address that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:a.b.c.d`
    Ipv4Mapped,
    /// `::ffff:0:a.b.c.d`
    Ipv4Translated,
    /// `2002:aabb:ccdd::/48`
    SixToFour,
    /// `64:ff9b::a.b.c.d`
    Nat64,
}

impl Embedding {
    fn describe(self) -> &'static str {
        match self {
            Embedding::Ipv4Mapped => "IPv4-mapped",
            Embedding::Ipv4Translated => "IPv4-translated",
            Embedding::SixToFour => "6to4",
            Embedding::Nat64 => "NAT64",
        }
    }
}

/// A refused address's range: `10.0.0.0/8 (private network)`. The address itself is not
/// kept, so the error can be shown and logged as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedRange {
    pub kind: RangeKind,
    /// The refused network; for [`RangeKind::NotGlobalUnicast`], the space (`2000::/3`) the
    /// address is outside of.
    pub network: IpNet,
    /// Set when an IPv6 address carried the refused IPv4 address.
    pub embedded: Option<Embedding>,
}

impl std::fmt::Display for RefusedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == RangeKind::NotGlobalUnicast {
            write!(f, "outside {} (not global unicast IPv6)", self.network)?;
        } else {
            write!(f, "{} ({})", self.network, self.kind.describe())?;
        }
        if let Some(how) = self.embedded {
            write!(f, ", inside an {} IPv6 address", how.describe())?;
        }
        Ok(())
    }
}

/// Most specific first: the first match names the range.
const V4_TABLE: &[(&str, RangeKind)] = &[
    ("169.254.169.254/32", RangeKind::CloudMetadata), // AWS, GCP, Azure, Oracle, DigitalOcean
    ("169.254.170.2/32", RangeKind::CloudMetadata),   // AWS ECS task metadata
    ("100.100.100.200/32", RangeKind::CloudMetadata), // Alibaba Cloud
    ("168.63.129.16/32", RangeKind::CloudMetadata),   // Azure host service, a public address
    ("0.0.0.0/8", RangeKind::ThisNetwork),
    ("10.0.0.0/8", RangeKind::Private),
    ("100.64.0.0/10", RangeKind::SharedAddressSpace),
    ("127.0.0.0/8", RangeKind::Loopback),
    ("169.254.0.0/16", RangeKind::LinkLocal),
    ("172.16.0.0/12", RangeKind::Private),
    ("192.0.0.0/24", RangeKind::ProtocolAssignments),
    ("192.0.2.0/24", RangeKind::Documentation),
    ("192.88.99.0/24", RangeKind::Reserved), // former 6to4 relays
    ("192.168.0.0/16", RangeKind::Private),
    ("198.18.0.0/15", RangeKind::Benchmarking),
    ("198.51.100.0/24", RangeKind::Documentation),
    ("203.0.113.0/24", RangeKind::Documentation),
    ("224.0.0.0/4", RangeKind::Multicast),
    ("255.255.255.255/32", RangeKind::Broadcast),
    ("240.0.0.0/4", RangeKind::Reserved),
];

const V6_TABLE: &[(&str, RangeKind)] = &[
    ("::/128", RangeKind::ThisNetwork),
    ("::1/128", RangeKind::Loopback),
    ("::/96", RangeKind::Ipv4Compatible),
    ("64:ff9b:1::/48", RangeKind::LocalNat64),
    ("100::/64", RangeKind::Discard),
    ("2001:2::/48", RangeKind::Benchmarking),
    ("2001:db8::/32", RangeKind::Documentation),
    ("2001::/32", RangeKind::Teredo),
    ("2001::/23", RangeKind::Reserved), // IETF protocol assignments (ORCHID and the like)
    ("3fff::/20", RangeKind::Documentation),
    ("5f00::/16", RangeKind::Reserved), // SRv6 segment identifiers
    ("fd00:ec2::254/128", RangeKind::CloudMetadata), // AWS, over IPv6
    ("fc00::/7", RangeKind::UniqueLocal),
    ("fe80::/10", RangeKind::LinkLocal),
    ("fec0::/10", RangeKind::SiteLocal),
    ("ff00::/8", RangeKind::Multicast),
];

const GLOBAL_UNICAST: ipnet::Ipv6Net =
    ipnet::Ipv6Net::new_assert(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

fn parsed(table: &'static [(&str, RangeKind)]) -> Vec<(IpNet, RangeKind)> {
    table
        .iter()
        .filter_map(|(net, kind)| net.parse().ok().map(|net| (net, *kind)))
        .collect()
}

fn v4_table() -> &'static [(IpNet, RangeKind)] {
    static TABLE: OnceLock<Vec<(IpNet, RangeKind)>> = OnceLock::new();
    TABLE.get_or_init(|| parsed(V4_TABLE))
}

fn v6_table() -> &'static [(IpNet, RangeKind)] {
    static TABLE: OnceLock<Vec<(IpNet, RangeKind)>> = OnceLock::new();
    TABLE.get_or_init(|| parsed(V6_TABLE))
}

fn find(table: &[(IpNet, RangeKind)], ip: IpAddr) -> Option<RefusedRange> {
    table
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(network, kind)| RefusedRange {
            kind: *kind,
            network: *network,
            embedded: None,
        })
}

/// The refused range `ip` is in, or `None` for an address on the internet.
pub fn refused_range(ip: IpAddr) -> Option<RefusedRange> {
    match ip {
        IpAddr::V4(v4) => find(v4_table(), IpAddr::V4(v4)),
        IpAddr::V6(v6) => {
            if let Some((v4, how)) = embedded_v4(v6) {
                return refused_range(IpAddr::V4(v4)).map(|range| RefusedRange {
                    embedded: Some(how),
                    ..range
                });
            }
            if let Some(range) = find(v6_table(), IpAddr::V6(v6)) {
                return Some(range);
            }
            // 2000::/3 is the only IPv6 space handed out on the internet.
            let global = v6.segments()[0] & 0xe000 == 0x2000;
            (!global).then_some(RefusedRange {
                kind: RangeKind::NotGlobalUnicast,
                network: IpNet::V6(GLOBAL_UNICAST),
                embedded: None,
            })
        }
    }
}

/// The IPv4 address an IPv6 address stands for, in the forms that reach IPv4 hosts.
fn embedded_v4(v6: Ipv6Addr) -> Option<(Ipv4Addr, Embedding)> {
    let o = v6.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match v6.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some((low, Embedding::Ipv4Mapped)),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some((low, Embedding::Ipv4Translated)),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((low, Embedding::Nat64)),
        [0x2002, ..] => Some((Ipv4Addr::new(o[2], o[3], o[4], o[5]), Embedding::SixToFour)),
        _ => None,
    }
}

/// The refused ranges less the networks the operator allows (`outbound_allow`).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allow: Vec<IpNet>) -> AddressPolicy {
        AddressPolicy { allow }
    }

    /// `Ok` when `ip` may be connected to: outside every refused range, or allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), RefusedRange> {
        let canonical = ip.to_canonical();
        if self
            .allow
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
        {
            return Ok(());
        }
        refused_range(ip).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_parses() {
        assert_eq!(v4_table().len(), V4_TABLE.len());
        assert_eq!(v6_table().len(), V6_TABLE.len());
    }

    /// Each refused range, by an address inside it, with the network it is named by.
    #[test]
    fn each_refused_range_is_named() {
        use RangeKind::*;
        let cases: &[(&str, &str, RangeKind)] = &[
            ("0.0.0.0", "0.0.0.0/8", ThisNetwork),
            ("0.1.2.3", "0.0.0.0/8", ThisNetwork),
            ("10.0.0.1", "10.0.0.0/8", Private),
            ("10.255.255.255", "10.0.0.0/8", Private),
            ("100.64.0.1", "100.64.0.0/10", SharedAddressSpace),
            ("100.127.255.254", "100.64.0.0/10", SharedAddressSpace),
            ("127.0.0.1", "127.0.0.0/8", Loopback),
            ("127.255.0.9", "127.0.0.0/8", Loopback),
            ("169.254.0.1", "169.254.0.0/16", LinkLocal),
            ("169.254.169.254", "169.254.169.254/32", CloudMetadata),
            ("169.254.170.2", "169.254.170.2/32", CloudMetadata),
            ("100.100.100.200", "100.100.100.200/32", CloudMetadata),
            ("168.63.129.16", "168.63.129.16/32", CloudMetadata),
            ("172.16.0.1", "172.16.0.0/12", Private),
            ("172.31.255.255", "172.16.0.0/12", Private),
            ("192.0.0.8", "192.0.0.0/24", ProtocolAssignments),
            ("192.0.2.1", "192.0.2.0/24", Documentation),
            ("192.88.99.1", "192.88.99.0/24", Reserved),
            ("192.168.1.1", "192.168.0.0/16", Private),
            ("198.18.0.1", "198.18.0.0/15", Benchmarking),
            ("198.19.255.1", "198.18.0.0/15", Benchmarking),
            ("198.51.100.7", "198.51.100.0/24", Documentation),
            ("203.0.113.9", "203.0.113.0/24", Documentation),
            ("224.0.0.1", "224.0.0.0/4", Multicast),
            ("239.255.255.250", "224.0.0.0/4", Multicast),
            ("240.0.0.1", "240.0.0.0/4", Reserved),
            ("255.255.255.254", "240.0.0.0/4", Reserved),
            ("255.255.255.255", "255.255.255.255/32", Broadcast),
            ("::", "::/128", ThisNetwork),
            ("::1", "::1/128", Loopback),
            ("::10.0.0.1", "::/96", Ipv4Compatible),
            ("::8.8.8.8", "::/96", Ipv4Compatible),
            ("64:ff9b:1::1", "64:ff9b:1::/48", LocalNat64),
            ("100::1", "100::/64", Discard),
            ("2001::1", "2001::/32", Teredo),
            ("2001:2::1", "2001:2::/48", Benchmarking),
            ("2001:10::1", "2001::/23", Reserved),
            ("2001:db8::1", "2001:db8::/32", Documentation),
            ("3fff::1", "3fff::/20", Documentation),
            ("5f00::1", "5f00::/16", Reserved),
            ("fc00::1", "fc00::/7", UniqueLocal),
            ("fd12:3456::1", "fc00::/7", UniqueLocal),
            ("fd00:ec2::254", "fd00:ec2::254/128", CloudMetadata),
            ("fe80::1", "fe80::/10", LinkLocal),
            ("febf::1", "fe80::/10", LinkLocal),
            ("fec0::1", "fec0::/10", SiteLocal),
            ("ff02::1", "ff00::/8", Multicast),
            ("::2", "::/96", Ipv4Compatible),
            ("1::1", "2000::/3", NotGlobalUnicast),
            ("4000::1", "2000::/3", NotGlobalUnicast),
            ("e000::1", "2000::/3", NotGlobalUnicast),
        ];
        for (ip, network, kind) in cases {
            let range = refused_range(ip.parse().unwrap())
                .unwrap_or_else(|| panic!("{ip} should be refused"));
            assert_eq!(range.network.to_string(), *network, "{ip}");
            assert_eq!(range.kind, *kind, "{ip}");
            assert_eq!(range.embedded, None, "{ip}");
        }
    }

    /// IPv6 addresses that carry an IPv4 address are judged by it.
    #[test]
    fn embedded_ipv4_is_judged_as_ipv4() {
        use Embedding::*;
        let cases: &[(&str, &str, Embedding)] = &[
            ("::ffff:127.0.0.1", "127.0.0.0/8", Ipv4Mapped),
            ("::ffff:10.1.2.3", "10.0.0.0/8", Ipv4Mapped),
            ("::ffff:169.254.169.254", "169.254.169.254/32", Ipv4Mapped),
            ("::ffff:0.0.0.0", "0.0.0.0/8", Ipv4Mapped),
            ("::ffff:0:192.168.0.1", "192.168.0.0/16", Ipv4Translated),
            ("64:ff9b::127.0.0.1", "127.0.0.0/8", Nat64),
            ("64:ff9b::a9fe:a9fe", "169.254.169.254/32", Nat64),
            ("2002:7f00:1::", "127.0.0.0/8", SixToFour),
            ("2002:c0a8:101::1", "192.168.0.0/16", SixToFour),
            ("2002:a9fe:a9fe::", "169.254.169.254/32", SixToFour),
        ];
        for (ip, network, how) in cases {
            let range = refused_range(ip.parse().unwrap())
                .unwrap_or_else(|| panic!("{ip} should be refused"));
            assert_eq!(range.network.to_string(), *network, "{ip}");
            assert_eq!(range.embedded, Some(*how), "{ip}");
        }
        let shown = refused_range("::ffff:127.0.0.1".parse().unwrap())
            .unwrap()
            .to_string();
        assert_eq!(
            shown,
            "127.0.0.0/8 (loopback), inside an IPv4-mapped IPv6 address"
        );
    }

    #[test]
    fn internet_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "2001:db9::1",
        ] {
            assert_eq!(refused_range(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn the_allow_list_opens_only_its_networks() {
        let policy = AddressPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert_eq!(policy.check("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("::ffff:127.0.0.1".parse().unwrap()), Ok(()));
        let other = policy.check("127.0.0.2".parse().unwrap()).unwrap_err();
        assert_eq!(other.kind, RangeKind::Loopback);
        assert!(policy.check("10.0.0.1".parse().unwrap()).is_err());
        assert!(policy.check("::1".parse().unwrap()).is_err());
        assert_eq!(policy.check("8.8.8.8".parse().unwrap()), Ok(()));
        let none = AddressPolicy::default();
        assert!(none.check("127.0.0.1".parse().unwrap()).is_err());
    }
}
