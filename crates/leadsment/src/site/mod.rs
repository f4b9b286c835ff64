//! The public site: the landing page, `/pricing` and `/how-it-works`, written in Markdown files
//! the operator may replace (`pages`, `markdown`), and the instance's own tracking tag on
//! them, counting their visits in the platform workspace (see `docs/public-site.md`).

pub mod markdown;
pub mod pages;
pub mod settings;

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;

use self::pages::{PageFiles, PageKind};
use self::settings::SiteSettings;
use crate::accounts::sites::Hostname;
use crate::auth::Access;
use crate::store::Db;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page;
use crate::web::security::CspNonce;
use crate::web::settings::WebSettings;

/// The public site's state. Cheap to clone.
#[derive(Clone)]
pub struct SiteState(Arc<SiteInner>);

pub struct SiteInner {
    pub web: Arc<WebSettings>,
    pub settings: SiteSettings,
    pub pages: PageFiles,
    /// The instance's own tracking tag, when its pages are counted.
    pub tag: Option<TrackingTag>,
}

impl std::ops::Deref for SiteState {
    type Target = SiteInner;
    fn deref(&self) -> &SiteInner {
        &self.0
    }
}

/// What the public pages' `<script src="/js/t.js">` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingTag {
    /// The public URL's host, the platform site's domain.
    pub domain: String,
    /// The public URL is on `localhost`, which `t.js` otherwise ignores.
    pub allow_localhost: bool,
    /// `tracking_allow_automated_browsers` (tests).
    pub allow_automated: bool,
}

impl SiteState {
    /// At start-up: makes sure the platform workspace exists with a site for the public URL's
    /// host, and decides the tag the public pages carry. A public URL on an IP address cannot
    /// be a site (sites are domain names), so its pages are not counted; nor are they when a
    /// customer's site claimed the host first (its owners would see the instance's visitors).
    pub async fn start(
        db: &Db,
        web: Arc<WebSettings>,
        settings: SiteSettings,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<SiteState> {
        let host = web.public_url.host_str().unwrap_or_default();
        let tag = match Hostname::parse(host) {
            Err(e) => {
                tracing::info!(
                    reason = %e,
                    "the public pages are not counted: the public URL's host is not a domain name"
                );
                None
            }
            Ok(host) => {
                let own = crate::accounts::platform::ensure_site(db, &host)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot set up the platform workspace: {e}"))?;
                if own.site.workspace_id == own.workspace.id {
                    tracing::info!(
                        host = %host,
                        workspace = own.workspace.id.0,
                        site = own.site.id.0,
                        "the public pages are counted in the platform workspace"
                    );
                    Some(TrackingTag {
                        domain: own.site.domain.to_string(),
                        allow_localhost: host.as_str() == "localhost"
                            || host.as_str().ends_with(".localhost"),
                        allow_automated: settings.tracking_allow_automated_browsers,
                    })
                } else {
                    tracing::warn!(
                        host = %host,
                        "the public pages are not counted: a site outside the platform workspace \
                         claims the public URL's host; if that site has not verified it, add \
                         the host in the Platform workspace and take it with \"Verify and \
                         take\" (docs/ownership.md), otherwise release it with `leadsment \
                         site release HOST` first"
                    );
                    None
                }
            }
        };
        Ok(SiteState(Arc::new(SiteInner {
            web,
            pages: PageFiles::new(data_dir),
            settings,
            tag,
        })))
    }
}

pub fn routes() -> Vec<Route<SiteState, Access>> {
    vec![
        Route::get("/", Access::Public, home),
        Route::get("/pricing", Access::Public, pricing),
        Route::get("/how-it-works", Access::Public, how_it_works),
    ]
}

#[derive(Template)]
#[template(path = "site/page.html")]
struct SitePage<'a> {
    title: String,
    /// `pricing`, `how-it-works` or empty: the navigation entry marked current.
    current: &'static str,
    marketing: bool,
    body: &'a str,
    /// The public URL, on the page that shows how to get started.
    snippet_for: Option<String>,
    tag: Option<&'a TrackingTag>,
    nonce: &'a str,
    version: &'static str,
}

/// The landing page while the marketing pages are off.
static PLAIN_HOME: std::sync::LazyLock<markdown::Rendered> =
    std::sync::LazyLock::new(|| markdown::render(include_str!("defaults/plain.md")));

async fn home(
    State(s): State<SiteState>,
    nonce: Extension<CspNonce>,
) -> Result<Response, AppError> {
    if !s.settings.marketing_pages {
        let html = &PLAIN_HOME.html;
        return render(&s, &nonce, "Leadsment".to_owned(), "", html, None);
    }
    let page = s.pages.get(PageKind::Home).await;
    let title = match &page.title {
        Some(t) => format!("Leadsment: {t}"),
        None => "Leadsment".to_owned(),
    };
    let snippet = Some(s.web.public_url_for(""));
    render(&s, &nonce, title, "", &page.html, snippet)
}

async fn pricing(
    State(s): State<SiteState>,
    nonce: Extension<CspNonce>,
) -> Result<Response, AppError> {
    marketing_page(&s, &nonce, PageKind::Pricing, "pricing").await
}

async fn how_it_works(
    State(s): State<SiteState>,
    nonce: Extension<CspNonce>,
) -> Result<Response, AppError> {
    marketing_page(&s, &nonce, PageKind::HowItWorks, "how-it-works").await
}

/// A marketing page, or the 404 of an unknown address when they are switched off.
async fn marketing_page(
    s: &SiteState,
    nonce: &CspNonce,
    kind: PageKind,
    current: &'static str,
) -> Result<Response, AppError> {
    if !s.settings.marketing_pages {
        return Err(crate::web::error::fallback().await);
    }
    let page = s.pages.get(kind).await;
    let title = format!(
        "{} · Leadsment",
        page.title.as_deref().unwrap_or(kind.label())
    );
    render(s, nonce, title, current, &page.html, None)
}

fn render(
    s: &SiteState,
    nonce: &CspNonce,
    title: String,
    current: &'static str,
    body: &str,
    snippet_for: Option<String>,
) -> Result<Response, AppError> {
    page::ok(&SitePage {
        title,
        current,
        marketing: s.settings.marketing_pages,
        body,
        snippet_for,
        tag: s.tag.as_ref(),
        nonce: &nonce.0,
        version: env!("CARGO_PKG_VERSION"),
    })
}
