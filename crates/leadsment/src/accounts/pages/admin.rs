//! The platform administrators' list of users.

use askama::Template;
use axum::response::Response;

use crate::accounts::chrome::Chrome;
use crate::accounts::context::SessionCtx;
use crate::accounts::{Access, AccountsState};
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, when};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    vec![Route::get(
        "/admin/users",
        Access::PLATFORM_ADMIN,
        admin_users,
    )]
}

struct UserView {
    name: String,
    email: String,
    verified: bool,
    admin: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "app/admin_users.html")]
struct AdminUsersPage {
    chrome: Chrome,
    users: Vec<UserView>,
}

async fn admin_users(ctx: SessionCtx) -> Result<Response, AppError> {
    let (state, current, csrf) = ctx.parts();
    let users = crate::auth::store::list_users(&state.db)
        .await?
        .into_iter()
        .map(|u| UserView {
            name: u.name,
            email: u.email,
            verified: u.email_verified,
            admin: u.is_platform_admin,
            created: when(&u.created_at),
        })
        .collect();
    page::ok(&AdminUsersPage {
        chrome: Chrome::load(&state, &current, &csrf, None, "admin").await?,
        users,
    })
}
