//! What the ingest pipeline hands to the writer: an event with everything derived from the
//! request already worked out, and nothing of the request that must not be kept (no IP
//! address, no user-agent string, no query string apart from UTM parameters).

use serde::Serialize;

use crate::accounts::sites::SiteId;

/// The organisation behind a visit, as far as the IP data knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompanyInfo {
    /// What identifies the organisation across its networks: `domain:acme.com`, else
    /// `asn:64500:acme` (ASN and display name).
    pub key: String,
    /// The display name ("Google").
    pub name: String,
    /// The name as the data publishes it ("GOOGLE - Google LLC").
    pub org: Option<String>,
    pub domain: Option<String>,
    pub asn: Option<i64>,
    pub country: Option<String>,
    pub class: String,
    /// Why the data gives that class ("reviewed: ...", "isp: name contains ...").
    pub class_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewEvent {
    pub site_id: SiteId,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    pub name: String,
    /// The page path (and the fragment for sites that route by hash), without a query string.
    pub path: String,
    /// Custom properties as a JSON object, if any.
    pub props: Option<String>,
    pub engaged_ms: Option<i64>,
    /// Keyed hash of today's salt, the site, the address and the user agent.
    pub visitor_hash: i64,
    /// The same with yesterday's salt, so a session can run past midnight.
    pub previous_visitor_hash: Option<i64>,
    pub company: Option<CompanyInfo>,
    /// `business`, `isp`, `hosting`… or `unknown` when there is no IP data.
    pub class: String,
    pub country: Option<String>,
    pub source: Option<String>,
    pub channel: String,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub device: String,
}

/// A batch for one write transaction: events and bot counts.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    pub events: Vec<NewEvent>,
    /// `(site, day in the site's time zone, bots seen)`.
    pub bots: Vec<(SiteId, String, i64)>,
}

/// A visit ends after this long without an event.
pub const VISIT_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Engagement is reported when a page is hidden, which can be long after the last pageview;
/// it still belongs to that visit if the visit was seen within this long.
pub const ENGAGEMENT_LOOKBACK_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether an event named `event_name` continues a visit last seen `since_last` ago.
pub fn continues_visit(event_name: &str, since_last: i64) -> bool {
    let window = if event_name == "engagement" {
        ENGAGEMENT_LOOKBACK_MS
    } else {
        VISIT_TIMEOUT_MS
    };
    since_last <= window
}

/// A stored event as `leadsment export` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ExportedEvent {
    pub id: i64,
    /// RFC 3339, filled in by the exporter.
    #[sqlx(skip)]
    pub time: String,
    #[serde(skip)]
    pub ts: i64,
    pub visit_id: i64,
    pub name: String,
    pub path: String,
    pub props: Option<String>,
    pub engaged_ms: Option<i64>,
    pub company: Option<String>,
    pub company_domain: Option<String>,
    // From here on the event's visit's: where the visit came from (its first event's
    // referrer and UTM fields), its class and country, its browser, OS and device.
    pub class: String,
    pub country: Option<String>,
    pub source: Option<String>,
    pub channel: String,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub device: String,
}
