//! The workspace's exclusions (`exclusions`), and the companies they hide.

use crate::accounts::WorkspaceId;
use crate::accounts::sites::SiteId;
use crate::leads::exclusions::{Excluded, Exclusion, Kind};
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

/// Adds an exclusion (its value normalised); false when the workspace has it already.
pub async fn add_exclusion(
    db: &Db,
    workspace: WorkspaceId,
    kind: Kind,
    value: &str,
    by: Option<i64>,
) -> Result<bool, StoreError> {
    let res = db
        .write(
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
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
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

/// The companies the exclusions of `site`'s workspace hide (none without exclusions: one
/// small read), in one read of the companies whatever the number of exclusions. The same
/// tests as [`Exclusion::matches`].
pub async fn excluded(db: &Db, site: SiteId) -> Result<Excluded, StoreError> {
    let list = site_exclusions(db, site).await?;
    let mut ids = Vec::new();
    let mut tests: Vec<String> = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    for e in &list {
        let n = args.len() + 1;
        match e.kind {
            Kind::Organisation => match crate::leads::exclusions::company_id_of(&e.value) {
                Some(id) => ids.push(id),
                None => {
                    tests.push(format!(
                        "LOWER(name) = LOWER(${n}) OR LOWER(org) = LOWER(${n})"
                    ));
                    args.push(Arg::Text(e.value.clone()));
                }
            },
            // The domain itself, or one ending in `.` and the domain (no LIKE: `_` is a
            // domain's character and LIKE's wildcard).
            Kind::Domain => {
                tests.push(format!(
                    "LOWER(domain) = ${n} OR (LENGTH(domain) > LENGTH(${n}) AND \
                     SUBSTR(LOWER(domain), LENGTH(domain) - LENGTH(${n})) = '.' || ${n})"
                ));
                args.push(Arg::Text(e.value.clone()));
            }
            Kind::Asn => {
                if let Ok(asn) = e.value.parse::<i64>() {
                    tests.push(format!("asn = ${n}"));
                    args.push(Arg::Int(asn));
                }
            }
        }
    }
    if !tests.is_empty() {
        let mut q = sql(format!(
            "SELECT id FROM companies WHERE ({})",
            tests.join(") OR (")
        ));
        for a in args {
            q = match a {
                Arg::Text(t) => q.bind(t),
                Arg::Int(n) => q.bind(n),
            };
        }
        ids.extend(db.values::<i64>(q).await?);
    }
    Ok(Excluded::new(ids))
}

enum Arg {
    Text(String),
    Int(i64),
}
