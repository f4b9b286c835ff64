//! `GET /legal/cookies`: the cookie policy, generated from the registry in force. Each
//! category says what it means and lists its cookies and storage keys with purpose, kind,
//! duration and party; then how to change one's choice, how to delete cookies in common
//! browsers, and what the tracking snippet (`t.js`) sends and keeps. "Last updated" is the day
//! the registry's content last changed. `GET /legal/cookies.json`: the
//! same registry as JSON ([`RegistryDocument`], described in docs/consent.md).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};

use super::Consent;
use super::routes::date_of;
use crate::registry::{Category, Entry, Party, RegistryDocument, Storage};
use crate::web::error::AppError;
use crate::web::page;
use crate::web::security::CspNonce;

pub const PATH: &str = "/legal/cookies";
pub const JSON_PATH: &str = "/legal/cookies.json";

/// One row of a category's table.
pub struct Row {
    pub name: String,
    pub kind: &'static str,
    pub purpose: String,
    pub duration: String,
    pub source: String,
}

impl From<&Entry> for Row {
    fn from(e: &Entry) -> Row {
        let kind = match e.storage {
            Storage::Cookie => "Cookie",
            Storage::LocalStorage => "Local storage",
            Storage::SessionStorage => "Session storage",
        };
        let source = match (e.party, e.domain.as_str()) {
            (Party::First, _) if e.provider == "Leadsment" || e.provider.is_empty() => {
                "First-party".to_owned()
            }
            (Party::First, _) => format!("First-party, set by {}'s script", e.provider),
            (Party::Third, "") => format!("Third-party ({})", e.provider),
            (Party::Third, domain) => format!("Third-party ({}, on {domain})", e.provider),
        };
        Row {
            name: e.name.clone(),
            kind,
            purpose: e.purpose.clone(),
            duration: e.duration.clone(),
            source,
        }
    }
}

pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    /// What the category means, for a visitor deciding about it.
    pub meaning: &'static str,
    pub needs_consent: bool,
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "legal_cookies.html")]
struct PolicyPage {
    updated: String,
    revision: String,
    sections: Vec<Section>,
    version: &'static str,
    /// The response's CSP nonce, for consent.js.
    nonce: String,
}

pub async fn cookie_policy(
    State(c): State<Arc<Consent>>,
    Extension(nonce): Extension<CspNonce>,
) -> Result<Response, AppError> {
    let policy = c.policy();
    let sections = [Category::Necessary]
        .into_iter()
        .chain(Category::CHOSEN)
        .map(|cat| Section {
            id: cat.as_str(),
            title: cat.title(),
            meaning: meaning(cat),
            needs_consent: cat != Category::Necessary,
            rows: policy.registry.in_category(cat).map(Row::from).collect(),
        })
        .collect();
    page::ok(&PolicyPage {
        updated: date_of(policy.since),
        revision: policy.revision.clone(),
        sections,
        version: env!("CARGO_PKG_VERSION"),
        nonce: nonce.0,
    })
}

/// What a category means, in the policy's words. Every category of the registry has one: a
/// new category fails to compile here until it is explained.
fn meaning(category: Category) -> &'static str {
    match category {
        Category::Necessary => {
            "Cookies without which the site cannot do what you ask of it: keep you signed in, \
             protect its forms against requests forged by other sites, and remember the cookie \
             choices you made. They need no consent and cannot be switched off here; blocking \
             them in your browser stops signing in from working."
        }
        Category::Analytics => {
            "Tags that measure how the site is used (which pages are read, how visitors arrive, \
             what they click), so that we can improve it. Their providers receive your visit's \
             details. They load only after you accept analytics, and stop loading as soon as \
             you withdraw."
        }
        Category::Advertising => {
            "Tags of advertising networks that measure whether our ads lead to visits and \
             sign-ups, and may let those networks show you our ads on other sites. Their \
             providers may link this with what they know of you from elsewhere. They load only \
             after you accept advertising, and a Global Privacy Control signal from your \
             browser refuses them."
        }
    }
}

/// `GET /legal/cookies.json`: the registry in force, with its revision and the day it last
/// changed, for audits (`leadsment audit --registry`) and anyone's own checks.
pub async fn cookie_registry(State(c): State<Arc<Consent>>) -> Response {
    let policy = c.policy();
    let doc = RegistryDocument {
        schema: RegistryDocument::SCHEMA.to_owned(),
        policy: c.web.public_url_for(PATH),
        revision: policy.revision.clone(),
        updated: date_of(policy.since),
        entries: policy.registry.entries.clone(),
    };
    Json(doc).into_response()
}
