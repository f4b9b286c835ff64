//! The legal pages' queries (`legal_pages`). A page's row is made from its built-in template
//! the first time anyone asks for it, on whichever node: the insert does nothing when another
//! node made it first, so every node then reads the same row.

use super::LegalPage;
use crate::store::{Db, StoreError, sql};

/// A page as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPage {
    pub page: LegalPage,
    pub markdown: String,
    /// Milliseconds since the Unix epoch: when the text last changed ("Last updated").
    pub updated_at: i64,
    /// Still the built-in template, which no platform administrator has reviewed.
    pub is_template: bool,
    /// The last save (changed or not) and who made it.
    pub saved_at: Option<i64>,
    pub saved_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    markdown: String,
    updated_at: i64,
    is_template: bool,
    saved_at: Option<i64>,
    saved_by: Option<String>,
}

const SELECT: &str =
    "SELECT markdown, updated_at, is_template, saved_at, saved_by FROM legal_pages WHERE page = $1";

async fn read(db: &Db, page: LegalPage) -> Result<Option<StoredPage>, StoreError> {
    let row: Option<Row> = db.optional(sql(SELECT).bind(page.slug())).await?;
    Ok(row.map(|r| StoredPage {
        page,
        markdown: r.markdown,
        updated_at: r.updated_at,
        is_template: r.is_template,
        saved_at: r.saved_at,
        saved_by: r.saved_by,
    }))
}

/// The page, made from its template at `now` if the store has none yet.
pub async fn get(db: &Db, page: LegalPage, now: i64) -> Result<StoredPage, StoreError> {
    if let Some(stored) = read(db, page).await? {
        return Ok(stored);
    }
    db.write(
        sql(
            "INSERT INTO legal_pages (page, markdown, updated_at, is_template) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (page) DO NOTHING",
        )
        .bind(page.slug())
        .bind(page.default_markdown())
        .bind(now)
        .bind(true),
    )
    .await?;
    read(db, page)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("legal page {} not stored", page.slug())))
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The text changed: its date is `now`.
    Changed,
    /// The same text: its date is kept (it is marked reviewed all the same).
    Unchanged,
}

/// Stores `markdown` (already [`super::normalise`]d and checked) as the page's reviewed text,
/// saved by `who` at `now`. The date moves only when the text differs from the stored one;
/// the comparison is made by the update itself, so two saves at once cannot both keep it.
pub async fn save(
    db: &Db,
    page: LegalPage,
    markdown: &str,
    who: &str,
    now: i64,
) -> Result<Saved, StoreError> {
    write(db, page, markdown, false, who, now).await
}

/// Puts the built-in template back, unreviewed again.
pub async fn restore_template(
    db: &Db,
    page: LegalPage,
    who: &str,
    now: i64,
) -> Result<Saved, StoreError> {
    write(db, page, &page.default_markdown(), true, who, now).await
}

async fn write(
    db: &Db,
    page: LegalPage,
    markdown: &str,
    is_template: bool,
    who: &str,
    now: i64,
) -> Result<Saved, StoreError> {
    let before = get(db, page, now).await?;
    db.write(
        sql("UPDATE legal_pages SET \
             updated_at = CASE WHEN markdown = $1 THEN updated_at ELSE $2 END, \
             markdown = $1, is_template = $3, saved_at = $2, saved_by = $4 \
             WHERE page = $5")
        .bind(markdown)
        .bind(now)
        .bind(is_template)
        .bind(who)
        .bind(page.slug()),
    )
    .await?;
    Ok(if before.markdown == markdown {
        Saved::Unchanged
    } else {
        Saved::Changed
    })
}
