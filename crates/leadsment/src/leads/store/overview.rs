//! The overview's queries: totals, the time series, and the breakdowns (pages, sources,
//! channels, countries, devices, browsers) of one site in one period.

use super::visitors;
use crate::accounts::sites::SiteId;
use crate::leads::period::Segment;
use crate::store::{Db, StoreError, sql};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Totals {
    pub visits: i64,
    /// Distinct visitor hashes: a person counts once per UTC day.
    pub visitors: i64,
    /// Visits from organisations classed as businesses.
    pub business_visits: i64,
    #[sqlx(default)]
    pub pageviews: i64,
}

pub async fn totals(db: &Db, site: SiteId, (start, end): (i64, i64)) -> Result<Totals, StoreError> {
    let mut t: Totals = db
        .one(
            sql(format!(
                "SELECT COUNT(*) AS visits, {} AS visitors, \
                 CAST(COALESCE(SUM(CASE WHEN class = 'business' THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 AS business_visits FROM visits \
                 WHERE site_id = $1 AND started_at >= $2 AND started_at < $3",
                visitors("")
            ))
            .bind(site.0)
            .bind(start)
            .bind(end),
        )
        .await?;
    t.pageviews = db
        .value(
            sql(
                "SELECT COUNT(*) FROM events WHERE site_id = $1 AND ts >= $2 AND ts < $3 \
                 AND name = 'pageview'",
            )
            .bind(site.0)
            .bind(start)
            .bind(end),
        )
        .await?;
    Ok(t)
}

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
struct BucketRow {
    bucket: i64,
    a: i64,
    b: i64,
}

/// Visitors, visits and pageviews per bucket of each segment, in bucket order.
pub async fn series(
    db: &Db,
    site: SiteId,
    segments: &[Segment],
    buckets: usize,
) -> Result<Vec<Totals>, StoreError> {
    let mut out = vec![Totals::default(); buckets];
    for s in segments {
        let visits: Vec<BucketRow> = db
            .all(
                sql(format!(
                    "SELECT (started_at - $2) / $4 AS bucket, COUNT(*) AS a, \
                     {} AS b FROM visits \
                     WHERE site_id = $1 AND started_at >= $2 AND started_at < $3 \
                     GROUP BY (started_at - $2) / $4",
                    visitors("")
                ))
                .bind(site.0)
                .bind(s.start)
                .bind(s.end)
                .bind(s.width),
            )
            .await?;
        for r in visits {
            if let Some(t) = out.get_mut(s.first_bucket + r.bucket as usize) {
                t.visits = r.a;
                t.visitors = r.b;
            }
        }
        let views: Vec<BucketRow> = db
            .all(
                sql(
                    "SELECT (ts - $2) / $4 AS bucket, COUNT(*) AS a, CAST(0 AS BIGINT) AS b \
                     FROM events WHERE site_id = $1 AND ts >= $2 AND ts < $3 \
                     AND name = 'pageview' GROUP BY (ts - $2) / $4",
                )
                .bind(site.0)
                .bind(s.start)
                .bind(s.end)
                .bind(s.width),
            )
            .await?;
        for r in views {
            if let Some(t) = out.get_mut(s.first_bucket + r.bucket as usize) {
                t.pageviews = r.a;
            }
        }
    }
    Ok(out)
}

/// One row of a breakdown: a value and its counts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Share {
    pub value: Option<String>,
    /// A second value where the breakdown has one (a source's channel).
    pub detail: Option<String>,
    pub visits: i64,
    pub visitors: i64,
}

/// What the overview breaks visits down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Source,
    Channel,
    Country,
    Device,
    Browser,
}

impl By {
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            By::Source => ("source", "channel"),
            By::Channel => ("channel", "NULL"),
            By::Country => ("country", "NULL"),
            By::Device => ("device", "NULL"),
            By::Browser => ("browser", "NULL"),
        }
    }
}

/// The `limit` largest groups of the period's visits by `by`.
pub async fn breakdown(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    by: By,
    limit: i64,
) -> Result<Vec<Share>, StoreError> {
    let (value, detail) = by.columns();
    let visitors = visitors("");
    let group = if detail == "NULL" {
        value.to_owned()
    } else {
        format!("{value}, {detail}")
    };
    Ok(db
        .all(
            sql(format!(
                "SELECT {value} AS value, {detail} AS detail, COUNT(*) AS visits, \
                 {visitors} AS visitors FROM visits \
                 WHERE site_id = $1 AND started_at >= $2 AND started_at < $3 \
                 GROUP BY {group} ORDER BY visits DESC, value LIMIT $4"
            ))
            .bind(site.0)
            .bind(start)
            .bind(end)
            .bind(limit),
        )
        .await?)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PageShare {
    pub path: String,
    pub pageviews: i64,
    pub visits: i64,
}

/// The most viewed pages of the period.
pub async fn top_paths(
    db: &Db,
    site: SiteId,
    (start, end): (i64, i64),
    limit: i64,
) -> Result<Vec<PageShare>, StoreError> {
    Ok(db
        .all(
            sql(
                "SELECT path, COUNT(*) AS pageviews, COUNT(DISTINCT visit_id) AS visits \
                 FROM events WHERE site_id = $1 AND ts >= $2 AND ts < $3 \
                 AND name = 'pageview' GROUP BY path ORDER BY pageviews DESC, path LIMIT $4",
            )
            .bind(site.0)
            .bind(start)
            .bind(end)
            .bind(limit),
        )
        .await?)
}

/// Whether the site has any visit at all.
pub async fn has_visits(db: &Db, site: SiteId) -> Result<bool, StoreError> {
    let any: Option<i64> = db
        .value_optional(sql("SELECT id FROM visits WHERE site_id = $1 LIMIT 1").bind(site.0))
        .await?;
    Ok(any.is_some())
}
