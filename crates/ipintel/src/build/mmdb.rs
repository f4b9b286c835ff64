//! MMDB importer, through the `maxminddb` crate.
//!
//! Field mappings (first present wins):
//! - ASN: `autonomous_system_number` (GeoLite2-ASN), `asn` as `"AS15169"` or a number (IPinfo Lite);
//! - organisation: `autonomous_system_organization` (GeoLite2-ASN), `as_name` (IPinfo Lite);
//! - domain: `as_domain` (IPinfo Lite);
//! - country: `country_code` (IPinfo Lite, ip-location-db), `country.iso_code`, then
//!   `registered_country.iso_code` (GeoLite2-Country/-City).

use std::net::IpAddr;

use serde::Deserialize;

use super::{BuildError, Interner, Parsed, Row, Source, credit};
use crate::index::{NO_COUNTRY, NONE};
use crate::ip::{Family, key_of};

#[derive(Debug, Deserialize, Default)]
struct Fields {
    country_code: Option<String>,
    country: Option<CountryField>,
    registered_country: Option<IsoCode>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
    asn: Option<AsnField>,
    as_name: Option<String>,
    as_domain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CountryField {
    Map(IsoCode),
    // IPinfo Lite puts the country's name here; its code is in `country_code`.
    Name(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct IsoCode {
    iso_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AsnField {
    Number(u32),
    Text(String),
}

pub(super) fn read(
    source: &Source,
    interner: &mut Interner,
    progress: &mut dyn FnMut(u64),
) -> Result<Parsed, BuildError> {
    let path = source.path.as_path();
    let err = |message: String| BuildError::Mmdb {
        path: path.to_owned(),
        message,
    };
    let reader = maxminddb::Reader::open_readfile(path).map_err(|e| err(e.to_string()))?;
    let meta = reader.metadata();
    let ipv6_db = meta.ip_version == 6;
    let mut parsed = Parsed {
        data_date: Some(super::date_of_unix(meta.build_epoch)),
        ..Parsed::default()
    };
    let kind = meta.database_type.to_ascii_lowercase();
    if kind.starts_with("geolite2") {
        parsed.credits.push(credit(
            "This product includes GeoLite2 data created by MaxMind",
            "https://www.maxmind.com",
            (
                "GeoLite2 End User License Agreement",
                "https://www.maxmind.com/en/geolite2/eula",
            ),
        ));
    } else if kind.contains("ipinfo") {
        parsed.credits.push(credit(
            "IP address data powered by IPinfo",
            "https://ipinfo.io",
            (
                "CC BY-SA 4.0",
                "https://creativecommons.org/licenses/by-sa/4.0/",
            ),
        ));
    }
    let networks = reader
        .networks(Default::default())
        .map_err(|e| err(e.to_string()))?;
    let mut n = 0u64;
    for item in networks {
        n += 1;
        if n.is_multiple_of(65_536) {
            // The reader gives no byte offsets; report progress as "started" until the end.
            progress(0);
        }
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                parsed.bad(path, n, format!("network #{n}: {e}"));
                continue;
            }
        };
        let net = match item.network() {
            Ok(net) => net,
            Err(e) => {
                parsed.bad(path, n, format!("network #{n}: {e}"));
                continue;
            }
        };
        let fields: Fields = match item.decode() {
            Ok(Some(f)) => f,
            Ok(None) => {
                parsed.skipped += 1;
                continue;
            }
            Err(e) => {
                parsed.bad(path, n, format!("network {net}: {e}"));
                continue;
            }
        };
        let (mut family, start) = key_of(net.network());
        let host_bits = match net.network() {
            IpAddr::V4(_) => 32 - u32::from(net.prefix()),
            IpAddr::V6(_) => 128 - u32::from(net.prefix()),
        };
        let mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let end = start | mask;
        // In an IPv6 database, IPv4 lives in ::/96.
        if ipv6_db && family == Family::V6 && end <= u128::from(u32::MAX) {
            family = Family::V4;
        } else if ipv6_db && family == Family::V6 && start == 0 {
            // A block that spans ::/96 and more also covers all of IPv4.
            parsed.push(
                Family::V4,
                row_for(&fields, interner, 0, u128::from(u32::MAX), n).map_err(err)?,
            );
        }
        let row = row_for(&fields, interner, start, end, n).map_err(err)?;
        if row.owner == NONE && row.country == NO_COUNTRY {
            parsed.skipped += 1;
            continue;
        }
        parsed.push(family, row);
    }
    progress(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    Ok(parsed)
}

fn row_for(
    f: &Fields,
    interner: &mut Interner,
    start: u128,
    end: u128,
    n: u64,
) -> Result<Row, String> {
    let asn = f.autonomous_system_number.or_else(|| match &f.asn {
        Some(AsnField::Number(n)) => Some(*n),
        Some(AsnField::Text(t)) => t.trim_start_matches("AS").parse().ok(),
        None => None,
    });
    let org = f
        .autonomous_system_organization
        .as_deref()
        .or(f.as_name.as_deref());
    let owner = interner
        .owner(asn.unwrap_or(0), org, f.as_domain.as_deref())
        .map_err(|e| e.to_string())?;
    let code = f
        .country_code
        .as_deref()
        .or(match &f.country {
            Some(CountryField::Map(m)) => m.iso_code.as_deref(),
            _ => None,
        })
        .or(f
            .registered_country
            .as_ref()
            .and_then(|r| r.iso_code.as_deref()));
    // A malformed country in one record should not sink the file: treat it as unknown.
    let country = code
        .map(|c| interner.country(c).unwrap_or(NO_COUNTRY))
        .unwrap_or(NO_COUNTRY);
    Ok(Row {
        start,
        end,
        line: n,
        owner,
        country,
    })
}
