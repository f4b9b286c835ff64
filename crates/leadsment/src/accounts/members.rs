//! The rules on who belongs to a workspace: every workspace keeps an owner. Each change
//! first locks the workspaces it may leave without one, so that two changes at once (two
//! owners demoting each other) are checked one after the other, on PostgreSQL too (under
//! READ COMMITTED each would otherwise count the other as an owner still).

use super::WorkspaceId;
use super::errors::AccountError;
use super::roles::Role;
use super::store;
use crate::auth::users::UserId;
use crate::store::{Db, Tx};

/// Changes a member's role; false when the user is not a member. Refused
/// ([`AccountError::LastOwner`]) when it would leave the workspace without an owner.
pub async fn set_role(
    db: &Db,
    workspace: WorkspaceId,
    user: UserId,
    role: Role,
) -> Result<bool, AccountError> {
    let mut tx = db.begin().await?;
    store::lock_workspaces(&mut tx, &[workspace]).await?;
    let changed = store::set_role(&mut tx, workspace, user, role).await?;
    ensure_an_owner(&mut tx, workspace).await?;
    tx.commit().await?;
    Ok(changed)
}

/// Removes a member; false when the user was not one. Refused ([`AccountError::LastOwner`])
/// when it would leave the workspace without an owner.
pub async fn remove_member(
    db: &Db,
    workspace: WorkspaceId,
    user: UserId,
) -> Result<bool, AccountError> {
    let mut tx = db.begin().await?;
    store::lock_workspaces(&mut tx, &[workspace]).await?;
    let removed = store::remove_member(&mut tx, workspace, user).await?;
    ensure_an_owner(&mut tx, workspace).await?;
    tx.commit().await?;
    Ok(removed)
}

/// Deletes the user, their sessions, and the workspaces where they were the only member.
/// Refused ([`AccountError::SoleOwner`]) while they are the only owner of a workspace that has
/// other members.
pub async fn delete_user(db: &Db, user: UserId) -> Result<(), AccountError> {
    let mut tx = db.begin().await?;
    let owned = store::owned_workspaces(&mut tx, user).await?;
    store::lock_workspaces(&mut tx, &owned).await?;
    if let Some(workspace) = store::workspace_only_owned_by(&mut tx, user).await? {
        return Err(AccountError::SoleOwner { workspace });
    }
    store::delete_user_and_lone_workspaces(&mut tx, user).await?;
    tx.commit().await?;
    Ok(())
}

/// Fails (and so rolls the transaction back) when the change left `workspace` without an owner.
async fn ensure_an_owner(tx: &mut Tx, workspace: WorkspaceId) -> Result<(), AccountError> {
    if store::count_owners(tx, workspace).await? == 0 {
        return Err(AccountError::LastOwner);
    }
    Ok(())
}
