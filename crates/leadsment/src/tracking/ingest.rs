//! The ingest pipeline, from a request to a stored event, as named steps. Each step is a
//! function that returns what the next one needs, or [`Stop`]: a [`DropReason`] (accepted and
//! not stored, counted in `leadsment_events_dropped_total{reason}`) or a [`Refusal`] (the
//! event is wrong or cannot be taken now; those for its origin or rate are counted under a
//! [`DropReason`] too). HTTP answers are chosen once, at the edge (`tracking::event_handler`),
//! from these.
//!
//! The client-address, bot and identify steps need no site, so that other capabilities (the
//! consent log's country) can run them too.

use std::net::IpAddr;

use prometheus::{IntCounterVec, Opts, Registry};

use super::agent::{self, Agent};
use super::event::{self, Event, EventError};
use super::limits::Limited;
use super::model::{CompanyInfo, NewEvent};
use super::source::{self, Attribution};
use super::visitor::VisitorHashes;
use super::writer::SubmitError;
use super::{CachedSite, Tracking, page_path, site_day};
use crate::accounts::sites::Hostname;
use crate::store::StoreError;
use crate::web::client_addr::limiter_key;

/// What a request brings to the pipeline.
pub struct Request<'a> {
    pub content_type: Option<&'a str>,
    /// The `Origin` header, as sent: browsers name the page's origin there.
    pub origin: Option<&'a [u8]>,
    pub body: &'a [u8],
    /// The client address as the web layer resolved it (socket peer or trusted proxy's
    /// header); it goes no further than [`hash_visitor`] and [`identify_organisation`].
    pub client: IpAddr,
    pub user_agent: &'a str,
    /// Milliseconds since the Unix epoch.
    pub now: i64,
}

/// Why an event was not stored, as counted on `/metrics`. The first two are drops (answered
/// 202, [`Stop::Dropped`]); the others are refusals worth counting ([`Refusal::counted_as`]).
/// The values of [`DropReason::as_str`] are a contract (the `reason` label on `/metrics`,
/// listed in docs/operations.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The client address is on the site's ignore list (its own office, say).
    IgnoredNetwork,
    /// The user agent is a crawler's or a tool's; the site's bot count goes up instead.
    Bot,
    /// The request's `Origin` is not one of the site's hosts (403).
    OriginNotAllowed,
    /// The client is over its limit for the site (429).
    RateLimited,
    /// The site is over its limit (429).
    SiteRateLimited,
    /// The page's host is past its grace and not verified as the workspace's (403).
    SiteUnverified,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::IgnoredNetwork,
        DropReason::Bot,
        DropReason::OriginNotAllowed,
        DropReason::RateLimited,
        DropReason::SiteRateLimited,
        DropReason::SiteUnverified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::IgnoredNetwork => "ignored_network",
            DropReason::Bot => "bot",
            DropReason::OriginNotAllowed => "origin_not_allowed",
            DropReason::RateLimited => "rate_limited",
            DropReason::SiteRateLimited => "site_rate_limited",
            DropReason::SiteUnverified => "site_unverified",
        }
    }
}

/// Why an event was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("unsupported content type")]
    MediaType,
    #[error(transparent)]
    Invalid(#[from] EventError),
    #[error("no site {0} is tracked here")]
    UnknownSite(Hostname),
    #[error("pages on {page} do not belong to the site {site}")]
    HostNotAllowed { page: Hostname, site: Hostname },
    /// `origin` is the Origin's host, or `None` for `null` or an Origin that names no host.
    #[error("a request from another origin than the site {site}'s")]
    OriginNotAllowed {
        origin: Option<Hostname>,
        site: Hostname,
    },
    /// The page's host (compared form) is unverified and past its grace.
    #[error("the host {host} is not verified")]
    SiteUnverified { host: String },
    #[error("over the events' rate limit")]
    RateLimited(Limited),
    #[error("the ingest queue is full")]
    Overloaded,
    #[error("the event could not be stored")]
    NotStored,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Refusal {
    /// The reason a refusal is counted under on `/metrics`, if it is: those that say where an
    /// event came from or how often, not that it was malformed.
    pub fn counted_as(&self) -> Option<DropReason> {
        match self {
            Refusal::OriginNotAllowed { .. } => Some(DropReason::OriginNotAllowed),
            Refusal::SiteUnverified { .. } => Some(DropReason::SiteUnverified),
            Refusal::RateLimited(Limited::Client(_)) => Some(DropReason::RateLimited),
            Refusal::RateLimited(Limited::Site(_)) => Some(DropReason::SiteRateLimited),
            _ => None,
        }
    }
}

/// Where the pipeline stopped before storing.
#[derive(Debug)]
pub enum Stop {
    Dropped(DropReason),
    Refused(Refusal),
}

impl From<Refusal> for Stop {
    fn from(e: Refusal) -> Stop {
        Stop::Refused(e)
    }
}

impl From<DropReason> for Stop {
    fn from(reason: DropReason) -> Stop {
        Stop::Dropped(reason)
    }
}

/// The pipeline. `Ok` means the event is durable.
pub async fn ingest(t: &Tracking, req: Request<'_>) -> Result<(), Stop> {
    let event = parse(req.content_type, req.body)?;
    let site = resolve_site(t, &event.domain).await?;
    check_origin(&site, req.origin)?;
    check_host(&site, &event.page_host)?;
    check_verified(&site, &event.page_host, req.now)?;
    limit_rate(t, &site, req.client)?;
    drop_ignored_network(&site, req.client)?;
    let agent = drop_bot(req.user_agent).inspect_err(|_| {
        t.writer
            .count_bot(site.site.id, site_day(&site.site, req.now));
    })?;
    let hashes = hash_visitor(t, &site, req.client, req.user_agent, req.now).await?;
    let org = identify_organisation(t, req.client).await;
    // From here on only what the lookup derived is used; the address itself goes no further.
    let attribution = attribute_source(&site, &event);
    let new = build_event(&site, event, hashes, &org, attribution, agent, req.now);
    submit(t, new).await
}

/// Checks the body's type and parses it.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Event, Refusal> {
    if let Some(ct) = content_type {
        let ct = ct.to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.starts_with("text/plain")) {
            return Err(Refusal::MediaType);
        }
    }
    Ok(event::parse(body)?)
}

/// The site the snippet names, with its ignore list (cached for a few seconds).
pub async fn resolve_site(t: &Tracking, domain: &Hostname) -> Result<CachedSiteRef, Refusal> {
    bounded(t.sites.get(domain))
        .await?
        .ok_or_else(|| Refusal::UnknownSite(domain.clone()))
}

/// The longest an event waits for a read (its site, the day's salt) before it is answered
/// 503: a database that stopped answering would otherwise hold it for the pool's connect
/// timeout.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

async fn bounded<T>(
    read: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, Refusal> {
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Refusal::Store(StoreError::TimedOut)),
    }
}

type CachedSiteRef = std::sync::Arc<CachedSite>;

/// The page must be on the site's domain or one of its aliases.
pub fn check_host(site: &CachedSite, page: &Hostname) -> Result<(), Refusal> {
    if site.site.matches_host(page) {
        return Ok(());
    }
    Err(Refusal::HostNotAllowed {
        page: page.clone(),
        site: site.site.domain.clone(),
    })
}

/// The page's host must be verified as the workspace's, or claimed less than
/// [`GRACE`](crate::accounts::ownership::GRACE) ago (docs/ownership.md). A host with no claim
/// row passes: [`check_host`] has already tied it to the site.
pub fn check_verified(site: &CachedSite, page: &Hostname, now: i64) -> Result<(), Refusal> {
    let host = page.without_www();
    match site.hosts.iter().find(|h| h.host == host) {
        Some(claim) if !claim.takes_events(now) => Err(Refusal::SiteUnverified {
            host: host.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// A browser names the page's origin, which the page cannot change: it must be one of the
/// site's hosts (as the page's `url` must), so that a page elsewhere cannot report into the
/// site. A request without `Origin` (a server, curl, a proxy) passes; `null` (a sandboxed
/// frame, a file, a cross-site redirect) and an Origin that names no host do not.
pub fn check_origin(site: &CachedSite, origin: Option<&[u8]>) -> Result<(), Refusal> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let host = std::str::from_utf8(origin)
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| u.host_str().and_then(|h| Hostname::parse(h).ok()));
    match host {
        Some(host) if site.site.matches_host(&host) => Ok(()),
        origin => Err(Refusal::OriginNotAllowed {
            origin,
            site: site.site.domain.clone(),
        }),
    }
}

/// The client (by its limiter key: an IPv4 address, an IPv6 /64) and the site may send so
/// many events a minute to this node (`events_per_client_per_minute`,
/// `events_per_site_per_minute`).
pub fn limit_rate(t: &Tracking, site: &CachedSite, client: IpAddr) -> Result<(), Refusal> {
    t.limits
        .check(site.site.id, limiter_key(client))
        .map_err(Refusal::RateLimited)
}

/// Events from the site's ignored networks are accepted and forgotten.
pub fn drop_ignored_network(site: &CachedSite, client: IpAddr) -> Result<(), DropReason> {
    match site.ignored.iter().any(|net| net.contains(&client)) {
        true => Err(DropReason::IgnoredNetwork),
        false => Ok(()),
    }
}

/// The browser, OS and device of a user agent; crawlers and tools are dropped.
pub fn drop_bot(user_agent: &str) -> Result<Agent, DropReason> {
    agent::classify(user_agent).ok_or(DropReason::Bot)
}

/// The visitor's keyed hashes (today's salt and, while it exists, yesterday's).
pub async fn hash_visitor(
    t: &Tracking,
    site: &CachedSite,
    client: IpAddr,
    user_agent: &str,
    now: i64,
) -> Result<VisitorHashes, Refusal> {
    bounded(t.salts.hashes(now, site.site.id.0, client, user_agent)).await
}

/// The organisation behind the address (see [`Tracking::identify`]).
pub async fn identify_organisation(t: &Tracking, client: IpAddr) -> ipintel::Lookup {
    t.identify(client).await
}

/// The source and channel of the visit: referrer and UTM parameters.
pub fn attribute_source(site: &CachedSite, event: &Event) -> Attribution {
    source::attribute(&event.url, event.referrer.as_ref(), &|h: &Hostname| {
        site.site.matches_host(h)
    })
}

/// The event as it is stored: nothing of the request that must not be kept.
pub fn build_event(
    site: &CachedSite,
    event: Event,
    hashes: VisitorHashes,
    org: &ipintel::Lookup,
    attribution: Attribution,
    agent: Agent,
    now: i64,
) -> NewEvent {
    let company = org.name.as_ref().map(|name| CompanyInfo {
        key: match (&org.domain, org.asn) {
            (Some(domain), _) => format!("domain:{}", domain.to_ascii_lowercase()),
            (None, Some(asn)) => format!("asn:{asn}:{name}"),
            (None, None) => format!("org:{name}"),
        },
        name: name.clone(),
        org: org.org.clone(),
        domain: org.domain.clone(),
        asn: org.asn.map(i64::from),
        country: org.country.clone(),
        class: org.class.to_string(),
        class_reason: org.class_reason.clone(),
    });
    NewEvent {
        site_id: site.site.id,
        ts: now,
        path: page_path(&event.url),
        props: (!event.props.is_empty())
            .then(|| serde_json::to_string(&event.props).unwrap_or_default()),
        engaged_ms: event.engaged_ms.map(|ms| ms as i64),
        name: event.name,
        visitor_hash: hashes.current,
        previous_visitor_hash: hashes.previous,
        class: org.class.to_string(),
        country: org.country.clone(),
        company,
        source: attribution.source,
        channel: attribution.channel.as_str().to_owned(),
        utm_source: attribution.utm.source,
        utm_medium: attribution.utm.medium,
        utm_campaign: attribution.utm.campaign,
        utm_term: attribution.utm.term,
        utm_content: attribution.utm.content,
        browser: agent.browser,
        os: agent.os,
        device: agent.device.to_owned(),
    }
}

/// Hands the event to the writer and waits until it is durable.
pub async fn submit(t: &Tracking, new: NewEvent) -> Result<(), Stop> {
    t.writer.submit(new).await.map_err(|e| {
        Stop::Refused(match e {
            SubmitError::Full => Refusal::Overloaded,
            SubmitError::Failed => Refusal::NotStored,
        })
    })
}

/// `leadsment_events_dropped_total{reason}`: events not stored, by reason.
#[derive(Clone)]
pub struct DropMetrics(IntCounterVec);

impl DropMetrics {
    pub fn new() -> Result<DropMetrics, prometheus::Error> {
        let counter = IntCounterVec::new(
            Opts::new(
                "leadsment_events_dropped_total",
                "Events not stored, by reason: dropped (answered 202) or refused for their origin or rate (403, 429).",
            ),
            &["reason"],
        )?;
        // Every reason is reported from the start, at zero.
        for reason in DropReason::ALL {
            counter.with_label_values(&[reason.as_str()]);
        }
        Ok(DropMetrics(counter))
    }

    pub fn count(&self, reason: DropReason) {
        self.0.with_label_values(&[reason.as_str()]).inc();
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::WorkspaceId;
    use crate::accounts::sites::{Site, SiteId};

    fn site() -> CachedSite {
        CachedSite {
            site: Site {
                id: SiteId(1),
                workspace_id: WorkspaceId(1),
                domain: Hostname::parse("acme.example").unwrap(),
                aliases: vec![Hostname::parse("shop.acme.example").unwrap()],
                time_zone: "UTC".into(),
                created_at: 0,
                require_consent: false,
            },
            ignored: vec![],
            hosts: vec![],
        }
    }

    #[test]
    fn an_unverified_host_past_its_grace_is_refused() {
        use crate::accounts::ownership::HostClaim;
        let mut site = site();
        let h72 = 72 * 3600 * 1000;
        site.hosts = vec![HostClaim {
            host: "acme.example".into(),
            claimed_at: 0,
            verified_at: None,
            last_check: None,
        }];
        let page = Hostname::parse("www.acme.example").unwrap();
        assert!(check_verified(&site, &page, h72 - 1).is_ok());
        assert!(matches!(
            check_verified(&site, &page, h72),
            Err(Refusal::SiteUnverified { .. })
        ));
        site.hosts[0].verified_at = Some(1);
        assert!(check_verified(&site, &page, h72).is_ok());
    }

    #[test]
    fn only_the_sites_own_origins_or_none_pass() {
        let site = site();
        let check = |o: Option<&[u8]>| check_origin(&site, o).is_ok();
        assert!(check(None));
        for ok in [
            "https://acme.example",
            "http://www.acme.example:8080",
            "https://shop.acme.example",
            "https://ACME.example",
        ] {
            assert!(check(Some(ok.as_bytes())), "{ok}");
        }
        for no in [
            "null",
            "",
            "https://attacker.example",
            "https://acme.example.attacker.example",
            "https://xacme.example",
            "chrome-extension://acme.example",
            "http://127.0.0.1:8080",
            "http://[::1]",
            "acme.example",
        ] {
            assert!(!check(Some(no.as_bytes())), "{no}");
        }
        assert!(!check(Some(b"https://acme.example\xff")));
        let Err(Refusal::OriginNotAllowed { origin, site: name }) =
            check_origin(&site, Some(b"https://evil.example:8443"))
        else {
            panic!("refused");
        };
        assert_eq!(origin.unwrap().as_str(), "evil.example");
        assert_eq!(name.as_str(), "acme.example");
    }
}
