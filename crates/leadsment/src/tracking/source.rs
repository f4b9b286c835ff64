//! Where a visit came from: the referrer and the UTM parameters, turned into a source (a name
//! users recognise) and a channel (search, social, email, paid, direct, referral).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;
use url::Url;

use crate::accounts::sites::Hostname;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Direct,
    Search,
    Social,
    Email,
    Paid,
    Referral,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Search => "search",
            Channel::Social => "social",
            Channel::Email => "email",
            Channel::Paid => "paid",
            Channel::Referral => "referral",
        }
    }

    fn parse(s: &str) -> Option<Channel> {
        Some(match s {
            "search" => Channel::Search,
            "social" => Channel::Social,
            "email" => Channel::Email,
            _ => return None,
        })
    }
}

/// UTM parameters, the only part of a query string that is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// "Google", "LinkedIn", a referring host, a UTM source, or none for direct visits.
    pub source: Option<String>,
    pub channel: Channel,
    pub utm: Utm,
}

const MAX_UTM_LEN: usize = 200;

/// Reads the UTM parameters of a page URL (`utm_*`, and `ref`/`source` as Plausible does).
pub fn utm_of(url: &Url) -> Utm {
    let mut utm = Utm::default();
    for (k, v) in url.query_pairs() {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let v: String = v.chars().take(MAX_UTM_LEN).collect();
        match k.as_ref() {
            "utm_source" => utm.source = Some(v),
            "utm_medium" => utm.medium = Some(v),
            "utm_campaign" => utm.campaign = Some(v),
            "utm_term" => utm.term = Some(v),
            "utm_content" => utm.content = Some(v),
            "ref" | "source" if utm.source.is_none() => utm.source = Some(v),
            _ => {}
        }
    }
    utm
}

/// Known referrer hosts from `data/referrer-sources.txt`: host to channel and source name.
fn known_hosts() -> &'static HashMap<&'static str, (Channel, String)> {
    static HOSTS: OnceLock<HashMap<&'static str, (Channel, String)>> = OnceLock::new();
    HOSTS.get_or_init(|| {
        include_str!("../../data/referrer-sources.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let host = words.next()?;
                let channel = Channel::parse(words.next()?)?;
                let name = words.collect::<Vec<_>>().join(" ");
                (!name.is_empty()).then_some((host, (channel, name)))
            })
            .collect()
    })
}

/// The entry for `host` or its nearest listed parent domain.
fn lookup(host: &str) -> Option<(Channel, &'static str)> {
    let table = known_hosts();
    let mut h = host;
    loop {
        if let Some((channel, name)) = table.get(h) {
            return Some((*channel, name.as_str()));
        }
        // Google has a host per country (google.co.nz); any google.* counts.
        if let Some(rest) = h.strip_prefix("google.")
            && rest.split('.').all(|l| l.len() <= 3)
        {
            return Some((Channel::Search, "Google"));
        }
        h = h.split_once('.')?.1;
    }
}

fn is_paid_medium(medium: &str) -> bool {
    matches!(
        medium.to_ascii_lowercase().as_str(),
        "cpc"
            | "ppc"
            | "paid"
            | "paidsearch"
            | "paid_search"
            | "paid-social"
            | "paid_social"
            | "paidsocial"
            | "cpm"
            | "display"
            | "banner"
            | "retargeting"
            | "ads"
    )
}

/// Attributes a page view. A referrer from the site itself (another page of it) is no source.
pub fn attribute(
    page: &Url,
    referrer: Option<&Url>,
    site_hosts: &dyn Fn(&Hostname) -> bool,
) -> Attribution {
    let utm = utm_of(page);
    let click_id = page.query_pairs().any(|(k, _)| {
        matches!(
            k.as_ref(),
            "gclid" | "msclkid" | "fbclid" | "li_fat_id" | "ttclid" | "wbraid" | "gbraid"
        )
    });

    let referrer_host = referrer
        .and_then(|r| r.host_str())
        .and_then(|h| Hostname::parse(h).ok())
        .filter(|h| !site_hosts(h));
    let known = referrer_host.as_ref().and_then(|h| lookup(h.without_www()));

    let source = utm
        .source
        .clone()
        .or_else(|| known.map(|(_, name)| name.to_owned()))
        .or_else(|| referrer_host.as_ref().map(|h| h.without_www().to_owned()));

    let medium = utm.medium.as_deref().unwrap_or_default();
    let channel = if click_id || is_paid_medium(medium) {
        Channel::Paid
    } else if medium.eq_ignore_ascii_case("email") || medium.eq_ignore_ascii_case("newsletter") {
        Channel::Email
    } else if medium.eq_ignore_ascii_case("social") || medium.eq_ignore_ascii_case("organic_social")
    {
        Channel::Social
    } else if medium.eq_ignore_ascii_case("organic") {
        Channel::Search
    } else if let Some((channel, _)) = known {
        channel
    } else if referrer_host.is_some() || source.is_some() {
        Channel::Referral
    } else {
        Channel::Direct
    };
    Attribution {
        source,
        channel,
        utm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(page: &str, referrer: Option<&str>) -> Attribution {
        let page = Url::parse(page).unwrap();
        let referrer = referrer.map(|r| Url::parse(r).unwrap());
        attribute(&page, referrer.as_ref(), &|h: &Hostname| {
            h.without_www() == "acme.example"
        })
    }

    #[test]
    fn channels_follow_referrer_and_utm() {
        let a = attr("https://acme.example/", None);
        assert_eq!((a.source, a.channel), (None, Channel::Direct));

        let a = attr("https://acme.example/", Some("https://www.google.co.nz/"));
        assert_eq!(
            (a.source.as_deref(), a.channel),
            (Some("Google"), Channel::Search)
        );

        let a = attr(
            "https://acme.example/",
            Some("https://www.linkedin.com/feed/"),
        );
        assert_eq!(
            (a.source.as_deref(), a.channel),
            (Some("LinkedIn"), Channel::Social)
        );

        let a = attr(
            "https://acme.example/",
            Some("https://blog.partner.example/post"),
        );
        assert_eq!(
            (a.source.as_deref(), a.channel),
            (Some("blog.partner.example"), Channel::Referral)
        );

        let a = attr(
            "https://acme.example/?utm_source=newsletter&utm_medium=email&utm_campaign=nov",
            None,
        );
        assert_eq!(
            (a.source.as_deref(), a.channel),
            (Some("newsletter"), Channel::Email)
        );
        assert_eq!(a.utm.campaign.as_deref(), Some("nov"));

        let a = attr(
            "https://acme.example/?gclid=abc",
            Some("https://www.google.com/"),
        );
        assert_eq!(a.channel, Channel::Paid);
        let a = attr(
            "https://acme.example/?utm_source=linkedin&utm_medium=cpc",
            None,
        );
        assert_eq!(a.channel, Channel::Paid);
    }

    #[test]
    fn the_site_itself_is_not_a_source() {
        let a = attr("https://acme.example/b", Some("https://www.acme.example/a"));
        assert_eq!((a.source, a.channel), (None, Channel::Direct));
    }

    #[test]
    fn the_table_loads() {
        assert!(known_hosts().len() > 50);
        assert_eq!(
            lookup("news.ycombinator.com"),
            Some((Channel::Social, "Hacker News"))
        );
        assert_eq!(lookup("m.facebook.com").map(|x| x.1), Some("Facebook"));
        assert_eq!(
            lookup("search.brave.com").map(|x| x.1),
            Some("Brave Search")
        );
    }
}
