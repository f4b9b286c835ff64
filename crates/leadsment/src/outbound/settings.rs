//! The outbound fetcher's settings: the networks it may reach despite the refused ranges, and
//! the resolver it asks. Documented in `docs/configuration.md` and `docs/outbound.md`.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::settings::{Base, ConfigError, Settings, cidr, resolver_address, string_or_list};

#[derive(Debug, Clone, Default)]
pub struct OutboundSettings {
    /// Networks the fetcher may connect to although they are in a refused range: for tests,
    /// or a deliberate exception. Empty by default.
    pub allow: Vec<IpNet>,
    /// The resolver asked for addresses and TXT records; `None` uses the system's
    /// (`/etc/resolv.conf`).
    pub resolver: Option<SocketAddr>,
}

#[derive(Debug, Deserialize)]
pub struct RawOutboundSettings {
    #[serde(default, deserialize_with = "string_or_list")]
    outbound_allow: Vec<String>,
    #[serde(default)]
    outbound_resolver: Option<String>,
}

impl Settings for OutboundSettings {
    type Raw = RawOutboundSettings;

    fn validate(raw: RawOutboundSettings, _: &Base) -> Result<OutboundSettings, ConfigError> {
        let allow = raw
            .outbound_allow
            .iter()
            .map(|s| cidr("outbound_allow", s))
            .collect::<Result<Vec<_>, _>>()?;
        let resolver = raw
            .outbound_resolver
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| resolver_address("outbound_resolver", s))
            .transpose()?;
        Ok(OutboundSettings { allow, resolver })
    }
}
