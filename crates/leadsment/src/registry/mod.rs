//! The cookie registry: every cookie and storage key the instance's own pages may set, with
//! its purpose, duration, party and consent category. The cookie policy is generated from it,
//! the consent banner lists from it, and the policy revision is a hash of its content, so the
//! policy's "Last updated" moves exactly when the set of cookies does.
//!
//! Like `web` and `store`, it imports no capability: the sign-in cookies' names are the seed
//! policy's contract, written here once, and the tag types are described by what their
//! vendors document. Capabilities (consent, the public site) read it.

pub mod cookie;
pub mod tags;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use cookie::{Appears, CONSENT_MAX_AGE_DAYS, SetCookie};
pub use tags::{TagKind, TagRequirements};

/// Why a cookie exists, as the banner groups them. Strictly-necessary cookies need no
/// consent and have no switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Necessary,
    Analytics,
    Advertising,
}

impl Category {
    /// The categories a visitor chooses, in the banner's order.
    pub const CHOSEN: [Category; 2] = [Category::Analytics, Category::Advertising];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Necessary => "necessary",
            Category::Analytics => "analytics",
            Category::Advertising => "advertising",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        [
            Category::Necessary,
            Category::Analytics,
            Category::Advertising,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// How the policy and the banner title the category.
    pub fn title(self) -> &'static str {
        match self {
            Category::Necessary => "Strictly necessary",
            Category::Analytics => "Analytics",
            Category::Advertising => "Advertising",
        }
    }
}

/// Where a key lives: the law treats local and session storage like cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Cookie,
    LocalStorage,
    SessionStorage,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::Cookie => "cookie",
            Storage::LocalStorage => "local_storage",
            Storage::SessionStorage => "session_storage",
        }
    }

    pub fn parse(s: &str) -> Option<Storage> {
        [
            Storage::Cookie,
            Storage::LocalStorage,
            Storage::SessionStorage,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Whose key it is: set for the site's own host (first party, even when a vendor's script
/// writes it) or on the vendor's domain (third party).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    First,
    Third,
}

impl Party {
    pub fn as_str(self) -> &'static str {
        match self {
            Party::First => "first",
            Party::Third => "third",
        }
    }

    pub fn parse(s: &str) -> Option<Party> {
        [Party::First, Party::Third]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// One cookie or storage key. A name ending in `*` is a prefix (`_ga_*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub storage: Storage,
    pub purpose: String,
    /// As people read it: "2 years", "Session".
    pub duration: String,
    pub party: Party,
    /// Who sets it: "Leadsment", "Google".
    pub provider: String,
    pub category: Category,
    /// The domain a third-party key is set on (`linkedin.com`); empty for first-party keys.
    pub domain: String,
    /// Set by JavaScript-free means only (`HttpOnly` on the server): the server, not the
    /// page, must clear it on withdrawal.
    pub http_only: bool,
    /// Where a visitor's browser shows it (what the audit may expect to see).
    pub appears: Appears,
}

impl Entry {
    /// Whether `name` is this entry's key (or starts with its prefix).
    pub fn matches(&self, name: &str) -> bool {
        match self.name.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.name == name,
        }
    }
}

/// Name of the sign-in access token cookie (the seed policy's contract).
pub const ACCESS_COOKIE: &str = cookie::ACCESS.name();
/// Name of the rotating refresh token cookie.
pub const REFRESH_COOKIE: &str = cookie::REFRESH.name();
/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = cookie::CSRF.name();
/// Name of the consent-preference cookie.
pub const CONSENT_COOKIE: &str = cookie::CONSENT.name();

/// The instance's own cookies ([`cookie::OWN`]), all strictly necessary and first party, as
/// the policy lists them. `persistent_days` is how long "keep me signed in" keeps the
/// refresh cookie.
pub fn builtin(persistent_days: i64) -> Vec<Entry> {
    cookie::OWN
        .iter()
        .map(|own| Entry {
            name: own.name().to_owned(),
            storage: Storage::Cookie,
            purpose: own.purpose.to_owned(),
            duration: match own.lifetime() {
                cookie::Lifetime::Session if own.name() == ACCESS_COOKIE => {
                    "Session (the token inside expires within 15 minutes)".to_owned()
                }
                cookie::Lifetime::Session => "Session".to_owned(),
                cookie::Lifetime::SessionOrRemembered => {
                    format!("Session, or {persistent_days} days with \"keep me signed in\"")
                }
                cookie::Lifetime::Seconds(s) => format!("{} months", s / (30 * 24 * 3600)),
            },
            party: Party::First,
            provider: "Leadsment".to_owned(),
            category: Category::Necessary,
            domain: String::new(),
            http_only: own.http_only(),
            appears: own.appears,
        })
        .collect()
}

/// The registry as `/legal/cookies.json` gives it, and as an audit reads one from a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryDocument {
    /// [`RegistryDocument::SCHEMA`]: the format's name and version.
    pub schema: String,
    /// The address of the human-readable policy.
    pub policy: String,
    /// The policy revision ([`Registry::revision`]).
    pub revision: String,
    /// The day the registry's content last changed (`YYYY-MM-DD`, UTC).
    pub updated: String,
    pub entries: Vec<Entry>,
}

impl RegistryDocument {
    pub const SCHEMA: &str = "leadsment-cookie-registry/1";
}

/// What the policy and the banner are made from: the built-in cookies and each switched-on
/// tag's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Registry {
    pub entries: Vec<Entry>,
}

impl Registry {
    pub fn new(mut entries: Vec<Entry>) -> Registry {
        // One order whatever order the tags were switched on in, so the revision depends on
        // the content alone.
        entries.sort_by(|a, b| {
            (a.category, &a.name, a.storage, &a.provider).cmp(&(
                b.category,
                &b.name,
                b.storage,
                &b.provider,
            ))
        });
        entries.dedup();
        Registry { entries }
    }

    /// The entries of one category.
    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.category == category)
    }

    /// The policy revision: the first 16 hex digits of a SHA-256 over every entry's fields,
    /// one line each. Any change to a name, purpose, duration, party, provider or category
    /// makes a new revision; the order tags were added in does not.
    pub fn revision(&self) -> String {
        let mut text = String::new();
        for e in &self.entries {
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.category.as_str(),
                e.storage.as_str(),
                e.name,
                e.purpose,
                e.duration,
                e.party.as_str(),
                e.provider,
                e.domain,
                e.http_only
            );
        }
        let digest = Sha256::digest(text.as_bytes());
        digest[..8].iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_cookies_are_the_seed_policys_and_necessary() {
        let b = builtin(30);
        let names: Vec<&str> = b.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sb-access-token",
                "sb-refresh-token",
                "__Host-csrf",
                "lm_consent"
            ]
        );
        assert!(b.iter().all(|e| e.category == Category::Necessary));
        assert!(b.iter().all(|e| e.party == Party::First));
        assert!(b[1].duration.contains("30 days"), "{}", b[1].duration);
        assert_eq!(b[3].duration, "6 months");
    }

    #[test]
    fn the_revision_follows_the_content_not_the_order() {
        let a = Registry::new(builtin(30));
        let mut reversed = builtin(30);
        reversed.reverse();
        assert_eq!(a.revision(), Registry::new(reversed).revision());
        assert_eq!(a.revision().len(), 16);
        let mut changed = builtin(30);
        changed[2].duration = "1 year".to_owned();
        assert_ne!(a.revision(), Registry::new(changed).revision());
        let mut more = builtin(30);
        more.extend(TagKind::Ga4.cookies());
        assert_ne!(a.revision(), Registry::new(more).revision());
        // The same key twice (two GA4 tags) counts once.
        let mut twice = builtin(30);
        twice.extend(TagKind::Ga4.cookies());
        twice.extend(TagKind::Ga4.cookies());
        let mut once = builtin(30);
        once.extend(TagKind::Ga4.cookies());
        assert_eq!(
            Registry::new(twice).revision(),
            Registry::new(once).revision()
        );
    }

    #[test]
    fn prefixes_match_the_keys_they_name() {
        let ga = TagKind::Ga4.cookies();
        let prefixed = ga.iter().find(|e| e.name.ends_with('*')).unwrap();
        assert!(prefixed.matches("_ga_ABC123"));
        assert!(!prefixed.matches("_gat"));
        let plain = ga.iter().find(|e| e.name == "_ga").unwrap();
        assert!(plain.matches("_ga") && !plain.matches("_ga_X"));
    }
}
