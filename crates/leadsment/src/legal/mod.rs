//! The legal pages written in Markdown: `/legal/privacy`, `/legal/terms` and
//! `/legal/acceptable-use` (the cookie policy, generated from the registry, is the consent
//! capability's). Their text is kept in the store, so every node serves the same; each page
//! starts as a built-in template (`defaults/`), shown with a note until a platform
//! administrator saves it at `/admin/legal` (`admin`). "Last updated" is the day the text last
//! changed: saving the same text again keeps it. See `docs/legal.md`.

pub mod admin;
pub mod store;

use askama::Template;
use axum::Extension;
use axum::extract::{FromRef, State};
use axum::response::Response;

use crate::accounts::{Access, AccountsState};
use crate::store::Db;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page;
use crate::web::security::CspNonce;

/// The most bytes a page's Markdown may have. The form that sends it must also fit the
/// server's `body_limit` (64 KiB by default) once URL-encoded, so a text at this limit still
/// reaches the page and is answered next to its field, kept, rather than cut off at the edge.
pub const MAX_MARKDOWN_BYTES: usize = 32 * 1024;

/// One of the legal pages kept in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegalPage {
    Privacy,
    Terms,
    AcceptableUse,
}

impl LegalPage {
    pub const ALL: [LegalPage; 3] = [
        LegalPage::Privacy,
        LegalPage::Terms,
        LegalPage::AcceptableUse,
    ];

    /// The page's name in its addresses and in the store.
    pub fn slug(self) -> &'static str {
        match self {
            LegalPage::Privacy => "privacy",
            LegalPage::Terms => "terms",
            LegalPage::AcceptableUse => "acceptable-use",
        }
    }

    pub fn parse(slug: &str) -> Option<LegalPage> {
        LegalPage::ALL.into_iter().find(|p| p.slug() == slug)
    }

    pub fn title(self) -> &'static str {
        match self {
            LegalPage::Privacy => "Privacy Policy",
            LegalPage::Terms => "Terms of Service",
            LegalPage::AcceptableUse => "Acceptable Use Policy",
        }
    }

    /// The public address.
    pub fn path(self) -> &'static str {
        match self {
            LegalPage::Privacy => "/legal/privacy",
            LegalPage::Terms => "/legal/terms",
            LegalPage::AcceptableUse => "/legal/acceptable-use",
        }
    }

    /// The built-in template, as stored (see [`normalise`]).
    pub fn default_markdown(self) -> String {
        normalise(match self {
            LegalPage::Privacy => include_str!("defaults/privacy.md"),
            LegalPage::Terms => include_str!("defaults/terms.md"),
            LegalPage::AcceptableUse => include_str!("defaults/acceptable-use.md"),
        })
    }
}

/// Text as it is stored and compared: browsers send a textarea's lines ending in CR LF, so
/// line ends become LF and the text ends in exactly one; the same text sent again compares
/// equal and keeps its date.
pub fn normalise(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut text = text.trim_end().to_owned();
    text.push('\n');
    text
}

/// The legal pages' state: the accounts' (the store, and the admin pages' frame and sign-in).
#[derive(Clone)]
pub struct LegalState {
    pub accounts: AccountsState,
}

impl LegalState {
    pub fn db(&self) -> &Db {
        &self.accounts.db
    }
}

impl FromRef<LegalState> for AccountsState {
    fn from_ref(s: &LegalState) -> AccountsState {
        s.accounts.clone()
    }
}

pub fn routes() -> Vec<Route<LegalState, Access>> {
    let mut routes = vec![
        Route::get(LegalPage::Privacy.path(), Access::PUBLIC, privacy),
        Route::get(LegalPage::Terms.path(), Access::PUBLIC, terms),
        Route::get(
            LegalPage::AcceptableUse.path(),
            Access::PUBLIC,
            acceptable_use,
        ),
    ];
    routes.extend(admin::routes());
    routes
}

#[derive(Template)]
#[template(path = "legal_page.html")]
struct PublicPage<'a> {
    title: &'static str,
    /// `YYYY-MM-DD`, UTC.
    updated: String,
    is_template: bool,
    body: &'a str,
    nonce: &'a str,
    version: &'static str,
}

async fn privacy(s: State<LegalState>, n: Extension<CspNonce>) -> Result<Response, AppError> {
    public_page(&s, &n, LegalPage::Privacy).await
}

async fn terms(s: State<LegalState>, n: Extension<CspNonce>) -> Result<Response, AppError> {
    public_page(&s, &n, LegalPage::Terms).await
}

async fn acceptable_use(
    s: State<LegalState>,
    n: Extension<CspNonce>,
) -> Result<Response, AppError> {
    public_page(&s, &n, LegalPage::AcceptableUse).await
}

/// The page as the store holds it now, read on every request: a save on any node shows on
/// the next request everywhere.
async fn public_page(
    s: &LegalState,
    nonce: &CspNonce,
    kind: LegalPage,
) -> Result<Response, AppError> {
    let stored = store::get(s.db(), kind, crate::store::now_ms()).await?;
    let rendered = crate::site::markdown::render(&stored.markdown);
    page::ok(&PublicPage {
        title: kind.title(),
        updated: page::day(stored.updated_at),
        is_template: stored.is_template,
        body: &rendered.html,
        nonce: &nonce.0,
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_name_their_pages_and_defaults_are_within_the_limit() {
        for p in LegalPage::ALL {
            assert_eq!(LegalPage::parse(p.slug()), Some(p));
            assert!(p.path().ends_with(p.slug()));
            let md = p.default_markdown();
            assert!(md.len() <= MAX_MARKDOWN_BYTES, "{}: {}", p.slug(), md.len());
            // The page's title is the template's; the text starts at its sections.
            assert!(!md.lines().any(|l| l.starts_with("# ")), "{}", p.slug());
        }
        assert_eq!(LegalPage::parse("cookies"), None);
    }

    #[test]
    fn line_ends_are_normalised_so_the_same_text_compares_equal() {
        assert_eq!(normalise("a\r\nb\r\n\r\n"), "a\nb\n");
        assert_eq!(normalise("a\rb"), "a\nb\n");
        assert_eq!(normalise("a\nb"), normalise("a\r\nb\n  \n"));
    }
}
