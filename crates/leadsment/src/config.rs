//! Configuration: built-in defaults, overridden by a TOML file (`--config`), overridden by
//! `LEADSMENT_*` environment variables, overridden by command-line flags.
//!
//! Each capability declares its own keys beside its code (`web::settings`, `store::settings`,
//! `tracking::settings`, `auth::settings`; the shared trait is `crate::settings::Settings`).
//! This module reads the layers, refuses any key that no capability declares, and hands each
//! capability its own. Every key is documented in `docs/configuration.md`; keep the two in
//! step.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Dict;
use serde::{Deserialize, Serialize};

pub use crate::auth::settings::{AuthSettings, SignupMode};
pub use crate::consent::settings::ConsentSettings;
pub use crate::outbound::settings::OutboundSettings;
pub use crate::settings::{Base, ConfigError, Settings, keys_of};
pub use crate::site::settings::SiteSettings;
pub use crate::store::settings::{Backend, DatabaseUrl, SqliteSynchronous, StoreSettings};
pub use crate::tracking::settings::TrackingSettings;
pub use crate::web::settings::WebSettings;

/// The whole configuration, validated: the keys every capability shares, then each
/// capability's own.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite file and the IP index live.
    pub data_dir: PathBuf,
    /// A `tracing` filter such as `info` or `leadsment=debug,info`.
    pub log: String,
    pub log_format: LogFormat,
    pub web: WebSettings,
    pub store: StoreSettings,
    pub tracking: TrackingSettings,
    pub auth: AuthSettings,
    pub consent: ConsentSettings,
    pub site: SiteSettings,
    pub outbound: OutboundSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The keys that belong to no one capability.
#[derive(Debug, Deserialize)]
struct RawBase {
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default = "default_log")]
    log: String,
    #[serde(default = "default_log_format")]
    log_format: LogFormat,
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

/// Every key a file or a `LEADSMENT_*` variable may set: the union of the capabilities' keys.
fn known_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<&'static [&'static str]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = [
            keys_of::<RawBase>(),
            keys_of::<<WebSettings as Settings>::Raw>(),
            keys_of::<<StoreSettings as Settings>::Raw>(),
            keys_of::<<TrackingSettings as Settings>::Raw>(),
            keys_of::<<AuthSettings as Settings>::Raw>(),
            keys_of::<<ConsentSettings as Settings>::Raw>(),
            keys_of::<<SiteSettings as Settings>::Raw>(),
            keys_of::<<OutboundSettings as Settings>::Raw>(),
        ]
        .concat();
        // Once per process, for figment's error type, which wants a static list.
        Box::leak(keys.into_boxed_slice())
    })
}

/// `LEADSMENT_*` variables that are not configuration: the command line's `LEADSMENT_CONFIG`
/// and the test and benchmark scripts' own (`LEADSMENT_TEST_*`, `LEADSMENT_BENCH_*`). Any
/// other is read as a key, and refused if no capability has it.
fn is_configuration_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key != "config" && !key.starts_with("test_") && !key.starts_with("bench_")
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
            .merge(env.filter(|key| is_configuration_variable(key.as_str())))
            .merge(Serialized::defaults(overrides));
        refuse_unknown_keys(&figment)?;

        let raw: RawBase = figment.extract().map_err(describe_figment_error)?;
        if raw.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::key("data_dir", "must not be empty"));
        }
        tracing_subscriber::EnvFilter::try_new(&raw.log).map_err(|e| {
            ConfigError::key(
                "log",
                format!("`{}` is not a valid log filter: {e}", raw.log),
            )
        })?;
        let base = Base {
            data_dir: raw.data_dir,
        };
        Ok(Config {
            web: section(&figment, &base)?,
            store: section(&figment, &base)?,
            tracking: section(&figment, &base)?,
            auth: section(&figment, &base)?,
            consent: section(&figment, &base)?,
            site: section(&figment, &base)?,
            outbound: section(&figment, &base)?,
            data_dir: base.data_dir,
            log: raw.log,
            log_format: raw.log_format,
        })
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
}

/// One capability's settings, read from the layers and validated.
fn section<S: Settings>(figment: &Figment, base: &Base) -> Result<S, ConfigError> {
    let raw: S::Raw = figment.extract().map_err(describe_figment_error)?;
    S::validate(raw, base)
}

/// An unknown key gets the message serde's `deny_unknown_fields` would give, naming where it
/// came from: the capabilities' structs are read one by one, so none of them can refuse it.
fn refuse_unknown_keys(figment: &Figment) -> Result<(), ConfigError> {
    let all: Dict = figment.extract().map_err(describe_figment_error)?;
    let known = known_keys();
    match all.keys().find(|key| !known.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => {
            let mut error = figment::Error::from(Kind::UnknownField(key.clone(), known));
            error.path = vec![key.clone()];
            error.metadata = figment.find_metadata(key).cloned();
            Err(describe_figment_error(error))
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ipnet::IpNet;

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
        assert_eq!(c.web.listen, crate::web::settings::default_listen());
        assert_eq!(c.web.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            c.store.database_url.expose(),
            "sqlite://leadsment-data/leadsment.db"
        );
        assert!(c.web.trusted_proxies.is_empty());
    }

    #[test]
    fn environment_overrides_file_and_flags_override_environment() {
        let toml = "listen = \"127.0.0.1:9000\"\npublic_url = \"https://file.example\"\n";
        let c = load(toml, &[], &Overrides::default());
        assert_eq!(c.web.listen.port(), 9000);
        assert_eq!(c.web.public_url.as_str(), "https://file.example/");

        let env = [("LEADSMENT_LISTEN", "127.0.0.1:9001")];
        let c = load(toml, &env, &Overrides::default());
        assert_eq!(c.web.listen.port(), 9001);
        assert_eq!(c.web.public_url.as_str(), "https://file.example/");

        let flags = Overrides {
            listen: Some("127.0.0.1:9002".into()),
            ..Overrides::default()
        };
        let c = load(toml, &env, &flags);
        assert_eq!(c.web.listen.port(), 9002);
    }

    #[test]
    fn trusted_proxies_come_as_a_comma_separated_list() {
        let env = [("LEADSMENT_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")];
        let c = load("", &env, &Overrides::default());
        assert_eq!(
            c.web.trusted_proxies,
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
        assert_eq!(c.web.trusted_proxies.len(), 1);
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
            c.store.database_url.expose(),
            "postgres://app:hunter2hunter2@db.internal/leadsment"
        );
    }

    #[test]
    fn reverse_dns_is_off_by_default_and_bounded() {
        let c = load("", &[], &Overrides::default());
        assert!(!c.tracking.reverse_dns);
        assert_eq!(c.tracking.reverse_dns_config(), None);
        assert_eq!(c.tracking.reverse_dns_timeout, Duration::from_millis(300));

        // A resolver alone does not turn it on.
        let c = load(
            "reverse_dns_resolver = \"127.0.0.1:5353\"",
            &[],
            &Overrides::default(),
        );
        assert_eq!(c.tracking.reverse_dns_config(), None);

        let env = [
            ("LEADSMENT_REVERSE_DNS", "true"),
            ("LEADSMENT_REVERSE_DNS_RESOLVER", "192.0.2.53"),
            ("LEADSMENT_REVERSE_DNS_TIMEOUT_MS", "150"),
            ("LEADSMENT_REVERSE_DNS_CACHE_SIZE", "0"),
            ("LEADSMENT_REVERSE_DNS_CACHE_TTL_SECS", "60"),
        ];
        let c = load("", &env, &Overrides::default());
        assert_eq!(
            c.tracking.reverse_dns_config(),
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
        let rdns = c.tracking.reverse_dns_config().unwrap();
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
    fn the_outbound_fetcher_reaches_no_private_network_unless_allowed() {
        let c = load("", &[], &Overrides::default());
        assert!(c.outbound.allow.is_empty());
        assert_eq!(c.outbound.resolver, None);

        let env = [
            ("LEADSMENT_OUTBOUND_ALLOW", "127.0.0.1, 10.1.2.0/24"),
            ("LEADSMENT_OUTBOUND_RESOLVER", "127.0.0.1:5353"),
        ];
        let c = load("", &env, &Overrides::default());
        assert_eq!(
            c.outbound.allow,
            vec![
                "127.0.0.1/32".parse::<IpNet>().unwrap(),
                "10.1.2.0/24".parse::<IpNet>().unwrap()
            ]
        );
        assert_eq!(c.outbound.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        let c = load(
            "outbound_allow = [\"::1\"]\noutbound_resolver = \"192.0.2.53\"",
            &[],
            &Overrides::default(),
        );
        assert_eq!(c.outbound.allow, vec!["::1/128".parse::<IpNet>().unwrap()]);
        assert_eq!(c.outbound.resolver, Some("192.0.2.53:53".parse().unwrap()));

        let e = load_err("outbound_allow = [\"10.0.0.0/33\"]", &[]);
        assert!(
            e.contains("outbound_allow") && e.contains("10.0.0.0/33"),
            "{e}"
        );
        let e = load_err("outbound_resolver = \"dns.example\"", &[]);
        assert!(e.contains("outbound_resolver"), "{e}");
    }

    #[test]
    fn connection_limits_and_the_site_cache_have_defaults_and_bounds() {
        let c = load("", &[], &Overrides::default());
        assert_eq!(c.web.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.web.idle_timeout, Duration::from_secs(60));
        assert_eq!(
            c.web.max_connections,
            crate::web::settings::default_max_connections()
        );
        assert!((1..=10_000).contains(&c.web.max_connections));
        if let Some(limit) = crate::web::settings::open_files_limit() {
            assert!(c.web.max_connections as u64 <= limit.saturating_sub(256).max(1));
        }
        assert_eq!(c.tracking.site_cache_size, 10_000);
        let c = load(
            "header_read_timeout_secs = 3\nidle_timeout_secs = 120\nmax_connections = 20000\nsite_cache_size = 50",
            &[],
            &Overrides::default(),
        );
        assert_eq!(c.web.header_read_timeout, Duration::from_secs(3));
        assert_eq!(c.web.idle_timeout, Duration::from_secs(120));
        assert_eq!(c.web.max_connections, 20_000);
        assert_eq!(c.tracking.site_cache_size, 50);
        for (toml, key) in [
            ("header_read_timeout_secs = 0", "header_read_timeout_secs"),
            ("idle_timeout_secs = 0", "idle_timeout_secs"),
            ("max_connections = 0", "max_connections"),
            ("site_cache_size = 0", "site_cache_size"),
            ("site_cache_size = 1000001", "site_cache_size"),
        ] {
            let e = load_err(toml, &[]);
            assert!(e.contains(key), "{toml}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    /// The start of the message for an unknown key, as serde's `deny_unknown_fields` words it.
    fn unknown_key_message(key: &str) -> String {
        format!(
            "invalid configuration: key `{key}`: unknown field: found `{key}`, expected `one of `data_dir`, `log`, `log_format`, `listen`, `public_url`,"
        )
    }

    #[test]
    fn a_typo_in_a_file_key_is_refused_in_one_line_naming_the_file() {
        let e = load_err("listen = \"127.0.0.1:9000\"\ningest_qeue = 5\n", &[]);
        assert!(e.starts_with(&unknown_key_message("ingest_qeue")), "{e}");
        assert!(
            e.contains("`ingest_queue`"),
            "the known keys are listed: {e}"
        );
        assert!(
            e.contains("(from TOML file ") && e.ends_with("leadsment.toml)"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    #[test]
    fn a_typo_in_an_environment_name_is_refused_in_one_line_naming_the_variable() {
        let e = load_err("", &[("LEADSMENT_LISTN", "127.0.0.1:9000")]);
        assert!(e.starts_with(&unknown_key_message("listn")), "{e}");
        assert!(
            e.ends_with("(from the environment variable LEADSMENT_LISTN)"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        // Keys of every capability are known, in the file and in the environment.
        let env = [
            ("LEADSMENT_SQLITE_SYNCHRONOUS", "full"),
            ("LEADSMENT_INGEST_QUEUE", "7"),
            ("LEADSMENT_SIGNUP", "invite"),
            ("LEADSMENT_METRICS_LISTEN", "127.0.0.1:9100"),
        ];
        let c = load("log_format = \"json\"", &env, &Overrides::default());
        assert_eq!(c.store.sqlite_synchronous, SqliteSynchronous::Full);
        assert_eq!(c.tracking.ingest_queue, 7);
        assert_eq!(c.auth.signup, SignupMode::Invite);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn the_command_line_and_the_scripts_own_variables_are_not_keys() {
        let env = [
            ("LEADSMENT_CONFIG", "x.toml"),
            ("LEADSMENT_TEST_POSTGRES_URL", "postgres://x"),
            ("LEADSMENT_BENCH_INDEX", "ipintel.idx"),
        ];
        let c = load("", &env, &Overrides::default());
        assert_eq!(c.web.listen, crate::web::settings::default_listen());
    }
}
