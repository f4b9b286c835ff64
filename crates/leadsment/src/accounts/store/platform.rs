//! The platform workspace: the instance's own, created at start-up and holding the site of
//! its public pages. Platform administrators open it without being members.

use super::workspaces::{WorkspaceRow, ensure_singleton};
use crate::accounts::{PLATFORM_WORKSPACE_NAME, Workspace, WorkspaceId};
use crate::store::{Db, StoreError, sql};

const SELECT_PLATFORM: &str =
    "SELECT id, name, created_at FROM workspaces WHERE is_platform = TRUE";

/// The platform workspace, once start-up has created it.
pub async fn platform_workspace(db: &Db) -> Result<Option<Workspace>, StoreError> {
    let row: Option<WorkspaceRow> = db.optional(sql(SELECT_PLATFORM)).await?;
    Ok(row.map(Into::into))
}

/// Whether `workspace` is the platform workspace.
pub async fn is_platform_workspace(db: &Db, workspace: WorkspaceId) -> Result<bool, StoreError> {
    let found: Option<i64> = db
        .value_optional(
            sql("SELECT id FROM workspaces WHERE id = $1 AND is_platform = TRUE").bind(workspace.0),
        )
        .await?;
    Ok(found.is_some())
}

/// The platform workspace, created if it does not exist yet (once, however many nodes start
/// at once: see [`ensure_singleton`]).
pub async fn ensure_platform_workspace(db: &Db) -> Result<Workspace, StoreError> {
    ensure_singleton(
        db,
        SELECT_PLATFORM,
        "INSERT INTO workspaces (name, is_platform, created_at) \
         VALUES ($1, TRUE, $2) ON CONFLICT DO NOTHING RETURNING id, name, created_at",
        PLATFORM_WORKSPACE_NAME,
    )
    .await
}
