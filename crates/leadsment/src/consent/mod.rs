//! The consent manager: the rule each visitor's banner follows, the visitor's decision, the
//! `lm_consent` cookie that remembers it, and the append-only proof of every decision.
//!
//! Decisions come to `POST /api/consent` (public like the events API, but only from the
//! instance's own pages) as named steps: the origin, the client's budget, the body, the
//! policy revision, then the proof is stored before the cookie is set, so a visitor never
//! holds a consent the log cannot show. The country comes from the IP index, in memory (no
//! reverse DNS): no address or visitor hash is kept with a decision.

mod ask;
pub mod choice;
pub mod cookie;
mod policy_page;
pub mod proof_page;
mod routes;
pub mod settings;
pub mod store;
pub mod tags;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::FromRef;

use self::choice::Action;
use self::cookie::Signer;
use self::settings::ConsentSettings;
use crate::accounts::AccountsState;
use crate::auth::throttle::AddressLimiter;
use crate::ipdb::IpDb;
use crate::registry::Registry;
use crate::store::{Db, StoreError, now_ms};
use crate::web::security::CspSources;
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
    /// The hosts the switched-on tags reach, for the Content-Security-Policy of the pages
    /// where tags may load.
    pub sources: Arc<CspSources>,
    /// What the policy holds per consent category, to compare with a choice's revision.
    pub content: ask::Content,
}

/// The first path segments under which tags never load: the pages that show customers'
/// leads and accounts (consent.js refuses them too), the API and the static files.
pub const NO_TAGS_UNDER: [&str; 10] = [
    "app", "w", "auth", "admin", "account", "api", "js", "assets", "metrics", "healthz",
];

/// Whether tags may load on the page at `path`: the public and legal pages only.
pub fn tags_may_load(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    !NO_TAGS_UNDER.contains(&first)
}

impl crate::web::security::ExtraSources for Consent {
    fn for_path(&self, path: &str) -> Option<Arc<CspSources>> {
        let policy = self.policy.load();
        (tags_may_load(path) && !policy.sources.is_empty()).then(|| policy.sources.clone())
    }
}

/// The state of the platform administrators' consent pages (the tag panel and the proof):
/// the consent capability's, and the accounts' (for the pages' frame and sign-in).
#[derive(Clone)]
pub struct AdminState {
    pub consent: Arc<Consent>,
    pub accounts: AccountsState,
}

impl FromRef<AdminState> for AccountsState {
    fn from_ref(s: &AdminState) -> AccountsState {
        s.accounts.clone()
    }
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
    /// The newest tag change the policy in force includes (see [`Consent::follow_changes`]).
    seen_change: std::sync::atomic::AtomicI64,
    /// Earlier revisions' contents, as read from the store (`None`: not recorded).
    earlier: std::sync::Mutex<HashMap<String, Option<Arc<ask::Content>>>>,
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
                sources: Arc::default(),
                content: ask::Content::default(),
            }),
            earlier: std::sync::Mutex::default(),
            seen_change: std::sync::atomic::AtomicI64::new(-1),
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
        // Read before the tags: a change made meanwhile is picked up by the next check.
        let change = tags::store::latest_change(&self.db).await?;
        let tags = tags::store::enabled(&self.db).await?;
        let mut entries = crate::registry::builtin(self.persistent_days);
        entries.extend(tags.iter().flat_map(|t| t.spec.entries()));
        let registry = Registry::new(entries);
        let content = ask::content(&registry, &tags);
        let revision = ask::revision(&registry, &content);
        let json = serde_json::to_string(&content).unwrap_or_default();
        let since = store::note_revision(&self.db, &revision, &json, now_ms()).await?;
        let mut sources = CspSources::default();
        for t in &tags {
            sources.merge(&t.spec.requirements());
        }
        let policy = Arc::new(Policy {
            registry,
            revision,
            since,
            tags,
            sources: Arc::new(sources),
            content,
        });
        self.policy.store(policy.clone());
        self.seen_change
            .store(change, std::sync::atomic::Ordering::Relaxed);
        Ok(policy)
    }

    /// Puts a tag change made on another node in force here: one cheap query, and the policy
    /// rebuilt only when the newest change is not the one it includes. The server runs it
    /// every few seconds; returns whether the policy was rebuilt.
    pub async fn follow_changes(&self) -> Result<bool, StoreError> {
        let change = tags::store::latest_change(&self.db).await?;
        if change == self.seen_change.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(false);
        }
        self.refresh_policy().await?;
        Ok(true)
    }

    /// Whether a choice made under `revision`, granting `consented`, still holds under
    /// `policy` (see [`ask`]). A revision that was never recorded does not.
    pub async fn choice_holds(
        &self,
        revision: &str,
        consented: &[crate::registry::Category],
        policy: &Policy,
    ) -> Result<bool, StoreError> {
        if revision == policy.revision {
            return Ok(true);
        }
        let known = self
            .earlier
            .lock()
            .ok()
            .and_then(|m| m.get(revision).cloned());
        let then = match known {
            Some(then) => then,
            None => {
                let then = store::revision_content(&self.db, revision)
                    .await?
                    .and_then(|json| serde_json::from_str::<ask::Content>(&json).ok())
                    .map(Arc::new);
                if let Ok(mut m) = self.earlier.lock() {
                    // Revisions are few; a bound keeps a long-lived node's map small anyway.
                    if m.len() >= 256 {
                        m.clear();
                    }
                    m.insert(revision.to_owned(), then.clone());
                }
                then
            }
        };
        Ok(then.is_some_and(|then| !ask::gained(&then, &policy.content, consented)))
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
    fn tags_load_only_on_public_pages() {
        for path in [
            "/",
            "/pricing",
            "/how-it-works",
            "/legal/cookies",
            "/applications",
        ] {
            assert!(super::tags_may_load(path), "{path}");
        }
        for path in [
            "/app",
            "/app/",
            "/w/3/sites/1",
            "/auth/sign-in",
            "/admin/tags",
            "/account",
            "/api/consent/rule",
        ] {
            assert!(!super::tags_may_load(path), "{path}");
        }
    }

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
