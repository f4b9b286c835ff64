//! The database's settings: which one, how durable SQLite's commits are, how many
//! connections. Documented in `docs/configuration.md`.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::settings::{Base, ConfigError, Settings, at_least};

#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: DatabaseUrl,
    /// SQLite's `synchronous` pragma: `normal` survives a process crash, `full` a power cut too.
    pub sqlite_synchronous: SqliteSynchronous,
    /// Connections in the PostgreSQL pool, or readers in the SQLite pool.
    pub database_max_connections: u32,
}

#[derive(Debug, Deserialize)]
pub struct RawStoreSettings {
    #[serde(default)]
    database_url: Option<String>,
    #[serde(default = "default_synchronous")]
    sqlite_synchronous: SqliteSynchronous,
    #[serde(default = "default_max_connections")]
    database_max_connections: u32,
}

fn default_synchronous() -> SqliteSynchronous {
    SqliteSynchronous::Normal
}
fn default_max_connections() -> u32 {
    8
}

impl Settings for StoreSettings {
    type Raw = RawStoreSettings;

    fn validate(raw: RawStoreSettings, base: &Base) -> Result<StoreSettings, ConfigError> {
        let database_url = match raw.database_url.as_deref() {
            // The default: a file in the data folder.
            None | Some("") => DatabaseUrl(format!(
                "sqlite://{}",
                base.data_dir.join("leadsment.db").display()
            )),
            Some(s) => DatabaseUrl::parse(s)?,
        };
        Ok(StoreSettings {
            database_url,
            sqlite_synchronous: raw.sqlite_synchronous,
            database_max_connections: at_least(
                "database_max_connections",
                raw.database_max_connections,
                1,
            )?,
        })
    }
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
            return Err(ConfigError::key(
                "database_url",
                format!(
                    "`{}` must start with sqlite:// or postgres://",
                    url.redacted()
                ),
            ));
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

    /// The URL with any password replaced by `***` (in its user part, or a query parameter
    /// such as `?password=`), fit for logs and error messages. A URL that cannot be read is
    /// not shown beyond its scheme.
    pub fn redacted(&self) -> String {
        let Ok(mut url) = Url::parse(&self.0) else {
            let scheme = self
                .0
                .split("://")
                .next()
                .filter(|s| s.len() < self.0.len());
            return format!(
                "{}://(not shown: the URL could not be read)",
                scheme.unwrap_or("?")
            );
        };
        if url.password().is_some() {
            // set_password only fails for URLs that cannot have one, which this one has.
            let _ = url.set_password(Some("***"));
        }
        let secret = |key: &str| {
            let key = key.to_ascii_lowercase();
            ["pass", "secret", "token", "key"]
                .iter()
                .any(|w| key.contains(w))
        };
        if url.query_pairs().any(|(k, _)| secret(&k)) {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if secret(&k) {
                        "***".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
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
mod url_tests {
    use super::*;

    #[test]
    fn no_password_is_ever_shown() {
        for (url, kept) in [
            (
                "postgres://lm:hunter2@db.example/lm",
                "postgres://lm:***@db.example/lm",
            ),
            (
                "postgres://lm@db.example/lm?password=hunter2&sslmode=require",
                "postgres://lm@db.example/lm?password=***&sslmode=require",
            ),
            (
                "postgres://lm@db.example/lm?sslpassword=hunter2",
                "postgres://lm@db.example/lm?sslpassword=***",
            ),
            (
                "sqlite:///data/leadsment.db?mode=rwc",
                "sqlite:///data/leadsment.db?mode=rwc",
            ),
        ] {
            let shown = DatabaseUrl(url.to_owned());
            assert_eq!(shown.redacted(), kept);
            assert!(!format!("{shown} {shown:?}").contains("hunter2"));
        }
        // A URL that cannot be read is not shown at all.
        let broken = DatabaseUrl("postgres://lm:hunter2@[db/lm".to_owned());
        assert!(
            !broken.redacted().contains("hunter2"),
            "{}",
            broken.redacted()
        );
    }
}
