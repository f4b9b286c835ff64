//! `/admin/tags`, the platform administrators' tag panel: the tags with their switches, a
//! form to add one of each kind (pre-filled with the vendor's documented keys) or edit one,
//! and the audit log. Bad fields are answered 400 next to the field, with nothing stored;
//! every stored change puts the new cookie policy in force at once.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::store::{self, TagChange, Who};
use super::{Tag, TagForm, TagSpec, default_keys_text};
use crate::accounts::Access;
use crate::accounts::chrome::Chrome;
use crate::accounts::context::SessionCtx;
use crate::consent::AdminState;
use crate::registry::{Category, TagKind};
use crate::store::now_ms;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when};

pub const PATH: &str = "/admin/tags";

/// How many audit rows the panel shows.
const LOG_SHOWN: i64 = 200;

pub fn routes() -> Vec<Route<AdminState, Access>> {
    let admin = Access::PLATFORM_ADMIN;
    let mut routes = Vec::from(Route::form(PATH, admin, list_page, create));
    routes.push(Route::get("/admin/tags/new", admin, new_page));
    routes.extend(Route::form(
        "/admin/tags/{tag_id}",
        admin,
        edit_page,
        change,
    ));
    routes
}

struct TagView {
    id: i64,
    kind: &'static str,
    label: String,
    target: String,
    category: &'static str,
    enabled: bool,
    keys: usize,
}

impl From<&Tag> for TagView {
    fn from(t: &Tag) -> TagView {
        TagView {
            id: t.id,
            kind: t.spec.kind.title(),
            label: t.spec.label.clone(),
            target: t.spec.target.clone(),
            category: t.spec.category.title(),
            enabled: t.enabled,
            keys: t.spec.keys.len(),
        }
    }
}

struct ChangeView {
    who: String,
    at: String,
    tag: String,
    summary: Vec<String>,
}

#[derive(Template)]
#[template(path = "app/admin_tags.html")]
struct ListPage {
    chrome: Chrome,
    tags: Vec<TagView>,
    kinds: Vec<(&'static str, &'static str)>,
    revision: String,
    changes: Vec<ChangeView>,
}

#[derive(Template)]
#[template(path = "app/admin_tag_form.html")]
struct FormPage {
    chrome: Chrome,
    /// `None` for a new tag.
    id: Option<i64>,
    enabled: bool,
    kind: TagKind,
    kinds: Vec<(&'static str, &'static str)>,
    categories: Vec<(&'static str, &'static str)>,
    form: TagForm,
    errors: Errors,
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    TagKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.title()))
        .collect()
}

fn categories() -> Vec<(&'static str, &'static str)> {
    Category::CHOSEN
        .iter()
        .map(|c| (c.as_str(), c.title()))
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PageQuery {
    done: Option<String>,
    kind: Option<String>,
}

/// Messages after an action, chosen by a fixed key (never text from the address bar).
fn notice(done: Option<&str>) -> Option<String> {
    Some(
        match done? {
            "created" => "The tag is added, switched off. Switch it on to load it.",
            "saved" => "The tag is saved.",
            "on" => "The tag is switched on; the cookie policy lists its keys.",
            "off" => "The tag is switched off.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn chrome(ctx: &SessionCtx, done: Option<&str>) -> Result<Chrome, AppError> {
    let mut chrome = Chrome::load(&ctx.state, &ctx.current, &ctx.csrf, None, "admin-tags").await?;
    chrome.notice = notice(done);
    Ok(chrome)
}

async fn list_page(
    axum::extract::State(s): axum::extract::State<AdminState>,
    ctx: SessionCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, AppError> {
    let db = &s.consent.db;
    let tags = store::list(db).await?;
    let changes = store::changes(db, LOG_SHOWN).await?;
    page::ok(&ListPage {
        chrome: chrome(&ctx, q.done.as_deref()).await?,
        tags: tags.iter().map(TagView::from).collect(),
        kinds: kinds(),
        revision: s.consent.policy().revision.clone(),
        changes: changes.iter().map(change_view).collect(),
    })
}

/// A new tag's form, pre-filled for `?kind=`.
async fn new_page(ctx: SessionCtx, Query(q): Query<PageQuery>) -> Result<Response, AppError> {
    let kind = q
        .kind
        .as_deref()
        .and_then(TagKind::parse)
        .unwrap_or(TagKind::Ga4);
    let form = TagForm {
        kind: kind.as_str().to_owned(),
        category: kind.default_category().as_str().to_owned(),
        keys: default_keys_text(kind),
        ..TagForm::default()
    };
    page::ok(&form_page(&ctx, None, false, form, Errors::default()).await?)
}

async fn form_page(
    ctx: &SessionCtx,
    id: Option<i64>,
    enabled: bool,
    form: TagForm,
    errors: Errors,
) -> Result<FormPage, AppError> {
    Ok(FormPage {
        chrome: chrome(ctx, None).await?,
        id,
        enabled,
        kind: TagKind::parse(&form.kind).unwrap_or(TagKind::Custom),
        kinds: kinds(),
        categories: categories(),
        form,
        errors,
    })
}

async fn tag_of(s: &AdminState, id: i64) -> Result<Tag, AppError> {
    store::get(&s.consent.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("There is no such tag."))
}

async fn edit_page(
    axum::extract::State(s): axum::extract::State<AdminState>,
    ctx: SessionCtx,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let tag = tag_of(&s, id).await?;
    page::ok(
        &form_page(
            &ctx,
            Some(tag.id),
            tag.enabled,
            tag.spec.form(),
            Errors::default(),
        )
        .await?,
    )
}

fn who(ctx: &SessionCtx) -> Who {
    Who {
        user_id: ctx.current.user.id.0,
        email: ctx.current.user.email.clone(),
    }
}

/// The form's fields, each cut to a length a page can show back.
fn kept(form: TagForm) -> TagForm {
    let cut = |s: String, n: usize| s.chars().take(n).collect::<String>();
    TagForm {
        kind: cut(form.kind, 20),
        label: cut(form.label, 200),
        target: cut(form.target, 2100),
        hosts: cut(form.hosts, 5000),
        category: cut(form.category, 20),
        keys: cut(form.keys, 40_000),
    }
}

fn errors_of(bad: Vec<crate::consent::choice::BadField>) -> Errors {
    let mut errors = Errors::default();
    for e in bad {
        errors.add(e.field, capitalised(&e.to_string()));
    }
    errors
}

/// `ID: must be…` reads as a sentence next to its field: the field's name is the label's.
fn capitalised(message: &str) -> String {
    let message = message.split_once(": ").map_or(message, |(_, m)| m);
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// `POST /admin/tags`: adds a tag, switched off.
async fn create(
    axum::extract::State(s): axum::extract::State<AdminState>,
    ctx: SessionCtx,
    Form(form): Form<TagForm>,
) -> Result<Response, AppError> {
    match TagSpec::parse(&form) {
        Ok(spec) => {
            store::create(&s.consent.db, &spec, &who(&ctx), now_ms()).await?;
            Ok(back(PATH, "created"))
        }
        Err(bad) => {
            let page = form_page(&ctx, None, false, kept(form), errors_of(bad)).await?;
            page::render(StatusCode::BAD_REQUEST, &page)
        }
    }
}

/// What a post to one tag does.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangeForm {
    action: String,
    #[serde(flatten)]
    fields: TagForm,
}

/// `POST /admin/tags/{id}`: saves the fields (`action=save`) or flips the switch
/// (`action=on`, `action=off`), then puts the new policy in force.
async fn change(
    axum::extract::State(s): axum::extract::State<AdminState>,
    ctx: SessionCtx,
    Path(id): Path<i64>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, AppError> {
    let tag = tag_of(&s, id).await?;
    let db = &s.consent.db;
    let done = match form.action.as_str() {
        "on" | "off" => {
            let on = form.action == "on";
            store::set_enabled(db, id, on, &who(&ctx), now_ms()).await?;
            form.action.as_str()
        }
        "save" => match TagSpec::parse(&form.fields) {
            Ok(spec) => {
                store::update(db, id, &spec, &who(&ctx), now_ms()).await?;
                "saved"
            }
            Err(bad) => {
                let fields = kept(form.fields);
                let page = form_page(&ctx, Some(id), tag.enabled, fields, errors_of(bad)).await?;
                return page::render(StatusCode::BAD_REQUEST, &page);
            }
        },
        _ => {
            return Err(AppError::bad_request(
                "unknown_action",
                "This form is not one of the page's. Reload the page and try again.",
            ));
        }
    };
    s.consent.refresh_policy().await?;
    Ok(back(PATH, done))
}

fn back(path: &str, done: &str) -> Response {
    Redirect::to(&format!("{path}?done={done}")).into_response()
}

/// One audit row as the panel shows it: who, when, which tag, and what changed.
fn change_view(c: &TagChange) -> ChangeView {
    let text = |v: &Value, field: &str| -> String {
        match &v[field] {
            Value::String(s) => s.clone(),
            Value::Bool(true) => "on".to_owned(),
            Value::Bool(false) => "off".to_owned(),
            Value::Array(a) if field == "keys" => a.len().to_string(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    };
    let after = &c.after;
    let summary = match &c.before {
        None => vec![format!(
            "added: {} {}, {}, {} keys",
            text(after, "kind"),
            text(after, "target"),
            text(after, "category"),
            text(after, "keys")
        )],
        Some(before) => ["enabled", "label", "target", "hosts", "category", "keys"]
            .into_iter()
            .filter(|f| before[*f] != after[*f])
            .map(|f| match f {
                "keys" if text(before, f) == text(after, f) => {
                    format!("keys: changed ({})", text(after, f))
                }
                _ => format!(
                    "{f}: {} → {}",
                    or_none(text(before, f)),
                    or_none(text(after, f))
                ),
            })
            .collect(),
    };
    ChangeView {
        who: c.who.clone(),
        at: when(&c.at),
        tag: format!("#{} {}", c.tag_id, text(after, "label")),
        summary,
    }
}

fn or_none(s: String) -> String {
    match s.is_empty() {
        true => "(none)".to_owned(),
        false => s,
    }
}
