//! Retention's queries: the setting, and the deletes in batches. The deletes are the same
//! text on both backends (each batch picks its rows by key with a `LIMIT`, which PostgreSQL's
//! `DELETE` has not); PostgreSQL's partitions have their own module ([`postgres`]).

pub mod postgres;

use crate::store::{Db, Sql, StoreError, db::Arg, sql};

use super::Months;

/// A site as the job sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SiteRetention {
    pub id: i64,
    pub time_zone: String,
    pub retention_months: i64,
}

impl SiteRetention {
    /// The stored retention; a value outside the allowed range (written by hand) counts as
    /// the nearest allowed one.
    pub fn months(&self) -> Months {
        Months::new(
            self.retention_months
                .clamp(super::MIN_MONTHS, super::MAX_MONTHS),
        )
        .unwrap_or_default()
    }
}

pub async fn sites(db: &Db) -> Result<Vec<SiteRetention>, StoreError> {
    Ok(db
        .all(sql(
            "SELECT id, time_zone, retention_months FROM sites ORDER BY id",
        ))
        .await?)
}

/// The site's retention; `None` when there is no such site.
pub async fn site_months(db: &Db, site_id: i64) -> Result<Option<Months>, StoreError> {
    let months: Option<i64> = db
        .value_optional(sql("SELECT retention_months FROM sites WHERE id = $1").bind(site_id))
        .await?;
    Ok(months
        .map(|m| Months::new(m.clamp(super::MIN_MONTHS, super::MAX_MONTHS)).unwrap_or_default()))
}

/// Sets the site's retention; `false` when the workspace has no such site.
pub async fn set_site_months(
    db: &Db,
    workspace_id: i64,
    site_id: i64,
    months: Months,
) -> Result<bool, StoreError> {
    let changed = db
        .write(
            sql("UPDATE sites SET retention_months = $1 WHERE id = $2 AND workspace_id = $3")
                .bind(months.get())
                .bind(site_id)
                .bind(workspace_id),
        )
        .await?;
    Ok(changed > 0)
}

/// One kind of row the job deletes: its table, its key (after `site_id`), the column compared
/// with the bound, and the label it is counted under.
pub struct Target {
    pub label: &'static str,
    table: &'static str,
    key: &'static str,
    column: &'static str,
}

/// Events first (their visits' rows would take them anyway, but a visit may outlive its
/// first events), then visits whose last event is gone, then the rollups by day and hour,
/// then bot counts.
pub const EVENTS: Target = Target {
    label: "events",
    table: "events",
    // SQLite stores events by site, time and id (migration 0024): the key to find them by.
    key: "ts, id",
    column: "ts",
};
pub const VISITS: Target = Target {
    label: "visits",
    table: "visits",
    key: "id",
    column: "last_seen_at",
};
pub const ROLLUPS: [Target; 4] = [
    Target {
        label: "visitor_days",
        table: "visitor_days",
        key: "day, company_id, visitor_hash",
        column: "day",
    },
    Target {
        label: "company_days",
        table: "company_days",
        key: "day, company_id",
        column: "day",
    },
    Target {
        label: "company_paths",
        table: "company_paths",
        key: "path_id, day, company_id",
        column: "day",
    },
    Target {
        label: "site_hours",
        table: "site_hours",
        key: "hour",
        column: "hour",
    },
];
pub const BOT_COUNTS: Target = Target {
    label: "bot_counts",
    table: "bot_counts",
    key: "day",
    column: "day",
};

/// Deletes at most `limit` of the site's rows of `target` whose column is below `bound`, in
/// a transaction of its own; the rows deleted. The rows are picked by the inner `SELECT`
/// (through the site's index) and deleted by key. PostgreSQL also gets the bound outside, so
/// that only the partitions below it are searched; SQLite must not, or it scans every
/// remaining row of the site by its time instead of looking the keys up (a
/// fifth of a second per batch on a million rows instead of ten milliseconds).
pub async fn delete_batch(
    db: &Db,
    target: &Target,
    site_id: i64,
    bound: impl Into<Arg>,
    limit: i64,
) -> Result<u64, StoreError> {
    let Target {
        table, key, column, ..
    } = target;
    // A visit's start is never after its last event, and its id begins with its start
    // (`tracking::visits::TIME_SHIFT`): on SQLite, where visits are stored by site and id,
    // the id bounds the read of the site's visits.
    let also = if *table == "visits" {
        format!(
            " AND started_at < $2 AND id < $2 * {}",
            1i64 << crate::tracking::visits::TIME_SHIFT
        )
    } else {
        String::new()
    };
    let outside = match db {
        Db::Postgres(_) => format!(" AND {column} < $2{also}"),
        Db::Sqlite(_) => String::new(),
    };
    let q: Sql = sql(format!(
        "DELETE FROM {table} WHERE site_id = $1{outside} AND ({key}) IN (SELECT {key} \
         FROM {table} WHERE site_id = $1 AND {column} < $2{also} LIMIT $3)"
    ))
    .bind(site_id)
    .bind(bound)
    .bind(limit);
    Ok(db.write(q).await?)
}
