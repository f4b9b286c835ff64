//! Saved feeds: a name and the feed's filters, per site. The only table the dashboard writes.

use crate::accounts::sites::SiteId;
use crate::auth::users::UserId;
use crate::store::{Db, StoreError, is_unique_violation, now_ms, sql};

/// A saved feed as stored: its query is already normalised ([`crate::leads::saved`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SavedFeed {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub query: String,
    pub created_by: Option<i64>,
    pub created_at: i64,
}

/// Why a saved feed was not stored.
#[derive(Debug)]
pub enum NotSaved {
    /// Another feed of the site has this name (compared without case).
    NameTaken,
    /// The site has as many saved feeds as it may.
    Full,
    Store(StoreError),
}

impl From<sqlx::Error> for NotSaved {
    fn from(e: sqlx::Error) -> Self {
        NotSaved::Store(e.into())
    }
}

const COLUMNS: &str = "id, site_id, name, query, created_by, created_at";

/// The site's saved feeds, by name.
pub async fn saved_feeds(db: &Db, site: SiteId) -> Result<Vec<SavedFeed>, StoreError> {
    Ok(db
        .all(
            sql(format!(
                "SELECT {COLUMNS} FROM saved_feeds WHERE site_id = $1 ORDER BY name_key, id"
            ))
            .bind(site.0),
        )
        .await?)
}

/// Stores a saved feed, unless the name is taken or the site already has `cap` of them.
/// `name_key` is the name as compared (lower-cased); the unique index settles a race on the
/// name, the site's row lock ([`crate::store::Tx::lock_row`]) one on the cap.
pub async fn create_saved_feed(
    db: &Db,
    site: SiteId,
    name: &str,
    name_key: &str,
    query: &str,
    by: UserId,
    cap: i64,
) -> Result<SavedFeed, NotSaved> {
    let mut tx = db.begin().await?;
    // Concurrent saves for one site count and insert one after the other: the cap holds.
    tx.lock_row("sites", site.0).await?;
    let taken: Option<i64> = tx
        .value_optional(
            sql("SELECT id FROM saved_feeds WHERE site_id = $1 AND name_key = $2")
                .bind(site.0)
                .bind(name_key),
        )
        .await?;
    if taken.is_some() {
        return Err(NotSaved::NameTaken);
    }
    let count: i64 = tx
        .value(sql("SELECT COUNT(*) FROM saved_feeds WHERE site_id = $1").bind(site.0))
        .await?;
    if count >= cap {
        return Err(NotSaved::Full);
    }
    let row = tx
        .one(
            sql(format!(
                "INSERT INTO saved_feeds (site_id, name, name_key, query, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
            ))
            .bind(site.0)
            .bind(name)
            .bind(name_key)
            .bind(query)
            .bind(by.0)
            .bind(now_ms()),
        )
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => NotSaved::NameTaken,
            false => e.into(),
        })?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes the site's saved feed `id`; what it was, or `None` when the site has no such feed.
pub async fn delete_saved_feed(
    db: &Db,
    site: SiteId,
    id: i64,
) -> Result<Option<SavedFeed>, StoreError> {
    // A write: through a transaction (SQLite's pool connections only read).
    let mut tx = db.begin().await?;
    let gone = tx
        .optional(
            sql(format!(
                "DELETE FROM saved_feeds WHERE id = $1 AND site_id = $2 RETURNING {COLUMNS}"
            ))
            .bind(id)
            .bind(site.0),
        )
        .await?;
    tx.commit().await?;
    Ok(gone)
}
