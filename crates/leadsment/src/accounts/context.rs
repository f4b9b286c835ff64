//! What a handler of a workspace or signed-in page receives in one extractor, instead of the
//! same four (state, member, user, CSRF token) on every handler. The route's guard (`Access::Member`)
//! has already checked the membership and left its findings in the request; a route without
//! that guard gets a 500 here, never a page built without the check.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::{AccountsState, CurrentMember};
use crate::auth::CurrentUser;
use crate::auth::guard::Csrf;
use crate::web::error::AppError;

/// A workspace page's request: who asks, as which member, and the CSRF token for its forms.
pub struct WorkspaceCtx {
    pub state: AccountsState,
    pub member: CurrentMember,
    pub current: CurrentUser,
    pub csrf: String,
}

impl WorkspaceCtx {
    /// The workspace in the path.
    pub fn workspace(&self) -> &super::Workspace {
        &self.member.membership.workspace
    }
}

/// Any capability whose state holds the accounts' state (`leads`) takes the same context.
impl<S> FromRequestParts<S> for WorkspaceCtx
where
    AccountsState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, AppError> {
        let s = &AccountsState::from_ref(s);
        let member = parts.extensions.get::<CurrentMember>().cloned();
        let member = member.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "a workspace page without its membership check"
            ))
        })?;
        let (state, current, csrf) =
            <SessionCtx as FromRequestParts<AccountsState>>::from_request_parts(parts, s)
                .await?
                .parts();
        Ok(WorkspaceCtx {
            state,
            member,
            current,
            csrf,
        })
    }
}

/// A signed-in page's request (routes with `Access::Session` and up): the state, who asks,
/// and the CSRF token for its forms.
pub struct SessionCtx {
    pub state: AccountsState,
    pub current: CurrentUser,
    pub csrf: String,
}

impl SessionCtx {
    /// The state, the user and the CSRF token, for handlers to take apart.
    pub fn parts(self) -> (AccountsState, CurrentUser, String) {
        (self.state, self.current, self.csrf)
    }
}

/// Any capability whose state holds the accounts' state (the consent tag panel) takes it too.
impl<S> FromRequestParts<S> for SessionCtx
where
    AccountsState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<SessionCtx, AppError> {
        let state = &AccountsState::from_ref(state);
        let missing = || {
            AppError::internal(anyhow::anyhow!(
                "a signed-in page without its session check"
            ))
        };
        let current = parts.extensions.get::<CurrentUser>().ok_or_else(missing)?;
        let Csrf(csrf) = parts.extensions.get::<Csrf>().ok_or_else(missing)?;
        Ok(SessionCtx {
            state: state.clone(),
            current: current.clone(),
            csrf: csrf.clone(),
        })
    }
}
