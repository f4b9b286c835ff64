//! Secrets that every node sharing the database must agree on (signing keys, the daily visitor
//! salt), created by the first node that needs one, never only in one process's memory.

use super::{Db, StoreError, now_ms, sql};

const SELECT: &str = "SELECT value FROM shared_secrets WHERE name = $1";

/// A random secret of `len` bytes under `name`, created on first use and then the same for
/// every node that shares this database.
pub async fn shared(db: &Db, name: &str, len: usize) -> Result<Vec<u8>, StoreError> {
    if let Some(value) = existing(db, name).await? {
        return Ok(value);
    }
    let mut fresh = vec![0u8; len];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
    let mut tx = db.begin().await?;
    // The first node to insert wins; every other one reads the winner's value.
    tx.execute(
        sql(
            "INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .bind(now_ms()),
    )
    .await?;
    let value = tx.value(sql(SELECT).bind(name)).await?;
    tx.commit().await?;
    Ok(value)
}

/// The secret under `name` if it exists; never creates one.
pub async fn existing(db: &Db, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(db.value_optional(sql(SELECT).bind(name)).await?)
}

/// Deletes the secrets whose name starts with `prefix` created before `before_ms`.
pub async fn delete_older(db: &Db, prefix: &str, before_ms: i64) -> Result<u64, StoreError> {
    // Compared as a range rather than with LIKE, so `_` and `%` in names mean nothing.
    Ok(db
        .write(
            sql("DELETE FROM shared_secrets WHERE name >= $1 AND name < $2 AND created_at < $3")
                .bind(prefix)
                .bind(format!("{prefix}\u{10ffff}"))
                .bind(before_ms),
        )
        .await?)
}
