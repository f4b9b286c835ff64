//! The workspace's exclusions (`exclusions`), and the companies they hide.

use crate::accounts::WorkspaceId;
use crate::accounts::sites::SiteId;
use crate::leads::exclusions::{Excluded, Exclusion, Kind, Matcher};
use crate::leads::store::Company;
use crate::store::{Db, StoreError, is_unique_violation, now_ms, sql};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    kind: String,
    value: String,
    created_by: Option<String>,
    created_at: i64,
}

fn exclusion(r: Row) -> Option<Exclusion> {
    Some(Exclusion {
        id: r.id,
        kind: Kind::parse(&r.kind)?,
        value: r.value,
        created_by: r.created_by,
        created_at: r.created_at,
    })
}

/// The workspace's exclusions, by kind then value, with who added each.
pub async fn exclusions(db: &Db, workspace: WorkspaceId) -> Result<Vec<Exclusion>, StoreError> {
    let rows: Vec<Row> = db
        .all(
            sql(
                "SELECT e.id, e.kind, e.value, u.email AS created_by, e.created_at \
                 FROM exclusions e LEFT JOIN users u ON u.id = e.created_by \
                 WHERE e.workspace_id = $1 ORDER BY e.kind, e.value",
            )
            .bind(workspace.0),
        )
        .await?;
    Ok(rows.into_iter().filter_map(exclusion).collect())
}

/// What adding an exclusion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Added,
    /// The workspace had it already.
    Exists,
    /// The workspace has `cap` exclusions: nothing was stored.
    Full,
}

/// Adds an exclusion (its value normalised), unless the workspace has it or has `cap` of them
/// already. Concurrent adds to one workspace count and insert one after the other (the
/// workspace's row lock, [`crate::store::Tx::lock_row`]), so the cap holds.
pub async fn add_exclusion(
    db: &Db,
    workspace: WorkspaceId,
    kind: Kind,
    value: &str,
    by: Option<i64>,
    cap: usize,
) -> Result<Added, StoreError> {
    let mut tx = db.begin().await?;
    tx.lock_row("workspaces", workspace.0).await?;
    let existing: Option<i64> = tx
        .value_optional(
            sql("SELECT id FROM exclusions WHERE workspace_id = $1 AND kind = $2 AND value = $3")
                .bind(workspace.0)
                .bind(kind.as_str())
                .bind(value),
        )
        .await?;
    if existing.is_some() {
        return Ok(Added::Exists);
    }
    let count: i64 = tx
        .value(sql("SELECT COUNT(*) FROM exclusions WHERE workspace_id = $1").bind(workspace.0))
        .await?;
    if count >= i64::try_from(cap).unwrap_or(i64::MAX) {
        return Ok(Added::Full);
    }
    let res = tx
        .execute(
            sql(
                "INSERT INTO exclusions (workspace_id, kind, value, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(workspace.0)
            .bind(kind.as_str())
            .bind(value)
            .bind(by)
            .bind(now_ms()),
        )
        .await;
    match res {
        Ok(_) => {
            tx.commit().await?;
            Ok(Added::Added)
        }
        Err(e) if is_unique_violation(&e) => Ok(Added::Exists),
        Err(e) => Err(e.into()),
    }
}

/// Removes one of the workspace's exclusions; whether it was there.
pub async fn remove_exclusion(
    db: &Db,
    workspace: WorkspaceId,
    id: i64,
) -> Result<bool, StoreError> {
    let n = db
        .write(
            sql("DELETE FROM exclusions WHERE workspace_id = $1 AND id = $2")
                .bind(workspace.0)
                .bind(id),
        )
        .await?;
    Ok(n > 0)
}

/// The exclusions of the workspace `site` belongs to.
pub async fn site_exclusions(db: &Db, site: SiteId) -> Result<Vec<Exclusion>, StoreError> {
    let rows: Vec<Row> = db
        .all(
            sql(
                "SELECT e.id, e.kind, e.value, CAST(NULL AS TEXT) AS created_by, e.created_at \
                 FROM exclusions e JOIN sites s ON s.workspace_id = e.workspace_id \
                 WHERE s.id = $1",
            )
            .bind(site.0),
        )
        .await?;
    Ok(rows.into_iter().filter_map(exclusion).collect())
}

/// The companies the exclusions of `site`'s workspace hide, among those that visited the site
/// (no other can be in its pages): the site's own companies are read once and tested in Rust
/// ([`Matcher`]), so the cost grows with the site's companies, not the platform's, and names
/// compare without case alike on both backends. Without exclusions, one small read; with only
/// companies hidden by id, no company is read.
pub async fn excluded(db: &Db, site: SiteId) -> Result<Excluded, StoreError> {
    let list = site_exclusions(db, site).await?;
    let matcher = Matcher::new(&list);
    let mut ids: Vec<i64> = matcher.ids().collect();
    if !matcher.by_id_only() {
        let companies: Vec<Company> = db
            .all(
                sql(
                    "SELECT c.id, c.name, c.org, c.domain, c.asn, c.country, c.class \
                     FROM companies c WHERE c.id IN \
                     (SELECT d.company_id FROM company_days d WHERE d.site_id = $1)",
                )
                .bind(site.0),
            )
            .await?;
        ids.extend(companies.iter().filter(|c| matcher.hides(c)).map(|c| c.id));
    }
    Ok(Excluded::new(ids))
}
