//! `POST /w/{workspace_id}/sites/{site_id}/feeds` saves the feed's view under a name;
//! `POST …/feeds/{feed_id}/delete` deletes a saved feed. Both for members and up. A refused
//! name or view answers with the feed page, the message next to the name.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::feed::{SaveForm, render};
use super::{site_of, zone};
use crate::accounts::context::WorkspaceCtx;
use crate::leads::LeadsState;
use crate::leads::saved::{MAX_PER_SITE, check_name, normalise};
use crate::leads::store::saved::{self as store, NotSaved};
use crate::store::now_ms;
use crate::web::error::AppError;
use crate::web::page::Errors;

/// The link that opens a saved feed.
pub fn href(workspace_id: i64, site_id: i64, query: &str) -> String {
    format!("/w/{workspace_id}/sites/{site_id}/companies?{query}")
}

/// The message after saving or deleting, chosen by a fixed key in the link.
pub fn notice(query: Option<&str>) -> Option<&'static str> {
    let done = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "done")?
        .1;
    match done.as_ref() {
        "feed_saved" => Some("The view is saved. It is listed under the site in the menu."),
        "feed_deleted" => {
            Some("The saved feed is deleted. The view stays open here if you want it back.")
        }
        _ => None,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SaveFields {
    name: String,
    query: String,
}

pub async fn create(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((workspace_id, site_id)): Path<(i64, i64)>,
    Form(form): Form<SaveFields>,
) -> Result<Response, AppError> {
    let site = site_of(&ctx, site_id).await?;
    let mut errors = Errors::default();
    let name = errors.check("name", check_name(&form.name));
    let query = match normalise(&form.query, &zone(&site), now_ms()) {
        Ok(q) => Some(q),
        Err(bad) => {
            let list: Vec<_> = bad.iter().map(|b| b.message.as_str()).collect();
            errors.add(
                "query",
                format!(
                    "This view's filters cannot be saved: {}. Correct them above first.",
                    list.join("; ")
                ),
            );
            None
        }
    };
    let refused = |errors: Errors, status| SaveForm {
        name: form.name.chars().take(200).collect(),
        errors,
        status: Some(status),
    };
    let again = Some(form.query.chars().take(4_000).collect::<String>());
    let ((name, key), query) = match (name, query) {
        (Some(n), Some(q)) if errors.is_empty() => (n, q),
        _ => {
            let save = refused(errors, StatusCode::BAD_REQUEST);
            return render(&state, &ctx, (workspace_id, site_id), again, save).await;
        }
    };
    let db = &ctx.state.db;
    let user = ctx.current.user.id;
    match store::create_saved_feed(db, site.id, &name, &key, &query, user, MAX_PER_SITE).await {
        Ok(f) => Ok(back(workspace_id, site_id, &f.query, "feed_saved")),
        Err(NotSaved::Store(e)) => Err(e.into()),
        Err(why) => {
            let (message, status) = match why {
                NotSaved::NameTaken => (
                    format!(
                        "This site already has a saved feed called “{name}”. Choose another name."
                    ),
                    StatusCode::CONFLICT,
                ),
                _ => (
                    format!(
                        "A site keeps at most {MAX_PER_SITE} saved feeds. Delete one you no longer use first."
                    ),
                    StatusCode::CONFLICT,
                ),
            };
            let mut errors = Errors::default();
            errors.add("name", message);
            let save = refused(errors, status);
            render(&state, &ctx, (workspace_id, site_id), again, save).await
        }
    }
}

pub async fn delete(
    ctx: WorkspaceCtx,
    Path((workspace_id, site_id, feed_id)): Path<(i64, i64, i64)>,
) -> Result<Response, AppError> {
    let site = site_of(&ctx, site_id).await?;
    match store::delete_saved_feed(&ctx.state.db, site.id, feed_id).await? {
        Some(f) => Ok(back(workspace_id, site_id, &f.query, "feed_deleted")),
        None => Err(AppError::not_found("This site has no such saved feed.")),
    }
}

/// To the view, with the message of what was done.
fn back(workspace_id: i64, site_id: i64, query: &str, done: &str) -> Response {
    Redirect::to(&format!(
        "{}&done={done}",
        href(workspace_id, site_id, query)
    ))
    .into_response()
}
