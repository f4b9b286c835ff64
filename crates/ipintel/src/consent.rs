//! The consent zone: where ePrivacy-style consent rules apply to visitors.

/// EU member states, the other EEA states (Iceland, Liechtenstein, Norway), the United Kingdom
/// and Switzerland, as ISO 3166-1 alpha-2 codes. Greece is listed both as GR and as EL (the
/// code EU bodies use), and the UK both as GB and as UK.
const ZONE: [&str; 34] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB",
    "UK", "CH",
];

/// Whether a country (ISO 3166-1 alpha-2, any case) is in the EU/EEA/UK/CH consent zone.
///
/// Territories with their own codes that are part of the EU (e.g. Réunion `RE`, Guadeloupe
/// `GP`, Martinique `MQ`, French Guiana `GF`, Mayotte `YT`, Saint Martin `MF`, the Åland
/// Islands `AX`) count as in the zone too; callers treat an unknown country as in the zone.
pub fn in_consent_zone(country: &str) -> bool {
    let c = country.trim();
    if c.len() != 2 {
        return false;
    }
    let upper = c.to_ascii_uppercase();
    ZONE.contains(&upper.as_str())
        || matches!(
            upper.as_str(),
            "RE" | "GP" | "MQ" | "GF" | "YT" | "MF" | "AX"
        )
}

#[cfg(test)]
mod tests {
    use super::in_consent_zone;

    #[test]
    fn zone_membership() {
        for c in ["DE", "fr", "GB", "CH", "NO", "IS", "LI", "GR", "RE"] {
            assert!(in_consent_zone(c), "{c}");
        }
        for c in ["US", "CN", "RU", "TR", "", "ZZZ"] {
            assert!(!in_consent_zone(c), "{c}");
        }
    }
}
