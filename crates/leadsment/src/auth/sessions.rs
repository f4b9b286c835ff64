//! Opening a sign-in session: the service that the sign-in, setup and invitation pages share.

use crate::registry::SetCookie;
use axum::http::{HeaderMap, header};

use super::store::NewSession;
use super::tokens::{AccessClaims, digest, random_token};
use super::{cookies, session_ttl};
use crate::auth::AuthState;
use crate::auth::users::User;
use crate::store::now_ms;
use crate::web::error::AppError;

pub(crate) fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect()
}

pub(crate) fn access_cookie(
    state: &AuthState,
    user: &User,
    session: super::model::SessionId,
) -> SetCookie {
    let ttl = state.settings.access_token_ttl.as_millis() as i64;
    let token = state.keys.sign_access(&AccessClaims {
        sid: session.0,
        uid: user.id.0,
        exp: now_ms() + ttl,
    });
    cookies::access(token)
}

/// Opens a session for `user` and returns its two cookies.
pub async fn open_session(
    state: &AuthState,
    user: &User,
    persistent: bool,
    headers: &HeaderMap,
) -> Result<[SetCookie; 2], AppError> {
    let refresh = random_token();
    let session = crate::auth::store::create_session(
        &state.db,
        &NewSession {
            user_id: user.id,
            persistent,
            user_agent: user_agent(headers),
            refresh_hash: digest(&refresh),
            expires_at: {
                let now = now_ms();
                session_ttl(&state.settings).expiry(persistent, now, now)
            },
        },
    )
    .await?;
    Ok([
        access_cookie(state, user, session.id),
        cookies::refresh(refresh, persistent),
    ])
}
