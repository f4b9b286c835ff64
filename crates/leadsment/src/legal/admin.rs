//! `/admin/legal`, the platform administrators' legal pages: the list with each page's state,
//! and a form per page to edit its Markdown. Saving marks the page reviewed, so its template
//! note goes from the public page; saving the same text keeps its "Last updated". A text that
//! is empty or over [`MAX_MARKDOWN_BYTES`] is answered 400 next to the field, kept in the
//! form, with nothing stored.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::store::{self, Saved, StoredPage};
use super::{LegalPage, LegalState, MAX_MARKDOWN_BYTES, normalise};
use crate::accounts::Access;
use crate::accounts::chrome::Chrome;
use crate::accounts::context::SessionCtx;
use crate::store::now_ms;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when_opt};

pub const PATH: &str = "/admin/legal";

pub fn routes() -> Vec<Route<LegalState, Access>> {
    let admin = Access::PLATFORM_ADMIN;
    let mut routes = vec![Route::get(PATH, admin, list_page)];
    routes.extend(Route::form("/admin/legal/{page}", admin, edit_page, change));
    routes
}

/// One page in the list.
struct PageView {
    slug: &'static str,
    title: &'static str,
    path: &'static str,
    is_template: bool,
    updated: String,
    saved: String,
    saved_by: String,
}

impl From<&StoredPage> for PageView {
    fn from(p: &StoredPage) -> PageView {
        PageView {
            slug: p.page.slug(),
            title: p.page.title(),
            path: p.page.path(),
            is_template: p.is_template,
            updated: page::day(p.updated_at),
            saved: when_opt(&p.saved_at),
            saved_by: p.saved_by.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "app/admin_legal.html")]
struct ListPage {
    chrome: Chrome,
    pages: Vec<PageView>,
    /// Whether any page is still the unreviewed template.
    any_template: bool,
}

#[derive(Template)]
#[template(path = "app/admin_legal_form.html")]
struct FormPage {
    chrome: Chrome,
    page: PageView,
    markdown: String,
    max_bytes: usize,
    errors: Errors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PageQuery {
    done: Option<String>,
}

/// Messages after an action, chosen by a fixed key (never text from the address bar).
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "saved" => "The page is saved and marked reviewed; its Last updated date is today.",
        "unchanged" => {
            "The text is the same as before, so its Last updated date is kept; the page is marked reviewed."
        }
        "restored" => "The built-in template is back, marked as not reviewed.",
        _ => return None,
    })
}

async fn chrome(ctx: &SessionCtx, done: Option<&str>) -> Result<Chrome, AppError> {
    let chrome = Chrome::load(&ctx.state, &ctx.current, &ctx.csrf, None, "admin-legal").await?;
    Ok(chrome.with_notice(notice(done)))
}

fn page_of(slug: &str) -> Result<LegalPage, AppError> {
    LegalPage::parse(slug).ok_or_else(|| AppError::not_found("There is no such legal page."))
}

async fn list_page(
    State(s): State<LegalState>,
    ctx: SessionCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let now = now_ms();
    let mut pages = Vec::new();
    for kind in LegalPage::ALL {
        pages.push(PageView::from(&store::get(s.db(), kind, now).await?));
    }
    page::ok(&ListPage {
        chrome: chrome(&ctx, q.done.as_deref()).await?,
        any_template: pages.iter().any(|p| p.is_template),
        pages,
    })
}

async fn edit_page(
    State(s): State<LegalState>,
    ctx: SessionCtx,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let kind = page_of(&slug)?;
    let stored = store::get(s.db(), kind, now_ms()).await?;
    page::ok(&FormPage {
        chrome: chrome(&ctx, q.done.as_deref()).await?,
        page: PageView::from(&stored),
        markdown: stored.markdown,
        max_bytes: MAX_MARKDOWN_BYTES,
        errors: Errors::default(),
    })
}

/// What a post to a page does: `action=save` with its `markdown`, or `action=restore`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangeForm {
    action: String,
    markdown: String,
}

/// Why a text cannot be stored, as shown next to the field.
/// The size counted is the text's as stored, without its final line end.
fn check(markdown: &str) -> Result<(), String> {
    let text = markdown.trim_end();
    if text.trim_start().is_empty() {
        return Err("Write the page's text: a legal page cannot be empty.".to_owned());
    }
    if text.len() > MAX_MARKDOWN_BYTES {
        return Err(format!(
            "The text is {} bytes; a page may have at most {} ({} KiB). Shorten it, or link to a longer document.",
            text.len(),
            MAX_MARKDOWN_BYTES,
            MAX_MARKDOWN_BYTES / 1024
        ));
    }
    Ok(())
}

/// `POST /admin/legal/{page}`.
async fn change(
    State(s): State<LegalState>,
    ctx: SessionCtx,
    Path(slug): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, AppError> {
    let kind = page_of(&slug)?;
    let db = s.db();
    let who = ctx.current.user.email.clone();
    let now = now_ms();
    let saved = match form.action.as_str() {
        "save" => {
            let markdown = normalise(&form.markdown);
            if let Err(message) = check(&markdown) {
                let stored = store::get(db, kind, now).await?;
                let mut errors = Errors::default();
                errors.add("markdown", message);
                let page = FormPage {
                    chrome: chrome(&ctx, None).await?,
                    page: PageView::from(&stored),
                    // What was sent, as sent: the administrator's work is not lost.
                    markdown: form.markdown,
                    max_bytes: MAX_MARKDOWN_BYTES,
                    errors,
                };
                return page::render(StatusCode::BAD_REQUEST, &page);
            }
            match store::save(db, kind, &markdown, &who, now).await? {
                Saved::Changed => "saved",
                Saved::Unchanged => "unchanged",
            }
        }
        "restore" => {
            store::restore_template(db, kind, &who, now).await?;
            "restored"
        }
        _ => {
            return Err(AppError::bad_request(
                "unknown_action",
                "This form is not one of the page's. Reload the page and try again.",
            ));
        }
    };
    let to = format!("{PATH}/{}?done={saved}", kind.slug());
    Ok(Redirect::to(&to).into_response())
}
