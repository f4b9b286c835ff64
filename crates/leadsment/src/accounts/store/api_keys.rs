//! API keys of a workspace.

use crate::accounts::WorkspaceId;
use crate::accounts::api_keys::{ApiKey, Scope};
use crate::auth::users::UserId;
use crate::store::{Db, StoreError, now_ms, sql};

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    workspace_id: i64,
    name: String,
    prefix: String,
    scope: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

const API_KEY_COLUMNS: &str = "id, workspace_id, name, prefix, scope, created_at, last_used_at";

impl ApiKeyRow {
    fn into_key(self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            id: self.id,
            workspace_id: WorkspaceId(self.workspace_id),
            name: self.name,
            prefix: self.prefix,
            scope: Scope::parse(&self.scope)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown scope `{}`", self.scope)))?,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

pub async fn create_api_key(
    db: &Db,
    workspace: WorkspaceId,
    name: &str,
    prefix: &str,
    hash: &[u8],
    scope: Scope,
    created_by: UserId,
) -> Result<ApiKey, StoreError> {
    let mut tx = db.begin().await?;
    let row: ApiKeyRow = tx
        .one(
            sql(format!(
                "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, scope, \
                 created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING {API_KEY_COLUMNS}"
            ))
            .bind(workspace.0)
            .bind(name)
            .bind(prefix)
            .bind(hash)
            .bind(scope.as_str())
            .bind(created_by.0)
            .bind(now_ms()),
        )
        .await?;
    tx.commit().await?;
    row.into_key()
}

/// The workspace's keys in use, newest first.
pub async fn api_keys(db: &Db, workspace: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
    let rows: Vec<ApiKeyRow> = db
        .all(
            sql(format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 \
                 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC"
            ))
            .bind(workspace.0),
        )
        .await?;
    rows.into_iter().map(ApiKeyRow::into_key).collect()
}

pub async fn revoke_api_key(db: &Db, workspace: WorkspaceId, id: i64) -> Result<bool, StoreError> {
    let n = db
        .write(
            sql(
                "UPDATE api_keys SET revoked_at = $1 WHERE workspace_id = $2 AND id = $3 \
                 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(workspace.0)
            .bind(id),
        )
        .await?;
    Ok(n > 0)
}

/// The key with this digest, if it is in use; notes the time of use (at most once a minute).
pub async fn use_api_key(db: &Db, hash: &[u8]) -> Result<Option<ApiKey>, StoreError> {
    let row: Option<ApiKeyRow> = db
        .optional(
            sql(format!(
                "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
            ))
            .bind(hash),
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let now = now_ms();
    let mut key = row.into_key()?;
    if key.last_used_at.is_none_or(|t| now - t >= 60_000) {
        db.write(
            sql("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(key.id),
        )
        .await?;
        key.last_used_at = Some(now);
    }
    Ok(Some(key))
}
