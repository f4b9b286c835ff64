//! Workspaces (a customer company) and the sites they track. Users, memberships and API keys
//! join them when sign-in arrives.

pub mod sites;

use serde::Serialize;

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

/// Sites created from the command line, before accounts exist, belong to this workspace.
pub const DEFAULT_WORKSPACE_NAME: &str = "Default";
