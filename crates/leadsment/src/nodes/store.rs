//! The node leases' queries, written once for both databases.

use crate::store::{Db, StoreError, sql};

/// Takes a tag that nobody holds or whose lease has expired by `now_ms`, for `holder` until
/// `expires_at`; `None` when all 1024 are held. Two nodes after the same tag cannot both get
/// it: the second's update finds it no longer expired and changes nothing (it then tries the
/// next free one).
pub async fn take(
    db: &Db,
    holder: &str,
    now_ms: i64,
    expires_at: i64,
) -> Result<Option<u16>, StoreError> {
    for _ in 0..8 {
        let mut tx = db.begin().await?;
        let tag: Option<i64> = tx
            .value_optional(
                sql("UPDATE node_leases SET holder = $1, expires_at = $2 \
                     WHERE tag = (SELECT tag FROM node_leases WHERE expires_at <= $3 \
                     ORDER BY expires_at, tag LIMIT 1) AND expires_at <= $3 RETURNING tag")
                .bind(holder)
                .bind(expires_at)
                .bind(now_ms),
            )
            .await?;
        tx.commit().await?;
        match tag {
            Some(tag) => return Ok(u16::try_from(tag).ok()),
            None => {
                // Every tag held, or another node took the one this found free: look again.
                let free: Option<i64> = db
                    .value_optional(
                        sql("SELECT tag FROM node_leases WHERE expires_at <= $1 LIMIT 1")
                            .bind(now_ms),
                    )
                    .await?;
                if free.is_none() {
                    return Ok(None);
                }
            }
        }
    }
    Ok(None)
}

/// Extends `holder`'s lease on `tag` to `expires_at`; `false` when the tag is no longer
/// `holder`'s (another node took it after the lease expired, or an operator freed it).
pub async fn renew(db: &Db, tag: u16, holder: &str, expires_at: i64) -> Result<bool, StoreError> {
    let n = db
        .write(
            sql("UPDATE node_leases SET expires_at = $1 WHERE tag = $2 AND holder = $3")
                .bind(expires_at)
                .bind(i64::from(tag))
                .bind(holder),
        )
        .await?;
    Ok(n == 1)
}

/// Frees `holder`'s tag at once (a node that stops cleanly), so a node starting next may take it.
pub async fn release(db: &Db, tag: u16, holder: &str) -> Result<(), StoreError> {
    db.write(
        sql("UPDATE node_leases SET holder = NULL, expires_at = 0 WHERE tag = $1 AND holder = $2")
            .bind(i64::from(tag))
            .bind(holder),
    )
    .await?;
    Ok(())
}
