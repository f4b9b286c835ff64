//! Classifying an organisation: business, ISP, mobile, hosting, education, government.
//!
//! Leads are businesses, so everything that is not a business must be caught. The rules live
//! in `data/asn-classes.txt` (known ASNs, and the size above which an ASN is a carrier) and
//! `data/org-keywords.txt` (words in organisation names, including words that mark a business
//! and so stop the later rules), checked in this order:
//!
//! 1. no organisation in the data: `unknown`;
//! 2. the address is in a cloud provider's published ranges: `hosting`;
//! 3. the ASN is in the known-ASN list: that class;
//! 4. a keyword rule matches the name: the first matching rule in file order;
//! 5. the ASN announces more IPv4 addresses than the carrier threshold: `isp`;
//! 6. otherwise `business`.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use serde::{Deserialize, Serialize};

/// What kind of organisation is behind an address.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Class {
    /// A company: the leads.
    Business = 0,
    /// A fixed-line or cable access provider or carrier.
    Isp = 1,
    /// A mobile network.
    Mobile = 2,
    /// Cloud, datacenter, CDN or VPN; the reason says which.
    Hosting = 3,
    /// University, school, research network.
    Education = 4,
    /// Government, military, public administration.
    Government = 5,
    /// The data has no organisation.
    #[default]
    Unknown = 6,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 7] = [
        Class::Business,
        Class::Isp,
        Class::Mobile,
        Class::Hosting,
        Class::Education,
        Class::Government,
        Class::Unknown,
    ];

    /// The lower-case name used in JSON and in the rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Business => "business",
            Class::Isp => "isp",
            Class::Mobile => "mobile",
            Class::Hosting => "hosting",
            Class::Education => "education",
            Class::Government => "government",
            Class::Unknown => "unknown",
        }
    }

    /// Parses the lower-case name.
    pub fn from_name(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub(crate) fn from_u8(v: u8) -> Option<Class> {
        Class::ALL.get(usize::from(v)).copied()
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the classifier looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassInput<'a> {
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Organisation name as published.
    pub org: Option<&'a str>,
    /// IPv4 addresses the ASN announces in the data (0 when unknown).
    pub ipv4_addresses: u64,
    /// Cloud provider whose published ranges hold the address.
    pub cloud: Option<&'a str>,
}

/// Compiled classification rules.
#[derive(Debug)]
pub struct Classifier {
    known: HashMap<u32, (Class, String)>,
    rules: Vec<KeywordRule>,
    matcher: Option<AhoCorasick>,
    large_ipv4_space: u64,
}

#[derive(Debug)]
struct KeywordRule {
    class: Class,
    label: String,
    pattern: String,
}

const ASN_CLASSES: &str = include_str!("../data/asn-classes.txt");
const ORG_KEYWORDS: &str = include_str!("../data/org-keywords.txt");

/// Classifies with the built-in rules.
pub fn classify(input: &ClassInput<'_>) -> (Class, String) {
    Classifier::builtin().classify(input)
}

impl Classifier {
    /// The rules shipped in `data/`, compiled once.
    pub fn builtin() -> &'static Classifier {
        static BUILTIN: OnceLock<Classifier> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The embedded files are tested; a broken rule line is skipped rather than fatal.
            Classifier::from_rules(ASN_CLASSES, ORG_KEYWORDS).unwrap_or_else(|_| Classifier {
                known: HashMap::new(),
                rules: Vec::new(),
                matcher: None,
                large_ipv4_space: u64::MAX,
            })
        })
    }

    /// Compiles rules from the text of the two rule files.
    pub fn from_rules(asn_classes: &str, org_keywords: &str) -> Result<Classifier, String> {
        let mut known = HashMap::new();
        let mut large_ipv4_space = u64::MAX;
        for (n, line) in asn_classes.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(v) = line.strip_prefix("@large-ipv4-space") {
                large_ipv4_space = v
                    .trim()
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("asn-classes line {}: bad threshold", n + 1))?;
                continue;
            }
            let mut parts = line.splitn(3, char::is_whitespace);
            let asn = parts
                .next()
                .and_then(|a| a.trim_start_matches("AS").parse::<u32>().ok())
                .ok_or_else(|| format!("asn-classes line {}: bad ASN", n + 1))?;
            let class = parts
                .next()
                .and_then(Class::from_name)
                .ok_or_else(|| format!("asn-classes line {}: bad class", n + 1))?;
            let note = parts.next().unwrap_or("").trim();
            known.insert(asn, (class, format!("known ASN AS{asn}: {note}")));
        }
        let mut rules = Vec::new();
        for (n, line) in org_keywords.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            let [class, label, pattern] = fields.as_slice() else {
                return Err(format!(
                    "org-keywords line {}: want CLASS | LABEL | PATTERN",
                    n + 1
                ));
            };
            let class = Class::from_name(class)
                .ok_or_else(|| format!("org-keywords line {}: bad class {class:?}", n + 1))?;
            let words = haystack(pattern.trim_matches('*'));
            // Needles are space-delimited words, so "host" does not match "hostel"; a `*` at
            // either end lets the word run on that side ("telecom*", "*net").
            let mut needle = words.as_str();
            if pattern.ends_with('*') {
                needle = needle.trim_end();
            }
            if pattern.starts_with('*') {
                needle = needle.trim_start();
            }
            let needle = needle.to_owned();
            if needle.trim().is_empty() {
                return Err(format!("org-keywords line {}: empty pattern", n + 1));
            }
            rules.push(KeywordRule {
                class,
                label: (*label).to_owned(),
                pattern: needle,
            });
        }
        let matcher = AhoCorasick::new(rules.iter().map(|r| r.pattern.as_str()))
            .map_err(|e| format!("org-keywords: {e}"))?;
        Ok(Classifier {
            known,
            rules,
            matcher: Some(matcher),
            large_ipv4_space,
        })
    }

    /// The class and the reason for it.
    pub fn classify(&self, input: &ClassInput<'_>) -> (Class, String) {
        let org = input.org.map(str::trim).filter(|o| !o.is_empty());
        if let Some(provider) = input.cloud {
            return (
                Class::Hosting,
                format!("cloud: address in {provider}'s published IP ranges"),
            );
        }
        if let Some((class, note)) = input.asn.and_then(|a| self.known.get(&a)) {
            return (*class, note.clone());
        }
        let Some(org) = org else {
            return (Class::Unknown, "no organisation in the data".to_owned());
        };
        let text = haystack(org);
        let best = self.matcher.as_ref().and_then(|m| {
            m.find_overlapping_iter(text.as_str())
                .map(|m| m.pattern().as_usize())
                .min()
        });
        if let Some(rule) = best.and_then(|i| self.rules.get(i)) {
            return (
                rule.class,
                format!("{}: name contains \"{}\"", rule.label, rule.pattern.trim()),
            );
        }
        if input.ipv4_addresses > self.large_ipv4_space {
            return (
                Class::Isp,
                format!(
                    "carrier: the ASN announces {} IPv4 addresses",
                    input.ipv4_addresses
                ),
            );
        }
        (
            Class::Business,
            "no ISP, hosting, mobile, education or government rule matched".to_owned(),
        )
    }
}

/// Lower-case words separated by single spaces, with a space at each end.
fn haystack(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    for ch in s.chars().flat_map(char::to_lowercase) {
        let ch = fold_accent(ch);
        if ch.is_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

/// Folds the accented letters common in organisation names, so one keyword serves both spellings.
fn fold_accent(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        'ß' => 's',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_of(asn: u32, org: &str, v4: u64) -> Class {
        classify(&ClassInput {
            asn: Some(asn),
            org: Some(org),
            ipv4_addresses: v4,
            cloud: None,
        })
        .0
    }

    #[test]
    fn builtin_rules_compile() {
        Classifier::from_rules(ASN_CLASSES, ORG_KEYWORDS).unwrap();
    }

    #[test]
    fn obvious_cases() {
        assert_eq!(
            class_of(64512, "Stephen F. Austin State University", 0),
            Class::Education
        );
        assert_eq!(
            class_of(64512, "Lightning Ready Hosting, LLC", 0),
            Class::Hosting
        );
        assert_eq!(class_of(64512, "Deshnet Broadband", 0), Class::Isp);
        assert_eq!(class_of(64512, "City of Lebanon", 0), Class::Government);
        assert_eq!(class_of(64512, "Teleflora LLC", 0), Class::Business);
        assert_eq!(class_of(64512, "Hostelworld Ltd", 0), Class::Business);
        assert_eq!(class_of(64512, "Some Carrier Ltd", 50_000_000), Class::Isp);
    }

    #[test]
    fn cloud_range_wins_and_no_org_is_unknown() {
        let (c, why) = classify(&ClassInput {
            asn: Some(64512),
            org: Some("Teleflora LLC"),
            ipv4_addresses: 0,
            cloud: Some("aws"),
        });
        assert_eq!(c, Class::Hosting);
        assert!(why.contains("aws"));
        assert_eq!(classify(&ClassInput::default()).0, Class::Unknown);
    }

    #[test]
    fn class_serialises_lower_case() {
        assert_eq!(serde_json::to_string(&Class::Isp).unwrap(), "\"isp\"");
        assert_eq!(Class::from_u8(3), Some(Class::Hosting));
    }
}
