//! What the audit saw (per phase and page) and what it found wrong, as typed values: the
//! JSON report is these, serialised.

use serde::Serialize;

/// The four visits the audit makes to the same pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A fresh visitor who has not chosen.
    Fresh,
    /// After clicking Reject on the first layer.
    Rejected,
    /// After clicking Accept on the first layer.
    Accepted,
    /// After accepting, reopening the choices and rejecting.
    Withdrawn,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Fresh,
        Phase::Rejected,
        Phase::Accepted,
        Phase::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Fresh => "fresh",
            Phase::Rejected => "rejected",
            Phase::Accepted => "accepted",
            Phase::Withdrawn => "withdrawn",
        }
    }

    /// Whether only strictly necessary keys and no third-party requests may appear.
    pub fn without_consent(self) -> bool {
        self != Phase::Accepted
    }
}

/// One cookie as the browser holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeenCookie {
    pub name: String,
    pub domain: String,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax`, `None` or empty when the browser's default applies.
    pub same_site: String,
    /// Seconds since the epoch; `None` for a session cookie.
    pub expires: Option<f64>,
}

/// What one page showed in one phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageVisit {
    pub url: String,
    /// The HTTP status of the page, when it loaded.
    pub status: Option<i64>,
    /// Every cookie the browser held after the page (all domains).
    pub cookies: Vec<SeenCookie>,
    pub local_storage: Vec<String>,
    pub session_storage: Vec<String>,
    pub indexed_db: Vec<String>,
    /// Requests to hosts of other sites, as full URLs.
    pub third_party_requests: Vec<String>,
}

/// One phase's visits.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseVisits {
    pub phase: Phase,
    pub pages: Vec<PageVisit>,
}

/// A button as found on the banner.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Button {
    pub text: String,
    #[serde(rename = "box")]
    pub rect: BoxArea,
    /// WCAG contrast ratio of its text over its background.
    pub contrast: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct BoxArea {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl BoxArea {
    pub fn area(&self) -> f64 {
        self.width.max(0.0) * self.height.max(0.0)
    }
}

/// The first layer of the banner as the fresh visitor saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Banner {
    /// The tool, as `banners.toml` names it (`leadsment`, `cookiebot`, `generic`...).
    pub kind: String,
    /// The container selector that matched.
    pub selector: String,
    pub url: String,
    pub accept: Option<Button>,
    pub reject: Option<Button>,
}

/// Where a key was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Cookie,
    LocalStorage,
    SessionStorage,
    IndexedDb,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Cookie => "cookie",
            KeyKind::LocalStorage => "localStorage key",
            KeyKind::SessionStorage => "sessionStorage key",
            KeyKind::IndexedDb => "IndexedDB database",
        }
    }
}

/// One thing wrong. Every finding fails the audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The address could not be reached (no answer, a TLS or DNS error, endless redirects).
    Unreachable { url: String, error: String },
    /// The page answered with an error status.
    BadStatus { url: String, status: i64 },
    /// The answer was not an HTML page.
    NotHtml { url: String, content_type: String },
    /// The page redirected to another site.
    OffSiteRedirect { url: String, to: String },
    /// The page did not finish loading within the per-page cap.
    PageTimeout { url: String, seconds: u64 },
    /// The page tried to open pop-up windows (they were refused).
    Popups { url: String, count: u64 },
    /// The whole audit hit its time cap; what follows it was not checked.
    TimeCap { seconds: u64 },
    /// The browser showed itself as automated (`navigator.webdriver`), so the site may
    /// have behaved differently from a person's browser.
    AutomationVisible,
    /// No registry could be read at the site's `/legal/cookies.json`; every key counts as
    /// undeclared.
    NoRegistry { url: String, error: String },
    /// No consent banner was found on the first page.
    NoBanner { url: String },
    /// The first layer has no Accept button the audit recognises.
    AcceptMissing,
    /// The first layer has no Reject button.
    RejectMissing,
    /// Reject's box is under 90% of Accept's.
    RejectSmaller { reject_area: f64, accept_area: f64 },
    /// Reject's text contrast is lower than Accept's.
    RejectFainter {
        reject_contrast: f64,
        accept_contrast: f64,
    },
    /// No control to reopen the choices and withdraw consent was found.
    NoWithdrawal { url: String },
    /// A key the registry does not declare.
    Undeclared {
        key: KeyKind,
        name: String,
        /// A cookie's domain; empty for storage.
        domain: String,
        phases: Vec<Phase>,
    },
    /// A declared non-essential key present when there was no consent.
    WithoutConsent {
        phase: Phase,
        key: KeyKind,
        name: String,
        category: String,
        url: String,
    },
    /// A request to another site's host when there was no consent.
    ThirdPartyRequest {
        phase: Phase,
        host: String,
        url: String,
    },
    /// A declared key that appears on the public pages but was never seen: the policy
    /// may be stale.
    StalePolicy { key: KeyKind, name: String },
}

impl Finding {
    /// The finding's kind as the JSON names it.
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Unreachable { url, error } => write!(f, "{url} could not be reached: {error}"),
            Finding::BadStatus { url, status } => write!(f, "{url} answered HTTP {status}"),
            Finding::NotHtml { url, content_type } => {
                write!(f, "{url} is not an HTML page ({content_type})")
            }
            Finding::OffSiteRedirect { url, to } => {
                write!(f, "{url} redirects to another site: {to}")
            }
            Finding::PageTimeout { url, seconds } => {
                write!(f, "{url} did not finish loading within {seconds} s")
            }
            Finding::Popups { url, count } => write!(f, "{url} tried to open {count} pop-up(s)"),
            Finding::TimeCap { seconds } => {
                write!(
                    f,
                    "the audit stopped at its {seconds} s cap; the rest was not checked"
                )
            }
            Finding::AutomationVisible => {
                write!(
                    f,
                    "the browser showed itself as automated (navigator.webdriver)"
                )
            }
            Finding::NoRegistry { url, error } => write!(
                f,
                "no cookie registry at {url} ({error}); every key counts as undeclared (use --registry)"
            ),
            Finding::NoBanner { url } => write!(f, "no consent banner found on {url}"),
            Finding::AcceptMissing => write!(f, "the banner's first layer has no Accept button"),
            Finding::RejectMissing => write!(f, "the banner's first layer has no Reject button"),
            Finding::RejectSmaller {
                reject_area,
                accept_area,
            } => write!(
                f,
                "Reject is smaller than Accept ({reject_area:.0} px² against {accept_area:.0} px²)"
            ),
            Finding::RejectFainter {
                reject_contrast,
                accept_contrast,
            } => write!(
                f,
                "Reject's text is fainter than Accept's (contrast {reject_contrast:.2} against {accept_contrast:.2})"
            ),
            Finding::NoWithdrawal { url } => {
                write!(f, "no control to withdraw consent found on {url}")
            }
            Finding::Undeclared {
                key,
                name,
                domain,
                phases,
            } => {
                let phases: Vec<&str> = phases.iter().map(|p| p.as_str()).collect();
                let on = if domain.is_empty() {
                    String::new()
                } else {
                    format!(" on {domain}")
                };
                write!(
                    f,
                    "{} {name}{on} is not in the registry (seen: {})",
                    key.as_str(),
                    phases.join(", ")
                )
            }
            Finding::WithoutConsent {
                phase,
                key,
                name,
                category,
                url,
            } => write!(
                f,
                "{} {name} ({category}) present {} on {url}",
                key.as_str(),
                phase_words(*phase)
            ),
            Finding::ThirdPartyRequest { phase, host, url } => {
                write!(f, "a request to {host} {}: {url}", phase_words(*phase))
            }
            Finding::StalePolicy { key, name } => write!(
                f,
                "{} {name} is declared as set on the public pages but was never seen (stale policy?)",
                key.as_str()
            ),
        }
    }
}

fn phase_words(phase: Phase) -> &'static str {
    match phase {
        Phase::Fresh => "before consent",
        Phase::Rejected => "after rejection",
        Phase::Accepted => "after acceptance",
        Phase::Withdrawn => "after withdrawal",
    }
}
