//! Cookieless tracking: the `t.js` snippet, `POST /api/event`, the pipeline from a request to
//! a stored event ([`ingest`]: parse, resolve site, check origin, check host, limit rate, drop
//! ignored network, drop bot, hash visitor, identify organisation, attribute source, build
//! event, submit; the address is dropped after identification), the rate limits ([`limits`]),
//! the visits ([`visits`], [`visit_cache`]), the one event writer ([`writer`]) and its queries
//! ([`store`]), and the export.

pub mod agent;
pub mod event;
pub mod export;
pub mod ingest;
pub mod limits;
pub mod model;
pub mod paths;
pub mod rollups;
pub mod settings;
pub mod source;
pub mod store;
pub mod traits;
pub mod visit_cache;
pub mod visitor;
pub mod visits;
pub mod writer;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{options, post};
use ipintel::rdns::HickoryReverseDns;
use ipnet::IpNet;

use self::ingest::{DropMetrics, Refusal, Stop};
use self::limits::{EventLimits, Limited};
use self::writer::WriterHandle;
use crate::accounts::sites::{Hostname, SITE_CHANGES_APPLY_WITHIN, Site};
use crate::auth::Access;
use crate::ipdb::IpDb;
use crate::store::{Db, StoreError};
use crate::web::Route;
use crate::web::assets::Script;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;

pub fn routes() -> Vec<Route<Arc<Tracking>, Access>> {
    // The beacon answers its CORS preflight on the same path.
    let beacon = post(event).merge(options(preflight));
    vec![
        Route::get("/js/t.js", Access::Public, script),
        Route::new(
            axum::http::Method::POST,
            "/api/event",
            Access::Beacon,
            beacon,
        ),
    ]
}

/// Everything the event handler needs besides the store.
pub struct Tracking {
    pub writer: WriterHandle,
    /// The time events are stamped with: the real clock, unless a test sets it.
    pub clock: crate::nodes::clock::Clock,
    /// Events not stored, by reason.
    pub dropped: DropMetrics,
    pub ipdb: Arc<IpDb>,
    /// Events a minute per client of a site, and per site (this node's counts).
    limits: EventLimits,
    /// PTR lookups, when `reverse_dns` is on.
    rdns: Option<HickoryReverseDns>,
    salts: visitor::Salts,
    sites: SiteCache,
}

impl Tracking {
    pub fn new(
        db: Db,
        writer: WriterHandle,
        ipdb: Arc<IpDb>,
        rdns: Option<HickoryReverseDns>,
        limits: EventLimits,
        site_cache_size: u64,
    ) -> Result<Tracking, prometheus::Error> {
        agent::warm_up();
        Ok(Tracking {
            writer,
            clock: crate::nodes::clock::Clock::real(),
            dropped: DropMetrics::new()?,
            ipdb,
            rdns,
            limits,
            salts: visitor::Salts::new(db.clone()),
            sites: SiteCache::new(db, site_cache_size),
        })
    }

    /// The organisation behind an address: the IP index (overrides first), then, when reverse
    /// DNS is on, the PTR name for the results it may improve (see
    /// [`ipintel::rdns::apply_reverse_dns`]). Hosting and mobile addresses, and addresses an
    /// override holds, are never sent to the resolver. The lookup takes at most
    /// `reverse_dns_timeout`, and nothing about the address or its name is logged.
    pub async fn identify(&self, ip: IpAddr) -> ipintel::Lookup {
        let mut org = self.ipdb.lookup(ip);
        if let Some(rdns) = &self.rdns
            && ipintel::rdns::wants_reverse_dns(&org)
            && !self.ipdb.overridden(ip)
        {
            // Boxed: the lookup's future is large, and without the box every request's
            // future (moved and boxed on each request) would carry its size, reverse DNS on
            // or off.
            let domain = Box::pin(rdns.company_domain(ip)).await;
            ipintel::rdns::apply_reverse_dns(&mut org, domain.as_deref());
        }
        org
    }

    /// Domains whose site (or its absence) is cached now.
    pub fn cached_sites(&self) -> u64 {
        self.sites.len()
    }
}

/// Sites and their ignore lists by domain (without `www.`), kept for a few seconds so an
/// event needs no read of the store. A change to a site, or a site added on another node, is
/// seen here within [`SITE_TTL`]. A domain with no site is kept too, for [`NO_SITE_TTL`], so
/// repeated events for it cost no query. The cache holds at most `site_cache_size` domains and
/// evicts the least used: a flood of made-up domains cannot grow it, and no request waits on
/// another's lock.
struct SiteCache {
    db: Db,
    entries: moka::sync::Cache<String, Option<Arc<CachedSite>>>,
}

/// A site as the pipeline sees it: with its ignore list and each host's ownership state.
pub struct CachedSite {
    pub site: Site,
    pub ignored: Vec<IpNet>,
    /// Claimed time and verification of the site's hosts (`check_verified`).
    pub hosts: Vec<crate::accounts::ownership::HostClaim>,
}

/// How long a site is kept: the time the site settings page promises for changes.
const SITE_TTL: Duration = SITE_CHANGES_APPLY_WITHIN;
/// How long a domain with no site is kept; shorter, so a new site is live sooner.
const NO_SITE_TTL: Duration = Duration::from_secs(5);

/// Each entry lives for its kind's time from when it was read from the store.
struct SiteExpiry;

impl moka::Expiry<String, Option<Arc<CachedSite>>> for SiteExpiry {
    fn expire_after_create(
        &self,
        _: &String,
        site: &Option<Arc<CachedSite>>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(ttl_of(site))
    }

    fn expire_after_update(
        &self,
        _: &String,
        site: &Option<Arc<CachedSite>>,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(ttl_of(site))
    }
}

fn ttl_of(site: &Option<Arc<CachedSite>>) -> Duration {
    match site {
        Some(_) => SITE_TTL,
        None => NO_SITE_TTL,
    }
}

impl SiteCache {
    fn new(db: Db, size: u64) -> SiteCache {
        SiteCache {
            db,
            entries: moka::sync::Cache::builder()
                .max_capacity(size)
                .expire_after(SiteExpiry)
                .build(),
        }
    }

    async fn get(&self, domain: &Hostname) -> Result<Option<Arc<CachedSite>>, StoreError> {
        let key = domain.without_www();
        if let Some(site) = self.entries.get(key) {
            return Ok(site);
        }
        let site = match crate::accounts::store::site_by_host(&self.db, domain).await? {
            Some(site) => {
                let ignored = crate::accounts::store::ignored_networks(&self.db, site.id).await?;
                let hosts = crate::accounts::store::host_claims(&self.db, site.id).await?;
                Some(Arc::new(CachedSite {
                    site,
                    ignored,
                    hosts,
                }))
            }
            None => None,
        };
        self.entries.insert(key.to_owned(), site.clone());
        Ok(site)
    }

    /// Domains held now, once pending evictions are done.
    fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// t.js.
pub static SCRIPT: Script = Script::new(include_str!("../../assets/t.js"));

/// `GET /js/t.js`: the tracker, gzipped for clients that accept it.
async fn script(headers: HeaderMap) -> Response {
    let mut response = SCRIPT.respond(&headers);
    let h = response.headers_mut();
    // Any site may load the script.
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    response
}

fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `OPTIONS /api/event`: browsers ask before sending JSON from another origin.
async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    cors(response)
}

/// `POST /api/event`: the pipeline ([`ingest`]), and its outcome as an HTTP answer.
async fn event(
    State(tracking): State<Arc<Tracking>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let request = ingest::Request {
        content_type: text(header::CONTENT_TYPE),
        origin: headers.get(header::ORIGIN).map(HeaderValue::as_bytes),
        body: &body,
        client,
        user_agent: text(header::USER_AGENT).unwrap_or_default(),
        now: tracking.clock.now_ms(),
    };
    let tracking = &*tracking;
    cors(match ingest::ingest(tracking, request).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(Stop::Dropped(reason)) => {
            tracking.dropped.count(reason);
            StatusCode::ACCEPTED.into_response()
        }
        Err(Stop::Refused(refusal)) => {
            if let Some(reason) = refusal.counted_as() {
                tracking.dropped.count(reason);
            }
            if let Refusal::Store(e) = &refusal {
                tracking.writer.health.read_failed(e);
            }
            refusal_error(refusal).into_response()
        }
    })
}

/// The answer to a refused event.
fn refusal_error(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::MediaType => AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the event as application/json or text/plain.",
        ),
        Refusal::Invalid(e) => {
            AppError::bad_request("invalid_event", e.to_string()).with_field(e.field)
        }
        Refusal::UnknownSite(domain) => AppError::not_found(format!(
            "No site {domain} is tracked here. Add it with `leadsment site add {domain}`."
        )),
        Refusal::HostNotAllowed { page, site } => AppError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "Pages on {page} do not belong to the site {site}; add the host as an alias of the site."
            ),
        ),
        Refusal::OriginNotAllowed { origin, site } => AppError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            match origin {
                Some(origin) => format!(
                    "Events for {site} are taken only from its own pages, and {origin} is not its domain, its www. form or an alias; add the host as an alias of the site if the pages are yours."
                ),
                None => format!(
                    "Events for {site} are taken only from its own pages, and this request's Origin is null or names no host (a sandboxed frame, a local file or a cross-site redirect)."
                ),
            },
        ),
        Refusal::SiteUnverified { host } => AppError::new(
            StatusCode::FORBIDDEN,
            "site_unverified",
            format!(
                "Events for {host} are not taken: the host was added over 72 hours ago and its owner has not yet proven it is theirs. The site's admins can verify it on the site's settings page."
            ),
        ),
        Refusal::RateLimited(limited) => {
            let secs = limited.retry_after_secs();
            let message = match limited {
                Limited::Client(_) => format!(
                    "Too many events from this client for the site; send the next one in {secs} s."
                ),
                Limited::Site(_) => format!(
                    "Too many events for the site this minute; send the next one in {secs} s."
                ),
            };
            AppError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
        }
        Refusal::Overloaded => AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Too many events at once; send this one again in a second.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
        // A read the database did not answer (the site, the day's salt) is logged once by
        // `read_failed` and answered like an event the writer could not store.
        Refusal::NotStored | Refusal::Store(_) => AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The event could not be stored; send it again shortly.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
    }
}

/// The page path without its query string (which can carry emails and tokens; UTM parameters
/// are kept in their own columns). A fragment is kept only when it is a route (`#/pricing`),
/// never when it could be a token (`#access_token=…`).
pub fn page_path(url: &url::Url) -> String {
    let mut path = url.path().to_owned();
    if let Some(fragment) = url.fragment()
        && (fragment.starts_with('/') || fragment.starts_with("!/"))
    {
        path.push('#');
        path.push_str(fragment);
    }
    path.chars().take(event::MAX_URL_LEN).collect()
}

/// The date of `ts_ms` in the site's time zone (UTC when the zone is unknown).
pub fn site_day(site: &Site, ts_ms: i64) -> String {
    let tz = jiff::tz::TimeZone::get(&site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(ts_ms)
        .map(|t| t.to_zoned(tz).date().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_query_and_token_fragments() {
        let p = |s: &str| page_path(&url::Url::parse(s).unwrap());
        assert_eq!(
            p("https://a.example/pricing?email=x@y.z&utm_source=li"),
            "/pricing"
        );
        assert_eq!(p("https://a.example/app#/settings"), "/app#/settings");
        assert_eq!(p("https://a.example/cb#access_token=secret"), "/cb");
        assert_eq!(p("https://a.example"), "/");
    }

    #[test]
    fn the_script_is_small() {
        // Compressed here, not through `gzipped`, which serves plain t.js when
        // compression fails: an empty result must fail this test, not pass it.
        let gz = SCRIPT.compress().expect("t.js compresses");
        assert!(
            gz.len() > 100,
            "a gzip of t.js cannot be {} bytes",
            gz.len()
        );
        assert!(
            gz.len() < 1000,
            "t.js is {} bytes gzipped; the budget is 1,000",
            gz.len()
        );
        assert_eq!(SCRIPT.gzipped(), gz.as_slice());
    }
}
