//! The only way the server sets a cookie. [`SetCookie`] is built from a registry entry and
//! nothing else: one of the instance's own cookies ([`OwnCookie`], defined here and listed in
//! the policy by [`builtin`](super::builtin)), or the removal of a key the registry lists
//! (a withdrawn tag's cookie). A cookie the policy does not name cannot be written, and a
//! unit test keeps every other module from writing a `Set-Cookie` header by hand.

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use super::Entry;

/// Where a visitor's browser shows a cookie, as the policy says and the audit checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Appears {
    /// On the public pages (the landing pages, the cookie policy, the sign-in forms): a
    /// fresh visitor may see it.
    PublicPages,
    /// Only once signed in to the application.
    SignedInPages,
    /// Set on another site's domain: the page cannot observe it.
    NotObservable,
}

impl Appears {
    /// Where a tag's key appears: on the public pages (the only pages that load tags) when
    /// it is the site's own, nowhere observable when it is on the vendor's domain.
    pub fn of_party(party: super::Party) -> Appears {
        match party {
            super::Party::First => Appears::PublicPages,
            super::Party::Third => Appears::NotObservable,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Appears::PublicPages => "public_pages",
            Appears::SignedInPages => "signed_in_pages",
            Appears::NotObservable => "not_observable",
        }
    }
}

/// How long one of the instance's own cookies lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Until the browser closes.
    Session,
    /// Until the browser closes, or a given time when the visitor asks to be remembered
    /// (the refresh token's "keep me signed in").
    SessionOrRemembered,
    /// This many seconds.
    Seconds(i64),
}

/// When the `Secure` attribute is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secure {
    /// Always (browsers still send it to `http://localhost`); a `__Host-` name needs it.
    Always,
    /// When the instance is served over https.
    OnHttps,
}

/// One of the instance's own cookies: the registry entry's facts and the attributes every
/// `Set-Cookie` of it carries. The fields are private, so the only ones are the constants
/// below.
#[derive(Debug)]
pub struct OwnCookie {
    name: &'static str,
    pub(super) purpose: &'static str,
    path: &'static str,
    http_only: bool,
    secure: Secure,
    lifetime: Lifetime,
    pub(super) appears: Appears,
}

impl OwnCookie {
    pub const fn name(&self) -> &'static str {
        self.name
    }

    pub fn http_only(&self) -> bool {
        self.http_only
    }

    pub fn lifetime(&self) -> Lifetime {
        self.lifetime
    }

    pub fn appears(&self) -> Appears {
        self.appears
    }
}

/// How long a consent choice lasts at most, in days (about six months).
pub const CONSENT_MAX_AGE_DAYS: i64 = 182;

/// The sign-in access token (the seed policy's name).
pub const ACCESS: OwnCookie = OwnCookie {
    name: "sb-access-token",
    purpose: "Keeps you signed in to the Leadsment application: a short-lived access token, \
              renewed from the refresh token.",
    path: "/",
    http_only: true,
    secure: Secure::Always,
    lifetime: Lifetime::Session,
    appears: Appears::SignedInPages,
};

/// The rotating refresh token, sent only to `/auth`.
pub const REFRESH: OwnCookie = OwnCookie {
    name: "sb-refresh-token",
    purpose: "Renews the access token; each one works once and is replaced (rotating refresh). \
              Sent only to the sign-in service.",
    path: "/auth",
    http_only: true,
    secure: Secure::Always,
    lifetime: Lifetime::SessionOrRemembered,
    appears: Appears::SignedInPages,
};

/// The CSRF token: `__Host-`, so Secure, Path=/ and no Domain, and no sibling host can plant
/// or overwrite it.
pub const CSRF: OwnCookie = OwnCookie {
    name: "__Host-csrf",
    purpose: "Prevents cross-site request forgery on forms and signed-in requests. Set only by \
              pages that hold a form.",
    path: "/",
    http_only: true,
    secure: Secure::Always,
    lifetime: Lifetime::Session,
    appears: Appears::PublicPages,
};

/// The visitor's consent choice, read by consent.js (so not HttpOnly).
pub const CONSENT: OwnCookie = OwnCookie {
    name: "lm_consent",
    purpose: "Remembers your cookie choices (which categories you accepted, when, and the \
              consent ID that proves it), so the banner does not ask again on every page.",
    path: "/",
    http_only: false,
    secure: Secure::OnHttps,
    lifetime: Lifetime::Seconds(CONSENT_MAX_AGE_DAYS * 24 * 3600),
    appears: Appears::PublicPages,
};

/// Every one of the instance's own cookies, in the policy's order.
pub static OWN: [&OwnCookie; 4] = [&ACCESS, &REFRESH, &CSRF, &CONSENT];

/// A `Set-Cookie` header, made only from a registry entry.
#[derive(Debug, Clone)]
pub struct SetCookie(Cookie<'static>);

impl SetCookie {
    /// `entry` with `value`, its lifetime as the entry says (a session cookie for
    /// [`Lifetime::SessionOrRemembered`] unless [`SetCookie::remembered_for`] is called).
    /// `https`: whether the instance is served over https, for [`Secure::OnHttps`].
    pub fn new(entry: &'static OwnCookie, value: String, https: bool) -> SetCookie {
        let mut c = Cookie::build((entry.name, value))
            .path(entry.path)
            .http_only(entry.http_only)
            .secure(match entry.secure {
                Secure::Always => true,
                Secure::OnHttps => https,
            })
            .same_site(SameSite::Lax)
            .build();
        if let Lifetime::Seconds(s) = entry.lifetime {
            c.set_max_age(time::Duration::seconds(s));
        }
        SetCookie(c)
    }

    /// Keeps a [`Lifetime::SessionOrRemembered`] cookie for `ms` milliseconds; any other
    /// cookie keeps the lifetime its entry states.
    pub fn remembered_for(mut self, entry: &'static OwnCookie, ms: i64) -> SetCookie {
        if entry.lifetime == Lifetime::SessionOrRemembered && entry.name == self.0.name() {
            self.0.set_max_age(time::Duration::milliseconds(ms));
        }
        self
    }

    /// Deletes `entry`'s cookie (same name, path and attributes, expired).
    pub fn removal(entry: &'static OwnCookie) -> SetCookie {
        let mut c = SetCookie::new(entry, String::new(), true);
        c.0.make_removal();
        c
    }

    /// Deletes a first-party cookie a registry entry lists (a withdrawn category's, which
    /// only the server can reach when it is HttpOnly); `None` for a prefix, a storage key or
    /// a third party's cookie, which the server cannot name or reach.
    pub fn removal_of(entry: &Entry) -> Option<SetCookie> {
        let reachable = entry.storage == super::Storage::Cookie
            && entry.party == super::Party::First
            && !entry.name.ends_with('*');
        reachable.then(|| {
            let mut c = Cookie::build((entry.name.clone(), String::new()))
                .path("/")
                .build();
            c.make_removal();
            SetCookie(c)
        })
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub fn value(&self) -> &str {
        self.0.value()
    }

    /// Adds the header to `headers` (a value that cannot be a header is left out: the values
    /// are tokens and signed choices, never visitors' text).
    pub fn append_to(&self, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.0.to_string()) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

impl std::fmt::Display for SetCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cookie_carries_its_entrys_attributes() {
        let a = SetCookie::new(&ACCESS, "t".into(), false).to_string();
        assert_eq!(
            a,
            "sb-access-token=t; HttpOnly; SameSite=Lax; Secure; Path=/"
        );
        let r = SetCookie::new(&REFRESH, "r".into(), false).to_string();
        assert!(r.contains("Path=/auth") && !r.contains("Max-Age"), "{r}");
        let kept = SetCookie::new(&REFRESH, "r".into(), false)
            .remembered_for(&REFRESH, 30 * 24 * 3600 * 1000)
            .to_string();
        assert!(kept.contains("Max-Age=2592000"), "{kept}");
        // Only the refresh token can be remembered.
        let csrf = SetCookie::new(&CSRF, "c".into(), false).remembered_for(&CSRF, 1000);
        assert!(!csrf.to_string().contains("Max-Age"), "{csrf}");
        let consent = SetCookie::new(&CONSENT, "v".into(), false).to_string();
        assert!(!consent.contains("Secure") && !consent.contains("HttpOnly"));
        assert!(consent.contains("Max-Age=15724800"), "{consent}");
        let secure = SetCookie::new(&CONSENT, "v".into(), true).to_string();
        assert!(secure.contains("Secure"), "{secure}");
        let gone = SetCookie::removal(&ACCESS).to_string();
        assert!(
            gone.starts_with("sb-access-token=;") && gone.contains("Max-Age=0"),
            "{gone}"
        );
    }

    #[test]
    fn only_reachable_registry_cookies_can_be_removed() {
        let ga = crate::registry::TagKind::Ga4.cookies();
        let plain = ga.iter().find(|e| e.name == "_ga").unwrap();
        let gone = SetCookie::removal_of(plain).unwrap().to_string();
        assert!(
            gone.starts_with("_ga=;") && gone.contains("Max-Age=0"),
            "{gone}"
        );
        let prefix = ga.iter().find(|e| e.name.ends_with('*')).unwrap();
        assert!(SetCookie::removal_of(prefix).is_none());
        let linkedin = crate::registry::TagKind::LinkedIn.cookies();
        let third = linkedin
            .iter()
            .find(|e| e.party == crate::registry::Party::Third)
            .unwrap();
        assert!(SetCookie::removal_of(third).is_none());
    }

    /// No module but this one writes a `Set-Cookie` header or builds a cookie: every
    /// cookie goes through [`SetCookie`], so through the registry.
    #[test]
    fn no_other_module_sets_a_cookie_by_hand() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let (mut offenders, mut scanned) = (Vec::new(), 0);
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|x| x != "rs")
                    || path.ends_with("registry/cookie.rs")
                {
                    continue;
                }
                scanned += 1;
                let text = std::fs::read_to_string(&path)
                    .unwrap()
                    .replace("SetCookie", "");
                for needle in ["SET_COOKIE", "Set-Cookie:", "Cookie::build", "Cookie::new("] {
                    if text.contains(needle) {
                        offenders.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
        assert!(scanned > 100, "only {scanned} files read");
        assert!(
            offenders.is_empty(),
            "set cookies through registry::cookie::SetCookie: {offenders:?}"
        );
    }
}
