//! The consent manager's settings. Documented in `docs/configuration.md`.

use serde::Deserialize;

use crate::settings::{Base, ConfigError, Settings, at_least};

/// What visitors outside the EU/EEA/UK/CH consent zone get (those inside it, or whose
/// country is unknown, always get opt-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The banner, and no tag before consent.
    OptIn,
    /// A notice that tags run, which the visitor may refuse; tags load unless refused.
    Notice,
    /// No banner; tags load (a "Cookie Settings" link still lets the visitor refuse).
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::OptIn => "opt_in",
            Mode::Notice => "notice",
            Mode::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsentSettings {
    /// The rule outside the consent zone.
    pub outside_zone: Mode,
    /// How long a decision is kept in the proof log, in months.
    pub retention_months: u32,
    /// Decisions a minute one client (an IPv4 address, an IPv6 /64) may send, per node.
    pub per_client_per_minute: u32,
}

#[derive(Debug, Deserialize)]
pub struct RawConsentSettings {
    #[serde(default = "default_outside_zone")]
    consent_outside_zone: Mode,
    #[serde(default = "default_retention")]
    consent_retention_months: u32,
    #[serde(default = "default_per_client")]
    consents_per_client_per_minute: u32,
}

fn default_outside_zone() -> Mode {
    Mode::OptIn
}
fn default_retention() -> u32 {
    24
}
fn default_per_client() -> u32 {
    30
}

impl Settings for ConsentSettings {
    type Raw = RawConsentSettings;

    fn validate(raw: RawConsentSettings, _base: &Base) -> Result<ConsentSettings, ConfigError> {
        Ok(ConsentSettings {
            outside_zone: raw.consent_outside_zone,
            // Never shorter than a choice lasts in its cookie (six months), so no visitor holds
            // a consent whose proof is gone.
            retention_months: at_least(
                "consent_retention_months",
                raw.consent_retention_months,
                7,
            )?,
            per_client_per_minute: at_least(
                "consents_per_client_per_minute",
                raw.consents_per_client_per_minute,
                1,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(json: serde_json::Value) -> Result<ConsentSettings, ConfigError> {
        let base = Base {
            data_dir: std::path::PathBuf::from("."),
        };
        ConsentSettings::validate(serde_json::from_value(json).unwrap(), &base)
    }

    #[test]
    fn proof_outlives_the_cookie_it_backs() {
        let d = validate(serde_json::json!({})).unwrap();
        assert_eq!(
            (d.outside_zone, d.retention_months, d.per_client_per_minute),
            (Mode::OptIn, 24, 30)
        );
        let e = validate(serde_json::json!({"consent_retention_months": 6}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("consent_retention_months") && e.contains("at least 7"),
            "{e}"
        );
        assert!(validate(serde_json::json!({"consent_retention_months": 7})).is_ok());
    }
}
