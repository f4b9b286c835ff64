//! Deleting a user with the workspaces only they belonged to.

use crate::auth::users::UserId;
use crate::store::{StoreError, Tx, sql};

/// A workspace where the user is the only owner and other members remain, if any.
pub async fn workspace_only_owned_by(
    tx: &mut Tx,
    id: UserId,
) -> Result<Option<String>, StoreError> {
    Ok(tx
        .value_optional(
            sql(
                "SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
                 WHERE m.user_id = $1 AND m.role = 'owner' \
                 AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.workspace_id = m.workspace_id \
                                 AND o.user_id <> $1 AND o.role = 'owner') \
                 AND EXISTS (SELECT 1 FROM memberships o WHERE o.workspace_id = m.workspace_id \
                             AND o.user_id <> $1) \
                 LIMIT 1",
            )
            .bind(id.0),
        )
        .await?)
}

/// Deletes the user, their sessions, and the workspaces (but the default one) where they
/// were the only member.
pub async fn delete_user_and_lone_workspaces(tx: &mut Tx, id: UserId) -> Result<(), StoreError> {
    tx.execute(
        sql(
            "DELETE FROM workspaces WHERE is_default = FALSE AND id IN ( \
               SELECT m.workspace_id FROM memberships m WHERE m.user_id = $1 \
               AND NOT EXISTS (SELECT 1 FROM memberships o \
                               WHERE o.workspace_id = m.workspace_id AND o.user_id <> $1))",
        )
        .bind(id.0),
    )
    .await?;
    tx.execute(sql("DELETE FROM users WHERE id = $1").bind(id.0))
        .await?;
    Ok(())
}
