//! Creating an account with its first workspace.

use askama::Template;
use axum::Form;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::accounts::errors::AccountError;
use crate::accounts::{Access, AccountsState};
use crate::auth::guard::Csrf;
use crate::auth::links::make_link;
use crate::auth::model::LinkPurpose;
use crate::auth::pages::check_email;
use crate::auth::settings::SignupMode;
use crate::auth::store::NewUser;
use crate::auth::users::{Email, Name, Password};
use crate::auth::{mail, password};
use crate::web::Route;
use crate::web::error::AppError;
use crate::web::page::{self, Errors};

pub(super) fn routes() -> Vec<Route<AccountsState, Access>> {
    Route::form("/auth/sign-up", Access::Public, sign_up_page, sign_up).into()
}

#[derive(Template)]
#[template(path = "auth/sign_up.html")]
struct SignUpPage {
    csrf: String,
    open: bool,
    name: String,
    email: String,
    workspace: String,
    errors: Errors,
}

async fn sign_up_page(
    State(state): State<AccountsState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
) -> Result<Response, AppError> {
    page::ok(&SignUpPage {
        csrf,
        open: state.settings.signup == SignupMode::Open,
        name: String::new(),
        email: String::new(),
        workspace: String::new(),
        errors: Errors::default(),
    })
}

#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    workspace: String,
}

async fn sign_up(
    State(state): State<AccountsState>,
    Extension(Csrf(csrf)): Extension<Csrf>,
    Form(form): Form<SignUpForm>,
) -> Result<Response, AppError> {
    if state.settings.signup != SignupMode::Open {
        return Err(AppError::forbidden(
            "Sign-up is by invitation on this server. Ask someone in your company to invite you.",
        ));
    }
    let mut errors = Errors::default();
    let name = errors.check("name", Name::parse(&form.name, "name"));
    let email = errors.check("email", Email::parse(&form.email));
    let pw = errors.check("password", Password::parse(&form.password));
    let ws = errors.check("workspace", Name::parse(&form.workspace, "company name"));
    let (Some(name), Some(email), Some(pw), Some(ws)) = (name, email, pw, ws) else {
        return page::render(
            StatusCode::BAD_REQUEST,
            &SignUpPage {
                csrf,
                open: true,
                name: form.name.chars().take(200).collect(),
                email: form.email.chars().take(300).collect(),
                workspace: form.workspace.chars().take(200).collect(),
                errors,
            },
        );
    };
    // Hash before looking the address up, so both answers take the same time.
    let hash = password::hash(&pw).await.map_err(AppError::internal)?;
    let message = format!(
        "If {} can receive email, a message is on its way: open its link to confirm the address, then sign in.",
        email
    );
    let new = NewUser {
        email: email.as_str().to_owned(),
        name: name.as_str().to_owned(),
        password_hash: Some(hash),
        email_verified: false,
        is_platform_admin: false,
    };
    match crate::accounts::store::create_user_with_workspace(&state.db, &new, ws.as_str()).await {
        Ok((user, _)) => {
            let link = make_link(
                &state.db,
                &state.web,
                LinkPurpose::Verify,
                "/auth/verify",
                Some(user.id),
                None,
            )
            .await?;
            state.auth.mailer.send_later(mail::Email {
                to: user.email.clone(),
                subject: "Confirm your email address for Leadsment".to_owned(),
                body: format!(
                    "Hello {},\n\nConfirm your email address by opening this link (it works once, for 24 hours):\n\n{link}\n\nIf you did not sign up, ignore this message.\n",
                    user.name
                ),
                link: Some(link),
            });
        }
        Err(AccountError::EmailTaken) => {
            // The address has an account: tell its owner, and answer as for a new one.
            let link = state.web.public_url_for("/auth/forgot");
            state.auth.mailer.send_later(mail::Email {
                to: email.as_str().to_owned(),
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
