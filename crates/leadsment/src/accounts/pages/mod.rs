//! The account and workspace pages: sign-up and first-run setup (a user with a workspace),
//! accepting an invitation, the account (sessions, email, password, deletion), workspaces,
//! members and invitations, API keys, the API that keys open, and the platform
//! administrators' list of users.

mod account;
mod admin;
mod api_keys;
mod invite;
mod members;
mod new_account;
pub mod ownership;
mod setup;
mod sign_up;
pub mod site_settings;
mod workspaces;

use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::context::SessionCtx;
use crate::accounts::{Access, AccountsState};
use crate::web::Route;
use crate::web::error::AppError;

pub use self::setup::announce_setup;

pub fn routes() -> Vec<Route<AccountsState, Access>> {
    let mut routes = vec![Route::get("/app", Access::SESSION, app_home)];
    routes.extend(account::routes());
    routes.extend(workspaces::routes());
    routes.extend(members::routes());
    routes.extend(api_keys::routes());
    routes.extend(site_settings::routes());
    routes.extend(ownership::routes());
    routes.extend(admin::routes());
    routes.extend(sign_up::routes());
    routes.extend(setup::routes());
    routes.extend(invite::routes());
    routes
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// Messages after an action, chosen by a fixed key (never text from the address bar).
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "name" => "Your name is saved.",
        "password" => "Your password is changed. Your other sessions are signed out.",
        "email_sent" => "We sent a link to the new address. Open it to finish the change.",
        "email" => "Your email address is changed.",
        "verify_sent" => "We sent a new confirmation link.",
        "revoked" => "The session is signed out. It ends within seconds.",
        "invited" => "The invitation is sent.",
        "invitation_revoked" => "The invitation is withdrawn; its link no longer works.",
        "role" => "The role is changed.",
        "removed" => "The member is removed.",
        "key_revoked" => "The key is revoked; it stops working at once.",
        "site" => "The site is added. Paste its snippet into every page of the site.",
        "created" => "The workspace is created.",
        "left" => "You left the workspace.",
        "deleted" => "The workspace is deleted.",
        _ => return None,
    })
}

fn back(path: &str, done: &str) -> Response {
    Redirect::to(&format!("{path}?done={done}")).into_response()
}

// --- the app's entry ---------------------------------------------------------------------

async fn app_home(ctx: SessionCtx) -> Result<Response, AppError> {
    let (state, current, _) = ctx.parts();
    let first = crate::accounts::store::memberships(&state.db, current.user.id)
        .await?
        .into_iter()
        .next();
    Ok(match first {
        Some(m) => Redirect::to(&format!("/w/{}", m.workspace.id.0)).into_response(),
        None => Redirect::to("/workspaces").into_response(),
    })
}
