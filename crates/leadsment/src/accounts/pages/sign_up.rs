//! Creating an account with its first workspace.

use askama::Template;
use axum::Form;
use axum::http::StatusCode;
use axum::response::Response;

use super::new_account::{NewAccountForm, Typed};
use crate::accounts::errors::AccountError;
use crate::accounts::{Access, AccountsState};
use crate::auth::guard::PageCtx;
use crate::auth::links::send_verification;
use crate::auth::mail;
use crate::auth::pages::check_email;
use crate::auth::settings::SignupMode;
use crate::web::Route;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    Route::form("/auth/sign-up", Access::PUBLIC, sign_up_page, sign_up).into()
}

#[derive(Template)]
#[template(path = "auth/sign_up.html")]
struct SignUpPage {
    csrf: String,
    open: bool,
    typed: Typed,
    errors: Errors,
}

async fn sign_up_page(
    PageCtx { state, csrf }: PageCtx<AccountsState>,
) -> Result<Response, AppError> {
    page::ok(&SignUpPage {
        csrf,
        open: state.settings.signup == SignupMode::Open,
        typed: Typed::default(),
        errors: Errors::default(),
    })
}

async fn sign_up(
    PageCtx { state, csrf }: PageCtx<AccountsState>,
    client: ClientAddr,
    Form(form): Form<NewAccountForm>,
) -> Result<Response, AppError> {
    state.forms_limiter.admit(client)?;
    state.mail_limiter.admit(client)?;
    if state.settings.signup != SignupMode::Open {
        return Err(AppError::forbidden(
            "Sign-up is by invitation on this server. Ask someone in your company to invite you.",
        ));
    }
    let account = match form.check() {
        Ok(account) => account,
        Err(errors) => return refused(csrf, form.typed(), errors),
    };
    // Hashed before the address is looked up, so both answers take the same time.
    let new = account.user(&state.hasher, false, false).await?;
    let message = format!(
        "If {} can receive email, a message is on its way: open its link to confirm the address, then sign in.",
        account.email
    );
    let ws = account.workspace.as_str();
    match crate::accounts::store::create_user_with_workspace(&state.db, &new, ws).await {
        Ok((user, _)) => send_verification(&state, &user).await?,
        Err(AccountError::EmailTaken) => {
            // The address has an account: tell its owner, and answer as for a new one.
            let link = state.web.public_url_for("/auth/forgot");
            state.auth.mailer.send_notice_later(mail::Email {
                to: account.email.as_str().to_owned(),
                subject: "Someone tried to sign up with your address".to_owned(),
                body: format!(
                    "Someone (perhaps you) tried to create a Leadsment account with this address, which already has one.\n\nSign in, or if you forgot your password, choose a new one here:\n\n{link}\n"
                ),
                link: Some(link),
            });
        }
        Err(e) => return Err(e.into()),
    }
    check_email(&state, "Check your email", message)
}

/// The form again, with what was wrong next to each field.
fn refused(csrf: String, typed: Typed, errors: Errors) -> Result<Response, AppError> {
    let open = true;
    page::render(
        StatusCode::BAD_REQUEST,
        &SignUpPage {
            csrf,
            open,
            typed,
            errors,
        },
    )
}
