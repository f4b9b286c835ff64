//! A forgotten password: the request, and the reset link it sends.

use askama::Template;
use axum::Form;
use axum::extract::Extension;
use axum::response::Response;

use super::{EmailForm, check_email, email_or_page};
use crate::auth::guard::{Csrf, PageCtx};
use crate::auth::recovery::request_reset;
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

async fn forgot(
    PageCtx { state, csrf }: PageCtx<AuthState>,
    client: ClientAddr,
    Form(form): Form<EmailForm>,
) -> Result<Response, AppError> {
    // Each request stores a link and may send an email: a budget per client.
    state.forms_limiter.admit(client)?;
    state.mail_limiter.admit(client)?;
    let email = match email_or_page(&form.email, |email, errors| ForgotPage {
        csrf,
        email,
        errors,
    })? {
        Ok(email) => email,
        Err(page) => return Ok(page),
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
