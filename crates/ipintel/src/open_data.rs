//! The open data packages this crate is built and tested with, pinned.
//!
//! The CLI fetches each package with `npm pack NAME@VERSION`, checks the tarball against the
//! integrity string (the `sha512-…` Subresource Integrity value npm reports), and builds from
//! the files in [`OPEN_DATA_FILES`], in that order (earlier files win; see `build`).

/// `(npm package, version, sha512 integrity as npm reports it)`.
pub const OPEN_DATA_PACKAGES: &[(&str, &str, &str)] = &[
    (
        "@ip-location-db/asn",
        "2.3.2026061719",
        "sha512-PpqYi7wyEyWwunXBtl+y3Vi403SvNywotWwvmiYCOUtE0SVol/Sf492Ee+eErEznmGapxEQB2SAfrpXuZ9a+vQ==",
    ),
    (
        "@ip-location-db/geo-whois-asn-country",
        "2.3.2026061719",
        "sha512-9MQ3r2q+GDLwW+Mye5duWnHe3n1qB1ZcNUcM9P58CpdW86Gt44AgfIrem6Pcy/tbCHhQ70RJCLngQQyYnaEjbw==",
    ),
    (
        "@ip-location-db/geo-whois-asn-country-mmdb",
        "2.3.2026061719",
        "sha512-xemBDNQl4mCYDuVbqe3jKGKsVDykZGkfvebhtOh/3VGLadq8vsp7t7ontpMUt3hH7sAGT0eLDyJ99SV+0waxZg==",
    ),
];

/// What a file in an open data package is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenDataRole {
    /// Imported into the index by `leadsment ipdb build`.
    Import,
    /// Not imported; used by tests and benchmarks as the MMDB baseline on the same data.
    Baseline,
}

/// `(npm package, path inside the tarball, role)`, in build order. Tarballs unpack under
/// `package/`, so the first file is `package/asn-ipv4.csv` in the unpacked tree.
pub const OPEN_DATA_FILES: &[(&str, &str, OpenDataRole)] = &[
    (
        "@ip-location-db/asn",
        "package/asn-ipv4.csv",
        OpenDataRole::Import,
    ),
    (
        "@ip-location-db/asn",
        "package/asn-ipv6.csv",
        OpenDataRole::Import,
    ),
    (
        "@ip-location-db/geo-whois-asn-country",
        "package/geo-whois-asn-country-ipv4.csv",
        OpenDataRole::Import,
    ),
    (
        "@ip-location-db/geo-whois-asn-country",
        "package/geo-whois-asn-country-ipv6.csv",
        OpenDataRole::Import,
    ),
    (
        "@ip-location-db/geo-whois-asn-country-mmdb",
        "package/geo-whois-asn-country.mmdb",
        OpenDataRole::Baseline,
    ),
];

/// The date of an ip-location-db version: `2.3.2026061719` was published 2026-06-17.
pub fn version_date(version: &str) -> Option<String> {
    let stamp = version.rsplit('.').next()?;
    if stamp.len() < 8 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8]
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_date_reads_the_stamp() {
        assert_eq!(
            super::version_date("2.3.2026061719").as_deref(),
            Some("2026-06-17")
        );
        assert_eq!(super::version_date("1.0.0"), None);
    }
}
