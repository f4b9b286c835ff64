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
    /// The navigation entry to highlight: `overview`, `members`, `keys`, `exclusions`,
    /// `account`, `admin`, `admin-tags`, `admin-consents`, `admin-legal`.
    pub section: &'static str,
    /// A one-line message at the top of the page (after an action).
    pub notice: Option<String>,
    /// The current workspace's sites, for the navigation.
    pub sites: Vec<NavSite>,
    /// The site the page belongs to, if any.
    pub site: Option<i64>,
    /// Whether the user may change the current workspace's settings (admin or owner).
    pub can_admin: bool,
    /// Saved views of the current site, listed under it (the dashboard's pages fill them in).
    pub views: Vec<NavView>,
}

/// A saved view of the current site, in the navigation.
#[derive(Debug, Clone)]
pub struct NavView {
    pub id: i64,
    pub name: String,
    pub href: String,
    /// Whether the page shows this view.
    pub current: bool,
}

/// A site in the navigation.
#[derive(Debug, Clone)]
pub struct NavSite {
    pub id: i64,
    pub domain: String,
}

impl Chrome {
    pub async fn load(
        state: &AccountsState,
        current: &CurrentUser,
        csrf: &str,
        workspace: Option<i64>,
        section: &'static str,
    ) -> Result<Chrome, AppError> {
        let memberships =
            crate::accounts::platform::memberships_of(&state.db, &current.user).await?;
        let can_admin = memberships.iter().any(|m| {
            Some(m.workspace.id.0) == workspace
                && m.role.allows(crate::accounts::roles::Role::Admin)
        });
        let workspaces = memberships
            .into_iter()
            .map(|m| NavWorkspace {
                id: m.workspace.id.0,
                name: m.workspace.name,
                role: m.role.label(),
            })
            .collect();
        let sites = match workspace {
            Some(ws) => crate::accounts::store::workspace_sites(&state.db, super::WorkspaceId(ws))
                .await?
                .into_iter()
                .map(|s| NavSite {
                    id: s.id.0,
                    domain: s.domain.to_string(),
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(Chrome {
            csrf: csrf.to_owned(),
            user_name: current.user.name.clone(),
            user_email: current.user.email.clone(),
            is_platform_admin: current.user.is_platform_admin,
            workspaces,
            current: workspace,
            section,
            notice: None,
            sites,
            site: None,
            can_admin,
            views: Vec::new(),
        })
    }

    pub fn with_notice(mut self, notice: Option<&'static str>) -> Chrome {
        self.notice = notice.map(str::to_owned);
        self
    }

    /// Marks the site the page belongs to in the navigation.
    pub fn with_site(mut self, site: i64) -> Chrome {
        self.site = Some(site);
        self
    }

    pub fn is_site(&self, id: &i64) -> bool {
        self.site == Some(*id)
    }

    /// Whether the page is one of the site's saved views (rather than its whole feed).
    pub fn on_view(&self) -> bool {
        self.views.iter().any(|v| v.current)
    }

    pub fn is_current(&self, id: &i64) -> bool {
        self.current == Some(*id)
    }
}
