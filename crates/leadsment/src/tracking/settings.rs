//! Tracking's settings: the ingest queue, the events API's rate limits, the company overrides,
//! and reverse DNS. Documented in `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::settings::{Base, ConfigError, Settings, at_least, resolver_address};

#[derive(Debug, Clone)]
pub struct TrackingSettings {
    /// A TOML file mapping networks to companies, which wins over the IP data.
    pub ip_overrides: Option<PathBuf>,
    /// Events waiting to be written before new ones are answered 503.
    pub ingest_queue: usize,
    /// Events a minute one client (an IPv4 address, an IPv6 /64) may send to one site, per
    /// node; 0 for no limit.
    pub events_per_client_per_minute: u32,
    /// Events a minute one site may receive, per node; 0 (the default) for no limit.
    pub events_per_site_per_minute: u32,
    /// Whether PTR names may name companies. Off by default: each lookup sends a visitor's
    /// address to the resolver.
    pub reverse_dns: bool,
    /// The resolver asked for PTR names; `None` uses the system's (`/etc/resolv.conf`).
    pub reverse_dns_resolver: Option<SocketAddr>,
    /// The most one PTR lookup may add to an event.
    pub reverse_dns_timeout: Duration,
    /// Addresses whose answer is kept in memory at most; 0 keeps none.
    pub reverse_dns_cache_size: usize,
    /// How long an answer is kept.
    pub reverse_dns_cache_ttl: Duration,
    /// Domains whose site (or its absence) ingest keeps in memory at most.
    pub site_cache_size: u64,
    /// How long a node's lease on its node tag lasts without a renewal
    /// ([`crate::nodes::LEASE`]; not a key: tests shorten it).
    pub node_lease: Duration,
}

impl TrackingSettings {
    /// What the reverse DNS client is built from, or `None` when reverse DNS is off.
    pub fn reverse_dns_config(&self) -> Option<ipintel::rdns::ReverseDnsConfig> {
        self.reverse_dns.then_some(ipintel::rdns::ReverseDnsConfig {
            resolver: self.reverse_dns_resolver,
            timeout: self.reverse_dns_timeout,
            cache_size: self.reverse_dns_cache_size,
            cache_ttl: self.reverse_dns_cache_ttl,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct RawTrackingSettings {
    #[serde(default)]
    ip_overrides: Option<PathBuf>,
    #[serde(default = "default_ingest_queue")]
    ingest_queue: usize,
    #[serde(default = "default_events_per_client_per_minute")]
    events_per_client_per_minute: u32,
    #[serde(default)]
    events_per_site_per_minute: u32,
    #[serde(default)]
    reverse_dns: bool,
    #[serde(default)]
    reverse_dns_resolver: Option<String>,
    #[serde(default = "default_reverse_dns_timeout")]
    reverse_dns_timeout_ms: u64,
    #[serde(default = "default_reverse_dns_cache_size")]
    reverse_dns_cache_size: usize,
    #[serde(default = "default_reverse_dns_cache_ttl")]
    reverse_dns_cache_ttl_secs: u64,
    #[serde(default = "default_site_cache_size")]
    site_cache_size: u64,
}

fn default_ingest_queue() -> usize {
    20_000
}
fn default_events_per_client_per_minute() -> u32 {
    1200
}
fn default_reverse_dns_timeout() -> u64 {
    300
}
fn default_reverse_dns_cache_size() -> usize {
    10_000
}
fn default_reverse_dns_cache_ttl() -> u64 {
    3600
}
fn default_site_cache_size() -> u64 {
    10_000
}

/// Bounds of the reverse DNS keys: a lookup holds up the event that asked, and the cache holds
/// visitors' addresses in memory.
const MAX_REVERSE_DNS_TIMEOUT_MS: u64 = 5000;
const MAX_REVERSE_DNS_CACHE_SIZE: usize = 1_000_000;
const MAX_REVERSE_DNS_CACHE_TTL_SECS: u64 = 86_400;
/// Bound of the site cache: each entry holds a domain and, for a site, its aliases and
/// ignore list.
const MAX_SITE_CACHE_SIZE: u64 = 1_000_000;

impl Settings for TrackingSettings {
    type Raw = RawTrackingSettings;

    fn validate(raw: RawTrackingSettings, _: &Base) -> Result<TrackingSettings, ConfigError> {
        let ingest_queue = at_least("ingest_queue", raw.ingest_queue, 1)?;
        if let Some(path) = &raw.ip_overrides
            && !path.is_file()
        {
            return Err(ConfigError::key(
                "ip_overrides",
                format!("{} does not exist or is not a file", path.display()),
            ));
        }
        let reverse_dns_resolver = raw
            .reverse_dns_resolver
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| resolver_address("reverse_dns_resolver", s))
            .transpose()?;
        if !(1..=MAX_REVERSE_DNS_TIMEOUT_MS).contains(&raw.reverse_dns_timeout_ms) {
            return Err(ConfigError::key(
                "reverse_dns_timeout_ms",
                format!("must be between 1 and {MAX_REVERSE_DNS_TIMEOUT_MS} (5 seconds)"),
            ));
        }
        if raw.reverse_dns_cache_size > MAX_REVERSE_DNS_CACHE_SIZE {
            return Err(ConfigError::key(
                "reverse_dns_cache_size",
                format!("must be at most {MAX_REVERSE_DNS_CACHE_SIZE}"),
            ));
        }
        if !(1..=MAX_REVERSE_DNS_CACHE_TTL_SECS).contains(&raw.reverse_dns_cache_ttl_secs) {
            return Err(ConfigError::key(
                "reverse_dns_cache_ttl_secs",
                format!("must be between 1 and {MAX_REVERSE_DNS_CACHE_TTL_SECS} (a day)"),
            ));
        }
        if !(1..=MAX_SITE_CACHE_SIZE).contains(&raw.site_cache_size) {
            return Err(ConfigError::key(
                "site_cache_size",
                format!("must be between 1 and {MAX_SITE_CACHE_SIZE}"),
            ));
        }
        Ok(TrackingSettings {
            ip_overrides: raw.ip_overrides,
            ingest_queue,
            events_per_client_per_minute: raw.events_per_client_per_minute,
            events_per_site_per_minute: raw.events_per_site_per_minute,
            reverse_dns: raw.reverse_dns,
            reverse_dns_resolver,
            reverse_dns_timeout: Duration::from_millis(raw.reverse_dns_timeout_ms),
            reverse_dns_cache_size: raw.reverse_dns_cache_size,
            reverse_dns_cache_ttl: Duration::from_secs(raw.reverse_dns_cache_ttl_secs),
            site_cache_size: raw.site_cache_size,
            node_lease: crate::nodes::LEASE,
        })
    }
}
