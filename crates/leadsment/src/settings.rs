//! What every capability's settings have in common: the `Settings` trait each one implements
//! beside its code, the error that names the key at fault, and helpers for reading values.
//!
//! A capability declares its keys once, as the fields of its `Raw` type with their defaults,
//! and checks them in `validate`; `config` (where the server is composed) reads the layers,
//! hands each capability its keys, and refuses keys that no capability declares. This module
//! imports no capability.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// A capability's settings, as validated once at start.
pub trait Settings: Sized {
    /// The keys as read from the file and the environment (`LEADSMENT_` and the key in upper
    /// case), each with its default. Unknown keys are not this type's business: `config`
    /// checks them against every capability's keys together.
    type Raw: DeserializeOwned;

    /// Checks the values and turns them into their working types.
    fn validate(raw: Self::Raw, base: &Base) -> Result<Self, ConfigError>;
}

/// Settings shared by all capabilities, validated before theirs.
#[derive(Debug, Clone)]
pub struct Base {
    /// Where the SQLite file and the IP index live.
    pub data_dir: PathBuf,
}

/// A configuration problem, naming the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// "key `KEY`: PROBLEM", the form of every message about one key.
    pub fn key(key: &str, problem: impl std::fmt::Display) -> ConfigError {
        ConfigError(format!("key `{key}`: {problem}"))
    }
}

/// The names a `Raw` type reads, as serde sees them (renames included).
pub fn keys_of<T: DeserializeOwned>() -> &'static [&'static str] {
    serde_aux::serde_introspection::serde_introspect::<T>()
}

/// Accepts `"10.0.0.0/8, 192.168.0.0/16"` (as an environment variable gives it) or a TOML list.
pub fn string_or_list<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
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

/// Refuses `value` below `min`, naming the key.
pub fn at_least<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
) -> Result<T, ConfigError> {
    if value < min {
        return Err(ConfigError::key(key, format!("must be at least {min}")));
    }
    Ok(value)
}

/// A network such as `10.0.0.0/8` (host bits cleared); a single address (`10.0.0.1`) counts
/// as a /32 (or /128).
pub fn cidr(key: &str, s: &str) -> Result<ipnet::IpNet, ConfigError> {
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(net.trunc());
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(ipnet::IpNet::from(ip));
    }
    Err(ConfigError::key(
        key,
        format!("`{s}` is not a CIDR such as 10.0.0.0/8 or an IP address"),
    ))
}

/// A DNS resolver's address; port 53 when only the IP address is given.
pub fn resolver_address(key: &str, s: &str) -> Result<std::net::SocketAddr, ConfigError> {
    if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    Err(ConfigError::key(
        key,
        format!("`{s}` is not an address such as 127.0.0.1:53, [::1]:53 or 127.0.0.1"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Raw {
        listen: String,
        #[serde(rename = "other_name")]
        renamed: u32,
    }

    #[test]
    fn keys_are_the_names_serde_reads() {
        assert_eq!(keys_of::<Raw>(), ["listen", "other_name"]);
    }

    #[test]
    fn bounds_name_the_key() {
        assert_eq!(at_least("ingest_queue", 5, 1).unwrap(), 5);
        let e = at_least("ingest_queue", 0, 1).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid configuration: key `ingest_queue`: must be at least 1"
        );
    }
}
