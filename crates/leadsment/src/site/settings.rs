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
    /// For tests only: `leadsment audit` answers every request to another site's host from
    /// this local address (`{address}/{host}{path}`, through Chromium's request
    /// interception) instead of the network, so tag hosts can be stood in for.
    pub audit_tag_stand_in: Option<url::Url>,
}

#[derive(Debug, Deserialize)]
pub struct RawSiteSettings {
    #[serde(default = "default_marketing_pages")]
    marketing_pages: bool,
    #[serde(default)]
    tracking_allow_automated_browsers: bool,
    #[serde(default)]
    audit_tag_stand_in: Option<String>,
}

fn default_marketing_pages() -> bool {
    true
}

impl Settings for SiteSettings {
    type Raw = RawSiteSettings;

    fn validate(raw: RawSiteSettings, _base: &Base) -> Result<SiteSettings, ConfigError> {
        let audit_tag_stand_in = match raw.audit_tag_stand_in.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                url::Url::parse(s)
                    .ok()
                    .filter(|u| u.scheme() == "http" && u.host_str().is_some())
                    .ok_or_else(|| {
                        ConfigError::key("audit_tag_stand_in", "must be an http:// address")
                    })?,
            ),
        };
        Ok(SiteSettings {
            marketing_pages: raw.marketing_pages,
            tracking_allow_automated_browsers: raw.tracking_allow_automated_browsers,
            audit_tag_stand_in,
        })
    }
}
