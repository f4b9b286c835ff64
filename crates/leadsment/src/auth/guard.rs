//! Enforces each route's [`Access`]: one middleware per route, built from the route table, so
//! a route cannot forget its check. It also carries the CSRF rule for every request
//! authenticated by cookie: an unsafe method must come from our own pages (Sec-Fetch-Site,
//! Origin) and echo the signed `__Host-csrf` token, or it gets 403 and changes nothing.

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::{CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, cookies, tokens};
use crate::accounts::Membership;
use crate::accounts::api_keys::{ApiKey, KEY_PREFIX, Scope};
use crate::auth::users::User;
use crate::accounts::roles::Role;
use crate::auth::model::Session;
use crate::web::error::AppError;
use crate::web::{Access, AppState};

/// The signed-in user of a request (routes with `Access::Session`, `Member`, `PlatformAdmin`).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub session: Session,
}

/// The member of the workspace named in the path (routes with `Access::Member`).
#[derive(Debug, Clone)]
pub struct CurrentMember {
    pub user: User,
    pub membership: Membership,
}

/// The API key of a request (routes with `Access::ApiKey`).
#[derive(Debug, Clone)]
pub struct CurrentKey {
    pub key: ApiKey,
}

/// The CSRF token of this browser, for forms to echo.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

pub async fn enforce(state: AppState, access: Access, req: Request, next: Next) -> Response {
    match access {
        // No ambient credentials: the tracker's beacon and the operator's scraper.
        Access::Beacon | Access::Operator => return next.run(req).await,
        Access::ApiKey(scope) => return with_api_key(state, scope, req, next).await,
        Access::Public | Access::Session | Access::PlatformAdmin | Access::Member(_) => {}
    }
    let (mut parts, body) = req.into_parts();
    let keys = &state.auth.keys;
    let cookie_token =
        cookies::get(&parts.headers, CSRF_COOKIE).filter(|t| keys.csrf_is_genuine(t));
    let body = if is_safe(&parts.method) {
        body
    } else {
        match check_csrf(&state, &parts, body, cookie_token.as_deref()).await {
            Ok(body) => body,
            Err(e) => return e.into_response(),
        }
    };
    let (csrf, fresh) = match cookie_token {
        Some(t) => (t, false),
        None => (keys.new_csrf(), true),
    };
    parts.extensions.insert(Csrf(csrf.clone()));

    if access != Access::Public {
        let current = match authenticate(&state, &parts.headers).await {
            Ok(Some(current)) => current,
            Ok(None) => return unauthenticated(&parts),
            Err(e) => return e.into_response(),
        };
        match access {
            Access::PlatformAdmin if !current.user.is_platform_admin => {
                return AppError::not_found("There is nothing at this address.").into_response();
            }
            Access::Member(needed) => {
                let membership = match member_of_path(&state, &mut parts, &current.user).await {
                    Ok(m) => m,
                    Err(e) => return e.into_response(),
                };
                if !membership.role.allows(needed) {
                    return forbidden_role(membership.role, needed).into_response();
                }
                parts.extensions.insert(CurrentMember {
                    user: current.user.clone(),
                    membership,
                });
            }
            _ => {}
        }
        parts.extensions.insert(current);
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // Only pages (which may hold a form) get the cookie: scripts, assets, JSON and the
    // tracker set none.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if fresh && is_page {
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
    state: &AppState,
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
    let bytes = axum::body::to_bytes(body, state.config.web.body_limit)
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
fn origin_is_ours(state: &AppState, parts: &Parts, origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let public = &state.config.web.public_url;
    if url.origin() == public.origin() {
        return true;
    }
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(&authority))
}

/// The user of a valid, unexpired access token whose session is still active. Revoking a
/// session therefore takes effect on the next request.
pub async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<CurrentUser>, AppError> {
    let Some(token) = cookies::get(headers, super::ACCESS_COOKIE) else {
        return Ok(None);
    };
    let Some(claims) = state.auth.keys.verify_access(&token) else {
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

fn forbidden_role(have: Role, needed: Role) -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "Your role in this workspace ({}) does not allow this; it needs {}. Ask an owner or admin.",
            have.label(),
            needed.label()
        ),
    )
}

fn no_such_workspace() -> AppError {
    AppError::not_found("There is no such workspace, or you are not a member of it.")
}

async fn workspace_param(state: &AppState, parts: &mut Parts) -> Result<i64, AppError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| no_such_workspace())?;
    params
        .iter()
        .find(|(k, _)| *k == "workspace_id")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .ok_or_else(no_such_workspace)
}

async fn member_of_path(
    state: &AppState,
    parts: &mut Parts,
    user: &User,
) -> Result<Membership, AppError> {
    let ws = workspace_param(state, parts).await?;
    crate::accounts::store::membership(&state.db, crate::accounts::WorkspaceId(ws), user.id)
        .await?
        .ok_or_else(no_such_workspace)
}

async fn with_api_key(state: AppState, scope: Scope, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| k.starts_with(KEY_PREFIX));
    let unauthorized = || {
        let mut r = AppError::unauthorized(
            "Send a valid API key as `Authorization: Bearer lm_…`; create one on the workspace's API keys page.",
        )
        .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    let Some(given) = given else {
        return unauthorized();
    };
    let key = match crate::accounts::store::use_api_key(&state.db, &tokens::digest(given)).await {
        Ok(Some(key)) => key,
        Ok(None) => return unauthorized(),
        Err(e) => return AppError::from(e).into_response(),
    };
    match workspace_param(&state, &mut parts).await {
        Ok(ws) if ws == key.workspace_id.0 => {}
        Ok(_) => return no_such_workspace().into_response(),
        Err(e) => return e.into_response(),
    }
    if !key.scope.allows(scope) {
        return AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This API key may only read; use a key with the write scope.",
        )
        .into_response();
    }
    parts.extensions.insert(CurrentKey { key });
    next.run(Request::from_parts(parts, body)).await
}
