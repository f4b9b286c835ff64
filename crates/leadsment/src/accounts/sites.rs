//! Sites: the websites a workspace tracks, and the host names that count as each site.

use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use super::WorkspaceId;

/// A host name in its one stored form: lower case, internationalised names as punycode, no
/// scheme, port, path, user information or trailing dot. `www.` is kept as given; matching
/// treats `www.example.com` as `example.com` (see [`Site::matches_host`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Hostname(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostnameError {
    #[error("the domain is empty")]
    Empty,
    #[error("`{0}` is an IP address; sites are identified by domain name")]
    IpAddress(String),
    #[error("`{input}` is not a valid domain name: {reason}")]
    Invalid { input: String, reason: String },
}

impl Hostname {
    /// Normalises what a user typed or a browser sent: `https://WWW.Bücher.example:443/x`
    /// becomes `www.xn--bcher-kva.example`.
    pub fn parse(input: &str) -> Result<Hostname, HostnameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(HostnameError::Empty);
        }
        let invalid = |reason: &str| HostnameError::Invalid {
            input: shown(trimmed),
            reason: reason.to_owned(),
        };

        // Accept a pasted URL: drop the scheme, then anything after the authority.
        let rest = match trimmed.find("://") {
            Some(i) => &trimmed[i + 3..],
            None => trimmed,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(invalid(
                "user information (`user@`) is not part of a domain",
            ));
        }
        if authority.starts_with('[') {
            return Err(HostnameError::IpAddress(shown(authority)));
        }
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            Some(_) => return Err(invalid("it has a `:` that is not followed by a port")),
            None => authority,
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() {
            return Err(HostnameError::Empty);
        }
        if host.parse::<std::net::IpAddr>().is_ok() {
            return Err(HostnameError::IpAddress(host.to_owned()));
        }

        let ascii = idna::domain_to_ascii_strict(host)
            .map_err(|_| invalid("it has characters that are not allowed in a domain name"))?;
        if ascii.len() > 253 {
            return Err(invalid("it is longer than 253 characters"));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        for label in &labels {
            if label.is_empty() {
                return Err(invalid("it has an empty label (two dots in a row)"));
            }
            if label.len() > 63 {
                return Err(invalid("a label is longer than 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(invalid(
                    "it has characters that are not allowed in a domain name",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("a label starts or ends with `-`"));
            }
        }
        // `localhost` is accepted for local testing; any other name needs a dot.
        if labels.len() < 2 && ascii != "localhost" {
            return Err(invalid("it needs a dot, as in example.com"));
        }
        Ok(Hostname(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without a leading `www.`, which is how hosts are compared.
    pub fn without_www(&self) -> &str {
        self.0.strip_prefix("www.").unwrap_or(&self.0)
    }

    /// Trusted constructor for values read back from the store, which only holds parsed names.
    pub(crate) fn from_stored(s: String) -> Hostname {
        Hostname(s)
    }
}

/// Input as an error message repeats it: at most 100 characters, so that a pasted page does
/// not come back as a message.
fn shown(input: &str) -> String {
    match input.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &input[..end]),
        None => input.to_owned(),
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SiteId(pub i64);

/// A tracked website.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    pub id: SiteId,
    pub workspace_id: WorkspaceId,
    /// The site's own domain, as the snippet's `data-domain` names it.
    pub domain: Hostname,
    /// Further hosts whose pages count as this site (a staging host, a second brand).
    pub aliases: Vec<Hostname>,
    /// IANA time zone that decides where the site's days begin.
    pub time_zone: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Whether the snippet waits for the visitor's consent before it sends anything
    /// (`data-require-consent`): the site's consent manager releases it.
    pub require_consent: bool,
}

impl Site {
    /// A page host belongs to the site when it is the site's domain, its `www.` form, or one of
    /// its aliases (again with or without `www.`).
    pub fn matches_host(&self, host: &Hostname) -> bool {
        let h = host.without_www();
        h == self.domain.without_www() || self.aliases.iter().any(|a| a.without_www() == h)
    }

    /// The script tag customers paste into their pages.
    pub fn snippet(&self, public_url: &str) -> String {
        format!(
            "<script defer data-domain=\"{}\"{} src=\"{}/js/t.js\"></script>",
            self.domain,
            match self.require_consent {
                true => " data-require-consent",
                false => "",
            },
            public_url.trim_end_matches('/')
        )
    }
}

/// What is needed to create a site; validated on construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSite {
    pub workspace_id: WorkspaceId,
    pub domain: Hostname,
    pub aliases: Vec<Hostname>,
    pub time_zone: String,
    /// Whether its hosts are verified as they are claimed: sites the operator adds (the
    /// command line, the instance's own site), never a customer's (see
    /// [`ownership`](super::ownership)).
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewSiteError {
    #[error("domain: {0}")]
    Domain(HostnameError),
    #[error("alias: {0}")]
    Alias(HostnameError),
    #[error("alias `{0}` is the site's own domain (its www. form is always included)")]
    AliasIsDomain(String),
    #[error("time zone `{0}` is not an IANA time zone such as Europe/Berlin or UTC")]
    TimeZone(String),
}

impl NewSite {
    pub fn new(
        workspace_id: WorkspaceId,
        domain: &str,
        aliases: &[String],
    ) -> Result<NewSite, NewSiteError> {
        let domain = Hostname::parse(domain).map_err(NewSiteError::Domain)?;
        let mut parsed: Vec<Hostname> = Vec::with_capacity(aliases.len());
        for alias in aliases {
            let alias = Hostname::parse(alias).map_err(NewSiteError::Alias)?;
            if alias.without_www() == domain.without_www() {
                return Err(NewSiteError::AliasIsDomain(alias.0));
            }
            if !parsed
                .iter()
                .any(|p| p.without_www() == alias.without_www())
            {
                parsed.push(alias);
            }
        }
        Ok(NewSite {
            workspace_id,
            domain,
            aliases: parsed,
            time_zone: "UTC".to_owned(),
            verified: false,
        })
    }

    /// Sets the IANA time zone where the site's days begin (`Europe/Berlin`).
    pub fn set_time_zone(&mut self, zone: &str) -> Result<(), NewSiteError> {
        self.time_zone = parse_time_zone(zone)?;
        Ok(())
    }

    /// Every host the new site claims, compared without `www.`.
    pub fn claimed_hosts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.domain.without_www())
            .chain(self.aliases.iter().map(|a| a.without_www()))
    }
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`), trimmed; checked against the bundled
/// time zone database.
pub fn parse_time_zone(zone: &str) -> Result<String, NewSiteError> {
    let zone = zone.trim();
    match jiff::tz::TimeZone::get(zone) {
        Ok(_) => Ok(zone.to_owned()),
        Err(_) => Err(NewSiteError::TimeZone(shown(zone))),
    }
}

/// How long a change to a site's hosts or ignored networks may take to reach ingest: each
/// node's tracking keeps a site and its ignore list this long (`tracking::SiteCache`). Stated
/// here, where the pages that say it live, since accounts does not read tracking.
pub const SITE_CHANGES_APPLY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("the network is empty")]
    Empty,
    #[error("`{0}` is not a network such as 203.0.113.0/24 or 2001:db8::/48, or an IP address")]
    Invalid(String),
}

/// A network whose visits a site ignores: a CIDR (`203.0.113.0/24`, `2001:db8::/48`) or one
/// address (a /32 or /128). Bits past the prefix are cleared: `203.0.113.7/24` is
/// `203.0.113.0/24`, the form it is stored and shown in.
pub fn parse_ignored_network(input: &str) -> Result<IpNet, NetworkError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(NetworkError::Empty);
    }
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(NetworkError::Invalid(shown(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> String {
        Hostname::parse(s).unwrap().0
    }

    #[test]
    fn hostnames_are_normalised() {
        assert_eq!(host("Example.COM"), "example.com");
        assert_eq!(host("example.com."), "example.com");
        assert_eq!(host("example.com:8443"), "example.com");
        assert_eq!(
            host("https://WWW.Example.com/pricing?x=1"),
            "www.example.com"
        );
        assert_eq!(host("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(host("  shop.example.co.uk  "), "shop.example.co.uk");
        assert_eq!(host("localhost"), "localhost");
    }

    #[test]
    fn bad_hostnames_are_refused_with_a_reason() {
        assert_eq!(Hostname::parse(""), Err(HostnameError::Empty));
        assert!(matches!(
            Hostname::parse("192.0.2.1"),
            Err(HostnameError::IpAddress(_))
        ));
        assert!(matches!(
            Hostname::parse("[2001:db8::1]:80"),
            Err(HostnameError::IpAddress(_))
        ));
        for bad in [
            "exa mple.com",
            "example..com",
            "-x.example",
            "intranet",
            "a@b.com",
            "x.com:port",
        ] {
            let err = Hostname::parse(bad).unwrap_err();
            assert!(
                matches!(err, HostnameError::Invalid { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains(bad.trim()), "{err}");
        }
        assert!(Hostname::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn a_host_matches_the_domain_its_www_form_and_aliases() {
        let new =
            NewSite::new(WorkspaceId(1), "example.com", &["shop.example.net".into()]).unwrap();
        let site = Site {
            id: SiteId(1),
            workspace_id: WorkspaceId(1),
            domain: new.domain,
            aliases: new.aliases,
            time_zone: "UTC".into(),
            created_at: 0,
            require_consent: false,
        };
        for ok in [
            "example.com",
            "WWW.example.com",
            "shop.example.net",
            "www.shop.example.net",
        ] {
            assert!(site.matches_host(&Hostname::parse(ok).unwrap()), "{ok}");
        }
        for no in [
            "example.org",
            "evil-example.com",
            "sub.example.com",
            "example.com.evil.io",
        ] {
            assert!(!site.matches_host(&Hostname::parse(no).unwrap()), "{no}");
        }
    }

    #[test]
    fn an_alias_equal_to_the_domain_is_refused_and_duplicates_collapse() {
        let err =
            NewSite::new(WorkspaceId(1), "example.com", &["www.example.com".into()]).unwrap_err();
        assert!(matches!(err, NewSiteError::AliasIsDomain(_)));
        let ok = NewSite::new(
            WorkspaceId(1),
            "example.com",
            &["a.example".into(), "www.a.example".into()],
        )
        .unwrap();
        assert_eq!(ok.aliases.len(), 1);
    }

    #[test]
    fn time_zones_are_checked() {
        let mut new = NewSite::new(WorkspaceId(1), "example.com", &[]).unwrap();
        new.set_time_zone("Europe/Berlin").unwrap();
        assert_eq!(new.time_zone, "Europe/Berlin");
        assert!(matches!(
            new.set_time_zone("Mars/Olympus"),
            Err(NewSiteError::TimeZone(_))
        ));
        assert_eq!(new.time_zone, "Europe/Berlin");
    }

    #[test]
    fn ignored_networks_are_cidrs_or_addresses() {
        let net = |s: &str| parse_ignored_network(s).unwrap().to_string();
        assert_eq!(net(" 203.0.113.0/24 "), "203.0.113.0/24");
        assert_eq!(net("203.0.113.7/24"), "203.0.113.0/24");
        assert_eq!(net("198.51.100.23"), "198.51.100.23/32");
        assert_eq!(net("2001:db8::/48"), "2001:db8::/48");
        assert_eq!(net("2001:db8::1"), "2001:db8::1/128");
        assert_eq!(parse_ignored_network(" "), Err(NetworkError::Empty));
        for bad in ["203.0.113.0/33", "example.com", "10.0.0.0/8/8", "1.2.3"] {
            assert!(
                matches!(parse_ignored_network(bad), Err(NetworkError::Invalid(_))),
                "{bad}"
            );
        }
        let long = "9".repeat(10_000);
        assert!(parse_ignored_network(&long).unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn the_snippet_names_the_domain_and_public_url() {
        let site = Site {
            id: SiteId(1),
            workspace_id: WorkspaceId(1),
            domain: Hostname::parse("example.com").unwrap(),
            aliases: vec![],
            time_zone: "UTC".into(),
            created_at: 0,
            require_consent: false,
        };
        assert_eq!(
            site.snippet("https://stats.example.org/"),
            "<script defer data-domain=\"example.com\" src=\"https://stats.example.org/js/t.js\"></script>"
        );
        let waiting = Site {
            require_consent: true,
            ..site
        };
        assert_eq!(
            waiting.snippet("https://stats.example.org"),
            "<script defer data-domain=\"example.com\" data-require-consent src=\"https://stats.example.org/js/t.js\"></script>"
        );
    }
}
