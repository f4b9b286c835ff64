//! What sign-up and first-run setup both ask for: a person, and the workspace of their
//! company.

use serde::Deserialize;

use crate::auth::password::Hasher;
use crate::auth::store::NewUser;
use crate::auth::users::{Email, Name, Password};
use crate::web::error::AppError;
use crate::web::page::Errors;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewAccountForm {
    /// The one-time setup link's token (first-run setup only).
    pub token: String,
    pub name: String,
    pub email: String,
    pub password: String,
    pub workspace: String,
}

/// The form's values, checked.
pub struct NewAccount {
    pub name: Name,
    pub email: Email,
    pub password: Password,
    pub workspace: Name,
}

impl NewAccount {
    /// The user to create, with the password hashed (which takes its time whatever follows,
    /// so that the answer does not tell whether the address was known).
    pub async fn user(
        &self,
        hasher: &Hasher,
        verified: bool,
        admin: bool,
    ) -> Result<NewUser, AppError> {
        let hash = hasher.hash(&self.password).await?;
        Ok(NewUser {
            email: self.email.as_str().to_owned(),
            name: self.name.as_str().to_owned(),
            password_hash: Some(hash),
            email_verified: verified,
            is_platform_admin: admin,
        })
    }
}

/// The form as typed, shown again next to its errors (cut to sensible lengths).
#[derive(Debug, Default)]
pub struct Typed {
    pub name: String,
    pub email: String,
    pub workspace: String,
}

impl NewAccountForm {
    /// The values, or what is wrong with each field.
    pub fn check(&self) -> Result<NewAccount, Errors> {
        let mut errors = Errors::default();
        let name = errors.check("name", Name::parse(&self.name, "name"));
        let email = errors.check("email", Email::parse(&self.email));
        let password = errors.check("password", Password::parse(&self.password));
        let workspace = errors.check("workspace", Name::parse(&self.workspace, "company name"));
        match (name, email, password, workspace) {
            (Some(name), Some(email), Some(password), Some(workspace)) => Ok(NewAccount {
                name,
                email,
                password,
                workspace,
            }),
            _ => Err(errors),
        }
    }

    pub fn typed(&self) -> Typed {
        Typed {
            name: self.name.chars().take(200).collect(),
            email: self.email.chars().take(300).collect(),
            workspace: self.workspace.chars().take(200).collect(),
        }
    }
}
