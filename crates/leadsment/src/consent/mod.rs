//! The consent manager: the rule each visitor's banner follows, the visitor's decision, the
//! `lm_consent` cookie that remembers it, and the append-only proof of every decision.
//!
//! Decisions come to `POST /api/consent` (public like the events API, but only from the
//! instance's own pages) as named steps: the origin, the client's budget, the body, the
//! policy revision, then the proof is stored before the cookie is set, so a visitor never
//! holds a consent the log cannot show. The country comes from the IP index, in memory (no
//! reverse DNS): no address or visitor hash is kept with a decision.

pub mod choice;
pub mod cookie;
mod policy_page;
pub mod proof_page;
mod routes;
pub mod settings;
pub mod store;
pub mod tags;

use std::sync::Arc;

use arc_swap::ArcSwap;

use self::choice::Action;
use self::cookie::Signer;
use self::settings::ConsentSettings;
use crate::auth::throttle::AddressLimiter;
use crate::ipdb::IpDb;
use crate::registry::Registry;
use crate::store::{Db, StoreError, now_ms};
use crate::web::settings::WebSettings;

pub use routes::routes;

/// The version of the banner's wording, stored with each decision: change it whenever the
/// banner's text changes, so the proof shows what the visitor read.
pub const BANNER_VERSION: &str = "2026-12-04";

/// One decision, as the proof log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Proof {
    pub consent_id: String,
    /// The consent ID of the browser's earlier decision, which this one replaces.
    pub previous_id: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub revision: String,
    pub banner_version: String,
    pub action: Action,
    pub analytics: bool,
    pub advertising: bool,
    pub gpc: bool,
    pub country: Option<String>,
    pub browser: Option<String>,
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The cookie policy in force: the registry, its revision, and since when it holds.
#[derive(Debug, Clone)]
pub struct Policy {
    pub registry: Registry,
    pub revision: String,
    /// Milliseconds since the Unix epoch: the policy's "Last updated".
    pub since: i64,
    /// The switched-on tags, whose keys are in the registry under their categories.
    pub tags: Vec<tags::Tag>,
}

/// The consent capability's state.
pub struct Consent {
    pub db: Db,
    pub web: Arc<WebSettings>,
    /// The IP index, for the visitor's country (no reverse DNS: a banner needs none).
    pub ipdb: Arc<IpDb>,
    pub settings: ConsentSettings,
    signer: Signer,
    limiter: AddressLimiter,
    policy: ArcSwap<Policy>,
    /// Refused decisions, by reason.
    refused: prometheus::IntCounterVec,
    /// How long "keep me signed in" lasts, in days, for the registry's refresh cookie.
    persistent_days: i64,
}

/// The shared secret the consent cookie is signed with.
const COOKIE_KEY: &str = "consent-cookie-key";

impl Consent {
    /// Reads the signing key (created on first use, shared by every node) and records the
    /// current policy revision.
    pub async fn start(
        db: Db,
        web: Arc<WebSettings>,
        ipdb: Arc<IpDb>,
        settings: ConsentSettings,
        persistent_days: i64,
    ) -> Result<Consent, StoreError> {
        let key = crate::store::secrets::shared(&db, COOKIE_KEY, 32).await?;
        let limiter = AddressLimiter::new(settings.per_client_per_minute);
        let consent = Consent {
            db,
            web,
            ipdb,
            settings,
            signer: Signer::new(key),
            limiter,
            policy: ArcSwap::from_pointee(Policy {
                registry: Registry::default(),
                revision: String::new(),
                since: 0,
                tags: Vec::new(),
            }),
            persistent_days,
            refused: refused_counter(),
        };
        consent.refresh_policy().await?;
        Ok(consent)
    }

    /// Puts the refusal counter on `/metrics`.
    pub fn register(&self, registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.refused.clone()))
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    /// Rebuilds the registry from the built-in cookies and the switched-on tags' keys,
    /// records its revision if it is new, and puts it in force. The tag panel calls it after
    /// every change.
    pub async fn refresh_policy(&self) -> Result<Arc<Policy>, StoreError> {
        let tags = tags::store::enabled(&self.db).await?;
        let mut entries = crate::registry::builtin(self.persistent_days);
        entries.extend(tags.iter().flat_map(|t| t.spec.entries()));
        let registry = Registry::new(entries);
        let revision = registry.revision();
        let since = store::note_revision(&self.db, &revision, now_ms()).await?;
        let policy = Arc::new(Policy {
            registry,
            revision,
            since,
            tags,
        });
        self.policy.store(policy.clone());
        Ok(policy)
    }

    /// Deletes decisions older than the retention period; returns how many.
    pub async fn apply_retention(&self, now: i64) -> Result<u64, StoreError> {
        store::delete_older(
            &self.db,
            retention_start(now, self.settings.retention_months),
        )
        .await
    }
}

fn refused_counter() -> prometheus::IntCounterVec {
    let counter = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "leadsment_consent_refused_total",
            "Consent decisions refused, by reason (nothing was stored for them).",
        ),
        &["reason"],
    )
    .unwrap_or_else(|_| unreachable!("a valid metric name and label"));
    // Every reason is reported from the start, at zero.
    for reason in routes::Refused::REASONS {
        counter.with_label_values(&[reason]);
    }
    counter
}

/// The oldest time kept: `months` calendar months before `now` (UTC), both in milliseconds.
pub fn retention_start(now: i64, months: u32) -> i64 {
    let months = jiff::Span::new().months(i64::from(months));
    jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC).checked_sub(months).ok())
        .map_or(i64::MIN, |z| z.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    #[test]
    fn retention_counts_calendar_months() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(
            super::retention_start(at("2026-12-04T10:00:00Z"), 24),
            at("2024-12-04T10:00:00Z")
        );
        assert_eq!(
            super::retention_start(at("2026-03-31T00:00:00Z"), 1),
            at("2026-02-28T00:00:00Z")
        );
    }
}
