//! The public site: the home page now; marketing and legal pages, and the cookie policy
//! generated from the cookie registry, join it here.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use crate::auth::Access;
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::settings::WebSettings;

pub fn routes() -> Vec<Route<Arc<WebSettings>, Access>> {
    vec![Route::get("/", Access::Public, home)]
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    version: &'a str,
    public_url: &'a str,
}

async fn home(State(web): State<Arc<WebSettings>>) -> Result<Html<String>, AppError> {
    let public_url = web.public_url_for("");
    let page = HomePage {
        version: env!("CARGO_PKG_VERSION"),
        public_url: &public_url,
    };
    Ok(Html(page.render().map_err(AppError::internal)?))
}
