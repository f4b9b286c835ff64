//! Configuration: built-in defaults, overridden by a TOML file (`--config`), overridden by
//! `LEADSMENT_*` environment variables, overridden by command-line flags.
//!
//! Every key is documented in `docs/configuration.md`; keep the two in step.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::web::client_addr::ClientIpHeader;

/// Keys that may come from `LEADSMENT_*` environment variables. Other `LEADSMENT_*` variables
/// (such as `LEADSMENT_CONFIG`, read by the command line) are left alone.
const ENV_KEYS: &[&str] = &[
    "listen",
    "public_url",
    "data_dir",
    "database_url",
    "trusted_proxies",
    "client_ip_header",
    "metrics_token",
    "metrics_listen",
    "log",
    "log_format",
    "body_limit",
    "request_timeout_secs",
    "sqlite_synchronous",
    "database_max_connections",
    "ip_overrides",
    "ingest_queue",
    "signup",
    "session_secret",
    "smtp_url",
    "email_from",
    "access_token_ttl_secs",
    "login_attempts_per_minute",
    "reverse_dns",
    "reverse_dns_resolver",
    "reverse_dns_timeout_ms",
    "reverse_dns_cache_size",
    "reverse_dns_cache_ttl_secs",
];

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// The address users and snippets reach, without a trailing slash.
    pub public_url: Url,
    /// Where the SQLite file and the IP index live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: DatabaseUrl,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The header a trusted proxy writes the client address in.
    pub client_ip_header: ClientIpHeader,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// When set, `/metrics` is served only on this separate address.
    pub metrics_listen: Option<SocketAddr>,
    /// A `tracing` filter such as `info` or `leadsment=debug,info`.
    pub log: String,
    pub log_format: LogFormat,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long one request may take before it is answered 408.
    pub request_timeout: Duration,
    /// SQLite's `synchronous` pragma: `normal` survives a process crash, `full` a power cut too.
    pub sqlite_synchronous: SqliteSynchronous,
    /// Connections in the PostgreSQL pool, or readers in the SQLite pool.
    pub database_max_connections: u32,
    /// A TOML file mapping networks to companies, which wins over the IP data.
    pub ip_overrides: Option<PathBuf>,
    /// Events waiting to be written before new ones are answered 503.
    pub ingest_queue: usize,
    /// Who may create an account: anyone, or only people with an invitation.
    pub signup: SignupMode,
    /// Key that signs access and CSRF tokens; when unset, one is made and kept in the database
    /// so that every node agrees.
    pub session_secret: Option<SecretString>,
    /// `smtp://`, `smtps://` (or `smtp://…?tls=required`) URL of the mail server; when unset,
    /// emailed links are written to the log.
    pub smtp_url: Option<SecretString>,
    /// The sender of Leadsment's emails.
    pub email_from: String,
    /// Lifetime of the access token, at most 15 minutes: how long a revoked session may
    /// still be used at most.
    pub access_token_ttl: Duration,
    /// Sign-in attempts allowed per client address and minute.
    pub login_attempts_per_minute: u32,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    Open,
    Invite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Normal,
    Full,
}

impl SqliteSynchronous {
    /// The value of SQLite's `synchronous` pragma.
    pub fn pragma_value(self) -> &'static str {
        match self {
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
        }
    }
}

/// The shape of the configuration as read, before defaults that depend on other keys are
/// filled in and before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    database_url: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    trusted_proxies: Vec<String>,
    #[serde(default = "default_client_ip_header")]
    client_ip_header: String,
    #[serde(default)]
    metrics_token: Option<SecretString>,
    #[serde(default)]
    metrics_listen: Option<SocketAddr>,
    #[serde(default = "default_log")]
    log: String,
    #[serde(default = "default_log_format")]
    log_format: LogFormat,
    #[serde(default = "default_body_limit")]
    body_limit: usize,
    #[serde(default = "default_request_timeout")]
    request_timeout_secs: u64,
    #[serde(default = "default_synchronous")]
    sqlite_synchronous: SqliteSynchronous,
    #[serde(default = "default_max_connections")]
    database_max_connections: u32,
    #[serde(default)]
    ip_overrides: Option<PathBuf>,
    #[serde(default = "default_ingest_queue")]
    ingest_queue: usize,
    #[serde(default = "default_signup")]
    signup: SignupMode,
    #[serde(default)]
    session_secret: Option<SecretString>,
    #[serde(default)]
    smtp_url: Option<SecretString>,
    #[serde(default = "default_email_from")]
    email_from: String,
    #[serde(default = "default_access_ttl")]
    access_token_ttl_secs: u64,
    #[serde(default = "default_login_attempts")]
    login_attempts_per_minute: u32,
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
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_client_ip_header() -> String {
    "X-Forwarded-For".to_owned()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("leadsment-data")
}
fn default_log() -> String {
    "info".to_owned()
}
fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_request_timeout() -> u64 {
    30
}
fn default_synchronous() -> SqliteSynchronous {
    SqliteSynchronous::Normal
}
fn default_max_connections() -> u32 {
    8
}
fn default_ingest_queue() -> usize {
    20_000
}
fn default_signup() -> SignupMode {
    SignupMode::Open
}
fn default_email_from() -> String {
    "Leadsment <leadsment@localhost>".to_owned()
}
fn default_access_ttl() -> u64 {
    900
}
fn default_login_attempts() -> u32 {
    20
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

/// Bounds of the reverse DNS keys: a lookup holds up the event that asked, and the cache holds
/// visitors' addresses in memory.
const MAX_REVERSE_DNS_TIMEOUT_MS: u64 = 5000;
const MAX_REVERSE_DNS_CACHE_SIZE: usize = 1_000_000;
const MAX_REVERSE_DNS_CACHE_TTL_SECS: u64 = 86_400;

/// Accepts `"10.0.0.0/8, 192.168.0.0/16"` (as an environment variable gives it) or a TOML list.
fn string_or_list<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(de)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

/// Values given as command-line flags; they win over everything else.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// A configuration problem, naming the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads the layers in order: defaults, the TOML file (if any), the environment, the flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from_env(file, overrides, Env::prefixed("LEADSMENT_"))
    }

    fn load_from_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: Env,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "the configuration file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment
            .merge(env.only(ENV_KEYS))
            .merge(Serialized::defaults(overrides));
        let raw: RawConfig = figment.extract().map_err(describe_figment_error)?;
        raw.validate()
    }

    /// Configuration for tests and tools: defaults only, with the given database and folder.
    pub fn for_tests(database_url: &str, data_dir: &Path) -> Result<Config, ConfigError> {
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".to_owned()),
            data_dir: Some(data_dir.to_path_buf()),
            database_url: Some(database_url.to_owned()),
            public_url: None,
        };
        // An empty environment so a developer's own LEADSMENT_* variables do not leak into tests.
        Self::load_from_env(None, &overrides, Env::prefixed("LEADSMENT_TEST_NOTHING_"))
    }

    /// What the reverse DNS client is built from, or `None` when reverse DNS is off.
    pub fn reverse_dns_config(&self) -> Option<ipintel::rdns::ReverseDnsConfig> {
        self.reverse_dns.then_some(ipintel::rdns::ReverseDnsConfig {
            resolver: self.reverse_dns_resolver,
            timeout: self.reverse_dns_timeout,
            cache_size: self.reverse_dns_cache_size,
            cache_ttl: self.reverse_dns_cache_ttl,
        })
    }

    /// The public URL with `path` appended (`path` starts with `/`).
    pub fn public_url_for(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

fn describe_figment_error(error: figment::Error) -> ConfigError {
    let mut parts = Vec::new();
    for e in error {
        let key = e.path.join(".");
        let source = e
            .metadata
            .as_ref()
            .map(|m| match &m.source {
                _ if m.name.contains("environment") && !key.is_empty() => format!(
                    " (from the environment variable LEADSMENT_{})",
                    key.to_uppercase()
                ),
                Some(src) => format!(" (from {} {})", m.name, src),
                None => format!(" (from {})", m.name),
            })
            .unwrap_or_default();
        let kind = e.kind.to_string();
        if key.is_empty() {
            parts.push(format!("{kind}{source}"));
        } else {
            parts.push(format!("key `{key}`: {kind}{source}"));
        }
    }
    ConfigError(parts.join("; "))
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let public_url = match self.public_url.as_deref() {
            None | Some("") => {
                let url = format!("http://{}", self.listen);
                Url::parse(&url).map_err(|e| {
                    ConfigError(format!("key `listen`: cannot form a URL from it: {e}"))
                })?
            }
            Some(s) => {
                let url = Url::parse(s).map_err(|e| {
                    ConfigError(format!("key `public_url`: `{s}` is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(ConfigError(format!(
                        "key `public_url`: `{s}` must be an http:// or https:// address with a host"
                    )));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(ConfigError(format!(
                        "key `public_url`: `{s}` must not have a query or fragment"
                    )));
                }
                url
            }
        };

        let data_dir = self.data_dir;
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError("key `data_dir`: must not be empty".to_owned()));
        }

        let database_url = match self.database_url.as_deref() {
            None | Some("") => DatabaseUrl(format!(
                "sqlite://{}",
                data_dir.join("leadsment.db").display()
            )),
            Some(s) => DatabaseUrl::parse(s)?,
        };

        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|s| parse_cidr(s))
            .collect::<Result<Vec<_>, _>>()?;

        let client_ip_header = ClientIpHeader::parse(&self.client_ip_header)
            .map_err(|e| ConfigError(format!("key `client_ip_header`: {e}")))?;

        if let Some(token) = &self.metrics_token
            && token.expose_secret().len() < 16
        {
            return Err(ConfigError(
                "key `metrics_token`: must be at least 16 characters long".to_owned(),
            ));
        }

        if self.body_limit < 1024 {
            return Err(ConfigError(format!(
                "key `body_limit`: {} bytes is too small (at least 1024)",
                self.body_limit
            )));
        }
        if self.request_timeout_secs == 0 {
            return Err(ConfigError(
                "key `request_timeout_secs`: must be at least 1".to_owned(),
            ));
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError(
                "key `database_max_connections`: must be at least 1".to_owned(),
            ));
        }
        if self.ingest_queue == 0 {
            return Err(ConfigError(
                "key `ingest_queue`: must be at least 1".to_owned(),
            ));
        }
        if let Some(path) = &self.ip_overrides
            && !path.is_file()
        {
            return Err(ConfigError(format!(
                "key `ip_overrides`: {} does not exist or is not a file",
                path.display()
            )));
        }
        if let Some(secret) = &self.session_secret
            && secret.expose_secret().len() < 32
        {
            return Err(ConfigError(
                "key `session_secret`: must be at least 32 characters long".to_owned(),
            ));
        }
        if let Some(url) = &self.smtp_url {
            let u = url.expose_secret();
            if !(u.starts_with("smtp://") || u.starts_with("smtps://")) {
                return Err(ConfigError(
                    "key `smtp_url`: must start with smtp:// or smtps://".to_owned(),
                ));
            }
        }
        if self.email_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError(format!(
                "key `email_from`: `{}` is not an address such as Leadsment <stats@example.com>",
                self.email_from
            )));
        }
        if !(1..=900).contains(&self.access_token_ttl_secs) {
            return Err(ConfigError(
                "key `access_token_ttl_secs`: must be between 1 and 900 (15 minutes)".to_owned(),
            ));
        }
        if self.login_attempts_per_minute == 0 {
            return Err(ConfigError(
                "key `login_attempts_per_minute`: must be at least 1".to_owned(),
            ));
        }
        let reverse_dns_resolver = self
            .reverse_dns_resolver
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_resolver)
            .transpose()?;
        if !(1..=MAX_REVERSE_DNS_TIMEOUT_MS).contains(&self.reverse_dns_timeout_ms) {
            return Err(ConfigError(format!(
                "key `reverse_dns_timeout_ms`: must be between 1 and {MAX_REVERSE_DNS_TIMEOUT_MS} (5 seconds)"
            )));
        }
        if self.reverse_dns_cache_size > MAX_REVERSE_DNS_CACHE_SIZE {
            return Err(ConfigError(format!(
                "key `reverse_dns_cache_size`: must be at most {MAX_REVERSE_DNS_CACHE_SIZE}"
            )));
        }
        if !(1..=MAX_REVERSE_DNS_CACHE_TTL_SECS).contains(&self.reverse_dns_cache_ttl_secs) {
            return Err(ConfigError(format!(
                "key `reverse_dns_cache_ttl_secs`: must be between 1 and {MAX_REVERSE_DNS_CACHE_TTL_SECS} (a day)"
            )));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log).map_err(|e| {
            ConfigError(format!(
                "key `log`: `{}` is not a valid log filter: {e}",
                self.log
            ))
        })?;

        Ok(Config {
            listen: self.listen,
            public_url,
            data_dir,
            database_url,
            trusted_proxies,
            client_ip_header,
            metrics_token: self.metrics_token,
            metrics_listen: self.metrics_listen,
            log: self.log,
            log_format: self.log_format,
            body_limit: self.body_limit,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            sqlite_synchronous: self.sqlite_synchronous,
            database_max_connections: self.database_max_connections,
            ip_overrides: self.ip_overrides,
            ingest_queue: self.ingest_queue,
            signup: self.signup,
            session_secret: self.session_secret,
            smtp_url: self.smtp_url,
            email_from: self.email_from,
            access_token_ttl: Duration::from_secs(self.access_token_ttl_secs),
            login_attempts_per_minute: self.login_attempts_per_minute,
            reverse_dns: self.reverse_dns,
            reverse_dns_resolver,
            reverse_dns_timeout: Duration::from_millis(self.reverse_dns_timeout_ms),
            reverse_dns_cache_size: self.reverse_dns_cache_size,
            reverse_dns_cache_ttl: Duration::from_secs(self.reverse_dns_cache_ttl_secs),
        })
    }
}

/// A single address (`10.0.0.1`) counts as a /32 (or /128).
fn parse_cidr(s: &str) -> Result<IpNet, ConfigError> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(ConfigError(format!(
        "key `trusted_proxies`: `{s}` is not a CIDR such as 10.0.0.0/8 or an IP address"
    )))
}

/// A resolver's address; port 53 when only the IP address is given.
fn parse_resolver(s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(ConfigError(format!(
        "key `reverse_dns_resolver`: `{s}` is not an address such as 127.0.0.1:53, [::1]:53 or 127.0.0.1"
    )))
}

/// A database URL. Its password, if any, never appears in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl DatabaseUrl {
    pub fn parse(s: &str) -> Result<DatabaseUrl, ConfigError> {
        let url = DatabaseUrl(s.to_owned());
        if url.backend().is_none() {
            return Err(ConfigError(format!(
                "key `database_url`: `{}` must start with sqlite:// or postgres://",
                url.redacted()
            )));
        }
        Ok(url)
    }

    pub fn backend(&self) -> Option<Backend> {
        if self.0.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if self.0.starts_with("postgres://") || self.0.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The URL with its password, for handing to the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, fit for logs and error messages.
    pub fn redacted(&self) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                // set_password only fails for URLs that cannot have one, which this one has.
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads a configuration in a sandbox with its own files and environment.
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type.
    fn try_load(toml: &str, env: &[(&str, &str)], overrides: &Overrides) -> Result<Config, String> {
        let mut out = None;
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("leadsment.toml", toml)?;
            for (k, v) in env {
                jail.set_env(k, v);
            }
            out = Some(
                Config::load(Some(Path::new("leadsment.toml")), overrides)
                    .map_err(|e| e.to_string()),
            );
            Ok(())
        });
        out.unwrap()
    }

    fn load(toml: &str, env: &[(&str, &str)], overrides: &Overrides) -> Config {
        try_load(toml, env, overrides).unwrap()
    }

    fn load_err(toml: &str, env: &[(&str, &str)]) -> String {
        try_load(toml, env, &Overrides::default()).unwrap_err()
    }

    #[test]
    fn defaults_work_in_an_empty_folder() {
        let c = load("", &[], &Overrides::default());
        assert_eq!(c.listen, default_listen());
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            c.database_url.expose(),
            "sqlite://leadsment-data/leadsment.db"
        );
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let toml = "listen = \"127.0.0.1:9000\"\npublic_url = \"https://file.example\"\n";
        let c = load(toml, &[], &Overrides::default());
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.public_url.as_str(), "https://file.example/");

        let env = [("LEADSMENT_LISTEN", "127.0.0.1:9001")];
        let c = load(toml, &env, &Overrides::default());
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.public_url.as_str(), "https://file.example/");

        let flags = Overrides {
            listen: Some("127.0.0.1:9002".into()),
            ..Overrides::default()
        };
        let c = load(toml, &env, &flags);
        assert_eq!(c.listen.port(), 9002);
    }

    #[test]
    fn trusted_proxies_come_as_a_comma_separated_list() {
        let env = [("LEADSMENT_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")];
        let c = load("", &env, &Overrides::default());
        assert_eq!(
            c.trusted_proxies,
            vec![
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "192.0.2.7/32".parse::<IpNet>().unwrap()
            ]
        );
        let c = load(
            "trusted_proxies = [\"2001:db8::/32\"]",
            &[],
            &Overrides::default(),
        );
        assert_eq!(c.trusted_proxies.len(), 1);
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let e = load_err("listen = \"nowhere\"", &[]);
        assert!(e.contains("listen"), "{e}");

        let e = load_err("", &[("LEADSMENT_TRUSTED_PROXIES", "10.0.0.0/33")]);
        assert!(
            e.contains("trusted_proxies") && e.contains("10.0.0.0/33"),
            "{e}"
        );

        let e = load_err("public_url = \"ftp://x\"", &[]);
        assert!(e.contains("public_url"), "{e}");

        let e = load_err("lisen = \"127.0.0.1:1\"", &[]);
        assert!(e.contains("lisen"), "an unknown key is named: {e}");

        let e = load_err("database_url = \"mysql://x\"", &[]);
        assert!(e.contains("database_url"), "{e}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let toml = "database_url = \"postgres://app:hunter2hunter2@db.internal/leadsment\"\nmetrics_token = \"s3cret-s3cret-s3cret\"\n";
        let c = load(toml, &[], &Overrides::default());
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
        assert_eq!(
            c.database_url.expose(),
            "postgres://app:hunter2hunter2@db.internal/leadsment"
        );
    }

    #[test]
    fn reverse_dns_is_off_by_default_and_bounded() {
        let c = load("", &[], &Overrides::default());
        assert!(!c.reverse_dns);
        assert_eq!(c.reverse_dns_config(), None);
        assert_eq!(c.reverse_dns_timeout, Duration::from_millis(300));

        // A resolver alone does not turn it on.
        let c = load(
            "reverse_dns_resolver = \"127.0.0.1:5353\"",
            &[],
            &Overrides::default(),
        );
        assert_eq!(c.reverse_dns_config(), None);

        let env = [
            ("LEADSMENT_REVERSE_DNS", "true"),
            ("LEADSMENT_REVERSE_DNS_RESOLVER", "192.0.2.53"),
            ("LEADSMENT_REVERSE_DNS_TIMEOUT_MS", "150"),
            ("LEADSMENT_REVERSE_DNS_CACHE_SIZE", "0"),
            ("LEADSMENT_REVERSE_DNS_CACHE_TTL_SECS", "60"),
        ];
        let c = load("", &env, &Overrides::default());
        assert_eq!(
            c.reverse_dns_config(),
            Some(ipintel::rdns::ReverseDnsConfig {
                resolver: Some("192.0.2.53:53".parse().unwrap()),
                timeout: Duration::from_millis(150),
                cache_size: 0,
                cache_ttl: Duration::from_secs(60),
            })
        );
        let c = load(
            "reverse_dns = true\nreverse_dns_resolver = \"[::1]:5353\"",
            &[],
            &Overrides::default(),
        );
        let rdns = c.reverse_dns_config().unwrap();
        assert_eq!(rdns.resolver, Some("[::1]:5353".parse().unwrap()));
        assert_eq!(rdns.cache_size, 10_000);
        assert_eq!(rdns.cache_ttl, Duration::from_secs(3600));

        for (toml, key) in [
            ("reverse_dns_timeout_ms = 0", "reverse_dns_timeout_ms"),
            ("reverse_dns_timeout_ms = 5001", "reverse_dns_timeout_ms"),
            ("reverse_dns_cache_size = 1000001", "reverse_dns_cache_size"),
            (
                "reverse_dns_cache_ttl_secs = 0",
                "reverse_dns_cache_ttl_secs",
            ),
            (
                "reverse_dns_cache_ttl_secs = 86401",
                "reverse_dns_cache_ttl_secs",
            ),
            (
                "reverse_dns_resolver = \"dns.example\"",
                "reverse_dns_resolver",
            ),
            ("reverse_dns = \"perhaps\"", "reverse_dns"),
        ] {
            let e = load_err(toml, &[]);
            assert!(e.contains(key), "{toml}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let e = load_err("", &[("LEADSMENT_REVERSE_DNS_TIMEOUT_MS", "-1")]);
        assert!(e.contains("LEADSMENT_REVERSE_DNS_TIMEOUT_MS"), "{e}");
    }

    #[test]
    fn unrelated_leadsment_variables_are_ignored() {
        let env = [("LEADSMENT_CONFIG", "x.toml"), ("LEADSMENT_SOMETHING", "1")];
        let c = load("", &env, &Overrides::default());
        assert_eq!(c.listen, default_listen());
    }
}
