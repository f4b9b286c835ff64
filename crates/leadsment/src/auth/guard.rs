//! Enforces each route's access level: one middleware per route, built from the route table,
//! so a route cannot forget its check. It also carries the CSRF rule for every request
//! authenticated by cookie: an unsafe method must come from our own pages (Sec-Fetch-Site,
//! Origin) and echo the signed `__Host-csrf` token, or it gets 403 and changes nothing.
//!
//! The levels here need nothing but sign-in; `accounts` adds the workspace ones (a member's
//! role, an API key's scope) on top of [`admit`] and [`proceed`].

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::users::User;
use super::{AuthState, CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, cookies, tokens};
use crate::auth::model::Session;
use crate::web::error::AppError;

/// Who may call a route, as far as sign-in can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: public pages, sign-in. Requests with unsafe methods must pass the CSRF check.
    Public,
    /// Anyone, from any site, without credentials (the tracker's `POST /api/event`): no CSRF
    /// check, and cookies are ignored.
    Beacon,
    /// The operator's monitoring (metrics): a bearer token or a separate address, checked by
    /// the handler.
    Operator,
    /// Any signed-in user (by the session cookie).
    Session,
    /// A signed-in platform administrator (the operator's staff); others get 404.
    PlatformAdmin,
}

/// The signed-in user of a request (routes with `Access::Session`, `PlatformAdmin`, and the
/// workspace levels of `accounts`).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub session: Session,
}

/// The CSRF token of this browser, for forms to echo.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

/// A page's request, signed in or not: the state of its capability and the CSRF token for
/// its forms (left by the guard; a route without it gets a 500, never a form without a token).
pub struct PageCtx<S> {
    pub state: S,
    pub csrf: String,
}

impl<S: Clone + Send + Sync> FromRequestParts<S> for PageCtx<S> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PageCtx<S>, AppError> {
        let Csrf(csrf) = parts
            .extensions
            .get::<Csrf>()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("a page without its CSRF check")))?;
        Ok(PageCtx {
            state: state.clone(),
            csrf: csrf.clone(),
        })
    }
}

/// A request that passed its check: its parts (with `Csrf` and, when signed in, the
/// `CurrentUser` in its extensions), its body, and whether the CSRF cookie is new.
pub struct Admitted {
    pub parts: Parts,
    pub body: Body,
    /// The CSRF token to set as a cookie, when this browser had none.
    new_csrf: Option<String>,
}

impl Admitted {
    /// The signed-in user, for routes that need one.
    pub fn current(&self) -> Option<&CurrentUser> {
        self.parts.extensions.get::<CurrentUser>()
    }
}

/// The middleware of a route with `access`.
pub async fn enforce(state: AuthState, access: Access, req: Request, next: Next) -> Response {
    if let Access::Beacon | Access::Operator = access {
        // Nothing to check or to add: the tracker's path stays as short as it can be.
        return next.run(req).await;
    }
    match admit(&state, access, req).await {
        Ok(admitted) => proceed(admitted, next).await,
        Err(refused) => refused,
    }
}

/// Checks CSRF and, unless `access` is public, the session; the refusal is the response.
/// (Beacon and operator routes have nothing to check: [`enforce`] passes them straight on.)
pub async fn admit(state: &AuthState, access: Access, req: Request) -> Result<Admitted, Response> {
    let (mut parts, body) = req.into_parts();
    let keys = &state.keys;
    let cookie_token =
        cookies::get(&parts.headers, CSRF_COOKIE).filter(|t| keys.csrf_is_genuine(t));
    let body = if is_safe(&parts.method) {
        body
    } else {
        check_csrf(state, &parts, body, cookie_token.as_deref())
            .await
            .map_err(IntoResponse::into_response)?
    };
    let (csrf, new_csrf) = match cookie_token {
        Some(t) => (t, None),
        None => {
            let t = keys.new_csrf();
            (t.clone(), Some(t))
        }
    };
    parts.extensions.insert(Csrf(csrf));

    if access != Access::Public {
        let current = match authenticate(state, &parts.headers).await {
            Ok(Some(current)) => current,
            Ok(None) => return Err(unauthenticated(&parts)),
            Err(e) => return Err(e.into_response()),
        };
        if access == Access::PlatformAdmin && !current.user.is_platform_admin {
            return Err(AppError::not_found("There is nothing at this address.").into_response());
        }
        parts.extensions.insert(current);
    }
    Ok(Admitted {
        parts,
        body,
        new_csrf,
    })
}

/// Runs the handler; a page (which may hold a form) gets the CSRF cookie if it was new.
pub async fn proceed(admitted: Admitted, next: Next) -> Response {
    let Admitted {
        parts,
        body,
        new_csrf,
    } = admitted;
    let response = next.run(Request::from_parts(parts, body)).await;
    match new_csrf {
        Some(csrf) => with_csrf_cookie_if_used(response, csrf).await,
        None => response,
    }
}

/// The largest page read to look for the token; larger pages get the cookie unread.
const MAX_PAGE_READ: usize = 8 << 20;

/// Sets the CSRF cookie only on a page that holds a form: one whose HTML carries the token
/// (forms echo it in a hidden field). Scripts, assets, JSON and pages without a form (the
/// landing page, the cookie policy) set no cookie at all, as the cookie policy promises.
async fn with_csrf_cookie_if_used(response: Response, csrf: String) -> Response {
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if !is_page {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rendered pages have a known size; a streamed or very large one is not read and gets
    // the cookie, as every page did before.
    let known_small = http_body::Body::size_hint(&body)
        .upper()
        .is_some_and(|n| n <= MAX_PAGE_READ as u64);
    let (holds_form, body) = if known_small {
        match axum::body::to_bytes(body, MAX_PAGE_READ).await {
            Ok(bytes) => {
                let found = bytes.windows(csrf.len()).any(|w| w == csrf.as_bytes());
                (found, Body::from(bytes))
            }
            Err(e) => {
                tracing::warn!(error = %e, "a page's body could not be read");
                (false, Body::empty())
            }
        }
    } else {
        (true, body)
    };
    let mut response = Response::from_parts(parts, body);
    if holds_form {
        cookies::set(&mut response, &cookies::csrf(csrf));
    }
    response
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_error(message: &str) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, "csrf_failed", message)
}

/// Checks where the request came from and that it echoes the token; returns the body (read
/// to find a form's token) for the handler.
async fn check_csrf(
    state: &AuthState,
    parts: &Parts,
    body: Body,
    cookie_token: Option<&str>,
) -> Result<Body, AppError> {
    let h = &parts.headers;
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(csrf_error(
            "This request came from another site, so it was refused. Use the form on Leadsment's own page.",
        ));
    }
    if let Some(origin) = h.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        if !origin_is_ours(state, parts, origin) {
            return Err(csrf_error(
                "This request came from another site, so it was refused. Use the form on Leadsment's own page.",
            ));
        }
    }
    let expired = "This form has expired. Reload the page and try again.";
    let Some(cookie_token) = cookie_token else {
        return Err(csrf_error(expired));
    };
    if let Some(given) = h.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if tokens::same(given, cookie_token) {
            Ok(body)
        } else {
            Err(csrf_error(expired))
        };
    }
    let is_form = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(csrf_error(expired));
    }
    let bytes = axum::body::to_bytes(body, state.web.body_limit)
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is larger than allowed.",
            )
        })?;
    let given = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    match given {
        Some(given) if tokens::same(&given, cookie_token) => Ok(Body::from(bytes)),
        _ => Err(csrf_error(expired)),
    }
}

/// The Origin names this server: its public URL, or the host the request was sent to.
fn origin_is_ours(state: &AuthState, parts: &Parts, origin: &str) -> bool {
    crate::web::security::origin_is_own(&state.web.public_url, &parts.headers, origin)
}

/// The user of a valid, unexpired access token whose session is still active. Revoking a
/// session therefore takes effect on the next request.
pub async fn authenticate(
    state: &AuthState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<CurrentUser>, AppError> {
    let Some(token) = cookies::get(headers, super::ACCESS_COOKIE) else {
        return Ok(None);
    };
    let Some(claims) = state.keys.verify_access(&token) else {
        return Ok(None);
    };
    if claims.exp <= crate::store::now_ms() {
        return Ok(None);
    }
    match crate::auth::store::active_session(&state.db, claims.session()).await? {
        Some((session, user)) if user.id == claims.user() => {
            Ok(Some(CurrentUser { user, session }))
        }
        _ => Ok(None),
    }
}

/// Pages send the browser through `/auth/refresh` (where the refresh cookie is sent) and back;
/// programs get 401.
fn unauthenticated(parts: &Parts) -> Response {
    let html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if html {
        let back = if is_safe(&parts.method) {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/app".to_owned())
        } else {
            // A form sent with an expired token: come back to the page it was on.
            parts
                .headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_owned(),
                })
                .unwrap_or_else(|| "/app".to_owned())
        };
        let next = super::safe_next(Some(&back));
        let target: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &next)
            .finish();
        return Redirect::to(&format!("/auth/refresh?{target}")).into_response();
    }
    AppError::unauthorized(
        "Sign in first. If you were signed in, your session has expired: POST /auth/refresh renews it.",
    )
    .into_response()
}
