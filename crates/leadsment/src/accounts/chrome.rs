//! The frame of the signed-in application: navigation, the workspace switcher, the account
//! and the sign-out form.

use super::AccountsState;
use crate::auth::CurrentUser;
use crate::web::error::AppError;

/// One entry of the workspace switcher.
#[derive(Debug, Clone)]
pub struct NavWorkspace {
    pub id: i64,
    pub name: String,
    /// The user's role there, as pages show it.
    pub role: &'static str,
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
        state: &AccountsState,
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
                role: m.role.label(),
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
