//! Cookieless tracking: the `t.js` snippet, `POST /api/event`, and the pipeline from a request
//! to a stored event: client address, ignore list, bot filter, user agent, referrer and UTM,
//! visitor hash, IP to organisation (and, when configured, reverse DNS), and then the address
//! is dropped.

pub mod agent;
pub mod client_ip;
pub mod event;
pub mod export;
pub mod model;
pub mod source;
pub mod visitor;
pub mod writer;

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, options, post};
use ipintel::rdns::HickoryReverseDns;
use ipnet::IpNet;

use self::model::{CompanyInfo, NewEvent};
use self::writer::{SubmitError, WriterHandle};
use crate::accounts::sites::{Hostname, Site};
use crate::ipdb::IpDb;
use crate::store::{DynStore, StoreError};
use crate::web::error::AppError;
use crate::web::{Access, AppState, Route};

pub fn routes() -> Vec<Route> {
    vec![
        Route {
            method: axum::http::Method::GET,
            path: "/js/t.js",
            access: Access::Public,
            handler: get(script),
        },
        Route {
            method: axum::http::Method::POST,
            path: "/api/event",
            access: Access::Beacon,
            handler: post(event).merge(options(preflight)),
        },
    ]
}

/// Everything the event handler needs besides the store.
pub struct Tracking {
    pub writer: WriterHandle,
    pub ipdb: Arc<IpDb>,
    /// PTR lookups, when `reverse_dns` is on.
    rdns: Option<HickoryReverseDns>,
    salts: visitor::Salts,
    sites: SiteCache,
}

impl Tracking {
    pub fn new(
        store: DynStore,
        writer: WriterHandle,
        ipdb: Arc<IpDb>,
        rdns: Option<HickoryReverseDns>,
    ) -> Tracking {
        agent::warm_up();
        Tracking {
            writer,
            ipdb,
            rdns,
            salts: visitor::Salts::new(store.clone()),
            sites: SiteCache::new(store),
        }
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
}

/// Sites and their ignore lists, kept for a few seconds so an event needs no read of the store.
/// A site added on another node is seen here within [`SITE_CACHE_TTL`].
struct SiteCache {
    store: DynStore,
    /// By host without `www.`: when it was read, and the site (or its absence).
    entries: RwLock<HashMap<String, CacheEntry>>,
}

type CacheEntry = (Instant, Option<Arc<CachedSite>>);

struct CachedSite {
    site: Site,
    ignored: Vec<IpNet>,
}

const SITE_CACHE_TTL: Duration = Duration::from_secs(10);

impl SiteCache {
    fn new(store: DynStore) -> SiteCache {
        SiteCache {
            store,
            entries: RwLock::new(HashMap::new()),
        }
    }

    async fn get(&self, domain: &Hostname) -> Result<Option<Arc<CachedSite>>, StoreError> {
        let key = domain.without_www().to_owned();
        if let Ok(entries) = self.entries.read()
            && let Some((at, site)) = entries.get(&key)
            && at.elapsed() < SITE_CACHE_TTL
        {
            return Ok(site.clone());
        }
        let site = match self.store.site_by_host(domain).await? {
            Some(site) => {
                let ignored = self.store.ignored_networks(site.id).await?;
                Some(Arc::new(CachedSite { site, ignored }))
            }
            None => None,
        };
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() > 10_000 {
                entries.retain(|_, (at, _)| at.elapsed() < SITE_CACHE_TTL);
            }
            entries.insert(key, (Instant::now(), site.clone()));
        }
        Ok(site)
    }
}

const SCRIPT: &str = include_str!("../../assets/t.js");

/// t.js gzipped once, at the best level.
fn script_gzip() -> &'static [u8] {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    GZ.get_or_init(|| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        if enc.write_all(SCRIPT.as_bytes()).is_err() {
            return Vec::new();
        }
        enc.finish().unwrap_or_default()
    })
}

/// `GET /js/t.js`: the tracker, gzipped for clients that accept it.
async fn script(headers: HeaderMap) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
        && !script_gzip().is_empty();
    let mut response = if gzip {
        (
            [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))],
            script_gzip(),
        )
            .into_response()
    } else {
        SCRIPT.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
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

/// `POST /api/event`.
async fn event(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    cors(match ingest(&state, peer.ip(), &headers, &body).await {
        Ok(status) => status.into_response(),
        Err(e) => e.into_response(),
    })
}

async fn ingest(
    state: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<StatusCode, AppError> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let ct = ct.to_ascii_lowercase();
        if !(ct.starts_with("application/json") || ct.starts_with("text/plain")) {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the event as application/json or text/plain.",
            ));
        }
    }
    let event = event::parse(body)
        .map_err(|e| AppError::bad_request("invalid_event", e.to_string()).with_field(e.field))?;
    let tracking = &state.tracking;
    let Some(cached) = tracking.sites.get(&event.domain).await? else {
        return Err(AppError::not_found(format!(
            "No site {} is tracked here. Add it with `leadsment site add {}`.",
            event.domain, event.domain
        )));
    };
    let site = &cached.site;
    if !site.matches_host(&event.page_host) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "Pages on {} do not belong to the site {}; add the host as an alias of the site.",
                event.page_host, site.domain
            ),
        ));
    }

    let ip = client_ip::client_ip(peer, headers, &state.config.trusted_proxies);
    if cached.ignored.iter().any(|net| net.contains(&ip)) {
        // The customer's own office: accepted and forgotten.
        return Ok(StatusCode::ACCEPTED);
    }
    let now = crate::store::now_ms();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(agent) = agent::classify(user_agent) else {
        tracking.writer.count_bot(site.id, site_day(site, now));
        return Ok(StatusCode::ACCEPTED);
    };

    let hashes = tracking
        .salts
        .hashes(now, site.id.0, ip, user_agent)
        .await?;
    let org = tracking.identify(ip).await;
    // From here on only what the lookup derived is used; the address itself goes no further.
    let attribution = source::attribute(&event.url, event.referrer.as_ref(), &|h: &Hostname| {
        site.matches_host(h)
    });
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
    });
    let new = NewEvent {
        site_id: site.id,
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
    };
    match tracking.writer.submit(new).await {
        Ok(()) => Ok(StatusCode::ACCEPTED),
        Err(SubmitError::Full) => Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Too many events at once; send this one again in a second.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))),
        Err(SubmitError::Failed) => Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The event could not be stored; send it again shortly.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))),
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
        assert!(
            script_gzip().len() < 1000,
            "t.js is {} bytes gzipped; the budget is 1,000",
            script_gzip().len()
        );
    }
}
