//! The public site's settings. Documented in `docs/configuration.md`.

use serde::Deserialize;

use crate::settings::{Base, ConfigError, Settings};

#[derive(Debug, Clone)]
pub struct SiteSettings {
    /// Whether the landing page, `/pricing` and `/how-it-works` are the marketing pages; off,
    /// `/` is a short page with a sign-in link and the other two answer 404.
    pub marketing_pages: bool,
    /// For tests only: the instance's own tracking tag also counts automated browsers
    /// (`data-allow-automated`), which `t.js` otherwise ignores.
    pub tracking_allow_automated_browsers: bool,
}

#[derive(Debug, Deserialize)]
pub struct RawSiteSettings {
    #[serde(default = "default_marketing_pages")]
    marketing_pages: bool,
    #[serde(default)]
    tracking_allow_automated_browsers: bool,
}

fn default_marketing_pages() -> bool {
    true
}

impl Settings for SiteSettings {
    type Raw = RawSiteSettings;

    fn validate(raw: RawSiteSettings, _base: &Base) -> Result<SiteSettings, ConfigError> {
        Ok(SiteSettings {
            marketing_pages: raw.marketing_pages,
            tracking_allow_automated_browsers: raw.tracking_allow_automated_browsers,
        })
    }
}
