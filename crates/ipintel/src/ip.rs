//! Parsing addresses from user input and mapping them to the index's integer keys.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::Error;

/// Parses an IPv4 or IPv6 address, also in the bracketed form `[2001:db8::1]` used in URLs.
///
/// Surrounding whitespace is ignored. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is
/// returned as IPv4, because that is the address the visitor really has.
pub fn parse_ip(input: &str) -> Result<IpAddr, Error> {
    let trimmed = input.trim();
    let bare = match trimmed.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or_else(|| invalid(input))?,
        None => trimmed,
    };
    let ip: IpAddr = bare.parse().map_err(|_| invalid(input))?;
    Ok(canonical(ip))
}

fn invalid(input: &str) -> Error {
    Error::InvalidIp {
        input: input.to_owned(),
    }
}

/// IPv4-mapped IPv6 addresses are looked up as IPv4.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Address family of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4, keys are 0..=u32::MAX.
    V4,
    /// IPv6, keys are 0..=u128::MAX.
    V6,
}

impl Family {
    pub(crate) fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }
}

pub(crate) fn key_of(ip: IpAddr) -> (Family, u128) {
    match canonical(ip) {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    }
}

pub(crate) fn addr_of(family: Family, key: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(key as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(key)),
    }
}

/// The largest CIDR block that contains `key` and lies wholly inside `start..=end`.
pub(crate) fn cidr_within(family: Family, key: u128, start: u128, end: u128) -> ipnet::IpNet {
    let bits: u32 = match family {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    let mut prefix = bits;
    // Widen the block one bit at a time while it still fits in the range.
    while prefix > 0 {
        let host_bits = bits - prefix + 1;
        let mask: u128 = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let lo = key & !mask;
        let hi = lo | (mask & family.max());
        if lo < start || hi > end {
            break;
        }
        prefix -= 1;
    }
    let net_addr = {
        let host_bits = bits - prefix;
        let mask: u128 = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        key & !mask
    };
    match addr_of(family, net_addr) {
        IpAddr::V4(a) => ipnet::IpNet::V4(ipnet::Ipv4Net::new_assert(a, prefix as u8)),
        IpAddr::V6(a) => ipnet::IpNet::V6(ipnet::Ipv6Net::new_assert(a, prefix as u8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_v6_and_brackets() {
        assert_eq!(parse_ip("192.0.2.1"), Ok("192.0.2.1".parse().unwrap()));
        assert_eq!(
            parse_ip(" 2001:db8::1 "),
            Ok("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_ip("[2001:db8::1]"),
            Ok("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            parse_ip("::ffff:192.0.2.1"),
            Ok("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn malformed_ip_error_names_the_input() {
        for bad in [
            "",
            "1.2.3",
            "1.2.3.256",
            "[::1",
            "::1]",
            "example.com",
            "1.2.3.4/24",
        ] {
            let err = parse_ip(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn cidr_is_largest_block_inside_range() {
        let f = Family::V4;
        assert_eq!(
            cidr_within(f, 5, 0, u32::MAX as u128).to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            cidr_within(f, 0x0100_0001, 0x0100_0000, 0x0100_00ff).to_string(),
            "1.0.0.0/24"
        );
        // 1.0.0.0 - 1.0.2.255: 1.0.2.x lies in the /24, 1.0.0.x in the /23.
        assert_eq!(
            cidr_within(f, 0x0100_0205, 0x0100_0000, 0x0100_02ff).to_string(),
            "1.0.2.0/24"
        );
        assert_eq!(
            cidr_within(f, 0x0100_0105, 0x0100_0000, 0x0100_02ff).to_string(),
            "1.0.0.0/23"
        );
        assert_eq!(cidr_within(Family::V6, 1, 0, u128::MAX).to_string(), "::/0");
        assert_eq!(
            cidr_within(Family::V6, u128::MAX, u128::MAX, u128::MAX).to_string(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
        );
    }
}
