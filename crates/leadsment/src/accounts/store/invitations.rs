//! Invitations to a workspace.

use super::parse_role;
use super::workspaces::{add_or_raise_member, workspace};
use crate::accounts::invitations::Invitation;
use crate::accounts::roles::Role;
use crate::accounts::{Workspace, WorkspaceId};
use crate::auth::users::UserId;
use crate::store::{Db, StoreError, now_ms, sql};

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: i64,
    workspace_id: i64,
    email: String,
    role: String,
    invited_by: Option<i64>,
    created_at: i64,
    expires_at: i64,
}

const INVITATION_COLUMNS: &str =
    "id, workspace_id, email, role, invited_by, created_at, expires_at";

impl InvitationRow {
    fn into_invitation(self) -> Result<Invitation, StoreError> {
        Ok(Invitation {
            id: self.id,
            workspace_id: WorkspaceId(self.workspace_id),
            email: self.email,
            role: parse_role(&self.role)?,
            invited_by: self.invited_by.map(UserId),
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// Stores an invitation; a pending one for the same address in the same workspace goes.
pub async fn create_invitation(
    db: &Db,
    workspace: WorkspaceId,
    email: &str,
    role: Role,
    hash: &[u8],
    invited_by: UserId,
    expires_at: i64,
) -> Result<Invitation, StoreError> {
    let mut tx = db.begin().await?;
    tx.execute(
        sql(
            "DELETE FROM invitations WHERE workspace_id = $1 AND email = $2 \
             AND accepted_at IS NULL",
        )
        .bind(workspace.0)
        .bind(email),
    )
    .await?;
    let row: InvitationRow = tx
        .one(
            sql(format!(
                "INSERT INTO invitations (workspace_id, email, role, token_hash, invited_by, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING {INVITATION_COLUMNS}"
            ))
            .bind(workspace.0)
            .bind(email)
            .bind(role.as_str())
            .bind(hash)
            .bind(invited_by.0)
            .bind(now_ms())
            .bind(expires_at),
        )
        .await?;
    tx.commit().await?;
    row.into_invitation()
}

/// The pending invitations of a workspace, newest first.
pub async fn invitations(db: &Db, workspace: WorkspaceId) -> Result<Vec<Invitation>, StoreError> {
    let rows: Vec<InvitationRow> = db
        .all(
            sql(format!(
                "SELECT {INVITATION_COLUMNS} FROM invitations WHERE workspace_id = $1 \
                 AND accepted_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC"
            ))
            .bind(workspace.0)
            .bind(now_ms()),
        )
        .await?;
    rows.into_iter()
        .map(InvitationRow::into_invitation)
        .collect()
}

pub async fn revoke_invitation(
    db: &Db,
    workspace: WorkspaceId,
    id: i64,
) -> Result<bool, StoreError> {
    let n = db
        .write(
            sql(
                "DELETE FROM invitations WHERE workspace_id = $1 AND id = $2 \
                 AND accepted_at IS NULL",
            )
            .bind(workspace.0)
            .bind(id),
        )
        .await?;
    Ok(n > 0)
}

/// A pending invitation and its workspace.
pub async fn invitation_by_token(
    db: &Db,
    hash: &[u8],
) -> Result<Option<(Invitation, Workspace)>, StoreError> {
    let row: Option<InvitationRow> = db
        .optional(
            sql(format!(
                "SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1 \
                 AND accepted_at IS NULL AND expires_at > $2"
            ))
            .bind(hash)
            .bind(now_ms()),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let inv = row.into_invitation()?;
    Ok(workspace(db, inv.workspace_id).await?.map(|w| (inv, w)))
}

/// Uses an invitation: the user joins its workspace with its role (or keeps a higher one).
/// `None` when the invitation is used, expired or unknown.
pub async fn accept_invitation(
    db: &Db,
    hash: &[u8],
    user: UserId,
) -> Result<Option<WorkspaceId>, StoreError> {
    let mut tx = db.begin().await?;
    let inv: Option<(i64, String)> = tx
        .optional(
            sql(
                "UPDATE invitations SET accepted_at = $1 WHERE token_hash = $2 \
                 AND accepted_at IS NULL AND expires_at > $1 RETURNING workspace_id, role",
            )
            .bind(now_ms())
            .bind(hash),
        )
        .await?;
    let Some((workspace_id, role)) = inv else {
        return Ok(None);
    };
    let workspace = WorkspaceId(workspace_id);
    add_or_raise_member(&mut tx, workspace, user, parse_role(&role)?).await?;
    tx.commit().await?;
    Ok(Some(workspace))
}
