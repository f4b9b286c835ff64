//! `GET /api/consent/rule` and `POST /api/consent`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;

use super::choice::{self, Choice, MAX_BODY};
use super::cookie::{self, Stored};
use super::settings::Mode;
use super::{BANNER_VERSION, Consent, Policy, Proof, store};
use crate::auth::Access;
use crate::registry::{CONSENT_COOKIE, Category, Entry, SetCookie};
use crate::store::now_ms;
use crate::web::Route;
use crate::web::assets::Script;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;

pub const RULE_PATH: &str = "/api/consent/rule";
pub const DECISION_PATH: &str = "/api/consent";
pub const SCRIPT_PATH: &str = "/js/consent.js";

/// consent.js, with its styles: the banner and the tag loader of the public pages.
pub static SCRIPT: Script = Script::new(include_str!("../../assets/consent.js"));

pub fn routes() -> Vec<Route<Arc<Consent>, Access>> {
    // Neither reads a session: the rule and the decision are the same for a signed-in
    // visitor, and no cookie but `lm_consent` is looked at.
    vec![
        Route::get(SCRIPT_PATH, Access::Public, script),
        Route::new(Method::GET, RULE_PATH, Access::Beacon, get(rule)),
        Route::new(Method::POST, DECISION_PATH, Access::Beacon, post(decide)),
        Route::get(
            super::policy_page::PATH,
            Access::Public,
            super::policy_page::cookie_policy,
        ),
        Route::get(
            super::policy_page::JSON_PATH,
            Access::Public,
            super::policy_page::cookie_registry,
        ),
    ]
}

/// `GET /js/consent.js`.
async fn script(headers: HeaderMap) -> Response {
    SCRIPT.respond(&headers)
}

/// One key of the registry, as the banner lists it.
#[derive(Serialize)]
struct Key<'a> {
    name: &'a str,
    storage: &'static str,
    purpose: &'a str,
    duration: &'a str,
    party: &'static str,
    provider: &'a str,
}

impl<'a> From<&'a Entry> for Key<'a> {
    fn from(e: &'a Entry) -> Key<'a> {
        Key {
            name: &e.name,
            storage: e.storage.as_str(),
            purpose: &e.purpose,
            duration: &e.duration,
            party: e.party.as_str(),
            provider: &e.provider,
        }
    }
}

#[derive(Serialize)]
struct CategoryRule<'a> {
    id: &'static str,
    title: &'static str,
    /// Whether the visitor chooses it (strictly necessary ones are always on).
    choice: bool,
    keys: Vec<Key<'a>>,
    /// The switched-on tags that load once this category is granted.
    tags: Vec<TagRef<'a>>,
}

/// A switched-on tag, as the banner names it.
#[derive(Serialize)]
struct TagRef<'a> {
    id: i64,
    kind: &'static str,
    label: &'a str,
}

/// A tag to load, as consent.js needs it: listed only for categories the visitor granted, so
/// no page and no answer carries a tag's ID before its consent.
#[derive(Serialize)]
struct Load<'a> {
    id: i64,
    kind: &'static str,
    category: &'static str,
    target: &'a str,
}

fn loads<'a>(policy: &'a Policy, granted: &[Category]) -> Vec<Load<'a>> {
    policy
        .tags
        .iter()
        .filter(|t| granted.contains(&t.spec.category))
        .map(|t| Load {
            id: t.id,
            kind: t.spec.kind.as_str(),
            category: t.spec.category.as_str(),
            target: &t.spec.target,
        })
        .collect()
}

/// Whether the visitor's country (unknown counts as inside) is in the consent zone, and the
/// rule that follows.
fn mode_for(c: &Consent, client: IpAddr) -> (bool, Mode) {
    if country_of(c, client).1 {
        (true, Mode::OptIn)
    } else {
        (false, c.settings.outside_zone)
    }
}

/// The visitor's country and whether it is in the consent zone (unknown counts as inside),
/// from the IP index alone: no reverse DNS, which would send the address to a resolver for
/// nothing a banner needs.
fn country_of(c: &Consent, client: IpAddr) -> (Option<String>, bool) {
    let org = c.ipdb.lookup(client);
    (org.country, org.consent_zone)
}

/// The valid `lm_consent` of a request, if any. Two or more (one planted from a sibling
/// domain beside the browser's own) count as none.
fn stored_choice(c: &Consent, headers: &HeaderMap) -> Option<Stored> {
    let mut values = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(CONSENT_COOKIE)?.strip_prefix('='));
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    c.signer.verify(value, now_ms() / 1000)
}

fn gpc_header(headers: &HeaderMap) -> bool {
    headers
        .get("sec-gpc")
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
}

/// The banner rule for this visitor. The page's HTML is the same for everyone; this answer
/// is the visitor's own, so it is `private`.
async fn rule(
    State(c): State<Arc<Consent>>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let policy = c.policy();
    let (zone, mode) = mode_for(&c, client.0);
    let gpc = gpc_header(&headers);
    let mut stored = stored_choice(&c, &headers);
    if gpc && let Some(s) = stored.as_mut() {
        // A Global Privacy Control signal refuses advertising, whatever was chosen before.
        s.categories.retain(|cat| *cat != Category::Advertising);
    }
    // Asked again when a category the visitor consented to gained something since.
    let holds = match &stored {
        Some(s) => c.choice_holds(&s.revision, &s.categories, &policy).await?,
        None => false,
    };
    // With no analytics or advertising key or tag there is nothing to consent to: no banner
    // ("Cookie Settings" still shows the preferences).
    let anything = Category::CHOSEN
        .iter()
        .any(|c| policy.registry.in_category(*c).next().is_some())
        || !policy.tags.is_empty();
    let ask = mode != Mode::None && anything && !holds;
    // What loads now: the stored choice; without one, nothing under opt-in, and under notice
    // or none everything the visitor has not refused (advertising never with GPC).
    let granted: Vec<Category> = match (&stored, mode) {
        (Some(s), _) => s.categories.clone(),
        (None, Mode::OptIn) => Vec::new(),
        (None, Mode::Notice | Mode::None) => Category::CHOSEN
            .into_iter()
            .filter(|c| !(gpc && *c == Category::Advertising))
            .collect(),
    };
    let categories: Vec<CategoryRule<'_>> = [Category::Necessary]
        .into_iter()
        .chain(Category::CHOSEN)
        .map(|cat| CategoryRule {
            id: cat.as_str(),
            title: cat.title(),
            choice: cat != Category::Necessary,
            keys: policy.registry.in_category(cat).map(Key::from).collect(),
            tags: policy
                .tags
                .iter()
                .filter(|t| t.spec.category == cat)
                .map(|t| TagRef {
                    id: t.id,
                    kind: t.spec.kind.as_str(),
                    label: &t.spec.label,
                })
                .collect(),
        })
        .collect();
    let body = json!({
        "mode": mode.as_str(),
        "zone": zone,
        "revision": policy.revision,
        "updated": date_of(policy.since),
        "banner": BANNER_VERSION,
        "gpc": gpc,
        "categories": categories,
        "consent": stored.map(|s| json!({
            "id": s.consent_id,
            "categories": s.categories,
            "revision": s.revision,
        })),
        "ask": ask,
        "load": loads(&policy, &granted),
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

/// `YYYY-MM-DD` of a time in milliseconds, in UTC.
pub fn date_of(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Why a decision was refused: each is counted on `/metrics`
/// (`leadsment_consent_refused_total{reason}`) and answered at the edge ([`Refused::answer`]).
#[derive(Debug)]
pub enum Refused {
    /// The `Origin` is another site's, or `null` (403).
    Origin,
    /// The client is over its budget (429); answered by the limiter's own error.
    RateLimited(AppError),
    /// The body is over [`MAX_BODY`] (413).
    TooLarge,
    /// A field is malformed (400, naming it).
    Invalid(choice::BadField),
    /// The choice was made under another policy revision (409).
    StaleRevision,
    /// The banner's text version is not the one this server shows (409).
    StaleBanner,
}

impl Refused {
    pub const REASONS: [&str; 6] = [
        "origin_not_allowed",
        "rate_limited",
        "too_large",
        "invalid",
        "stale_revision",
        "stale_banner",
    ];

    pub fn reason(&self) -> &'static str {
        match self {
            Refused::Origin => Self::REASONS[0],
            Refused::RateLimited(_) => Self::REASONS[1],
            Refused::TooLarge => Self::REASONS[2],
            Refused::Invalid(_) => Self::REASONS[3],
            Refused::StaleRevision => Self::REASONS[4],
            Refused::StaleBanner => Self::REASONS[5],
        }
    }

    /// The HTTP answer: a status and a JSON body with `error`, `message` and, where one
    /// field is at fault, `field`.
    fn answer(self) -> Response {
        let reason = self.reason();
        let (status, field, message) = match self {
            Refused::RateLimited(e) => return e.into_response(),
            Refused::Origin => (
                StatusCode::FORBIDDEN,
                None,
                "Consent is recorded only from this site's own pages.".to_owned(),
            ),
            Refused::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Some("body"),
                format!("The body must be at most {MAX_BODY} bytes."),
            ),
            Refused::Invalid(e) => (StatusCode::BAD_REQUEST, Some(e.field), e.to_string()),
            Refused::StaleRevision => (
                StatusCode::CONFLICT,
                Some("revision"),
                "The cookie policy changed while the banner was open; ask for the rule again."
                    .to_owned(),
            ),
            Refused::StaleBanner => (
                StatusCode::CONFLICT,
                Some("banner"),
                format!(
                    "This site's banner is version {BANNER_VERSION}; reload the page and choose again."
                ),
            ),
        };
        let mut body = json!({ "error": reason, "message": message });
        if let Some(field) = field {
            body["field"] = json!(field);
        }
        (status, Json(body)).into_response()
    }
}

/// Step: the request comes from the instance's own pages. Browsers send `Origin` with every
/// POST, so a request without one (a script writing proof in bulk) is refused like `null` and
/// other sites.
fn check_origin(c: &Consent, headers: &HeaderMap) -> Result<(), Refused> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Err(Refused::Origin);
    };
    let origin = origin.to_str().unwrap_or("null");
    if crate::web::security::origin_is_own(&c.web.public_url, headers, origin) {
        return Ok(());
    }
    Err(Refused::Origin)
}

/// Step: the body, at most [`MAX_BODY`] bytes, checked field by field.
async fn read_choice(body: Body, headers: &HeaderMap) -> Result<Choice, Refused> {
    let bytes = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| Refused::TooLarge)?;
    choice::parse(&bytes, gpc_header(headers)).map_err(Refused::Invalid)
}

/// Step: the choice was made on the policy in force, in the banner this server shows (the
/// proof records which text the visitor read, so it must be one that exists).
fn check_revision(choice: &Choice, policy: &Policy) -> Result<(), Refused> {
    if choice.revision != policy.revision {
        return Err(Refused::StaleRevision);
    }
    if choice.banner_version != BANNER_VERSION {
        return Err(Refused::StaleBanner);
    }
    Ok(())
}

/// A new consent ID: 128 random bits.
fn new_consent_id() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!(
        "c_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The steps before anything is stored: origin, the client's budget, the body, the revision.
async fn admit(
    c: &Consent,
    client: ClientAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Choice, Arc<Policy>), Refused> {
    check_origin(c, headers)?;
    c.limiter.admit(client).map_err(Refused::RateLimited)?;
    let choice = read_choice(body, headers).await?;
    let policy = c.policy();
    check_revision(&choice, &policy)?;
    Ok((choice, policy))
}

/// `POST /api/consent`: stores the decision as proof, then answers with the signed
/// `lm_consent` and removals for first-party HttpOnly keys of withdrawn categories.
async fn decide(
    State(c): State<Arc<Consent>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let (choice, policy) = match admit(&c, client, &headers, body).await {
        Ok(admitted) => admitted,
        Err(refused) => {
            c.refused.with_label_values(&[refused.reason()]).inc();
            return Ok(refused.answer());
        }
    };
    // Every decision gets a consent ID of its own; the browser's earlier one is kept beside
    // it, so the log links a visitor's choices without anyone fixing an ID on another.
    let previous = stored_choice(&c, &headers);
    let consent_id = new_consent_id();
    let (country, _) = country_of(&c, client.0);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let browser = crate::tracking::agent::classify(user_agent).and_then(|a| a.browser);
    let now = now_ms();
    let proof = Proof {
        consent_id: consent_id.clone(),
        previous_id: previous.as_ref().map(|p| p.consent_id.clone()),
        created_at: now,
        revision: policy.revision.clone(),
        banner_version: choice.banner_version.clone(),
        action: choice.action,
        analytics: choice.granted.contains(&Category::Analytics),
        advertising: choice.granted.contains(&Category::Advertising),
        gpc: choice.gpc,
        country,
        browser,
    };
    store::record(&c.db, &proof).await?;
    let stored = Stored {
        categories: choice.granted.clone(),
        consent_id: consent_id.clone(),
        revision: policy.revision.clone(),
        time: now / 1000,
    };
    let secure = c.web.public_url.scheme() == "https";
    let mut response = Json(json!({
        "consent_id": consent_id,
        "categories": choice.granted,
        "revision": policy.revision,
        "load": loads(&policy, &choice.granted),
    }))
    .into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    cookie::set_cookie(c.signer.sign(&stored), secure).append_to(h);
    // Withdrawn categories: the server clears the first-party keys only it can reach
    // (HttpOnly cookies); consent.js clears the rest.
    let withdrawn = previous
        .map(|p| p.categories)
        .unwrap_or_default()
        .into_iter()
        .filter(|cat| !choice.granted.contains(cat));
    for cat in withdrawn {
        for e in policy.registry.in_category(cat).filter(|e| e.http_only) {
            if let Some(removal) = SetCookie::removal_of(e) {
                removal.append_to(h);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_script_is_small() {
        // Compressed here, not through `gzipped`, which serves it plain if compression
        // fails: an empty result must fail this test. The budget is 8,000 bytes, the goal
        // 6,000 (BENCHMARKS.md records the figure).
        let gz = super::SCRIPT.compress().expect("consent.js compresses");
        // The figure BENCHMARKS.md records, beside t.js's (`-- --nocapture` shows them).
        let t_js = crate::tracking::SCRIPT.compress().expect("t.js compresses");
        println!(
            "consent.js: {} bytes, {} gzipped; t.js: {} gzipped",
            include_str!("../../assets/consent.js").len(),
            gz.len(),
            t_js.len()
        );
        assert!(
            gz.len() > 1000,
            "a gzip of consent.js cannot be {} bytes",
            gz.len()
        );
        assert!(
            gz.len() < 6000,
            "consent.js is {} bytes gzipped; the goal is 6,000, the budget 8,000",
            gz.len()
        );
    }
}
