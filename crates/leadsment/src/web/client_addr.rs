//! The client's address, decided in one place for every route: the socket peer, or, when the
//! peer is one of the configured `trusted_proxies`, the right-most hop of the one header that
//! `client_ip_header` names that is not itself a trusted proxy. Only that header is read: the
//! usual reverse proxies append to `X-Forwarded-For` and pass a client's own `Forwarded`
//! through untouched, so reading any other header would let a visitor choose their address.
//!
//! The address lives in memory only (rate limits, the organisation lookup); it is never logged
//! or stored.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use ipnet::IpNet;

/// The header that carries the client address when the peer is a trusted proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIpHeader {
    /// A comma-separated list of addresses, as `X-Forwarded-For` (the default) or
    /// `X-Real-IP` hold.
    List(HeaderName),
    /// RFC 7239 `Forwarded`: the `for=` parameters of its elements.
    Forwarded,
}

impl ClientIpHeader {
    /// Reads a header name as the operator writes it (`X-Forwarded-For`, `Forwarded`...).
    pub fn parse(name: &str) -> Result<ClientIpHeader, String> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("forwarded") {
            return Ok(ClientIpHeader::Forwarded);
        }
        HeaderName::from_bytes(name.as_bytes())
            .map(ClientIpHeader::List)
            .map_err(|_| format!("`{name}` is not an HTTP header name"))
    }
}

impl Default for ClientIpHeader {
    fn default() -> Self {
        ClientIpHeader::List(HeaderName::from_static("x-forwarded-for"))
    }
}

/// Which peers are believed, and which header they write.
#[derive(Debug, Clone, Default)]
pub struct ClientAddrPolicy {
    pub trusted_proxies: Vec<IpNet>,
    pub header: ClientIpHeader,
}

impl ClientAddrPolicy {
    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The addresses the proxies recorded in the configured header, nearest to the client
    /// first.
    fn chain(&self, headers: &HeaderMap) -> Vec<IpAddr> {
        let mut chain = Vec::new();
        match &self.header {
            ClientIpHeader::List(name) => {
                for value in headers.get_all(name) {
                    let Ok(value) = value.to_str() else { continue };
                    chain.extend(value.split(',').filter_map(parse_hop));
                }
            }
            ClientIpHeader::Forwarded => {
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
            }
        }
        chain
    }

    /// The client address of a request from `peer`, canonical (an IPv4-mapped IPv6 address,
    /// as dual-stack sockets report them, is its IPv4 address).
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.trusted_proxies.is_empty() || !self.trusted(peer) {
            return peer.to_canonical();
        }
        let chain = self.chain(headers);
        // Walk from the proxy nearest to us outwards; the first untrusted hop is the client.
        if let Some(hop) = chain.iter().rev().find(|hop| !self.trusted(**hop)) {
            return hop.to_canonical();
        }
        // Every hop was a proxy of ours: the left-most is as far as we can see.
        chain.first().unwrap_or(&peer).to_canonical()
    }
}

/// Parses one hop of `X-Forwarded-For` or a `for=` of `Forwarded`, with or without port,
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

/// The key a rate limiter counts a client under: an IPv4 address, or the /64 of an IPv6
/// address (one subscriber usually holds a whole /64, and could otherwise rotate through it).
pub fn limiter_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// The client address as an extractor. The policy comes from the request's extensions (the
/// server adds it as a layer); without one, no proxy is trusted.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key for rate limiters ([`limiter_key`]).
    pub fn limiter_key(self) -> IpAddr {
        limiter_key(self.0)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<ClientAddr, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server has no peer address",
            ));
        };
        let ip = match parts.extensions.get::<Arc<ClientAddrPolicy>>() {
            Some(policy) => policy.resolve(peer.ip(), &parts.headers),
            None => peer.ip().to_canonical(),
        };
        Ok(ClientAddr(ip))
    }
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

    fn policy(nets: &[&str], header: &str) -> ClientAddrPolicy {
        ClientAddrPolicy {
            trusted_proxies: nets.iter().map(|n| n.parse().unwrap()).collect(),
            header: ClientIpHeader::parse(header).unwrap(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_are_ignored_without_trusted_proxies() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        let p = policy(&[], "X-Forwarded-For");
        assert_eq!(p.resolve(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        let p = policy(&["10.0.0.0/8"], "X-Forwarded-For");
        assert_eq!(p.resolve(ip("203.0.113.9"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = policy(&["10.0.0.0/8", "2001:db8:ffff::/48"], "X-Forwarded-For");
        // The client tried to spoof 1.2.3.4; the real client is 198.51.100.7.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.8:5555"),
        ]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("198.51.100.8"));
    }

    #[test]
    fn only_the_named_header_is_read() {
        // A client's own `Forwarded`, passed through by a proxy that appends to
        // X-Forwarded-For, is not believed.
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            ("forwarded", "for=8.8.8.8"),
        ]);
        let p = policy(&["10.0.0.0/8"], "X-Forwarded-For");
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        // Named, `Forwarded` is read, and X-Forwarded-For is not.
        let p = policy(&["10.0.0.0/8"], "Forwarded");
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("8.8.8.8"));
        let h = headers(&[(
            "forwarded",
            "for=\"[2001:db8:1::5]:443\";proto=https, for=10.1.1.1",
        )]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("2001:db8:1::5"));
        // Another list header, as some proxies set X-Real-IP.
        let h = headers(&[
            ("x-real-ip", "198.51.100.9"),
            ("x-forwarded-for", "1.1.1.1"),
        ]);
        let p = policy(&["10.0.0.0/8"], "X-Real-IP");
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("198.51.100.9"));
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let p = policy(&["127.0.0.1/32"], "X-Forwarded-For");
        let h = headers(&[("x-forwarded-for", "::ffff:198.51.100.9")]);
        assert_eq!(p.resolve(ip("::ffff:127.0.0.1"), &h), ip("198.51.100.9"));
    }

    #[test]
    fn garbage_hops_are_skipped() {
        let p = policy(&["10.0.0.0/8"], "X-Forwarded-For");
        let h = headers(&[("x-forwarded-for", "unknown, 198.51.100.7, not-an-ip")]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        let h = headers(&[("x-forwarded-for", "")]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn limiters_count_ipv4_addresses_and_ipv6_networks() {
        assert_eq!(limiter_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(limiter_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(
            limiter_key(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            limiter_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            limiter_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            limiter_key(ip("2001:db8:1:3::1")),
            limiter_key(ip("2001:db8:1:2::1"))
        );
    }

    #[test]
    fn header_names_are_checked() {
        assert_eq!(
            ClientIpHeader::parse(" forwarded ").unwrap(),
            ClientIpHeader::Forwarded
        );
        assert_eq!(
            ClientIpHeader::parse("X-Forwarded-For").unwrap(),
            ClientIpHeader::default()
        );
        assert!(ClientIpHeader::parse("X Forwarded").is_err());
        assert!(ClientIpHeader::parse("").is_err());
    }
}
