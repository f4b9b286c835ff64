//! The dashboard's pages: the overview, the company feed and its CSV, the company page, the
//! live view, the forms that save and delete a feed's view, the workspace's exclusions and a
//! site's score rules. Every page is a workspace page (viewers and up; saving and deleting a
//! view, members and up; the exclusions' changes and a site's score rules, admins and up)
//! about one site of that workspace; a site of another workspace is 404, whatever its id.

mod chart;
mod company;
mod csv;
mod exclusions;
mod feed;
mod format;
mod live;
mod overview;
mod saved;
mod score;

pub use self::saved::href as saved_href;
pub use self::score::{notice as score_notice, settings_section as score_section};

use super::{Credit, LeadsState};
use crate::accounts::Access;
use crate::accounts::context::WorkspaceCtx;
use crate::accounts::roles::Role;
use crate::accounts::sites::{Site, SiteId};
use crate::web::Route;
use crate::web::error::AppError;

pub fn routes() -> Vec<Route<LeadsState, Access>> {
    let viewer = Access::Member(Role::Viewer);
    vec![
        Route::get("/w/{workspace_id}/sites/{site_id}", viewer, overview::page),
        Route::get(
            "/w/{workspace_id}/sites/{site_id}/companies",
            viewer,
            feed::page,
        ),
        Route::get(
            "/w/{workspace_id}/sites/{site_id}/companies.csv",
            viewer,
            csv::download,
        ),
        Route::get(
            "/w/{workspace_id}/sites/{site_id}/companies/{company_id}",
            viewer,
            company::page,
        ),
        Route::get("/w/{workspace_id}/sites/{site_id}/live", viewer, live::page),
        Route::post(
            "/w/{workspace_id}/sites/{site_id}/feeds",
            Access::Member(Role::Member),
            saved::create,
        ),
        Route::post(
            "/w/{workspace_id}/sites/{site_id}/feeds/{feed_id}/delete",
            Access::Member(Role::Member),
            saved::delete,
        ),
        Route::post(
            "/w/{workspace_id}/sites/{site_id}/settings/score",
            Access::Member(Role::Admin),
            score::submit,
        ),
        Route::get("/w/{workspace_id}/exclusions", viewer, exclusions::page),
        Route::post(
            "/w/{workspace_id}/exclusions",
            Access::Member(Role::Admin),
            exclusions::submit,
        ),
    ]
}

/// The site in the path, if it belongs to the workspace in the path (the guard has checked
/// the membership); otherwise 404, the same as a site that does not exist.
async fn site_of(ctx: &WorkspaceCtx, site_id: i64) -> Result<Site, AppError> {
    crate::accounts::store::workspace_site(&ctx.state.db, ctx.workspace().id, SiteId(site_id))
        .await?
        .ok_or_else(|| AppError::not_found("No such site."))
}

/// What every dashboard page starts from: the site in the path (404 unless it is the
/// workspace's), its time zone, and the frame with the site marked in the navigation and its
/// saved feeds listed under it.
struct SitePage {
    site: Site,
    tz: jiff::tz::TimeZone,
    chrome: crate::accounts::chrome::Chrome,
}

async fn site_page(
    ctx: &WorkspaceCtx,
    site_id: i64,
    section: &'static str,
) -> Result<SitePage, AppError> {
    let site = site_of(ctx, site_id).await?;
    let ws = ctx.workspace().id.0;
    let chrome = crate::accounts::chrome::Chrome::load(
        &ctx.state,
        &ctx.current,
        &ctx.csrf,
        Some(ws),
        section,
    )
    .await?
    .with_site(site_id);
    let mut chrome = chrome;
    chrome.views = ctx.state.parts.views(&ctx.state.db, &site).await?;
    Ok(SitePage {
        tz: zone(&site),
        site,
        chrome,
    })
}

/// The site's time zone (UTC if the stored name is no longer known).
fn zone(site: &Site) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(&site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
}

/// What the footer of every dashboard page credits.
pub struct Footer {
    pub credits: Vec<Credit>,
}

impl Footer {
    fn of(state: &LeadsState) -> Footer {
        Footer {
            credits: state.credits(),
        }
    }
}
