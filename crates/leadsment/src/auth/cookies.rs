//! The three cookies of sign-in, exactly as the cookie policy names them. All are HttpOnly,
//! Secure and SameSite=Lax.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::{ACCESS_COOKIE, CSRF_COOKIE, PERSISTENT_SESSION_MS, REFRESH_COOKIE};

fn base(name: &'static str, value: String, path: &'static str) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .build()
}

/// A browser-session cookie: the token inside expires within 15 minutes anyway.
pub fn access(token: String) -> Cookie<'static> {
    base(ACCESS_COOKIE, token, "/")
}

/// Sent only to `/auth`, where refresh and sign-out live. A browser-session cookie unless
/// "keep me signed in" was ticked.
pub fn refresh(token: String, persistent: bool) -> Cookie<'static> {
    let mut c = base(REFRESH_COOKIE, token, "/auth");
    if persistent {
        c.set_max_age(time::Duration::milliseconds(PERSISTENT_SESSION_MS));
    }
    c
}

/// `__Host-`: Secure, Path=/, no Domain, so no sibling host can plant or overwrite it.
pub fn csrf(token: String) -> Cookie<'static> {
    base(CSRF_COOKIE, token, "/")
}

/// Cookies that remove the session cookies.
pub fn cleared() -> [Cookie<'static>; 2] {
    let mut a = base(ACCESS_COOKIE, String::new(), "/");
    a.make_removal();
    let mut r = base(REFRESH_COOKIE, String::new(), "/auth");
    r.make_removal();
    [a, r]
}

pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn set(response: &mut Response, cookie: &Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}
