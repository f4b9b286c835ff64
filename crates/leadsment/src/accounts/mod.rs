//! Workspaces (a customer company), the people in them and their roles, invitations, API
//! keys and the sites they track.

pub mod api_keys;
pub mod chrome;
pub mod context;
pub mod errors;
pub mod guard;
pub mod invitations;
pub mod members;
pub mod pages;
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

/// The state of the accounts pages: sign-in's (the database, the settings, the keys and the
/// mailer), which every account page needs too. Cheap to clone.
#[derive(Clone)]
pub struct AccountsState {
    pub auth: AuthState,
}

impl std::ops::Deref for AccountsState {
    type Target = AuthState;
    fn deref(&self) -> &AuthState {
        &self.auth
    }
}
