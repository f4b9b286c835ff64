//! A forgotten password: the request, and the reset link it sends.

use askama::Template;
use axum::Form;
use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::check_email;
use crate::auth::guard::{Csrf, PageCtx};
use crate::auth::recovery::request_reset;
use crate::auth::users::Email;
use crate::auth::{Access, AuthState};
use crate::web::Route;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

pub(super) fn routes() -> Vec<Route<AuthState, Access>> {
    Route::form("/auth/forgot", Access::Public, forgot_page, forgot).into()
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    csrf: String,
    email: String,
    errors: Errors,
}

async fn forgot_page(Extension(Csrf(csrf)): Extension<Csrf>) -> Result<Response, AppError> {
    page::ok(&ForgotPage {
        csrf,
        email: String::new(),
        errors: Errors::default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

async fn forgot(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    client: ClientAddr,
    Form(form): Form<EmailForm>,
) -> Result<Response, AppError> {
    // Each request stores a link and may send an email: a budget per client.
    state.forms_limiter.admit(client)?;
    state.mail_limiter.admit(client)?;
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(msg) => {
            let mut errors = Errors::default();
            errors.add("email", msg);
            return page::render(
                StatusCode::BAD_REQUEST,
                &ForgotPage {
                    csrf,
                    email: form.email.chars().take(300).collect(),
                    errors,
                },
            );
        }
    };
    request_reset(&state.db, &state.mailer, &state.web, &email).await?;
    check_email(
        &state,
        "Check your email",
        format!(
            "If an account uses {email}, a message with a link to choose a new password is on its way. The link works once, for one hour."
        ),
    )
}
