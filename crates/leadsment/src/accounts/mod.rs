//! Workspaces (a customer company), the people in them and their roles, invitations, API
//! keys and the sites they track.

pub mod api_keys;
pub mod chrome;
pub mod context;
pub mod errors;
pub mod guard;
pub mod invitations;
pub mod members;
pub mod ownership;
pub mod pages;
pub mod parts;
pub mod platform;
pub mod probe;
pub mod roles;
pub mod sites;
pub mod store;

use serde::Serialize;

use crate::auth::AuthState;

pub use self::guard::{Access, CurrentKey, CurrentMember};

use self::roles::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct WorkspaceId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A workspace seen by one of its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub workspace: Workspace,
    pub role: Role,
}

/// A member of a workspace, for the members page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user: crate::auth::users::User,
    pub role: Role,
    pub since: i64,
}

/// Sites created from the command line, before accounts exist, belong to this workspace.
pub const DEFAULT_WORKSPACE_NAME: &str = "Default";

/// The name the platform workspace (the instance's own site) is created with.
pub const PLATFORM_WORKSPACE_NAME: &str = "Platform";

/// The state of the accounts pages: sign-in's (the database, the settings, the keys and the
/// mailer), which every account page needs too, and the parts other capabilities add to a
/// site's pages. Cheap to clone.
#[derive(Clone)]
pub struct AccountsState {
    pub auth: AuthState,
    /// What other capabilities add to a site's pages (saved views, settings sections).
    pub parts: std::sync::Arc<dyn parts::SiteParts>,
    /// How ownership checks reach the internet ([`ownership::Probe`]).
    pub probe: std::sync::Arc<dyn ownership::Probe>,
    /// The ownership checks each workspace may still ask for ([`ownership::CHECKS_PER_HOUR`]).
    pub ownership_checks: std::sync::Arc<crate::auth::throttle::KeyLimiter>,
}

impl std::ops::Deref for AccountsState {
    type Target = AuthState;
    fn deref(&self) -> &AuthState {
        &self.auth
    }
}

/// The workspace a site added from the command line goes to: the one `given` names (its id or
/// its name); without a name, the only workspace there is (the first administrator's, after
/// set-up), or the default one while there is none. Several workspaces and no name is an
/// error that lists them, so a site never lands where nobody looks. The platform workspace
/// counts only when named.
pub async fn workspace_for_new_site(
    db: &crate::store::Db,
    given: Option<&str>,
) -> anyhow::Result<Workspace> {
    let all = store::all_workspaces(db).await?;
    let listed = || {
        all.iter()
            .map(|w| format!("{} ({})", w.id.0, w.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(given) = given.map(str::trim) else {
        let platform = store::platform_workspace(db).await?.map(|w| w.id);
        let customers: Vec<&Workspace> = all.iter().filter(|w| Some(w.id) != platform).collect();
        return match customers.as_slice() {
            [] => Ok(store::default_workspace(db).await?),
            [only] => Ok((*only).clone()),
            _ => anyhow::bail!(
                "there are {} workspaces; choose one with --workspace ID or NAME: {}",
                customers.len(),
                listed()
            ),
        };
    };
    let by_id = given.parse::<i64>().ok();
    let matching: Vec<&Workspace> = all
        .iter()
        .filter(|w| Some(w.id.0) == by_id || w.name == given)
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => anyhow::bail!(
            "there is no workspace `{given}`; the workspaces are: {}",
            listed()
        ),
        _ => anyhow::bail!(
            "several workspaces are called `{given}`; give its id instead: {}",
            listed()
        ),
    }
}
