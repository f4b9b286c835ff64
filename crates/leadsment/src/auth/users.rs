//! Users (the people who sign in) and the validated values people type in: emails, names,
//! passwords.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A person who signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    /// The operator's staff: may open the platform administration.
    pub is_platform_admin: bool,
    /// False for accounts created by `leadsment user create` until their link is used.
    pub has_password: bool,
    pub created_at: i64,
}

/// A user as sign-in sees it: with the stored password hash.
#[derive(Debug, Clone)]
pub struct UserWithPassword {
    pub user: User,
    pub password_hash: Option<String>,
}

/// An email address in its stored form: trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Email, &'static str> {
        let s = input.trim();
        if s.is_empty() {
            return Err("Enter your email address.");
        }
        if s.len() > Self::MAX_LEN {
            return Err("This email address is too long (at most 254 characters).");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("Enter an email address such as name@example.com.");
        };
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c);
        if local.is_empty()
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || s.chars().any(bad_char)
            || local.contains('@')
        {
            return Err("Enter an email address such as name@example.com.");
        }
        Ok(Email(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's or a workspace's name: stored as given (trimmed), escaped wherever it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str, what: &'static str) -> Result<Name, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err(format!("Enter a {what}."));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "The {what} is too long (at most {} characters).",
                Self::MAX_CHARS
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(format!("The {what} has characters that cannot be shown."));
        }
        Ok(Name(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10 to 1,024 characters. Never printed.
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(input: &str) -> Result<Password, String> {
        let n = input.chars().count();
        if n < Self::MIN_CHARS {
            return Err(format!(
                "Use at least {} characters; a few words make a good password.",
                Self::MIN_CHARS
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(format!("Use at most {} characters.", Self::MAX_CHARS));
        }
        Ok(Password(SecretString::from(input.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "<a>@x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_have_length_limits() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough").is_ok());
        assert!(Password::parse(&"x".repeat(1024)).is_ok());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("long enough").unwrap()),
            "Password(***)"
        );
    }

    #[test]
    fn names_keep_what_was_typed_within_limits() {
        assert_eq!(
            Name::parse(" <b>Acme</b> ", "name").unwrap().as_str(),
            "<b>Acme</b>"
        );
        assert!(Name::parse("", "name").is_err());
        assert!(Name::parse(&"é".repeat(101), "name").is_err());
        assert!(Name::parse("a\u{0}b", "name").is_err());
    }
}
