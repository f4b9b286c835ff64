//! Keeping a session alive and ending it: the refresh redirect and API, sign-out.

use crate::registry::SetCookie;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{NextQuery, redirect_with, signed_out, with_next};
use crate::auth::model::RefreshOutcome;
use crate::auth::sessions::access_cookie;
use crate::auth::store::PresentedRefresh;
use crate::auth::tokens::digest;
use crate::auth::{Access, AuthState};
use crate::auth::{REFRESH_COOKIE, REFRESH_GRACE_MS, cookies, safe_next, session_ttl};
use crate::web::Route;
use crate::web::error::AppError;

pub(super) fn routes() -> Vec<Route<AuthState, Access>> {
    vec![
        Route::post("/auth/sign-out", Access::Public, sign_out),
        Route::get("/auth/refresh", Access::Public, refresh_page),
        Route::post("/auth/refresh", Access::Public, refresh_api),
    ]
}

enum Refreshed {
    Ok(Box<[SetCookie; 2]>),
    Failed,
}

async fn rotate(state: &AuthState, headers: &HeaderMap) -> Result<Refreshed, AppError> {
    let Some(token) = cookies::get(headers, REFRESH_COOKIE) else {
        return Ok(Refreshed::Failed);
    };
    let child = state.keys.refresh_child(&token);
    let outcome = crate::auth::store::refresh(
        &state.db,
        &PresentedRefresh {
            hash: digest(&token),
            child_hash: digest(&child),
            grace_ms: REFRESH_GRACE_MS,
            ttl: session_ttl(&state.settings),
        },
    )
    .await?;
    match outcome {
        RefreshOutcome::Rotated { session, user } | RefreshOutcome::Replayed { session, user } => {
            Ok(Refreshed::Ok(Box::new([
                access_cookie(state, &user, session.id),
                cookies::refresh(child, session.persistent),
            ])))
        }
        RefreshOutcome::ReuseDetected { session_id } => {
            tracing::warn!(
                session = session_id.0,
                "a refresh token was used twice; its session has been revoked"
            );
            Ok(Refreshed::Failed)
        }
        RefreshOutcome::Invalid => Ok(Refreshed::Failed),
    }
}

/// `GET /auth/refresh?next=/path`: pages whose access token expired come here (the refresh
/// cookie is sent only to `/auth`) and go back, or on to sign-in.
async fn refresh_page(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let next = safe_next(q.next.as_deref());
    Ok(match rotate(&state, &headers).await? {
        Refreshed::Ok(c) => redirect_with(&next, &*c),
        Refreshed::Failed => signed_out(&with_next("/auth/sign-in", &next, None)),
    })
}

/// `POST /auth/refresh`, for scripts: 204 with new cookies, or 401.
async fn refresh_api(
    State(state): State<AuthState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    Ok(match rotate(&state, &headers).await? {
        Refreshed::Ok(c) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            for cookie in c.iter() {
                cookies::set(&mut r, cookie);
            }
            r
        }
        Refreshed::Failed => {
            let mut r =
                AppError::unauthorized("The session has ended; sign in again.").into_response();
            for cookie in &cookies::cleared() {
                cookies::set(&mut r, cookie);
            }
            r
        }
    })
}

/// `POST /auth/sign-out`: ends this session (found by the access token, even an expired one,
/// or by the refresh token).
async fn sign_out(
    State(state): State<AuthState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let by_access = cookies::get(&headers, crate::auth::ACCESS_COOKIE)
        .and_then(|t| state.keys.verify_access(&t))
        .map(|c| c.session());
    let by_refresh = match cookies::get(&headers, REFRESH_COOKIE) {
        Some(t) => crate::auth::store::session_of_refresh(&state.db, &digest(&t)).await?,
        None => None,
    };
    for sid in [by_access, by_refresh].into_iter().flatten() {
        if let Some((session, _)) = crate::auth::store::active_session(&state.db, sid).await? {
            crate::auth::store::revoke_session(&state.db, session.user_id, sid).await?;
        }
    }
    Ok(signed_out("/auth/sign-in?signed_out=1"))
}
