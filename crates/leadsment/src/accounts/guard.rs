//! The workspace access levels, on top of sign-in's: a member of the workspace in the path
//! with at least a role, or an API key of that workspace with at least a scope. The route
//! table of the whole application is in these terms, and this guard enforces all of it,
//! handing sign-in's levels to `auth::guard`.

use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api_keys::{ApiKey, KEY_PREFIX, Scope};
use super::roles::Role;
use super::{AccountsState, Membership, WorkspaceId, store};
use crate::auth::guard::{self as auth_guard, CurrentUser};
use crate::auth::tokens;
use crate::auth::users::User;
use crate::web::client_addr::ClientAddr;
use crate::web::error::AppError;

/// Who may call a route: one of sign-in's levels, or a workspace one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Public, beacon, operator, session or platform admin, as `auth::Access` describes them.
    SignIn(auth_guard::Access),
    /// A signed-in member of the workspace in the path (`{workspace_id}`) with at least this
    /// role. Non-members get 404, members with a lesser role 403.
    Member(Role),
    /// An API key of the workspace in the path with at least this scope. No cookies, so no
    /// CSRF check.
    ApiKey(Scope),
}

impl Access {
    pub const PUBLIC: Access = Access::SignIn(auth_guard::Access::Public);
    pub const SESSION: Access = Access::SignIn(auth_guard::Access::Session);
    pub const PLATFORM_ADMIN: Access = Access::SignIn(auth_guard::Access::PlatformAdmin);
}

impl From<auth_guard::Access> for Access {
    fn from(access: auth_guard::Access) -> Access {
        Access::SignIn(access)
    }
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

/// The middleware of a route with `access`.
pub async fn enforce(state: AccountsState, access: Access, req: Request, next: Next) -> Response {
    let needed = match access {
        Access::SignIn(level) => return auth_guard::enforce(state.auth, level, req, next).await,
        Access::ApiKey(scope) => return with_api_key(state, scope, req, next).await,
        Access::Member(needed) => needed,
    };
    let signed_in = auth_guard::Access::Session;
    let mut admitted = match auth_guard::admit(&state.auth, signed_in, req).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let Some(CurrentUser { user, .. }) = admitted.current().cloned() else {
        return AppError::internal(anyhow::anyhow!("a signed-in request without its user"))
            .into_response();
    };
    let membership = match member_of_path(&state, &mut admitted.parts, &user).await {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    if !membership.role.allows(needed) {
        return forbidden_role(membership.role, needed).into_response();
    }
    admitted
        .parts
        .extensions
        .insert(CurrentMember { user, membership });
    auth_guard::proceed(admitted, next).await
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

async fn workspace_param(parts: &mut Parts) -> Result<i64, AppError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| no_such_workspace())?;
    params
        .iter()
        .find(|(k, _)| *k == "workspace_id")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .ok_or_else(no_such_workspace)
}

async fn member_of_path(
    state: &AccountsState,
    parts: &mut Parts,
    user: &User,
) -> Result<Membership, AppError> {
    let ws = workspace_param(parts).await?;
    super::platform::membership_of(&state.db, WorkspaceId(ws), user)
        .await?
        .ok_or_else(no_such_workspace)
}

/// The credentials of an `Authorization: Bearer …` value; the scheme's name is
/// case-insensitive (RFC 9110, 11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest)
}

/// Refused before the key is looked up: the client's address has failed too often.
fn too_many_failures(wait: std::time::Duration) -> Response {
    let ms = crate::auth::throttle::wait_ms(wait);
    AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "Too many requests without a valid API key from your network. Try again in {}.",
            crate::auth::throttle::wait_text(ms)
        ),
    )
    .with_header(
        header::RETRY_AFTER,
        HeaderValue::from(crate::auth::throttle::retry_after_secs(ms)),
    )
    .into_response()
}

async fn with_api_key(state: AccountsState, scope: Scope, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    // Failed keys are counted per client address, and an address past its budget is refused
    // before its key is looked up: guessed keys cannot be tried at full speed.
    let client = match ClientAddr::from_request_parts(&mut parts, &()).await {
        Ok(client) => client,
        Err(refused) => return refused.into_response(),
    };
    let failures = &state.auth.api_key_failures;
    if let Err(wait) = failures.admit(client) {
        return too_many_failures(wait);
    }
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .map(str::trim)
        .filter(|k| k.starts_with(KEY_PREFIX));
    let unauthorized = || {
        if let Err(wait) = failures.failed(client) {
            return too_many_failures(wait);
        }
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
    let key = match store::use_api_key(&state.db, &tokens::digest(given)).await {
        Ok(Some(key)) => key,
        Ok(None) => return unauthorized(),
        Err(e) => return AppError::from(e).into_response(),
    };
    if let Err(wait) = state.auth.api_limiter.check(key.id) {
        let ms = crate::auth::throttle::wait_ms(wait);
        return AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "This API key has made its requests of the minute. Try again in {}.",
                crate::auth::throttle::wait_text(ms)
            ),
        )
        .with_header(
            header::RETRY_AFTER,
            HeaderValue::from(crate::auth::throttle::retry_after_secs(ms)),
        )
        .into_response();
    }
    match workspace_param(&mut parts).await {
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for v in ["Bearer lm_x", "bearer lm_x", "BEARER lm_x", "  Bearer lm_x"] {
            assert_eq!(super::bearer(v), Some("lm_x"), "{v}");
        }
        for v in ["Basic lm_x", "Bearerlm_x", "lm_x", ""] {
            assert_eq!(super::bearer(v), None, "{v}");
        }
    }
}
