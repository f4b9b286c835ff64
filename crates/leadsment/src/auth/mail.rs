//! Email: through SMTP (lettre) to the configured server; without one, each message's link is
//! written to the log on purpose, so a fresh install can still verify, reset and invite.
//! Messages are not sent from here directly but through the bounded queue of
//! [`super::outbox`].

use std::sync::Arc;

use anyhow::Context;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::settings::AuthSettings;

#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
    /// No SMTP server: links go to the log.
    Log,
}

/// One message: the link is the part that matters, and the part the log shows.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub link: Option<String>,
}

/// A piece of work for the mail queue.
#[derive(Debug, Clone)]
pub enum Job {
    /// Send this message.
    Send(Email),
    /// Send nothing: queued where a message would be for a known address (a reset request
    /// for an unknown one), so that both do the same work.
    Nothing,
}

impl Job {
    /// Who the job writes to, if anyone.
    pub fn recipient(&self) -> Option<&str> {
        match self {
            Job::Send(email) => Some(&email.to),
            Job::Nothing => None,
        }
    }
}

impl Mailer {
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Mailer> {
        let Some(url) = &settings.smtp_url else {
            return Ok(Mailer::Log);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .context("key `smtp_url`: not a valid SMTP URL")?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from: Mailbox = settings.email_from.parse().with_context(|| {
            format!(
                "key `email_from`: `{}` is not an address",
                settings.email_from
            )
        })?;
        Ok(Mailer::Smtp {
            transport: Arc::new(transport),
            from,
        })
    }

    /// Whether links are written to the log rather than sent.
    pub fn logs_links(&self) -> bool {
        matches!(self, Mailer::Log)
    }

    pub async fn send(&self, email: &Email) -> anyhow::Result<()> {
        match self {
            Mailer::Log => {
                // On purpose: there is no other way to deliver the link. It is single-use and
                // short-lived.
                tracing::warn!(
                    to = %email.to,
                    subject = %email.subject,
                    link = email.link.as_deref().unwrap_or("-"),
                    "no SMTP server is configured (smtp_url), so this email was not sent; its link is logged instead"
                );
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = email
                    .to
                    .parse()
                    .with_context(|| "the recipient is not a valid address".to_owned())?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&email.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(email.body.clone())
                    .context("building the message")?;
                transport
                    .send(message)
                    .await
                    .context("the SMTP server refused the message")?;
                Ok(())
            }
        }
    }
}

/// A name a user chose (their own, a workspace's), as a mail quotes it: as data in quotation
/// marks, never as words of ours. Line breaks and control characters become spaces, it is cut
/// at 60 characters, and nothing in it can become a link a mail reader would follow: the dots
/// between letters, slashes and at signs are written with look-alike characters, so
/// "Sign in at https://evil.example/login" reads the same but links nowhere.
pub fn quoted(name: &str) -> String {
    const MAX: usize = 60;
    let chars: Vec<char> = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(name.len() + 8);
    out.push('\u{201c}');
    let mut shown = 0;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && (out.ends_with(' ') || out.ends_with('\u{201c}')) {
            continue;
        }
        if shown == MAX {
            out.push('\u{2026}');
            break;
        }
        let between_letters = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        match c {
            '.' if between_letters(i.checked_sub(1)) && between_letters(Some(i + 1)) => {
                out.push('\u{2024}') // one dot leader
            }
            '/' => out.push('\u{2044}'), // fraction slash
            '@' => out.push('\u{ff20}'), // full-width at sign
            ':' => out.push('\u{a789}'), // modifier letter colon
            c => out.push(c),
        }
        shown += 1;
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out.push('\u{201d}');
    out
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn a_quoted_name_holds_no_link_and_no_line_break() {
        let q = quoted("Acme.\r\nSign in at https://evil.example/login or mail a@b.example");
        assert!(q.starts_with('\u{201c}') && q.ends_with('\u{201d}'), "{q}");
        for bad in ["\r", "\n", "://", "evil.example", "/login", "@", "http:"] {
            assert!(!q.contains(bad), "{q:?} contains {bad:?}");
        }
        assert!(q.contains("Sign in at"), "{q}");
        assert_eq!(quoted("Acme Inc."), "\u{201c}Acme Inc.\u{201d}");
        assert_eq!(quoted(&"x".repeat(100)).chars().count(), 60 + 3);
    }
}
