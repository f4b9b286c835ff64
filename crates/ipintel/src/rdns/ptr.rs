//! From a PTR name to a company domain, or to nothing.
//!
//! Pure: no network, no state. The word and provider lists are data files in `data/`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

const ACCESS_WORDS: &str = include_str!("../../data/rdns-access-words.txt");
const PROVIDER_DOMAINS: &str = include_str!("../../data/rdns-provider-domains.txt");

/// The longest name DNS allows (without the trailing dot).
const MAX_NAME_LEN: usize = 253;
/// A run of this many digits in a name is an address or a line number, not a company host.
const LONG_DIGIT_RUN: usize = 6;
/// A run of this many hex characters (with at least one digit) is an address or a MAC.
const LONG_HEX_RUN: usize = 12;

/// The registrable domain (eTLD+1) of `ptr` when the name looks like a company's own host,
/// `None` when it looks like an access network, a provider, or is not a usable name.
///
/// `mail.acme-gmbh.de` gives `acme-gmbh.de`, `mx1.corp.example.co.uk` gives `example.co.uk`.
/// Refused:
/// - names whose host part (the labels left of the registrable domain) has an access-network
///   word (`dyn`, `dsl`, `pool`, `cust`, `cable`, `mobile`, `cpe…`, `ip-1-2-…`: see
///   `data/rdns-access-words.txt`);
/// - names that carry `ip`'s address: three octets in a row (dotted, dashed, reversed,
///   zero-padded, mixed), the last two, the address as one number or in hex; for IPv6 three of
///   its groups or its interface identifier; and any long digit or hex run or four
///   octet-sized numbers in a row, which is how access networks name their lines;
/// - names under an ISP, hosting, cloud or CDN domain (`data/rdns-provider-domains.txt`) or
///   under a private suffix of the public suffix list (dynamic DNS, platform hosting);
/// - reverse-zone names, single labels, names with unknown top-level domains, and anything that
///   is not a plain ASCII host name.
pub fn company_domain_from_ptr(ptr: &str, ip: IpAddr) -> Option<String> {
    let name = normalise(ptr)?;
    let domain = psl::domain(name.as_bytes())?;
    let suffix = domain.suffix();
    if suffix.typ() != Some(psl::Type::Icann) {
        return None;
    }
    let registrable = std::str::from_utf8(domain.as_bytes()).ok()?;
    let suffix_str = std::str::from_utf8(suffix.as_bytes()).ok()?;
    // `registrable` is `label.suffix`; `name` is `host.registrable` or `registrable` itself.
    let label = registrable.strip_suffix(suffix_str)?.strip_suffix('.')?;
    let host = name
        .strip_suffix(registrable)
        .map(|h| h.strip_suffix('.').unwrap_or(h))
        .unwrap_or("");
    if is_provider(&name, label) {
        return None;
    }
    if !host.is_empty() && has_access_word(host) {
        return None;
    }
    // Addresses and numbers are looked for in everything left of the public suffix.
    let left = name
        .strip_suffix(suffix_str)
        .and_then(|l| l.strip_suffix('.'))
        .unwrap_or(&name);
    if carries_address(left, ip) || looks_numbered(left) {
        return None;
    }
    Some(registrable.to_owned())
}

/// Lower case, no trailing dot, plain ASCII host-name characters, at least two labels, not a
/// reverse-zone name.
fn normalise(ptr: &str) -> Option<String> {
    let trimmed = ptr.trim();
    let name = trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return None;
    }
    let mut labels = 0;
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return None;
        }
        labels += 1;
    }
    if labels < 2 || name.ends_with(".arpa") || name.ends_with(".local") {
        return None;
    }
    Some(name)
}

/// A provider entry: a domain (and everything under it) or a label under any public suffix.
enum Provider {
    Domain(&'static str),
    Label(&'static str),
}

static PROVIDERS: LazyLock<Vec<Provider>> = LazyLock::new(|| {
    data_lines(PROVIDER_DOMAINS)
        .map(|line| match line.strip_suffix(".*") {
            Some(label) => Provider::Label(label),
            None => Provider::Domain(line),
        })
        .collect()
});

fn is_provider(name: &str, label: &str) -> bool {
    PROVIDERS.iter().any(|p| match p {
        Provider::Domain(d) => {
            name == *d || name.strip_suffix(d).is_some_and(|rest| rest.ends_with('.'))
        }
        Provider::Label(l) => label == *l,
    })
}

/// One rule of the access-word list.
enum WordRule {
    /// The word, once trailing digits are dropped.
    Exact(&'static str),
    /// Any word starting with this.
    Prefix(&'static str),
    /// Two words in a row in one label; `None` as the second stands for a number.
    Pair(&'static str, Option<&'static str>),
}

static WORD_RULES: LazyLock<Vec<WordRule>> = LazyLock::new(|| {
    data_lines(ACCESS_WORDS)
        .map(|line| match line.split_once(' ') {
            Some((a, "<n>")) => WordRule::Pair(a, None),
            Some((a, b)) => WordRule::Pair(a, Some(b.trim())),
            None => match line.strip_suffix('*') {
                Some(p) => WordRule::Prefix(p),
                None => WordRule::Exact(line),
            },
        })
        .collect()
});

fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn has_access_word(host: &str) -> bool {
    host.split('.').any(|label| {
        let words: Vec<&str> = label.split(['-', '_']).filter(|w| !w.is_empty()).collect();
        words.iter().enumerate().any(|(i, word)| {
            let bare = word.trim_end_matches(|c: char| c.is_ascii_digit());
            let next = words.get(i + 1);
            WORD_RULES.iter().any(|rule| match rule {
                WordRule::Exact(w) => bare == *w || *word == *w,
                WordRule::Prefix(p) => word.starts_with(p),
                WordRule::Pair(a, b) => {
                    *word == *a
                        && next.is_some_and(|n| match b {
                            Some(b) => n == b,
                            None => n.starts_with(|c: char| c.is_ascii_digit()),
                        })
                }
            })
        })
    })
}

/// The maximal runs of ASCII digits in `s`, in order.
fn digit_runs(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .collect()
}

/// Whether `s` shows `ip` in one of the forms access networks use.
fn carries_address(s: &str, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => carries_v4(s, v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => carries_v4(s, v4),
            None => carries_v6(s, v6),
        },
    }
}

fn carries_v4(s: &str, ip: Ipv4Addr) -> bool {
    let o = ip.octets().map(u32::from);
    // Numbers in the name, whatever separates them (dots, dashes, letters) and however padded.
    let numbers: Vec<u32> = digit_runs(s)
        .iter()
        .filter(|r| r.len() <= 3)
        .filter_map(|r| r.parse().ok())
        .collect();
    let forward = [o[0], o[1], o[2], o[3]];
    let reversed = [o[3], o[2], o[1], o[0]];
    let has_run = |seq: &[u32]| numbers.windows(seq.len()).any(|w| w == seq);
    for order in [forward, reversed] {
        if has_run(&order[..3]) || has_run(&order[1..]) {
            return true;
        }
    }
    // The host's own two octets, e.g. "dsl-45-67.example.net" for x.y.45.67.
    if has_run(&[o[2], o[3]]) || has_run(&[o[3], o[2]]) {
        return true;
    }
    // One-piece forms: zero-padded or plain concatenation, the 32-bit number, hex.
    let padded = format!("{:03}{:03}{:03}{:03}", o[0], o[1], o[2], o[3]);
    let plain = format!("{}{}{}{}", o[0], o[1], o[2], o[3]);
    let number = u32::from(ip).to_string();
    let hex = format!("{:08x}", u32::from(ip));
    let hex_padded = format!("{:02x}-{:02x}-{:02x}-{:02x}", o[0], o[1], o[2], o[3]);
    let compact: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    [padded, plain, number, hex]
        .iter()
        .any(|form| form.len() >= 7 && compact.contains(form.as_str()))
        || s.contains(&hex_padded)
}

fn carries_v6(s: &str, ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // Hex groups in the name ("2001-db8-85a3--8a2e" or "2001.0db8.85a3").
    let groups: Vec<u16> = s
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|g| !g.is_empty() && g.len() <= 4)
        .filter_map(|g| u16::from_str_radix(g, 16).ok())
        .collect();
    let nonzero: Vec<u16> = segments.iter().copied().filter(|&g| g != 0).collect();
    if nonzero.len() >= 3
        && groups
            .windows(3)
            .any(|w| nonzero.windows(3).any(|n| n == w))
    {
        return true;
    }
    // The interface identifier or the whole address as one hex run.
    let compact: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let bits = u128::from(ip);
    let full = format!("{bits:032x}");
    let iid = format!("{:016x}", bits as u64);
    compact.contains(&full) || (bits as u64 != 0 && compact.contains(&iid))
}

/// Numbers and hex strings that name a line rather than a host: a long digit run, a long hex
/// run with a digit in it, or four octet-sized numbers in a row (some other address).
fn looks_numbered(s: &str) -> bool {
    let runs = digit_runs(s);
    if runs.iter().any(|r| r.len() >= LONG_DIGIT_RUN) {
        return true;
    }
    let long_hex = s
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|r| r.len() >= LONG_HEX_RUN && r.bytes().any(|b| b.is_ascii_digit()));
    if long_hex {
        return true;
    }
    // Four numbers 0-255 separated only by dots, dashes or underscores.
    let mut count = 0;
    for piece in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let octet = !piece.is_empty()
            && piece.len() <= 3
            && piece.bytes().all(|b| b.is_ascii_digit())
            && piece.parse::<u16>().is_ok_and(|n| n <= 255);
        count = if octet { count + 1 } else { 0 };
        if count >= 4 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }
    const SOME_V4: &str = "203.0.113.77";

    #[track_caller]
    fn yes(ptr: &str, ip: IpAddr, want: &str) {
        assert_eq!(
            company_domain_from_ptr(ptr, ip).as_deref(),
            Some(want),
            "{ptr} should name {want}"
        );
    }
    #[track_caller]
    fn no(ptr: &str, ip: IpAddr) {
        assert_eq!(
            company_domain_from_ptr(ptr, ip),
            None,
            "{ptr} should name no company"
        );
    }

    #[test]
    fn business_names_give_their_registrable_domain() {
        let ip = v4(SOME_V4);
        for (ptr, want) in [
            ("mail.acme-gmbh.de", "acme-gmbh.de"),
            ("mail.acme-gmbh.de.", "acme-gmbh.de"),
            ("MAIL.Acme-GmbH.DE.", "acme-gmbh.de"),
            ("  mail.acme-gmbh.de  ", "acme-gmbh.de"),
            ("mx1.corp.example.co.uk", "example.co.uk"),
            ("acme-gmbh.de", "acme-gmbh.de"),
            ("gw.muster-ag.ch", "muster-ag.ch"),
            ("fw01.hq.contoso.com", "contoso.com"),
            ("vpn.initech.com", "initech.com"),
            ("nat-gw.berlin.siemens-energy.com", "siemens-energy.com"),
            ("proxy2.net.bosch.com", "bosch.com"),
            ("outbound.mail.roche.ch", "roche.ch"),
            (
                "smtp.stadtwerke-musterstadt.de",
                "stadtwerke-musterstadt.de",
            ),
            ("firewall.kanzlei-mueller.de", "kanzlei-mueller.de"),
            ("edge1.paris.lvmh.fr", "lvmh.fr"),
            ("www.uni-heidelberg.de", "uni-heidelberg.de"),
            ("mail.example.com.au", "example.com.au"),
            ("host1.acme.co.jp", "acme.co.jp"),
            ("ip.acme.de", "acme.de"),
            ("static.acme.de", "acme.de"),
            ("mail2019.brewery.ie", "brewery.ie"),
            ("mx-10.acme.nl", "acme.nl"),
            ("web3.acme-mobile.de", "acme-mobile.de"),
            ("office.cable-and-wire.co.uk", "cable-and-wire.co.uk"),
            ("gw.acme.gov.uk", "acme.gov.uk"),
        ] {
            yes(ptr, ip, want);
        }
    }

    #[test]
    fn access_network_words_are_refused() {
        let ip = v4(SOME_V4);
        for ptr in [
            "dyn.example-isp.de",
            "dynamic.kabel-example.de",
            "dsl.example-isp.net",
            "adsl2-line.example-isp.it",
            "vdsl.example-isp.de",
            "pool-a.example-isp.com",
            "pool71.example-isp.com",
            "cust.example-isp.nl",
            "customer.lisbon.example-isp.pt",
            "dhcp-a.example-isp.fr",
            "dhcpclient.example-isp.fr",
            "dialup.example-isp.net",
            "ppp.example-isp.net",
            "pppoe-user.example-isp.net",
            "cable.example-isp.com",
            "broadband.example-isp.co.uk",
            "static-ip.example-isp.de",
            "ip-77-12.example-isp.de",
            "ip-10-20.example-isp.de",
            "host-17-42.example-isp.de",
            "client.example-isp.ru",
            "user.example-isp.ru",
            "res.example-isp.com",
            "residential.example-isp.com",
            "fiber.example-isp.se",
            "fibre.example-isp.co.uk",
            "ftth.example-isp.fr",
            "mobile.example-carrier.de",
            "wireless.example-carrier.com",
            "lte.example-carrier.de",
            "4g.example-carrier.it",
            "5g-nr.example-carrier.jp",
            "cpe-abc.example-isp.com",
            "cpe0012ab.example-isp.com",
            "in-addr.example-isp.net",
            "home.example-isp.nl",
            "unassigned.example-isp.com",
        ] {
            no(ptr, ip);
        }
    }

    #[test]
    fn names_carrying_the_ipv4_address_are_refused() {
        let ip = v4("81.173.5.198");
        for ptr in [
            "81-173-5-198.example-isp.de",
            "81.173.5.198.example-isp.de",
            "198.5.173.81.example-isp.de",
            "198-5-173-81.example-isp.de",
            "081-173-005-198.example-isp.de",
            "081173005198.example-isp.de",
            "x81173005198.example-isp.de",
            "a81-173-5.example-isp.de",
            "p173-5-198.example-isp.de",
            "h5-198.example-isp.de",
            "l198-5.example-isp.de",
            "51ad05c6.example-isp.de",
            "c-51ad05c6.example-isp.de",
            "host51-ad-05-c6.example-isp.de",
            "1370293702.example-isp.de",
            "r81x173x5x198.example-isp.de",
        ] {
            no(ptr, ip);
        }
        // The same shapes with other numbers are still long digit runs or octet quads.
        no("10-20-30-40.example-isp.de", ip);
        no("a12345678.example-isp.de", ip);
        no("p5b0c1a2e3f40.example-isp.de", ip);
    }

    #[test]
    fn names_carrying_the_ipv6_address_are_refused() {
        let ip = v6("2a02:8108:1e40:5b00:1234:5678:9abc:def0");
        for ptr in [
            "2a02-8108-1e40-5b00.example-isp.de",
            "2a02.8108.1e40.example-isp.de",
            "1234-5678-9abc.example-isp.de",
            "x12345678_9abcdef0.example-isp.de",
            "ip6-123456789abcdef0.example-isp.de",
        ] {
            no(ptr, ip);
        }
        yes("mail.acme-gmbh.de", ip, "acme-gmbh.de");
        // IPv4-mapped addresses are checked as IPv4.
        no("81-173-5-198.example-isp.de", v6("::ffff:81.173.5.198"));
    }

    #[test]
    fn real_looking_access_names_with_their_own_address_are_refused() {
        for (ptr, addr) in [
            (
                "dslb-178-003-123-045.178.003.pools.vodafone-ip.de",
                "178.3.123.45",
            ),
            ("ip5f5a1b2c.dynamic.kabel-deutschland.de", "95.90.27.44"),
            ("x4db1c2d3.dyn.telefonica.de", "77.177.194.211"),
            ("i59f7a1b2.versanet.de", "89.247.161.178"),
            (
                "ip-088-152-012-034.um23.pools.vodafone-ip.de",
                "88.152.12.34",
            ),
            ("business-178-015-001-002.static.arcor-ip.net", "178.15.1.2"),
            ("b2b-78-94-1-2.unity-media.net", "78.94.1.2"),
            ("mue-88-130-1-2.dsl.tropolys.de", "88.130.1.2"),
            ("port-92-195-1-2.dynamic.as20676.net", "92.195.1.2"),
            (
                "dynamic-077-010-001-002.77.10.pool.telefonica.de",
                "77.10.1.2",
            ),
            (
                "hsi-kbw-46-223-1-2.hsi.kabel-badenwuerttemberg.de",
                "46.223.1.2",
            ),
            ("aftr-95-222-1-2.unity-media.net", "95.222.1.2"),
            ("cable-158-181-1-2.cust.telecolumbus.net", "158.181.1.2"),
            ("static.212.1.2.3.clients.your-server.de", "3.2.1.212"),
            (
                "ec2-3-120-1-2.eu-central-1.compute.amazonaws.com",
                "3.120.1.2",
            ),
            ("ip-172-31-1-2.eu-central-1.compute.internal", "172.31.1.2"),
            ("crawl-66-249-66-1.googlebot.com", "66.249.66.1"),
            ("msnbot-157-55-39-1.search.msn.com", "157.55.39.1"),
            (
                "bras-base-toroon0123w-grc-01-74-12-1-2.dsl.bell.ca",
                "74.12.1.2",
            ),
            ("d75-156-1-2.abhsia.telus.net", "75.156.1.2"),
            ("s0106a84e3fd1e2f3.vc.shawcable.net", "24.80.1.2"),
            (
                "cpc123456-brnt5-2-0-cust789.4-2.cable.virginm.net",
                "86.1.2.3",
            ),
            ("host86-150-1-2.range86-150.btcentralplus.com", "86.150.1.2"),
            ("lfbn-idf1-1-123-45.w86-195.abo.wanadoo.fr", "86.195.123.45"),
            ("91-160-1-2.subs.proxad.net", "91.160.1.2"),
            ("net-93-144-1-2.cust.vodafonedsl.it", "93.144.1.2"),
            ("a81-84-1-2.cpe.netcabo.pt", "81.84.1.2"),
            ("188-23-1-2.adsl.highway.telekom.at", "188.23.1.2"),
            ("62-2-1-2.static.cablecom.ch", "62.2.1.2"),
            ("dsl-hkibng31-54f8a1-2.dhcp.inet.fi", "84.248.161.2"),
            ("ip-31-0-1-2.multi.internet.cyfrowypolsat.pl", "31.0.1.2"),
            ("customer-187-141-1-2-sta.uninet-ide.com.mx", "187.141.1.2"),
            ("189-47-1-2.dsl.telesp.net.br", "189.47.1.2"),
            ("ppp-94-64-1-2.home.otenet.gr", "94.64.1.2"),
            ("static-1-2-3-4.ctinets.com", "1.2.3.4"),
            ("unn-149-40-50-1.datapacket.com", "149.40.50.1"),
            ("c-73-162-55-10.hsd1.ca.comcast.net", "73.162.55.10"),
            ("pool-71-105-1-2.nycmny.fios.verizon.net", "71.105.1.2"),
        ] {
            no(ptr, v4(addr));
        }
        for (ptr, addr) in [
            (
                "2a01cb0801234500a1b2c3d4e5f6a7b8.ipv6.abo.wanadoo.fr",
                "2a01:cb08:123:4500:a1b2:c3d4:e5f6:a7b8",
            ),
            (
                "2003-e4-1f12-3400-1c2b-3a4d-5e6f-7a8b.ip6.example-isp.de",
                "2003:e4:1f12:3400:1c2b:3a4d:5e6f:7a8b",
            ),
            (
                "dynamic-2a00-1028-8380-1234.ipv6.example.cz",
                "2a00:1028:8380:1234::1",
            ),
        ] {
            no(ptr, v6(addr));
        }
    }

    #[test]
    fn real_looking_company_names_are_kept() {
        for (ptr, addr, want) in [
            (
                "mail.mueller-maschinenbau.de",
                "81.173.5.198",
                "mueller-maschinenbau.de",
            ),
            ("smtp-out.cern.ch", "188.184.1.2", "cern.ch"),
            ("firewall.rathaus.wien.gv.at", "193.170.1.2", "wien.gv.at"),
            (
                "exchange.klinikum-stuttgart.de",
                "195.145.1.2",
                "klinikum-stuttgart.de",
            ),
            ("gate.sap.com", "155.56.1.2", "sap.com"),
            ("outbound-1.mail.zalando.de", "185.85.1.2", "zalando.de"),
            ("proxy3.fra.db.de", "81.200.1.2", "db.de"),
            ("vpn-gw.wuerth.com", "62.153.1.2", "wuerth.com"),
            ("fw.kanzlei-schmidt.at", "213.33.1.2", "kanzlei-schmidt.at"),
            ("mx.stadt-koeln.de", "194.8.1.2", "stadt-koeln.de"),
            ("nat01.bayer.com", "192.101.1.2", "bayer.com"),
            ("www-proxy.ethz.ch", "129.132.1.2", "ethz.ch"),
            ("edge-router.volvo.se", "155.70.1.2", "volvo.se"),
            (
                "citrix.stiftung-warentest.de",
                "91.227.1.2",
                "stiftung-warentest.de",
            ),
            ("mail.example.org.uk", "203.0.113.5", "example.org.uk"),
            ("gw2.lab.acme.nl", "2001:67c:2e8::2", "acme.nl"),
        ] {
            yes(ptr, ip_any(addr), want);
        }
    }

    fn ip_any(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn provider_domains_are_refused() {
        let ip = v4("52.28.1.9");
        for ptr in [
            "ec2-52-28-1-9.eu-central-1.compute.amazonaws.com",
            "server.amazonaws.com",
            "a.b.cloudfront.net",
            "9.1.28.52.bc.googleusercontent.com",
            "some.googleusercontent.com",
            "a23-45-67-89.deploy.static.akamaitechnologies.com",
            "edge.akamaitechnologies.com",
            "li123-45.members.linode.com",
            "server.linode.com",
            "static.1.9.28.52.clients.your-server.de",
            "mail.your-server.de",
            "srv.hetzner.com",
            "srv.hetzner.de",
            "vps.ovh.net",
            "vps.ovh.ca",
            "ns3001234.ip-52-28-1.eu",
            "c-73-162-55-10.hsd1.ca.comcast.net",
            "office.comcast.net",
            "pool-71-105-1-2.nycmny.fios.verizon.net",
            "somewhere.verizon.net",
            "p5b0c1a2e.dip0.t-ipconnect.de",
            "x.t-ipconnect.de",
            "host81-1-2-3.range81-1.btcentralplus.com",
            "office.btcentralplus.com",
            "cpe-1-2-3-4.nyc.res.rr.com",
            "something.rr.com",
            "x.dyndns.org",
            "acme.no-ip.org",
            "acme.github.io",
            "acme.herokuapp.com",
        ] {
            no(ptr, ip);
        }
    }

    #[test]
    fn unusable_names_are_refused() {
        let ip = v4(SOME_V4);
        for ptr in [
            "",
            ".",
            "localhost",
            "acme",
            "co.uk",
            "de",
            "77.113.0.203.in-addr.arpa",
            "printer.local",
            "mail.acme.invalidtld",
            "mail..acme.de",
            "-mail.acme.de",
            "mail.acme.de/x",
            "mail acme.de",
            "mäil.acme.de",
            "xn--mil-via.acme.de",
            &"a.".repeat(130),
        ] {
            if ptr.starts_with("xn--") {
                // Punycode is plain ASCII and a valid host name.
                yes(ptr, ip, "acme.de");
            } else {
                no(ptr, ip);
            }
        }
    }

    #[test]
    fn the_data_files_parse() {
        assert!(WORD_RULES.len() > 50);
        assert!(PROVIDERS.len() > 100);
        for line in data_lines(PROVIDER_DOMAINS) {
            assert!(
                line.contains('.') && !line.contains(' ') && line == line.to_ascii_lowercase(),
                "bad provider line {line:?}"
            );
        }
        for line in data_lines(ACCESS_WORDS) {
            assert!(
                line.split(' ').count() <= 2 && line == line.to_ascii_lowercase(),
                "bad word line {line:?}"
            );
        }
    }
}
