//! The tags a platform administrator switches on (issue 15's tag panel): Google Analytics 4,
//! the LinkedIn Insight Tag, Microsoft Clarity, a pixel or a custom script, each with its ID
//! or https URL, its consent category and the cookies and storage keys it sets. A tag is
//! checked field by field into a [`TagSpec`] before anything is stored; every change is kept
//! in an append-only audit log ([`store`]); the keys of switched-on tags join the cookie
//! registry, so the policy revision moves when one is switched on or its keys change.

pub mod page;
pub mod store;

use serde::{Deserialize, Serialize};

use super::choice::BadField;
use crate::registry::{Category, Entry, Party, Storage, TagKind, TagRequirements};

/// At most this many keys per tag, and this many hosts per custom script.
pub const MAX_KEYS: usize = 50;
pub const MAX_HOSTS: usize = 20;

/// A cookie or storage key a tag sets, as the administrator declares it (pre-filled from the
/// vendor's documentation for the known kinds). Its category is the tag's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagKey {
    pub name: String,
    pub storage: Storage,
    pub purpose: String,
    pub duration: String,
    pub party: Party,
    pub provider: String,
    /// The domain a third-party key is set on; empty for first-party keys.
    pub domain: String,
}

impl TagKey {
    /// The registry's entry for this key in `category`.
    pub fn entry(&self, category: Category) -> Entry {
        Entry {
            name: self.name.clone(),
            storage: self.storage,
            purpose: self.purpose.clone(),
            duration: self.duration.clone(),
            party: self.party,
            provider: self.provider.clone(),
            category,
            domain: self.domain.clone(),
            http_only: false,
            appears: crate::registry::Appears::of_party(self.party),
        }
    }

    fn from_entry(e: &Entry) -> TagKey {
        TagKey {
            name: e.name.clone(),
            storage: e.storage,
            purpose: e.purpose.clone(),
            duration: e.duration.clone(),
            party: e.party,
            provider: e.provider.clone(),
            domain: e.domain.clone(),
        }
    }

    /// One line of the keys field: `name | storage | duration | party | domain | provider |
    /// purpose` (the purpose last, so it may hold any text).
    pub fn line(&self) -> String {
        format!(
            "{} | {} | {} | {} | {} | {} | {}",
            self.name,
            self.storage.as_str(),
            self.duration,
            self.party.as_str(),
            self.domain,
            self.provider,
            self.purpose
        )
    }
}

/// The keys of a kind as its vendor documents them, as lines for the keys field.
pub fn default_keys_text(kind: TagKind) -> String {
    kind.cookies()
        .iter()
        .map(|e| TagKey::from_entry(e).line())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A tag, checked: what the panel stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagSpec {
    pub kind: TagKind,
    pub label: String,
    /// The measurement, partner or project ID, or the https URL of a pixel or script.
    pub target: String,
    /// The hosts a custom script talks to (besides its URL's), lowercase.
    pub hosts: Vec<String>,
    /// Analytics or advertising.
    pub category: Category,
    pub keys: Vec<TagKey>,
}

/// A form's fields as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TagForm {
    pub kind: String,
    pub label: String,
    pub target: String,
    pub hosts: String,
    pub category: String,
    pub keys: String,
}

fn bad(field: &'static str, problem: impl Into<String>) -> BadField {
    BadField {
        field,
        problem: problem.into(),
    }
}

impl TagSpec {
    /// Checks every field; all the problems found, each naming its field.
    pub fn parse(form: &TagForm) -> Result<TagSpec, Vec<BadField>> {
        let mut errors = Vec::new();
        let e = &mut errors;
        let kind = keep(
            e,
            TagKind::parse(form.kind.trim()).ok_or_else(|| {
                bad(
                    "kind",
                    "must be one of ga4, linkedin, clarity, pixel, custom",
                )
            }),
        );
        let label = keep(e, parse_label(&form.label));
        let category = keep(e, parse_category(&form.category));
        let keys = keep(e, parse_keys(&form.keys));
        let (target, hosts) = match kind {
            Some(kind) => (
                keep(e, parse_target(kind, &form.target)),
                keep(
                    e,
                    match kind {
                        TagKind::Custom => parse_hosts(&form.hosts),
                        _ if form.hosts.trim().is_empty() => Ok(Vec::new()),
                        _ => Err(bad("hosts", "are only given for a custom script")),
                    },
                ),
            ),
            None => (None, None),
        };
        match (kind, label, category, keys, target, hosts) {
            (Some(kind), Some(label), Some(category), Some(keys), Some(target), Some(hosts))
                if errors.is_empty() =>
            {
                let label = match label.is_empty() {
                    true => kind.title().to_owned(),
                    false => label,
                };
                Ok(TagSpec {
                    kind,
                    label,
                    target,
                    hosts,
                    category,
                    keys,
                })
            }
            _ => Err(errors),
        }
    }

    /// The form's fields for this tag (to edit it).
    pub fn form(&self) -> TagForm {
        TagForm {
            kind: self.kind.as_str().to_owned(),
            label: self.label.clone(),
            target: self.target.clone(),
            hosts: self.hosts.join("\n"),
            category: self.category.as_str().to_owned(),
            keys: self
                .keys
                .iter()
                .map(TagKey::line)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The registry's entries for this tag's keys.
    pub fn entries(&self) -> Vec<Entry> {
        self.keys.iter().map(|k| k.entry(self.category)).collect()
    }

    /// Every host the tag's own URL and declared hosts name (pixels and custom scripts).
    pub fn own_hosts(&self) -> Vec<String> {
        let mut out = Vec::new();
        if matches!(self.kind, TagKind::Pixel | TagKind::Custom)
            && let Some(host) = url::Url::parse(&self.target)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        {
            out.push(host);
        }
        for h in &self.hosts {
            if !out.contains(h) {
                out.push(h.clone());
            }
        }
        out
    }

    /// The hosts the browser must be allowed to reach, by CSP directive.
    pub fn requirements(&self) -> TagRequirements {
        self.kind.requirements(&self.own_hosts())
    }
}

/// A stored tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    pub id: i64,
    pub spec: TagSpec,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The value of `r`, or its error added to `errors`.
fn keep<T>(errors: &mut Vec<BadField>, r: Result<T, BadField>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

fn parse_label(typed: &str) -> Result<String, BadField> {
    let label = typed.trim();
    if label.chars().count() > 100 || label.chars().any(char::is_control) {
        return Err(bad("label", "must be at most 100 characters on one line"));
    }
    Ok(label.to_owned())
}

fn parse_category(typed: &str) -> Result<Category, BadField> {
    match Category::parse(typed.trim()) {
        Some(c) if Category::CHOSEN.contains(&c) => Ok(c),
        _ => Err(bad("category", "must be analytics or advertising")),
    }
}

/// The ID or URL a kind needs.
pub fn parse_target(kind: TagKind, typed: &str) -> Result<String, BadField> {
    let t = typed.trim();
    let all = |s: &str, ok: fn(u8) -> bool| s.bytes().all(ok);
    let upper_or_digit = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let lower_or_digit = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let ok = match kind {
        TagKind::Ga4 => t
            .strip_prefix("G-")
            .is_some_and(|rest| (4..=16).contains(&rest.len()) && all(rest, upper_or_digit)),
        TagKind::LinkedIn => (1..=12).contains(&t.len()) && all(t, |b| b.is_ascii_digit()),
        TagKind::Clarity => (6..=16).contains(&t.len()) && all(t, lower_or_digit),
        TagKind::Pixel | TagKind::Custom => return parse_https_url(t),
    };
    if ok {
        return Ok(t.to_owned());
    }
    Err(bad(
        "target",
        match kind {
            TagKind::Ga4 => {
                "must be a Google Analytics 4 measurement ID: G- and 4 to 16 capital letters or \
                 digits, such as G-ABC123XYZ9"
            }
            TagKind::LinkedIn => "must be a LinkedIn partner ID: 1 to 12 digits",
            _ => {
                "must be a Microsoft Clarity project ID: 6 to 16 lowercase letters or digits, \
                 such as abcd1234ef"
            }
        },
    ))
}

fn parse_https_url(typed: &str) -> Result<String, BadField> {
    if typed.is_empty() {
        return Err(bad(
            "target",
            "must be an https URL, such as https://px.example.com/p.gif",
        ));
    }
    if typed.len() > 2000 {
        return Err(bad("target", "must be at most 2000 characters"));
    }
    let url = url::Url::parse(typed).map_err(|e| bad("target", format!("is not a URL ({e})")))?;
    if url.scheme() != "https" {
        return Err(bad("target", "must be an https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("target", "must not hold a user name or password"));
    }
    match url.host() {
        Some(url::Host::Domain(d)) if parse_host(d).is_ok() => Ok(url.to_string()),
        Some(url::Host::Domain(_)) | None => Err(bad("target", "must name a host")),
        Some(_) => Err(bad("target", "must name a host, not an IP address")),
    }
}

/// A hostname (`cdn.example.com`), or a wildcard for its subdomains (`*.example.com`).
fn parse_host(typed: &str) -> Result<String, String> {
    let host = typed.trim().trim_end_matches('.').to_ascii_lowercase();
    let bare = host.strip_prefix("*.").unwrap_or(&host);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let labels: Vec<&str> = bare.split('.').collect();
    let ok = host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()));
    match ok {
        true => Ok(host),
        false => Err(format!(
            "{typed} is not a host name such as cdn.example.com"
        )),
    }
}

/// Hosts separated by lines, commas or spaces.
fn parse_hosts(typed: &str) -> Result<Vec<String>, BadField> {
    let mut out: Vec<String> = Vec::new();
    for h in typed
        .split([',', ' ', '\t', '\r', '\n'])
        .filter(|h| !h.is_empty())
    {
        let host = parse_host(h).map_err(|p| bad("hosts", p))?;
        if !out.contains(&host) {
            out.push(host);
        }
    }
    if out.len() > MAX_HOSTS {
        return Err(bad("hosts", format!("may list at most {MAX_HOSTS} hosts")));
    }
    Ok(out)
}

/// A cookie or storage key name: RFC 6265 token characters, `*` only at the end (a prefix
/// such as `_ga_*`).
fn key_name_ok(name: &str) -> bool {
    let body = name.strip_suffix('*').unwrap_or(name);
    !body.is_empty()
        && name.len() <= 100
        && body
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}*".contains(&b))
}

/// The keys field: one key a line, `name | storage | duration | party | domain | provider |
/// purpose`.
fn parse_keys(typed: &str) -> Result<Vec<TagKey>, BadField> {
    let mut keys: Vec<TagKey> = Vec::new();
    let lines = typed.lines().map(str::trim).filter(|l| !l.is_empty());
    for (i, line) in lines.enumerate() {
        let n = i + 1;
        let at = |problem: String| bad("keys", format!("line {n}: {problem}"));
        let parts: Vec<&str> = line.splitn(7, '|').map(str::trim).collect();
        let [name, storage, duration, party, domain, provider, purpose] = parts[..] else {
            return Err(at(
                "must be name | storage | duration | party | domain | provider | purpose"
                    .to_owned(),
            ));
        };
        if !key_name_ok(name) {
            return Err(at(format!(
                "{name:?} is not a cookie or key name (letters, digits and !#$%&'+-.^_`|~, \
                 with * only at the end for a prefix)"
            )));
        }
        let storage = Storage::parse(storage).ok_or_else(|| {
            at("storage must be cookie, local_storage or session_storage".to_owned())
        })?;
        let party =
            Party::parse(party).ok_or_else(|| at("party must be first or third".to_owned()))?;
        let domain = match (party, domain) {
            (Party::First, "") => String::new(),
            (Party::First, _) => return Err(at("a first-party key has no domain".to_owned())),
            (Party::Third, d) => parse_host(d).map_err(|_| {
                at(
                    "a third-party key names the domain it is set on, such as vendor.com"
                        .to_owned(),
                )
            })?,
        };
        for (what, text, max) in [
            ("duration", duration, 100),
            ("provider", provider, 100),
            ("purpose", purpose, 500),
        ] {
            if (text.is_empty() && what != "provider") || text.chars().count() > max {
                return Err(at(format!("{what} must be 1 to {max} characters")));
            }
        }
        if keys.iter().any(|k| k.name == name && k.storage == storage) {
            return Err(at(format!("{name} is listed twice")));
        }
        keys.push(TagKey {
            name: name.to_owned(),
            storage,
            purpose: purpose.to_owned(),
            duration: duration.to_owned(),
            party,
            provider: provider.to_owned(),
            domain,
        });
    }
    if keys.len() > MAX_KEYS {
        return Err(bad("keys", format!("may list at most {MAX_KEYS} keys")));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str, target: &str) -> TagForm {
        let keys = TagKind::parse(kind)
            .map(default_keys_text)
            .unwrap_or_default();
        TagForm {
            kind: kind.to_owned(),
            label: String::new(),
            target: target.to_owned(),
            hosts: String::new(),
            category: "analytics".to_owned(),
            keys,
        }
    }

    fn fields(f: &TagForm) -> Vec<&'static str> {
        TagSpec::parse(f)
            .unwrap_err()
            .iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn known_kinds_take_only_their_ids() {
        let ga = TagSpec::parse(&form("ga4", " G-ABC123XYZ9 ")).unwrap();
        assert_eq!(ga.target, "G-ABC123XYZ9");
        assert_eq!(ga.label, "Google Analytics 4");
        assert_eq!(
            ga.entries(),
            TagKind::Ga4.cookies(),
            "pre-filled keys round-trip"
        );
        for bad in [
            "",
            "G-",
            "G-abc123",
            "UA-12345-1",
            "G-ABC",
            "G-ABCDEFGHIJKLMNOPQ",
            "G-AB C1",
        ] {
            assert_eq!(fields(&form("ga4", bad)), ["target"], "{bad:?}");
        }
        assert!(TagSpec::parse(&form("linkedin", "123456")).is_ok());
        for bad in ["", "12a", "1234567890123", "-1"] {
            assert_eq!(fields(&form("linkedin", bad)), ["target"], "{bad:?}");
        }
        let clarity = TagSpec::parse(&form("clarity", "abcd1234ef")).unwrap();
        assert_eq!(clarity.entries(), TagKind::Clarity.cookies());
        for bad in ["abc12", "ABCD1234EF", "abcd-1234", "a234567890123456x"] {
            assert_eq!(fields(&form("clarity", bad)), ["target"], "{bad:?}");
        }
        assert_eq!(fields(&form("gtm", "G-ABC123")), ["kind"]);
    }

    #[test]
    fn pixels_and_scripts_need_plain_https_urls() {
        let ok = TagSpec::parse(&form("pixel", "https://px.example.com/p.gif?c=1")).unwrap();
        assert_eq!(ok.own_hosts(), ["px.example.com"]);
        assert_eq!(ok.requirements().img, ["https://px.example.com"]);
        for bad in [
            "http://px.example.com/p.gif",
            "px.example.com/p.gif",
            "https://user:pw@px.example.com/",
            "https://203.0.113.5/p.gif",
            "https://",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(fields(&form("pixel", bad)), ["target"], "{bad:?}");
            assert_eq!(fields(&form("custom", bad)), ["target"], "{bad:?}");
        }
        let message =
            TagSpec::parse(&form("pixel", "http://px.example.com/")).unwrap_err()[0].to_string();
        assert!(message.contains("https"), "{message}");
    }

    #[test]
    fn custom_scripts_list_valid_hosts() {
        let mut f = form("custom", "https://cdn.example.com/tag.js");
        f.hosts = "api.example.com\n*.events.example.net, API.example.com".to_owned();
        let spec = TagSpec::parse(&f).unwrap();
        assert_eq!(spec.hosts, ["api.example.com", "*.events.example.net"]);
        assert_eq!(
            spec.own_hosts(),
            ["cdn.example.com", "api.example.com", "*.events.example.net"]
        );
        for bad in [
            "localhost",
            "exa mple.com,",
            "-bad.example.com",
            "a..b.com",
            "10.0.0.1",
            "https://x.com",
        ] {
            f.hosts = bad.to_owned();
            assert_eq!(fields(&f), ["hosts"], "{bad:?}");
        }
        let mut ga = form("ga4", "G-ABC123");
        ga.hosts = "example.com".to_owned();
        assert_eq!(fields(&ga), ["hosts"]);
    }

    #[test]
    fn keys_are_checked_line_by_line() {
        let mut f = form("pixel", "https://px.example.com/p.gif");
        f.keys = "_px_* | cookie | 1 year | first |  | Acme | Counts conversions | really\n\
                  tracker | local_storage | Session | third | px.example.com | Acme | Retargeting"
            .to_owned();
        let spec = TagSpec::parse(&f).unwrap();
        assert_eq!(spec.keys.len(), 2);
        assert_eq!(spec.keys[0].purpose, "Counts conversions | really");
        assert_eq!(spec.keys[1].domain, "px.example.com");
        f.keys = String::new();
        assert!(TagSpec::parse(&f).unwrap().keys.is_empty());
        for bad in [
            "_p*x | cookie | 1 year | first |  | Acme | x",
            "* | cookie | 1 year | first |  | Acme | x",
            "a b | cookie | 1 year | first |  | Acme | x",
            "a;b | cookie | 1 year | first |  | Acme | x",
            " | cookie | 1 year | first |  | Acme | x",
            "x | jar | 1 year | first |  | Acme | x",
            "x | cookie | 1 year | second |  | Acme | x",
            "x | cookie | 1 year | third |  | Acme | x",
            "x | cookie | 1 year | first | acme.com | Acme | x",
            "x | cookie |  | first |  | Acme | x",
            "x | cookie | 1 year | first |  | Acme",
            "x | cookie | 1 year | first |  | Acme | x\nx | cookie | 1 day | first |  | Acme | y",
        ] {
            f.keys = bad.to_owned();
            assert_eq!(fields(&f), ["keys"], "{bad:?}");
        }
    }

    #[test]
    fn category_and_label_are_checked_and_every_bad_field_is_named() {
        let mut f = form("ga4", "nope");
        f.category = "necessary".to_owned();
        f.label = "x".repeat(101);
        f.keys = "bad name | cookie".to_owned();
        assert_eq!(fields(&f), ["label", "category", "keys", "target"]);
        let mut ok = form("linkedin", "42");
        ok.category = "advertising".to_owned();
        ok.label = "  Campaign  ".to_owned();
        let spec = TagSpec::parse(&ok).unwrap();
        assert_eq!(
            (spec.label.as_str(), spec.category),
            ("Campaign", Category::Advertising)
        );
        assert_eq!(
            TagSpec::parse(&spec.form()).unwrap(),
            spec,
            "the edit form round-trips"
        );
    }
}
