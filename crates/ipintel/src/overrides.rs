//! The customer's own map of networks to companies, which wins over the data.
//!
//! TOML format:
//!
//! ```toml
//! [[override]]
//! network = "203.0.113.0/24"   # CIDR, IPv4 or IPv6
//! name = "Example GmbH"        # shown as both `org` and `name`
//! domain = "example.com"       # optional
//! class = "business"           # optional, default "business"
//! country = "DE"               # optional; the data's country is kept when absent
//! ```
//!
//! When several overrides hold an address, the most specific network (longest prefix) wins;
//! between equal networks, the first one listed.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;

use crate::classify::Class;
use crate::consent::in_consent_zone;
use crate::index::Lookup;
use crate::ip::canonical;

/// One network mapped to a company.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The network.
    pub network: IpNet,
    /// Company name.
    pub name: String,
    /// Company domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Class; business when absent.
    #[serde(default)]
    pub class: Option<Class>,
    /// ISO 3166-1 alpha-2 country; the data's when absent.
    #[serde(default)]
    pub country: Option<String>,
}

/// A set of overrides, searched most specific first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    entries: Vec<Override>,
}

/// An overrides file or text that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OverridesError {
    /// The file could not be read.
    #[error("cannot read overrides file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TOML is not valid or does not have the expected shape.
    #[error("overrides: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("overrides entry {index} ({network}): {reason}")]
    Invalid {
        /// 1-based position in the file.
        index: usize,
        /// The entry's network.
        network: IpNet,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "override")]
    overrides: Vec<Override>,
}

impl Overrides {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds from entries, validating them.
    pub fn from_entries(entries: Vec<Override>) -> Result<Self, OverridesError> {
        for (i, e) in entries.iter().enumerate() {
            let bad = |reason: &str| OverridesError::Invalid {
                index: i + 1,
                network: e.network,
                reason: reason.to_owned(),
            };
            if e.name.trim().is_empty() {
                return Err(bad("name is empty"));
            }
            if let Some(c) = &e.country
                && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
            {
                return Err(bad("country must be a two-letter ISO 3166-1 code"));
            }
        }
        let mut entries: Vec<Override> = entries
            .into_iter()
            .map(|mut e| {
                e.network = e.network.trunc();
                e.country = e.country.map(|c| c.to_ascii_uppercase());
                e
            })
            .collect();
        // Stable sort keeps file order between equal prefixes.
        entries.sort_by_key(|e| std::cmp::Reverse(e.network.prefix_len()));
        Ok(Overrides { entries })
    }

    /// Parses the TOML format above.
    pub fn from_toml_str(text: &str) -> Result<Self, OverridesError> {
        let file: File = toml::from_str(text)?;
        Self::from_entries(file.overrides)
    }

    /// Reads the TOML format above from a file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, OverridesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| OverridesError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most specific override holding `ip`.
    pub fn find(&self, ip: IpAddr) -> Option<&Override> {
        let ip = canonical(ip);
        self.entries.iter().find(|e| e.network.contains(&ip))
    }

    /// Applies the matching override, if any, to a lookup from the data.
    pub fn apply(&self, ip: IpAddr, mut base: Lookup) -> Lookup {
        let Some(o) = self.find(ip) else {
            return base;
        };
        base.network = Some(o.network.to_string());
        base.org = Some(o.name.clone());
        base.name = Some(o.name.clone());
        base.domain = o.domain.clone();
        base.class = o.class.unwrap_or(Class::Business);
        base.class_reason = Some(format!("override: {}", o.network));
        if let Some(c) = &o.country {
            base.country = Some(c.clone());
            base.consent_zone = in_consent_zone(c);
        }
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[[override]]
network = "203.0.113.0/24"
name = "Example GmbH"
domain = "example.com"
country = "de"

[[override]]
network = "203.0.113.128/25"
name = "Branch Office"

[[override]]
network = "2001:db8::/32"
name = "V6 Corp"
class = "government"
"#;

    #[test]
    fn most_specific_override_wins() {
        let o = Overrides::from_toml_str(TOML).unwrap();
        let base = Lookup::unknown("203.0.113.200".parse().unwrap());
        let l = o.apply("203.0.113.200".parse().unwrap(), base);
        assert_eq!(l.name.as_deref(), Some("Branch Office"));
        assert_eq!(l.network.as_deref(), Some("203.0.113.128/25"));
        assert_eq!(l.class, Class::Business);
        let l = o.apply(
            "203.0.113.5".parse().unwrap(),
            Lookup::unknown("203.0.113.5".parse().unwrap()),
        );
        assert_eq!(l.domain.as_deref(), Some("example.com"));
        assert_eq!(l.country.as_deref(), Some("DE"));
        assert!(l.consent_zone);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(o.apply(ip, Lookup::unknown(ip)).class, Class::Government);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(o.apply(ip, Lookup::unknown(ip)), Lookup::unknown(ip));
    }

    #[test]
    fn mapped_ipv6_matches_ipv4_override() {
        let o = Overrides::from_toml_str(TOML).unwrap();
        assert!(o.find("::ffff:203.0.113.9".parse().unwrap()).is_some());
    }

    #[test]
    fn bad_overrides_are_refused_with_a_reason() {
        let err =
            Overrides::from_toml_str("[[override]]\nnetwork = \"1.2.3.0/33\"\nname = \"x\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("overrides"), "{err}");
        let err = Overrides::from_toml_str(
            "[[override]]\nnetwork = \"1.2.3.0/24\"\nname = \"x\"\ncountry = \"Germany\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("two-letter"), "{err}");
        let err = Overrides::from_toml_str("[[override]]\nnetwork = \"1.2.3.0/24\"\nnam = \"x\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("nam"), "{err}");
    }
}
