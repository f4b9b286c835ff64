//! Rendering server-side pages: a template to an HTML response with a status, the errors a
//! form shows next to its fields, and the frame of the signed-in application (navigation,
//! account, sign-out form).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::AppError;
use crate::auth::CurrentUser;

/// Renders `page` with `status`. Pages for form errors keep their status (400, 401, 409…)
/// and are passed through the error negotiation as they are.
pub fn render(status: StatusCode, page: &impl Template) -> Result<Response, AppError> {
    let html = page.render().map_err(AppError::internal)?;
    Ok((status, Html(html)).into_response())
}

pub fn ok(page: &impl Template) -> Result<Response, AppError> {
    render(StatusCode::OK, page)
}

/// What was wrong with a form, field by field; shown next to each field.
#[derive(Debug, Default, Clone)]
pub struct Errors(Vec<(&'static str, String)>);

impl Errors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if !self.has(field) {
            self.0.push((field, message.into()));
        }
    }

    pub fn get(&self, field: impl AsRef<str>) -> Option<&str> {
        let field = field.as_ref();
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn has(&self, field: impl AsRef<str>) -> bool {
        self.get(field).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes `result`'s value, or records its error under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &'static str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }
}

/// One entry of the workspace switcher.
#[derive(Debug, Clone)]
pub struct NavWorkspace {
    pub id: i64,
    pub name: String,
}

/// The frame around every signed-in page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub csrf: String,
    pub user_name: String,
    pub user_email: String,
    pub is_platform_admin: bool,
    pub workspaces: Vec<NavWorkspace>,
    /// The workspace the page belongs to, if any.
    pub current: Option<i64>,
    /// The navigation entry to highlight: `overview`, `members`, `keys`, `account`, `admin`.
    pub section: &'static str,
    /// A one-line message at the top of the page (after an action).
    pub notice: Option<String>,
}

impl Chrome {
    pub async fn load(
        state: &AppState,
        current: &CurrentUser,
        csrf: &str,
        workspace: Option<i64>,
        section: &'static str,
    ) -> Result<Chrome, AppError> {
        let workspaces = crate::accounts::store::memberships(&state.db, current.user.id)
            .await?
            .into_iter()
            .map(|m| NavWorkspace {
                id: m.workspace.id.0,
                name: m.workspace.name,
            })
            .collect();
        Ok(Chrome {
            csrf: csrf.to_owned(),
            user_name: current.user.name.clone(),
            user_email: current.user.email.clone(),
            is_platform_admin: current.user.is_platform_admin,
            workspaces,
            current: workspace,
            section,
            notice: None,
        })
    }

    pub fn with_notice(mut self, notice: Option<&'static str>) -> Chrome {
        self.notice = notice.map(str::to_owned);
        self
    }

    pub fn is_current(&self, id: &i64) -> bool {
        self.current == Some(*id)
    }
}

/// Milliseconds since the epoch as a short date and time (UTC).
pub fn when(ms: &i64) -> String {
    jiff::Timestamp::from_millisecond(*ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub fn when_opt(ms: &Option<i64>) -> String {
    ms.as_ref().map(when).unwrap_or_else(|| "never".to_owned())
}
