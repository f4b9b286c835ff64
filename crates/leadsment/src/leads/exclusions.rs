//! Exclusions: the organisations, domains and ASNs a workspace hides from its dashboard (its
//! own company, customers, competitors). They are applied when reading, never at ingest: every
//! visit is kept, so removing an exclusion brings the company back with its history. The feed,
//! its CSV, the scores and the overview's figures all leave the excluded companies out
//! ([`Excluded`]); networks to drop at ingest are the site's ignore list instead.

use std::collections::HashSet;
use std::fmt;

use super::store::Company;
use crate::accounts::sites::Hostname;

/// The most exclusions a workspace keeps: more would be a list nobody reads.
pub const MAX_EXCLUSIONS: usize = 200;

/// What an exclusion names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A company, by its id (as "Hide this company" stores it) or by its name.
    Organisation,
    /// An organisation's domain, its subdomains too.
    Domain,
    /// An autonomous system, by number.
    Asn,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Organisation, Kind::Domain, Kind::Asn];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organisation => "organisation",
            Kind::Domain => "domain",
            Kind::Asn => "asn",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One stored exclusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    pub id: i64,
    pub kind: Kind,
    /// As stored: a company id or a name; a domain in lower case without `www.`; an ASN's
    /// digits.
    pub value: String,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// Why a value cannot be an exclusion; shown next to its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const EVERYTHING: &str = "That would hide every company. Name one organisation, domain or ASN.";

/// Second-level labels that are registries' own under a country code (`co.uk`, `com.au`):
/// excluding one would hide a whole country's companies.
const REGISTRY_LABELS: [&str; 9] = ["co", "com", "net", "org", "ac", "gov", "edu", "ne", "or"];

/// The value as it is stored, or why it is refused. Nothing that matches every company (empty,
/// `*`, a bare top-level domain) is accepted.
pub fn normalise(kind: Kind, typed: &str) -> Result<String, Refused> {
    let t = typed.trim();
    if t.is_empty()
        || t.chars()
            .all(|c| matches!(c, '*' | '%' | '.' | '?') || c.is_whitespace())
    {
        return Err(Refused(EVERYTHING.to_owned()));
    }
    match kind {
        Kind::Organisation => {
            if t.chars().count() > 200 {
                return Err(Refused(
                    "An organisation's name is at most 200 characters.".to_owned(),
                ));
            }
            if t.starts_with('#') {
                return Err(Refused(
                    "An organisation's name cannot begin with #.".to_owned(),
                ));
            }
            if t.chars().any(char::is_control) {
                return Err(Refused(
                    "An organisation's name cannot hold control characters.".to_owned(),
                ));
            }
            Ok(t.split_whitespace().collect::<Vec<_>>().join(" "))
        }
        Kind::Domain => domain(t),
        Kind::Asn => asn(t).map(|n| n.to_string()),
    }
}

fn domain(t: &str) -> Result<String, Refused> {
    // `*.example.com` means what `example.com` means: subdomains always match.
    let t = t.strip_prefix("*.").unwrap_or(t);
    let bare = t.split('/').next().unwrap_or(t);
    if bare.parse::<std::net::IpAddr>().is_ok() || t.parse::<ipnet::IpNet>().is_ok() {
        return Err(Refused(
            "That is an IP address or network, not a domain. To stop recording a network's \
             visits, add it to a site's ignored networks."
                .to_owned(),
        ));
    }
    if !t.contains('.') && !t.contains("://") {
        return Err(Refused(format!(
            "`{}` is a top-level domain: it would hide every company under it. Give an \
             organisation's domain, such as example.com.",
            shown(t)
        )));
    }
    let host = Hostname::parse(t).map_err(|e| Refused(capitalised(&e.to_string())))?;
    let name = host.without_www().to_owned();
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 || labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit())) {
        return Err(Refused(format!(
            "`{}` is not an organisation's domain. Give one such as example.com.",
            shown(t)
        )));
    }
    if labels.len() == 2 && labels[1].len() == 2 && REGISTRY_LABELS.contains(&labels[0]) {
        return Err(Refused(format!(
            "`{name}` is a registry's suffix: it would hide every company under it. Give an \
             organisation's domain, such as example.{name}."
        )));
    }
    Ok(name)
}

/// `AS64500`, `as64500` or `64500`.
pub fn asn(t: &str) -> Result<u32, Refused> {
    let digits = t
        .strip_prefix("AS")
        .or_else(|| t.strip_prefix("as"))
        .or_else(|| t.strip_prefix("As"))
        .unwrap_or(t)
        .trim();
    let invalid = || {
        Refused(format!(
            "`{}` is not an ASN. Write it as AS64500 or 64500.",
            shown(t)
        ))
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    match digits.parse::<u32>() {
        Ok(0) => Err(Refused("AS0 is reserved: no network uses it.".to_owned())),
        Ok(n) => Ok(n),
        Err(_) => Err(invalid()),
    }
}

fn shown(t: &str) -> String {
    t.chars().take(80).collect()
}

fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The stored value of an exclusion of one company ("Hide this company"): `#` and its id, so
/// it cannot be mistaken for an organisation named with digits.
pub fn by_company(id: i64) -> String {
    format!("#{id}")
}

/// The company an organisation exclusion names by id, if it does.
pub fn company_id_of(value: &str) -> Option<i64> {
    value.strip_prefix('#')?.parse().ok()
}

impl Exclusion {
    /// Whether this exclusion hides `c`. Names and domains are compared lower-cased in Rust
    /// (Unicode), never by SQL's `LOWER`, which is ASCII-only in SQLite: one answer on both
    /// backends.
    pub fn matches(&self, c: &Company) -> bool {
        Matcher::new(std::slice::from_ref(self)).hides(c)
    }

    /// How the list shows it.
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Asn => format!("AS{}", self.value),
            _ => self.value.clone(),
        }
    }
}

/// A workspace's exclusions made ready to test many companies: each company is looked up in
/// sets, whatever the number of exclusions. [`Exclusion::matches`] is this with one.
#[derive(Debug, Default)]
pub struct Matcher {
    ids: HashSet<i64>,
    /// Organisation names, lower-cased.
    names: HashSet<String>,
    domains: HashSet<String>,
    asns: HashSet<i64>,
}

impl Matcher {
    pub fn new(list: &[Exclusion]) -> Matcher {
        let mut m = Matcher::default();
        for e in list {
            match e.kind {
                Kind::Organisation => match company_id_of(&e.value) {
                    Some(id) => {
                        m.ids.insert(id);
                    }
                    None => {
                        m.names.insert(e.value.to_lowercase());
                    }
                },
                Kind::Domain => {
                    m.domains.insert(e.value.to_lowercase());
                }
                Kind::Asn => {
                    if let Ok(n) = e.value.parse() {
                        m.asns.insert(n);
                    }
                }
            }
        }
        m
    }

    /// Whether only ids are named (no company needs reading to know what is hidden).
    pub fn by_id_only(&self) -> bool {
        self.names.is_empty() && self.domains.is_empty() && self.asns.is_empty()
    }

    /// The companies named by id.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.ids.iter().copied()
    }

    /// Whether an exclusion hides `c`: its id, its name or organisation (without case), its
    /// domain or one the domain is under, or its ASN.
    pub fn hides(&self, c: &Company) -> bool {
        self.ids.contains(&c.id)
            || (!self.names.is_empty()
                && (self.names.contains(&c.name.to_lowercase())
                    || c.org
                        .as_deref()
                        .is_some_and(|o| self.names.contains(&o.to_lowercase()))))
            || c.domain
                .as_deref()
                .is_some_and(|d| !self.domains.is_empty() && self.under(&d.to_lowercase()))
            || c.asn.is_some_and(|a| self.asns.contains(&a))
    }

    /// `domain` itself or any domain it is under (`eu.example.com`: itself, then
    /// `example.com`, then `com`).
    fn under(&self, domain: &str) -> bool {
        let mut rest = domain;
        loop {
            if self.domains.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }
}

/// The companies a site's workspace hides, as read for one page: sorted ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excluded(Vec<i64>);

impl Excluded {
    pub fn new(mut ids: Vec<i64>) -> Excluded {
        ids.sort_unstable();
        ids.dedup();
        Excluded(ids)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, id: i64) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    pub fn ids(&self) -> &[i64] {
        &self.0
    }

    /// A short text that changes with the set, for the keys of the cached site figures (so a
    /// change reads them again on every node); empty when nothing is hidden.
    pub fn tag(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for id in &self.0 {
            h = (h ^ *id as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("x{}:{h:x}", self.0.len())
    }

    /// A condition leaving the hidden companies' rows out (`col` names the company column):
    /// the ids are integers, written into the text.
    pub fn sql_condition(&self, col: &str) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let ids: Vec<String> = self.0.iter().map(i64::to_string).collect();
        format!(" AND ({col} IS NULL OR {col} NOT IN ({}))", ids.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_matching_everything_or_invalid_are_refused() {
        for (kind, v) in [
            (Kind::Organisation, ""),
            (Kind::Organisation, " * "),
            (Kind::Domain, "*"),
            (Kind::Domain, "com"),
            (Kind::Domain, ".com"),
            (Kind::Domain, "*.com"),
            (Kind::Domain, "co.uk"),
            (Kind::Domain, "exa mple.com"),
            (Kind::Domain, "localhost"),
            (Kind::Asn, "AS"),
            (Kind::Asn, "AS0"),
            (Kind::Asn, "AS4294967296"),
            (Kind::Asn, "ASX1"),
            (Kind::Asn, "-5"),
        ] {
            assert!(normalise(kind, v).is_err(), "{kind:?} {v:?} was accepted");
        }
    }

    #[test]
    fn values_are_stored_in_one_form() {
        assert_eq!(normalise(Kind::Asn, "as64500").unwrap(), "64500");
        assert_eq!(normalise(Kind::Asn, " 64500 ").unwrap(), "64500");
        assert_eq!(
            normalise(Kind::Domain, "https://www.Example.com/x").unwrap(),
            "example.com"
        );
        assert_eq!(
            normalise(Kind::Domain, "*.example.co.uk").unwrap(),
            "example.co.uk"
        );
        assert_eq!(
            normalise(Kind::Organisation, "  Acme   Corp ").unwrap(),
            "Acme Corp"
        );
    }

    #[test]
    fn a_domain_matches_its_subdomains_only() {
        let c = |domain: &str| Company {
            id: 1,
            name: "X".into(),
            org: None,
            domain: Some(domain.into()),
            asn: Some(64500),
            country: None,
            class: "business".into(),
            class_reason: None,
        };
        let e = Exclusion {
            id: 1,
            kind: Kind::Domain,
            value: "example.com".into(),
            created_by: None,
            created_at: 0,
        };
        assert!(e.matches(&c("example.com")));
        assert!(e.matches(&c("eu.Example.com")));
        assert!(!e.matches(&c("notexample.com")));
        assert!(!e.matches(&c("example.com.evil")));
    }

    #[test]
    fn organisation_names_match_without_case_beyond_ascii() {
        let c = |name: &str, org: Option<&str>| Company {
            id: 7,
            name: name.into(),
            org: org.map(Into::into),
            domain: None,
            asn: None,
            country: None,
            class: "business".into(),
            class_reason: None,
        };
        let e = |value: &str| Exclusion {
            id: 1,
            kind: Kind::Organisation,
            value: value.into(),
            created_by: None,
            created_at: 0,
        };
        assert!(e("ÉCOLE NORMALE").matches(&c("École Normale", None)));
        assert!(e("école normale").matches(&c("X", Some("ÉCOLE NORMALE"))));
        assert!(!e("ÉCOLE NORMALE").matches(&c("Ecole Normale", None)));
        assert!(e("#7").matches(&c("Anything", None)));
        assert!(!e("7").matches(&c("Anything", None)));
    }
}
