//! `/w/{workspace_id}/sites/{site_id}/score`: the site's score rules, for admins and up (the
//! page and its form are 403 for members and viewers). The form previews the proposed rules
//! against the current ones on the site's top companies, or saves them. Scores are computed
//! when read, so saved rules apply to every score at once.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Footer, SitePage, site_page};
use crate::accounts::chrome::Chrome;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::sites::Site;
use crate::leads::LeadsState;
use crate::leads::rules::{RulesForm, ScoreRules};
use crate::leads::score::{self, Activity};
use crate::leads::store::{self, score_rules};
use crate::store::{Db, StoreError, now_ms};
use crate::web::error::AppError;
use crate::web::page::{self, Errors, when};

/// Companies the preview compares.
pub const PREVIEW_ROWS: usize = 20;

#[derive(Template)]
#[template(path = "leads/score.html")]
struct ScorePage {
    chrome: Chrome,
    site: Site,
    base: String,
    form: RulesForm,
    errors: Errors,
    /// Who last saved the rules and when, or that they are the defaults.
    changed: String,
    preview: Option<Vec<PreviewRow>>,
    footer: Footer,
}

struct PreviewRow {
    company_id: i64,
    name: String,
    current: u8,
    proposed: u8,
    change: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DoneQuery {
    done: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScoreForm {
    action: String,
    #[serde(flatten)]
    rules: RulesForm,
}

async fn view(
    state: &LeadsState,
    ctx: &WorkspaceCtx,
    site_id: i64,
    form: Option<RulesForm>,
) -> Result<ScorePage, AppError> {
    let SitePage { site, chrome, .. } = site_page(ctx, site_id, "score").await?;
    let db = &state.accounts.db;
    let changed = match score_rules::changed(db, site.id).await? {
        Some(c) => format!(
            "Last changed {} by {}.",
            when(&c.updated_at),
            c.updated_by.as_deref().unwrap_or("a former member")
        ),
        None => "These are the default rules: nobody has changed them.".to_owned(),
    };
    let form = match form {
        Some(f) => f,
        None => RulesForm::of(&score_rules::rules(db, site.id).await?),
    };
    Ok(ScorePage {
        chrome,
        base: format!("/w/{}/sites/{}", ctx.workspace().id.0, site.id.0),
        site,
        form,
        errors: Errors::default(),
        changed,
        preview: None,
        footer: Footer::of(state),
    })
}

pub async fn page(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((_, site_id)): Path<(i64, i64)>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let mut page = view(&state, &ctx, site_id, None).await?;
    if q.done.as_deref() == Some("saved") {
        page.chrome.notice = Some(
            "Saved. Every score of this site now uses these rules, past visits included: \
             the feed, the company pages and the CSV show the new scores at once."
                .to_owned(),
        );
    }
    page::ok(&page)
}

pub async fn submit(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((_, site_id)): Path<(i64, i64)>,
    Form(form): Form<ScoreForm>,
) -> Result<Response, AppError> {
    let typed = RulesForm {
        page_rules: form.rules.page_rules.chars().take(20_000).collect(),
        ..form.rules.clone()
    };
    let mut page = view(&state, &ctx, site_id, Some(typed.clone())).await?;
    let rules = match typed.parse() {
        Ok(r) => r,
        Err(errors) => {
            for (field, message) in errors {
                page.errors.add(field, message);
            }
            return page::render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let db = &state.accounts.db;
    match form.action.as_str() {
        "preview" => {
            page.preview = Some(preview(db, &page.site, &rules).await?);
            page::ok(&page)
        }
        "save" => {
            let by = Some(ctx.current.user.id.0);
            score_rules::save(db, page.site.id, &rules, by).await?;
            // The pieces counted with the old rules are under their tag: let them go now
            // rather than when the cache needs the room.
            state.cache.forget_sites(&[page.site.id]);
            Ok(Redirect::to(&format!("{}/score?done=saved", page.base)).into_response())
        }
        _ => Err(AppError::bad_request(
            "unknown_action",
            "This form previews or saves. Reload the page and try again.",
        )),
    }
}

/// The companies scoring highest under either the current or the proposed rules (hidden
/// companies left out), with both scores: the highest first, then the highest proposed.
async fn preview(
    db: &Db,
    site: &Site,
    proposed: &ScoreRules,
) -> Result<Vec<PreviewRow>, StoreError> {
    let now = now_ms();
    let window = score::window(now);
    let current = score_rules::rules(db, site.id).await?;
    let excluded = store::exclusions::excluded(db, site.id).await?;
    let scores = |rules: &ScoreRules, acts: &HashMap<i64, Activity>| -> HashMap<i64, u8> {
        acts.iter()
            .filter(|(id, _)| !excluded.contains(**id))
            .map(|(id, a)| (*id, score::value(a, rules, now)))
            .collect()
    };
    let before = scores(
        &current,
        &store::activity(db, site.id, window, None, &current).await?,
    );
    let after = scores(
        proposed,
        &store::activity(db, site.id, window, None, proposed).await?,
    );
    let mut ids: Vec<i64> = before.keys().copied().collect();
    ids.sort_by_key(|id| {
        let (now, then) = (after.get(id).copied().unwrap_or(0), before[id]);
        use std::cmp::Reverse;
        (Reverse(now.max(then)), Reverse(now), Reverse(then), *id)
    });
    ids.truncate(PREVIEW_ROWS);
    let names: HashMap<i64, String> = store::companies(db, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    Ok(ids
        .into_iter()
        .map(|id| {
            let (current, proposed) = (before[&id], after.get(&id).copied().unwrap_or(0));
            let d = i64::from(proposed) - i64::from(current);
            PreviewRow {
                company_id: id,
                name: names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")),
                current,
                proposed,
                change: match d {
                    0 => "\u{b1}0".to_owned(),
                    d if d > 0 => format!("+{d}"),
                    d => format!("\u{2212}{}", -d),
                },
            }
        })
        .collect())
}
