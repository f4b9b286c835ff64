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

/// Engagement is reported when a page is hidden, which can be long after the last pageview;
/// it still belongs to that visit if the visit was seen within this long.
pub const ENGAGEMENT_LOOKBACK_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether an event named `event_name` continues a visit last seen `since_last` ago.
pub fn continues_visit(event_name: &str, since_last: i64) -> bool {
    let window = if event_name == "engagement" {
        ENGAGEMENT_LOOKBACK_MS
    } else {
        SESSION_TIMEOUT_MS
    };
    since_last <= window
}

/// The writer's memory of recent visits and known companies, so most events need no read
/// before their write.
///
/// On PostgreSQL, where several servers write, the store stays the truth: a miss reads it. On
/// SQLite, where this process is the only writer, the memory is *complete*: loaded from the
/// store at the first batch (and after a failed one), it holds every visit seen within
/// [`ENGAGEMENT_LOOKBACK_MS`], so a visitor's open visit is never looked up by hash in the
/// store (which keeps no index for that). It holds at most [`MAX_SESSIONS`] visits; past that
/// the least recently seen half is forgotten, and their visitors' next events start new visits.
#[derive(Debug)]
pub struct SessionCache {
    sessions: HashMap<(i64, i64), (i64, i64)>,
    companies: HashMap<String, i64>,
    complete: bool,
    max_sessions: usize,
}

impl Default for SessionCache {
    fn default() -> SessionCache {
        SessionCache::with_limit(MAX_SESSIONS)
    }
}

/// Most visits held in memory (about 70 MB).
pub const MAX_SESSIONS: usize = 1_500_000;
const MAX_COMPANIES: usize = 200_000;

impl SessionCache {
    /// A cache that holds at most `max_sessions` visits.
    pub fn with_limit(max_sessions: usize) -> SessionCache {
        SessionCache {
            sessions: HashMap::new(),
            companies: HashMap::new(),
            complete: false,
            max_sessions: max_sessions.max(2),
        }
    }

    /// The open session of this visitor on this site at `ts`, if the cache knows one.
    pub fn session(&self, site: i64, visitor: i64, ts: i64) -> Option<i64> {
        self.sessions
            .get(&(site, visitor))
            .filter(|(_, last)| ts - last <= SESSION_TIMEOUT_MS)
            .map(|(id, _)| *id)
    }

    /// The visit of this visitor that an event named `name` at `ts` continues, if the cache
    /// knows one.
    pub fn visit_for(&self, site: i64, visitor: i64, name: &str, ts: i64) -> Option<i64> {
        self.sessions
            .get(&(site, visitor))
            .filter(|(_, last)| continues_visit(name, ts - last))
            .map(|(id, _)| *id)
    }

    pub fn remember_session(&mut self, site: i64, visitor: i64, id: i64, ts: i64) {
        if self.sessions.len() >= self.max_sessions && !self.sessions.contains_key(&(site, visitor))
        {
            self.forget_old_sessions(ts);
        }
        let entry = self.sessions.entry((site, visitor)).or_insert((id, ts));
        *entry = (id, entry.1.max(ts));
    }

    /// Makes room: visits no event can continue any more go first (when the cache is not
    /// complete, those past the session timeout: the store answers for older ones), then, if
    /// that is not enough, the least recently seen half.
    fn forget_old_sessions(&mut self, now: i64) {
        let kept_for = if self.complete {
            ENGAGEMENT_LOOKBACK_MS
        } else {
            SESSION_TIMEOUT_MS
        };
        self.sessions.retain(|_, (_, last)| now - *last <= kept_for);
        if self.sessions.len() < self.max_sessions * 3 / 4 {
            return;
        }
        let mut seen: Vec<i64> = self.sessions.values().map(|(_, last)| *last).collect();
        let middle = seen.len() / 2;
        let (_, cut, _) = seen.select_nth_unstable(middle);
        let cut = *cut;
        self.sessions.retain(|_, (_, last)| *last > cut);
        if self.complete {
            tracing::warn!(
                kept = self.sessions.len(),
                limit = self.max_sessions,
                "the event writer holds a limited number of visits in memory; the least \
                 recently seen half were forgotten, and their visitors' next events start new visits"
            );
        }
    }

    /// Whether the cache holds every recent visit (see the type's documentation).
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Says that every recent visit has been loaded.
    pub fn mark_complete(&mut self) {
        self.complete = true;
    }

    /// Visits held (for tests and metrics).
    pub fn sessions_held(&self) -> usize {
        self.sessions.len()
    }

    pub fn company(&self, key: &str) -> Option<i64> {
        self.companies.get(key).copied()
    }

    pub fn remember_company(&mut self, key: &str, id: i64) {
        if self.companies.len() >= MAX_COMPANIES {
            self.companies.clear();
        }
        self.companies.insert(key.to_owned(), id);
    }

    /// Forgets everything (after a failed transaction, whose ids may not exist); a complete
    /// cache is loaded again before the next batch.
    pub fn clear(&mut self) {
        self.sessions.clear();
        self.companies.clear();
        self.complete = false;
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn visits_continue_within_their_window() {
        let mut cache = SessionCache::default();
        cache.remember_session(1, 7, 100, 0);
        assert_eq!(cache.visit_for(1, 7, "pageview", 30 * MIN), Some(100));
        assert_eq!(cache.visit_for(1, 7, "pageview", 31 * MIN), None);
        assert_eq!(
            cache.visit_for(1, 7, "engagement", 23 * 60 * MIN),
            Some(100)
        );
        assert_eq!(cache.visit_for(1, 7, "engagement", 25 * 60 * MIN), None);
        assert_eq!(cache.visit_for(2, 7, "pageview", 0), None, "another site");
    }

    #[test]
    fn a_full_cache_forgets_expired_visits_first_then_the_least_recent_half() {
        let mut cache = SessionCache::with_limit(100);
        cache.mark_complete();
        // 40 visits nobody can continue any more, then 60 recent ones.
        for v in 0..40 {
            cache.remember_session(1, v, v, 0);
        }
        let day = ENGAGEMENT_LOOKBACK_MS;
        for v in 40..100 {
            cache.remember_session(1, v, v, 2 * day + v);
        }
        assert_eq!(cache.sessions_held(), 100);
        // Room is made by dropping the expired ones alone.
        cache.remember_session(1, 100, 100, 2 * day + 100);
        assert_eq!(cache.sessions_held(), 61);
        assert_eq!(cache.visit_for(1, 3, "engagement", 2 * day), None);
        assert_eq!(cache.visit_for(1, 40, "pageview", 2 * day + 100), Some(40));
        // Filled with live visits, the older half goes.
        for v in 101..140 {
            cache.remember_session(1, v, v, 2 * day + v);
        }
        assert_eq!(cache.sessions_held(), 100);
        cache.remember_session(1, 140, 140, 2 * day + 140);
        assert!(cache.sessions_held() <= 51, "{}", cache.sessions_held());
        assert_eq!(
            cache.visit_for(1, 139, "pageview", 2 * day + 140),
            Some(139)
        );
        assert_eq!(
            cache.visit_for(1, 140, "pageview", 2 * day + 140),
            Some(140)
        );
        assert_eq!(cache.visit_for(1, 41, "pageview", 2 * day + 140), None);
        assert!(
            cache.is_complete(),
            "forgetting is not a reason to read the store"
        );
    }

    #[test]
    fn an_incomplete_cache_keeps_only_open_sessions_when_full() {
        // The store answers for anything older, so nothing past the session timeout is kept.
        let mut cache = SessionCache::with_limit(4);
        for v in 0..4 {
            cache.remember_session(1, v, v, v);
        }
        cache.remember_session(1, 9, 9, 31 * MIN);
        assert_eq!(cache.sessions_held(), 1);
        assert_eq!(cache.session(1, 9, 31 * MIN), Some(9));
    }

    #[test]
    fn a_known_visit_is_updated_without_eviction() {
        let mut cache = SessionCache::with_limit(2);
        cache.remember_session(1, 1, 10, 0);
        cache.remember_session(1, 2, 20, 0);
        cache.remember_session(1, 2, 20, MIN);
        assert_eq!(cache.sessions_held(), 2);
        assert_eq!(cache.session(1, 1, MIN), Some(10));
    }

    #[test]
    fn clearing_makes_the_cache_incomplete() {
        let mut cache = SessionCache::default();
        cache.mark_complete();
        cache.remember_session(1, 1, 10, 0);
        cache.clear();
        assert!(!cache.is_complete());
        assert_eq!(cache.sessions_held(), 0);
    }
}
