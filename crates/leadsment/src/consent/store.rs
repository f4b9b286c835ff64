//! The consent capability's queries: the proof log (append-only) and the policy revisions.

use super::Proof;
use super::choice::Action;
use crate::store::{Db, StoreError, sql};

#[derive(sqlx::FromRow)]
struct ProofRow {
    id: i64,
    consent_id: String,
    previous_id: Option<String>,
    created_at: i64,
    revision: String,
    banner_version: String,
    action: String,
    analytics: bool,
    advertising: bool,
    gpc: bool,
    country: Option<String>,
    browser: Option<String>,
}

const COLUMNS: &str = "id, consent_id, previous_id, created_at, revision, banner_version, action, \
                       analytics, advertising, gpc, country, browser";

impl ProofRow {
    fn into_proof(self) -> Result<(i64, Proof), StoreError> {
        let action = Action::parse(&self.action)
            .ok_or_else(|| StoreError::Corrupt(format!("consent action {:?}", self.action)))?;
        Ok((
            self.id,
            Proof {
                consent_id: self.consent_id,
                previous_id: self.previous_id,
                created_at: self.created_at,
                revision: self.revision,
                banner_version: self.banner_version,
                action,
                analytics: self.analytics,
                advertising: self.advertising,
                gpc: self.gpc,
                country: self.country,
                browser: self.browser,
            },
        ))
    }
}

/// Appends a decision to the proof log. Nothing ever updates a row.
pub async fn record(db: &Db, p: &Proof) -> Result<(), StoreError> {
    db.write(
        sql(
            "INSERT INTO consent_log (consent_id, previous_id, created_at, revision, \
             banner_version, action, analytics, advertising, gpc, country, browser) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(p.consent_id.as_str())
        .bind(p.previous_id.clone())
        .bind(p.created_at)
        .bind(p.revision.as_str())
        .bind(p.banner_version.as_str())
        .bind(p.action.as_str())
        .bind(p.analytics)
        .bind(p.advertising)
        .bind(p.gpc)
        .bind(p.country.clone())
        .bind(p.browser.clone()),
    )
    .await?;
    Ok(())
}

/// Every decision made under one consent ID, oldest first.
pub async fn by_consent_id(db: &Db, consent_id: &str) -> Result<Vec<Proof>, StoreError> {
    let rows: Vec<ProofRow> = db
        .all(
            sql(format!(
                "SELECT {COLUMNS} FROM consent_log WHERE consent_id = $1 ORDER BY id"
            ))
            .bind(consent_id),
        )
        .await?;
    rows.into_iter()
        .map(|r| r.into_proof().map(|(_, p)| p))
        .collect()
}

/// The decisions that replaced `consent_id` (made by a browser that held it), oldest first.
pub async fn replaced_by(db: &Db, consent_id: &str) -> Result<Vec<Proof>, StoreError> {
    let rows: Vec<ProofRow> = db
        .all(
            sql(format!(
                "SELECT {COLUMNS} FROM consent_log WHERE previous_id = $1 ORDER BY id"
            ))
            .bind(consent_id),
        )
        .await?;
    rows.into_iter()
        .map(|r| r.into_proof().map(|(_, p)| p))
        .collect()
}

/// The latest `limit` decisions, newest first.
pub async fn latest(db: &Db, limit: i64) -> Result<Vec<Proof>, StoreError> {
    let rows: Vec<ProofRow> = db
        .all(
            sql(format!(
                "SELECT {COLUMNS} FROM consent_log ORDER BY id DESC LIMIT $1"
            ))
            .bind(limit),
        )
        .await?;
    rows.into_iter()
        .map(|r| r.into_proof().map(|(_, p)| p))
        .collect()
}

#[derive(sqlx::FromRow)]
struct ActionCount {
    action: String,
    n: i64,
}

/// How many decisions of each action were made since `since` (milliseconds); actions without
/// one are left out.
pub async fn counts_since(db: &Db, since: i64) -> Result<Vec<(Action, i64)>, StoreError> {
    let rows: Vec<ActionCount> = db
        .all(
            sql(
                "SELECT action, COUNT(*) AS n FROM consent_log WHERE created_at >= $1 \
                 GROUP BY action",
            )
            .bind(since),
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Action::parse(&r.action)
                .map(|a| (a, r.n))
                .ok_or_else(|| StoreError::Corrupt(format!("consent action {:?}", r.action)))
        })
        .collect()
}

/// A page of the decisions made in `from .. to` (milliseconds), after the row `after` (0 for
/// the first page), in the order they were stored: the export streams page by page.
pub async fn page_between(
    db: &Db,
    from: i64,
    to: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, Proof)>, StoreError> {
    let rows: Vec<ProofRow> = db
        .all(
            sql(format!(
                "SELECT {COLUMNS} FROM consent_log \
                 WHERE created_at >= $1 AND created_at < $2 AND id > $3 ORDER BY id LIMIT $4"
            ))
            .bind(from)
            .bind(to)
            .bind(after)
            .bind(limit),
        )
        .await?;
    rows.into_iter().map(ProofRow::into_proof).collect()
}

/// Deletes the decisions older than `before` (the retention period); returns how many.
pub async fn delete_older(db: &Db, before: i64) -> Result<u64, StoreError> {
    Ok(db
        .write(sql("DELETE FROM consent_log WHERE created_at < $1").bind(before))
        .await?)
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    revision: String,
    since: i64,
}

const LATEST_REVISION: &str =
    "SELECT revision, since FROM policy_revisions ORDER BY id DESC LIMIT 1";

/// The latest recorded policy revision and since when it holds.
pub async fn latest_revision(db: &Db) -> Result<Option<(String, i64)>, StoreError> {
    let row: Option<RevisionRow> = db.optional(sql(LATEST_REVISION)).await?;
    Ok(row.map(|r| (r.revision, r.since)))
}

#[derive(sqlx::FromRow)]
struct ContentRow {
    content: String,
}

/// What `revision` held, as recorded with it (the latest record of it); `None` if it was
/// never recorded, or before contents were.
pub async fn revision_content(db: &Db, revision: &str) -> Result<Option<String>, StoreError> {
    let row: Option<ContentRow> = db
        .optional(
            sql("SELECT content FROM policy_revisions WHERE revision = $1 \
                 ORDER BY id DESC LIMIT 1")
            .bind(revision),
        )
        .await?;
    Ok(row.map(|r| r.content).filter(|c| !c.is_empty()))
}

/// Records `revision` (holding `content`) as the policy's, from `now`, unless it already is
/// the latest; returns since when the current revision holds. A revision that comes back (a
/// tag switched on and off again) is recorded anew: the policy changed twice.
pub async fn note_revision(
    db: &Db,
    revision: &str,
    content: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let mut tx = db.begin().await?;
    let latest: Option<RevisionRow> = tx.optional(sql(LATEST_REVISION)).await?;
    if let Some(latest) = latest
        && latest.revision == revision
    {
        // A revision recorded before contents were gets its content now.
        tx.execute(
            sql("UPDATE policy_revisions SET content = $1 WHERE revision = $2 AND content = ''")
                .bind(content)
                .bind(revision),
        )
        .await?;
        tx.commit().await?;
        return Ok(latest.since);
    }
    tx.execute(
        sql("INSERT INTO policy_revisions (revision, since, content) VALUES ($1, $2, $3)")
            .bind(revision)
            .bind(now)
            .bind(content),
    )
    .await?;
    tx.commit().await?;
    Ok(now)
}
