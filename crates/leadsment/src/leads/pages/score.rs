//! A site's score rules: the "Lead score" section of the site's settings page (admins and up,
//! as the whole page), rendered here and shown there through
//! [`SiteParts`](crate::accounts::parts::SiteParts). Its form posts to
//! `/w/{workspace_id}/sites/{site_id}/settings/score`, which previews the proposed rules
//! against the current ones on the site's top companies or saves them, and answers with the
//! settings page. Scores are computed when read, so saved rules apply to every score at once;
//! saving recounts the site's default pages in the background and says so when that takes
//! long.

use std::collections::HashMap;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::context::WorkspaceCtx;
use crate::accounts::pages::site_settings;
use crate::accounts::parts::SettingsSection;
use crate::accounts::sites::Site;
use crate::leads::rules::{RulesForm, ScoreRules};
use crate::leads::score::{self, Activity};
use crate::leads::store::{self, score_rules};
use crate::leads::{LeadsState, warm};
use crate::store::{Db, StoreError, now_ms};
use crate::web::error::AppError;
use crate::web::page::{Errors, when};

/// Companies the preview compares.
pub const PREVIEW_ROWS: usize = 20;

/// The section's element id on the settings page.
pub const SECTION: &str = "score-rules";

/// How long saving waits for the site's scores to be recounted before answering that they
/// are being recounted in the background.
const RECOUNT_WAIT: Duration = Duration::from_secs(2);

#[derive(Template)]
#[template(path = "leads/score_section.html")]
struct ScoreSection<'a> {
    csrf: &'a str,
    base: String,
    domain: String,
    form: RulesForm,
    errors: Errors,
    /// Who last saved the rules and when, or that they are the defaults.
    changed: String,
    preview: Option<Vec<PreviewRow>>,
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
pub struct ScoreForm {
    action: String,
    #[serde(flatten)]
    rules: RulesForm,
}

/// The section as the settings page shows it: the saved rules, or `form` as typed.
async fn section<'a>(
    db: &Db,
    ctx: &'a WorkspaceCtx,
    site: &Site,
    form: Option<RulesForm>,
) -> Result<ScoreSection<'a>, AppError> {
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
    Ok(ScoreSection {
        csrf: &ctx.csrf,
        base: format!("/w/{}/sites/{}", ctx.workspace().id.0, site.id.0),
        domain: site.domain.to_string(),
        form,
        errors: Errors::default(),
        changed,
        preview: None,
    })
}

fn rendered(section: &ScoreSection<'_>) -> Result<SettingsSection, AppError> {
    Ok(SettingsSection {
        id: SECTION,
        html: section
            .render()
            .map_err(|e| AppError::internal(anyhow::anyhow!("score section: {e}")))?,
    })
}

/// The section with the saved rules, for the settings page.
pub async fn settings_section(
    ctx: &WorkspaceCtx,
    site: &Site,
) -> Result<SettingsSection, AppError> {
    rendered(&section(&ctx.state.db, ctx, site, None).await?)
}

/// The message after saving, by the key the redirect carries.
pub fn notice(done: &str) -> Option<String> {
    Some(match done {
        "score_saved" => "The score rules are saved. Every score of this site now uses them, \
                          past visits included: the feed, the company pages and the CSV \
                          show the new scores."
            .to_owned(),
        "score_recounting" => "The score rules are saved. The site's scores are being \
                               recounted with them in the background: the feed and the \
                               company pages may take a few seconds longer to open until \
                               that is done, and show the new scores."
            .to_owned(),
        _ => return None,
    })
}

/// `POST /w/{workspace_id}/sites/{site_id}/settings/score`.
pub async fn submit(
    State(state): State<LeadsState>,
    ctx: WorkspaceCtx,
    Path((_, site_id)): Path<(i64, i64)>,
    Form(form): Form<ScoreForm>,
) -> Result<Response, AppError> {
    let site = super::site_of(&ctx, site_id).await?;
    let db = &state.accounts.db;
    let typed = RulesForm {
        page_rules: form.rules.page_rules.chars().take(20_000).collect(),
        ..form.rules.clone()
    };
    let mut shown = section(db, &ctx, &site, Some(typed.clone())).await?;
    let rules = match typed.parse() {
        Ok(r) => r,
        Err(errors) => {
            for (field, message) in errors {
                shown.errors.add(field, message);
            }
            let html = rendered(&shown)?;
            return site_settings::render_with(&ctx, site_id, html, StatusCode::BAD_REQUEST).await;
        }
    };
    match form.action.as_str() {
        "preview" => {
            shown.preview = Some(preview(db, &site, &rules).await?);
            let html = rendered(&shown)?;
            site_settings::render_with(&ctx, site_id, html, StatusCode::OK).await
        }
        "save" => {
            let by = Some(ctx.current.user.id.0);
            score_rules::save(db, site.id, &rules, by).await?;
            let recounted = warm::recount(db, &state.cache, &site, RECOUNT_WAIT).await;
            let done = match recounted {
                true => "score_saved",
                false => "score_recounting",
            };
            let to = format!("{}/settings?done={done}#{SECTION}", shown.base);
            Ok(Redirect::to(&to).into_response())
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
