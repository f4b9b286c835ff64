//! The HTTP server's settings: where it listens, the address users reach, which proxies are
//! believed, and the limits every request meets. Documented in `docs/configuration.md`.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::client_addr::ClientIpHeader;
use crate::settings::{Base, ConfigError, Settings, at_least, cidr, string_or_list};

#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// The address users and snippets reach, without a trailing slash.
    pub public_url: Url,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The header a trusted proxy writes the client address in.
    pub client_ip_header: ClientIpHeader,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// When set, `/metrics` is served only on this separate address.
    pub metrics_listen: Option<SocketAddr>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long one request may take before it is answered 408.
    pub request_timeout: Duration,
    /// How long a client has to send a request's head (line and headers), from its connection
    /// or from the first byte after an idle wait; past it the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a connection may wait for its next request before it is closed.
    pub idle_timeout: Duration,
    /// Connections served at once, per listener; more wait to be accepted.
    pub max_connections: usize,
}

impl WebSettings {
    /// The public URL with `path` appended (`path` starts with `/`).
    pub fn public_url_for(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

#[derive(Debug, Deserialize)]
pub struct RawWebSettings {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    trusted_proxies: Vec<String>,
    #[serde(default = "default_client_ip_header")]
    client_ip_header: String,
    #[serde(default)]
    metrics_token: Option<SecretString>,
    #[serde(default)]
    metrics_listen: Option<SocketAddr>,
    #[serde(default = "default_body_limit")]
    body_limit: usize,
    #[serde(default = "default_request_timeout")]
    request_timeout_secs: u64,
    #[serde(default = "default_header_read_timeout")]
    header_read_timeout_secs: u64,
    #[serde(default = "default_idle_timeout")]
    idle_timeout_secs: u64,
    /// Unset: from the open-files limit ([`default_max_connections`]).
    #[serde(default)]
    max_connections: Option<usize>,
}

pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_client_ip_header() -> String {
    "X-Forwarded-For".to_owned()
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_request_timeout() -> u64 {
    30
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}

/// The most connections `max_connections` defaults to.
const MAX_CONNECTIONS_DEFAULT_CEILING: usize = 10_000;
/// Descriptors kept free of connections for the database, the IP index, logs and the like.
const DESCRIPTORS_KEPT_FREE: u64 = 256;

/// The smaller of 10,000 and the open-files limit less 256 (at least 1): past the limit,
/// accepting fails and every file the server opens fails with it.
pub fn default_max_connections() -> usize {
    let limit = open_files_limit().unwrap_or(u64::MAX);
    let by_limit =
        usize::try_from(limit.saturating_sub(DESCRIPTORS_KEPT_FREE)).unwrap_or(usize::MAX);
    by_limit.clamp(1, MAX_CONNECTIONS_DEFAULT_CEILING)
}

/// The process's soft limit on open files, when the system has one.
pub fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let (soft, _hard) = rlimit::Resource::NOFILE.get().ok()?;
        (soft != rlimit::INFINITY).then_some(soft)
    }
    #[cfg(not(unix))]
    None
}

impl Settings for WebSettings {
    type Raw = RawWebSettings;

    fn validate(raw: RawWebSettings, _: &Base) -> Result<WebSettings, ConfigError> {
        let public_url = match raw.public_url.as_deref() {
            None | Some("") => Url::parse(&format!("http://{}", raw.listen)).map_err(|e| {
                ConfigError::key("listen", format!("cannot form a URL from it: {e}"))
            })?,
            Some(s) => parse_public_url(s)?,
        };
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .map(|s| cidr("trusted_proxies", s))
            .collect::<Result<Vec<_>, _>>()?;
        let client_ip_header = ClientIpHeader::parse(&raw.client_ip_header)
            .map_err(|e| ConfigError::key("client_ip_header", e))?;
        if let Some(token) = &raw.metrics_token
            && token.expose_secret().len() < 16
        {
            return Err(ConfigError::key(
                "metrics_token",
                "must be at least 16 characters long",
            ));
        }
        if raw.body_limit < 1024 {
            return Err(ConfigError::key(
                "body_limit",
                format!("{} bytes is too small (at least 1024)", raw.body_limit),
            ));
        }
        let timeout = at_least("request_timeout_secs", raw.request_timeout_secs, 1)?;
        let header_read_timeout =
            at_least("header_read_timeout_secs", raw.header_read_timeout_secs, 1)?;
        let idle_timeout = at_least("idle_timeout_secs", raw.idle_timeout_secs, 1)?;
        let max_connections = match raw.max_connections {
            Some(n) => at_least("max_connections", n, 1)?,
            None => default_max_connections(),
        };
        Ok(WebSettings {
            listen: raw.listen,
            public_url,
            trusted_proxies,
            client_ip_header,
            metrics_token: raw.metrics_token,
            metrics_listen: raw.metrics_listen,
            body_limit: raw.body_limit,
            request_timeout: Duration::from_secs(timeout),
            header_read_timeout: Duration::from_secs(header_read_timeout),
            idle_timeout: Duration::from_secs(idle_timeout),
            max_connections,
        })
    }
}

fn parse_public_url(s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s)
        .map_err(|e| ConfigError::key("public_url", format!("`{s}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::key(
            "public_url",
            format!("`{s}` must be an http:// or https:// address with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::key(
            "public_url",
            format!("`{s}` must not have a query or fragment"),
        ));
    }
    Ok(url)
}
