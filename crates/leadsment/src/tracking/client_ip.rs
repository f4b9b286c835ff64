//! The visitor's address: the socket peer, or, when the peer is one of the configured trusted
//! proxies, the right-most address in `X-Forwarded-For` / `Forwarded` that is not itself a
//! trusted proxy. Anyone can send those headers, so they are believed only from a proxy.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as dual-stack sockets report them) are
/// IPv4 addresses.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses one element of `X-Forwarded-For` or a `for=` of `Forwarded`, with or without port,
/// brackets and quotes.
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    // "[2001:db8::1]" without a port.
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse().ok())
}

/// The addresses the proxies recorded, nearest to the client first.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut chain = Vec::new();
    for value in headers.get_all("forwarded") {
        let Ok(value) = value.to_str() else { continue };
        for element in value.split(',') {
            for pair in element.split(';') {
                if let Some((k, v)) = pair.split_once('=')
                    && k.trim().eq_ignore_ascii_case("for")
                    && let Some(ip) = parse_hop(v)
                {
                    chain.push(ip);
                }
            }
        }
    }
    if !chain.is_empty() {
        return chain;
    }
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else { continue };
        chain.extend(value.split(',').filter_map(parse_hop));
    }
    chain
}

/// The client address for a request from `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if proxies.is_empty() || !trusted(peer, proxies) {
        return canonical(peer);
    }
    let chain = forwarded_chain(headers);
    // Walk from the proxy nearest to us outwards; the first untrusted hop is the client.
    for hop in chain.iter().rev() {
        if !trusted(*hop, proxies) {
            return canonical(*hop);
        }
    }
    // Every hop was a proxy of ours: the left-most is as far as we can see.
    chain.first().map_or(canonical(peer), |ip| canonical(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_are_ignored_without_trusted_proxies() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        let proxies = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &proxies),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = nets(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        // The client tried to spoof 1.2.3.4; the real client is 198.51.100.7.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("198.51.100.7"));
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.8:5555"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("198.51.100.8"));
        let h = headers(&[(
            "forwarded",
            "for=\"[2001:db8:1::5]:443\";proto=https, for=10.1.1.1",
        )]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("2001:db8:1::5"));
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let proxies = nets(&["127.0.0.1/32"]);
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.9")]);
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), &h, &proxies),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn garbage_hops_are_skipped() {
        let proxies = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "unknown, 198.51.100.7, not-an-ip")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("198.51.100.7"));
        let h = headers(&[("x-forwarded-for", "")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("10.0.0.1"));
    }
}
