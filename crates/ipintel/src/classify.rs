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

/// One rule file: its name (for errors) and its text.
#[derive(Debug, Clone, Copy)]
pub struct RuleFile<'a> {
    /// The file's name, as errors report it.
    pub name: &'a str,
    /// The file's text.
    pub text: &'a str,
}

/// The three rule files the classifier is compiled from.
#[derive(Debug, Clone, Copy)]
pub struct RuleFiles<'a> {
    /// Reviewed ASNs: `ASN CLASS REASON` (see `data/asn-reviewed.txt`).
    pub asn_reviewed: RuleFile<'a>,
    /// Known ASNs and the carrier threshold (see `data/asn-classes.txt`).
    pub asn_classes: RuleFile<'a>,
    /// Keyword rules on names (see `data/org-keywords.txt`).
    pub org_keywords: RuleFile<'a>,
}

impl RuleFiles<'static> {
    /// The rule files shipped in `data/`.
    pub const BUILTIN: RuleFiles<'static> = RuleFiles {
        asn_reviewed: RuleFile {
            name: "asn-reviewed.txt",
            text: ASN_REVIEWED,
        },
        asn_classes: RuleFile {
            name: "asn-classes.txt",
            text: ASN_CLASSES,
        },
        org_keywords: RuleFile {
            name: "org-keywords.txt",
            text: ORG_KEYWORDS,
        },
    };
}

/// A rule file line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct RulesError {
    /// The file's name.
    pub file: String,
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

const ASN_REVIEWED: &str = include_str!("../data/asn-reviewed.txt");
const ASN_CLASSES: &str = include_str!("../data/asn-classes.txt");
const ORG_KEYWORDS: &str = include_str!("../data/org-keywords.txt");

/// The class word for a fixed-and-mobile carrier in `asn-reviewed.txt`: class `mobile`.
const MIXED: &str = "mixed";

/// Classifies with the built-in rules.
pub fn classify(input: &ClassInput<'_>) -> (Class, String) {
    match Classifier::builtin() {
        Ok(c) => c.classify(input),
        Err(e) => (
            Class::Unknown,
            format!("the built-in rules are broken: {e}"),
        ),
    }
}

/// The data lines of a rule file: `(line number from 1, trimmed text)`, without comments.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

impl Classifier {
    /// The rules shipped in `data/`, compiled once. An error names the file and line (the
    /// unit tests keep the shipped files clean).
    pub fn builtin() -> Result<&'static Classifier, &'static RulesError> {
        static BUILTIN: OnceLock<Result<Classifier, RulesError>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| Classifier::from_files(&RuleFiles::BUILTIN))
            .as_ref()
    }

    /// Compiles rules from the text of the two older rule files, with no reviewed ASNs.
    pub fn from_rules(asn_classes: &str, org_keywords: &str) -> Result<Classifier, RulesError> {
        Classifier::from_files(&RuleFiles {
            asn_reviewed: RuleFile {
                name: "asn-reviewed.txt",
                text: "",
            },
            asn_classes: RuleFile {
                name: "asn-classes.txt",
                text: asn_classes,
            },
            org_keywords: RuleFile {
                name: "org-keywords.txt",
                text: org_keywords,
            },
        })
    }

    /// Compiles rules from rule files. A line with an unknown class, a malformed ASN, an ASN
    /// listed twice, a reviewed entry without a reason or a keyword with a wildcard is refused
    /// with the file and line.
    pub fn from_files(files: &RuleFiles<'_>) -> Result<Classifier, RulesError> {
        let mut known = HashMap::new();
        let mut large_ipv4_space = u64::MAX;
        let asn_classes = files.asn_classes;
        for (n, line) in data_lines(asn_classes.text) {
            let err = |reason: String| RulesError {
                file: asn_classes.name.to_owned(),
                line: n,
                reason,
            };
            if let Some(v) = line.strip_prefix("@large-ipv4-space") {
                large_ipv4_space = v
                    .trim()
                    .replace('_', "")
                    .parse()
                    .map_err(|_| err(format!("bad threshold {:?}", v.trim())))?;
                continue;
            }
            let (asn, class, note) = asn_line(line, false).map_err(err)?;
            known.insert(asn, (class, format!("known ASN AS{asn}: {note}")));
        }
        // Reviewed entries win over the older list: each was checked one by one.
        let reviewed = files.asn_reviewed;
        let mut seen = HashMap::new();
        for (n, line) in data_lines(reviewed.text) {
            let err = |reason: String| RulesError {
                file: reviewed.name.to_owned(),
                line: n,
                reason,
            };
            let (asn, class, note) = asn_line(line, true).map_err(err)?;
            if let Some(first) = seen.insert(asn, n) {
                return Err(err(format!("AS{asn} is already listed on line {first}")));
            }
            if note.is_empty() {
                return Err(err(format!("AS{asn} has no reason")));
            }
            let reason = if line.split_whitespace().nth(1) == Some(MIXED) {
                format!("reviewed: mixed fixed and mobile carrier: {note}")
            } else {
                format!("reviewed: {note}")
            };
            known.insert(asn, (class, reason));
        }
        let keywords = files.org_keywords;
        let mut rules = Vec::new();
        for (n, line) in data_lines(keywords.text) {
            let err = |reason: String| RulesError {
                file: keywords.name.to_owned(),
                line: n,
                reason,
            };
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            let [class, label, pattern] = fields.as_slice() else {
                return Err(err("want CLASS | LABEL | PATTERN".to_owned()));
            };
            let class =
                Class::from_name(class).ok_or_else(|| err(format!("unknown class {class:?}")))?;
            if pattern.contains('*') {
                return Err(err(format!(
                    "{pattern:?}: rules match whole words only; list each form of the word"
                )));
            }
            // Needles are space-delimited words, so "tel" matches neither "Intel" nor "hotel".
            let needle = haystack(pattern);
            if needle.trim().is_empty() {
                return Err(err("empty pattern".to_owned()));
            }
            rules.push(KeywordRule {
                class,
                label: (*label).to_owned(),
                pattern: needle,
            });
        }
        let matcher =
            AhoCorasick::new(rules.iter().map(|r| r.pattern.as_str())).map_err(|e| RulesError {
                file: keywords.name.to_owned(),
                line: 0,
                reason: e.to_string(),
            })?;
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
        let text = haystack(&split_camel_case(org));
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

/// `ASN CLASS NOTE` (the ASN may be written `AS64512`); `mixed` is a class only where allowed.
fn asn_line(line: &str, allow_mixed: bool) -> Result<(u32, Class, &str), String> {
    let mut parts = line.splitn(3, char::is_whitespace);
    let raw = parts.next().unwrap_or("");
    let asn = raw
        .strip_prefix("AS")
        .unwrap_or(raw)
        .parse::<u32>()
        .map_err(|_| format!("malformed ASN {raw:?}"))?;
    let word = parts.next().unwrap_or("");
    let class = match word {
        MIXED if allow_mixed => Class::Mobile,
        w => Class::from_name(w)
            .filter(|c| *c != Class::Unknown)
            .ok_or_else(|| format!("unknown class {w:?}"))?,
    };
    Ok((asn, class, parts.next().unwrap_or("").trim()))
}

/// Splits words where the name's own capitals mark a word inside them, so "CoreNET",
/// "WestTel" and "NGTelecom" read as "Core NET", "West Tel" and "NG Telecom", while "Intel",
/// "INTELSAT" and "Hotelplan" stay one word: a lower-case letter followed by a capital, or a
/// capital followed by a capital and a lower-case letter, starts a new word.
fn split_camel_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || (prev.is_uppercase() && next_lower) {
                out.push(' ');
            }
        }
        out.push(c);
    }
    out
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
        Classifier::from_files(&RuleFiles::BUILTIN).unwrap();
        assert!(Classifier::builtin().is_ok());
    }

    #[test]
    fn keywords_match_whole_words_only() {
        // "tel" is an ISP word, but not inside "Intel"; "hotel" ends in "tel".
        assert_eq!(class_of(64512, "Intel Corporation", 0), Class::Business);
        assert_eq!(
            class_of(64512, "Hotelplan Management AG", 0),
            Class::Business
        );
        assert_eq!(class_of(64512, "Turbonet Provedor", 0), Class::Isp);
        assert_eq!(class_of(64512, "Turbonet", 0), Class::Business);
        // The name's own capitals mark words inside a word.
        assert_eq!(class_of(64512, "WestTel Ltd.", 0), Class::Isp);
        assert_eq!(class_of(64512, "NGTelecom, Inc.", 0), Class::Isp);
        assert_eq!(class_of(64512, "INTELSAT", 0), Class::Business);
    }

    #[test]
    fn reviewed_entries_win_and_say_so() {
        let (class, why) = class_and_reason(3320, "Deutsche Telekom AG");
        assert_eq!(class, Class::Mobile);
        assert!(
            why.starts_with("reviewed: mixed fixed and mobile carrier: "),
            "{why}"
        );
        // The older list said hosting for Dimension Data; the review says ISP and wins.
        let (class, why) = class_and_reason(3741, "Dimension Data");
        assert_eq!(class, Class::Isp, "{why}");
        assert!(why.starts_with("reviewed: "), "{why}");
        let (_, why) = class_and_reason(64512, "Teleflora LLC");
        assert!(!why.starts_with("reviewed"), "{why}");
    }

    fn class_and_reason(asn: u32, org: &str) -> (Class, String) {
        classify(&ClassInput {
            asn: Some(asn),
            org: Some(org),
            ipv4_addresses: 0,
            cloud: None,
        })
    }

    fn compile(reviewed: &str, keywords: &str) -> Result<Classifier, RulesError> {
        Classifier::from_files(&RuleFiles {
            asn_reviewed: RuleFile {
                name: "asn-reviewed.txt",
                text: reviewed,
            },
            asn_classes: RuleFiles::BUILTIN.asn_classes,
            org_keywords: RuleFile {
                name: "org-keywords.txt",
                text: keywords,
            },
        })
    }

    #[test]
    fn bad_rule_lines_are_named() {
        let ok = "# comment\n64512 business Example: a company\n";
        let cases = [
            (
                "64512 bizness Example\n",
                "",
                "asn-reviewed.txt:1: unknown class \"bizness\"",
            ),
            (
                "# c\nAS64x business Example\n",
                "",
                "asn-reviewed.txt:2: malformed ASN \"AS64x\"",
            ),
            (
                "64512 unknown Example\n",
                "",
                "asn-reviewed.txt:1: unknown class \"unknown\"",
            ),
            (
                "64512 business\n",
                "",
                "asn-reviewed.txt:1: AS64512 has no reason",
            ),
            (
                "64512 business A\n64512 isp B\n",
                "",
                "asn-reviewed.txt:2: AS64512 is already listed on line 1",
            ),
            (
                ok,
                "isp | isp | *net\n",
                "org-keywords.txt:1: \"*net\": rules match whole words only",
            ),
            (
                ok,
                "\nnope | x | net\n",
                "org-keywords.txt:2: unknown class \"nope\"",
            ),
            (
                ok,
                "isp | net\n",
                "org-keywords.txt:1: want CLASS | LABEL | PATTERN",
            ),
        ];
        for (reviewed, keywords, want) in cases {
            let err = compile(reviewed, keywords).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
        assert!(compile(ok, "isp | isp | net\n").is_ok());
        // `mixed` belongs to the reviewed list only.
        let err = Classifier::from_rules("64512 mixed Example\n", "")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("asn-classes.txt:1: unknown class"), "{err}");
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
