//! What the ingest pipeline hands to the store: an event with everything derived from the
//! request already worked out, and nothing of the request that must not be kept (no IP
//! address, no user-agent string, no query string apart from UTM parameters).

use std::collections::HashMap;

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
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub events: Vec<NewEvent>,
    /// `(site, day in the site's time zone, bots seen)`.
    pub bots: Vec<(SiteId, String, i64)>,
}

/// A session ends after this long without an event.
pub const SESSION_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// The writer's memory of recent sessions and known companies, so most events need no read
/// before their write. The store stays the truth: a miss reads it, so several nodes agree.
#[derive(Debug, Default)]
pub struct SessionCache {
    sessions: HashMap<(i64, i64), (i64, i64)>,
    companies: HashMap<String, i64>,
}

const MAX_CACHED: usize = 200_000;

impl SessionCache {
    /// The open session of this visitor on this site at `ts`, if the cache knows one.
    pub fn session(&self, site: i64, visitor: i64, ts: i64) -> Option<i64> {
        self.sessions
            .get(&(site, visitor))
            .filter(|(_, last)| ts - last <= SESSION_TIMEOUT_MS)
            .map(|(id, _)| *id)
    }

    pub fn remember_session(&mut self, site: i64, visitor: i64, id: i64, ts: i64) {
        if self.sessions.len() >= MAX_CACHED {
            self.sessions
                .retain(|_, (_, last)| ts - *last <= SESSION_TIMEOUT_MS);
            if self.sessions.len() >= MAX_CACHED {
                self.sessions.clear();
            }
        }
        let entry = self.sessions.entry((site, visitor)).or_insert((id, ts));
        *entry = (id, entry.1.max(ts));
    }

    pub fn company(&self, key: &str) -> Option<i64> {
        self.companies.get(key).copied()
    }

    pub fn remember_company(&mut self, key: &str, id: i64) {
        if self.companies.len() >= MAX_CACHED {
            self.companies.clear();
        }
        self.companies.insert(key.to_owned(), id);
    }

    /// Forgets everything (after a failed transaction, whose ids may not exist).
    pub fn clear(&mut self) {
        self.sessions.clear();
        self.companies.clear();
    }
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
