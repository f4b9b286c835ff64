//! Reads of the rollups `tracking` keeps (`company_days`, `company_paths`, `site_paths`):
//! per-company sums over whole UTC days. The raw reads beside them in `store` cover the hours
//! at a period's edges; [`crate::leads::span::Span`] says which is which.

use std::collections::HashMap;

use super::{CHUNK, CompanyVisits, placeholders};
use crate::accounts::sites::SiteId;
use crate::store::{Db, StoreError, sql};

/// A company's sums over some days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct DaySums {
    pub company_id: i64,
    pub visits: i64,
    pub visitors: i64,
    pub pageviews: i64,
    pub engaged_ms: i64,
    pub last_seen_at: i64,
}

const SUMS: &str = "company_id, CAST(SUM(visits) AS BIGINT) AS visits, \
     CAST(SUM(visitors) AS BIGINT) AS visitors, CAST(SUM(pageviews) AS BIGINT) AS pageviews, \
     CAST(SUM(engaged_ms) AS BIGINT) AS engaged_ms, MAX(last_seen_at) AS last_seen_at";

/// Each company's sums over the UTC days `[first, end)`, or the one company's.
pub async fn day_sums(
    db: &Db,
    site: SiteId,
    (first, end): (i64, i64),
    company: Option<i64>,
) -> Result<HashMap<i64, DaySums>, StoreError> {
    if first >= end {
        return Ok(HashMap::new());
    }
    let q = match company {
        None => sql(format!(
            "SELECT {SUMS} FROM company_days WHERE site_id = $1 AND day >= $2 AND day < $3 \
             GROUP BY company_id"
        ))
        .bind(site.0)
        .bind(first)
        .bind(end),
        // The site is compared as an expression: as a column, SQLite would read every
        // company's rows of the site rather than the company's (`company_days_company`).
        Some(id) => sql(format!(
            "SELECT {SUMS} FROM company_days WHERE company_id = $4 AND site_id + 0 = $1 \
             AND day >= $2 AND day < $3 GROUP BY company_id"
        ))
        .bind(site.0)
        .bind(first)
        .bind(end)
        .bind(id),
    };
    let rows: Vec<DaySums> = db.all(q).await?;
    Ok(rows.into_iter().map(|r| (r.company_id, r)).collect())
}

/// Every path of `site` with an event, with its id: page patterns (the feed's filter, the
/// score's rules) are matched against these, then the matching paths' rows read by id.
pub async fn site_paths(db: &Db, site: SiteId) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(db
        .all(sql("SELECT id, path FROM paths WHERE site_id = $1").bind(site.0))
        .await?)
}

/// Pageviews of any of `paths` per company over the UTC days `[first, end)`, or the one
/// company's.
pub async fn path_hits(
    db: &Db,
    site: SiteId,
    (first, end): (i64, i64),
    paths: &[i64],
    company: Option<i64>,
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut out: HashMap<i64, i64> = HashMap::new();
    if first >= end {
        return Ok(out);
    }
    let only = if company.is_some() {
        "AND company_id = $4"
    } else {
        ""
    };
    let from = if company.is_some() { 5 } else { 4 };
    for chunk in paths.chunks(CHUNK) {
        let mut q = sql(format!(
            // Grouped by an expression, not the column: SQLite would otherwise read the
            // company index, in company order, whole, rather than the matching paths' rows.
            "SELECT company_id + 0, CAST(SUM(pageviews) AS BIGINT) FROM company_paths \
             WHERE site_id = $1 AND day >= $2 AND day < $3 {only} AND path_id IN ({}) \
             GROUP BY company_id + 0",
            placeholders(from, chunk.len())
        ))
        .bind(site.0)
        .bind(first)
        .bind(end);
        if let Some(id) = company {
            q = q.bind(id);
        }
        for p in chunk {
            q = q.bind(*p);
        }
        let rows: Vec<(i64, i64)> = db.all(q).await?;
        for (id, n) in rows {
            *out.entry(id).or_default() += n;
        }
    }
    Ok(out)
}

/// Pageviews per path of each of `companies` over the UTC days `[first, end)`.
pub async fn company_paths(
    db: &Db,
    site: SiteId,
    (first, end): (i64, i64),
    companies: &[i64],
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    let mut out = Vec::new();
    if first >= end {
        return Ok(out);
    }
    for chunk in companies.chunks(CHUNK) {
        let mut q = sql(format!(
            // Summed by path id, then named.
            "SELECT x.company_id, p.path, x.n FROM (SELECT company_id, path_id, \
             CAST(SUM(pageviews) AS BIGINT) AS n FROM company_paths \
             WHERE site_id = $1 AND company_id IN ({}) AND day >= $2 AND day < $3 \
             GROUP BY company_id, path_id) x JOIN paths p ON p.id = x.path_id",
            placeholders(4, chunk.len())
        ))
        .bind(site.0)
        .bind(first)
        .bind(end);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(db.all::<(i64, String, i64)>(q).await?);
    }
    Ok(out)
}

/// Every company with a visit that started in the UTC days `[first, end)`, with its sums.
pub async fn company_days(
    db: &Db,
    site: SiteId,
    (first, end): (i64, i64),
) -> Result<Vec<CompanyVisits>, StoreError> {
    if first >= end {
        return Ok(Vec::new());
    }
    Ok(db
        .all(
            sql(format!(
                "SELECT c.id, c.name, c.domain, c.country, c.class, s.visits, s.visitors, \
                 s.engaged_ms, s.last_seen_at, s.pageviews, \
                 CAST(0 AS BIGINT) AS country_hits, CAST(0 AS BIGINT) AS source_hits \
                 FROM (SELECT {SUMS} FROM company_days \
                     WHERE site_id = $1 AND day >= $2 AND day < $3 GROUP BY company_id) s \
                 JOIN companies c ON c.id = s.company_id"
            ))
            .bind(site.0)
            .bind(first)
            .bind(end),
        )
        .await?)
}
