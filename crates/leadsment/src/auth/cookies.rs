//! The three cookies of sign-in, exactly as the cookie policy names them, each built from
//! its registry entry ([`crate::registry::cookie`]): HttpOnly, Secure and SameSite=Lax.

use axum::http::HeaderMap;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;

use super::PERSISTENT_SESSION_MS;
use crate::registry::SetCookie;
use crate::registry::cookie::{ACCESS, CSRF, REFRESH};

/// A browser-session cookie: the token inside expires within 15 minutes anyway.
pub fn access(token: String) -> SetCookie {
    SetCookie::new(&ACCESS, token, true)
}

/// Sent only to `/auth`, where refresh and sign-out live. A browser-session cookie unless
/// "keep me signed in" was ticked.
pub fn refresh(token: String, persistent: bool) -> SetCookie {
    let c = SetCookie::new(&REFRESH, token, true);
    match persistent {
        true => c.remembered_for(&REFRESH, PERSISTENT_SESSION_MS),
        false => c,
    }
}

/// `__Host-`: Secure, Path=/, no Domain, so no sibling host can plant or overwrite it.
pub fn csrf(token: String) -> SetCookie {
    SetCookie::new(&CSRF, token, true)
}

/// Cookies that remove the session cookies.
pub fn cleared() -> [SetCookie; 2] {
    [SetCookie::removal(&ACCESS), SetCookie::removal(&REFRESH)]
}

pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn set(response: &mut Response, cookie: &SetCookie) {
    cookie.append_to(response.headers_mut());
}
