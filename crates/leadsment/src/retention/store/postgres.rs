//! PostgreSQL's event partitions (migration 0021): which there are, making the next ones,
//! and detaching and dropping a whole one. Each change waits at most [`LOCK_TIMEOUT`] for
//! its lock on `events`: one that cannot get it gives up and is tried at the next run,
//! rather than queue the event writer behind it.

use crate::store::{Db, StoreError, sql};

/// How long a partition change waits for its lock on `events`.
const LOCK_TIMEOUT: &str = "2s";

/// A partition of `events`: its name and its range of `ts`, `from` included, `to` not
/// (`i64::MIN` for MINVALUE, `i64::MAX` for MAXVALUE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub from: i64,
    pub to: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    bound: String,
}

/// Whether `events` is partitioned (PostgreSQL after migration 0021).
pub async fn is_partitioned(db: &Db) -> Result<bool, StoreError> {
    if !matches!(db, Db::Postgres(_)) {
        return Ok(false);
    }
    Ok(db
        .value(sql("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table \
             WHERE partrelid = to_regclass('events'))"))
        .await?)
}

/// The partitions of `events`, oldest first (a default partition is left out).
pub async fn partitions(db: &Db) -> Result<Vec<Partition>, StoreError> {
    let rows: Vec<Row> = db
        .all(sql(
            "SELECT CAST(c.relname AS TEXT) AS name, pg_get_expr(c.relpartbound, c.oid) AS bound \
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass('events')",
        ))
        .await?;
    let mut parts: Vec<Partition> = rows
        .into_iter()
        .filter_map(|r| {
            let (from, to) = parse_bound(&r.bound)?;
            Some(Partition {
                name: r.name,
                from,
                to,
            })
        })
        .collect();
    parts.sort_by_key(|p| p.from);
    Ok(parts)
}

/// `FOR VALUES FROM (MINVALUE) TO ('1798761600000')` as its two ends.
fn parse_bound(expr: &str) -> Option<(i64, i64)> {
    let rest = expr.strip_prefix("FOR VALUES FROM (")?;
    let (from, rest) = rest.split_once(") TO (")?;
    let to = rest.strip_suffix(')')?;
    Some((parse_value(from)?, parse_value(to)?))
}

fn parse_value(v: &str) -> Option<i64> {
    match v.trim().trim_matches('\'') {
        "MINVALUE" => Some(i64::MIN),
        "MAXVALUE" => Some(i64::MAX),
        n => n.parse().ok(),
    }
}

/// A partition name as the catalog gave it, safe to put between double quotes.
fn quoted(name: &str) -> Result<String, StoreError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(StoreError::Corrupt(format!(
            "unexpected partition name {name:?}"
        )));
    }
    Ok(format!("\"{name}\""))
}

/// Makes the partition `name` for `from..to` (its indexes and foreign keys come from the
/// parent's, built on an empty table). Events of that range that the default partition took
/// meanwhile (a clock far ahead) are moved into it in the same transaction: PostgreSQL
/// refuses a partition whose rows the default one holds.
pub async fn create(db: &Db, name: &str, from: i64, to: i64) -> Result<(), StoreError> {
    let table = quoted(name)?;
    let mut tx = db.begin().await?;
    tx.execute(sql(format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")))
        .await?;
    let strays: bool = tx
        .value(
            sql(
                "SELECT to_regclass('events_default') IS NOT NULL AND EXISTS \
                 (SELECT 1 FROM events WHERE tableoid = to_regclass('events_default') \
                 AND ts >= $1 AND ts < $2)",
            )
            .bind(from)
            .bind(to),
        )
        .await?;
    if strays {
        tx.execute(sql(format!(
            "CREATE TABLE {table} (LIKE events INCLUDING DEFAULTS)"
        )))
        .await?;
        tx.execute(sql(format!(
            "WITH moved AS (DELETE FROM events_default WHERE ts >= {from} AND ts < {to} \
             RETURNING *) INSERT INTO {table} SELECT * FROM moved"
        )))
        .await?;
        tx.execute(sql(format!(
            "ALTER TABLE events ATTACH PARTITION {table} FOR VALUES FROM ({from}) TO ({to})"
        )))
        .await?;
    } else {
        tx.execute(sql(format!(
            "CREATE TABLE IF NOT EXISTS {table} PARTITION OF events \
             FOR VALUES FROM ({from}) TO ({to})"
        )))
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Detaches the partition `name` and drops it, in one transaction; the rows it held.
pub async fn drop_partition(db: &Db, name: &str) -> Result<u64, StoreError> {
    let table = quoted(name)?;
    let mut tx = db.begin().await?;
    tx.execute(sql(format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")))
        .await?;
    let rows: i64 = tx
        .value(sql(format!("SELECT COUNT(*) FROM {table}")))
        .await?;
    tx.execute(sql(format!("ALTER TABLE events DETACH PARTITION {table}")))
        .await?;
    tx.execute(sql(format!("DROP TABLE {table}"))).await?;
    tx.commit().await?;
    Ok(u64::try_from(rows).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_read() {
        assert_eq!(
            parse_bound("FOR VALUES FROM (MINVALUE) TO ('1798761600000')"),
            Some((i64::MIN, 1_798_761_600_000))
        );
        assert_eq!(
            parse_bound("FOR VALUES FROM ('1') TO (MAXVALUE)"),
            Some((1, i64::MAX))
        );
        assert_eq!(parse_bound("DEFAULT"), None);
        assert!(quoted("events_2027_01").is_ok());
        assert!(quoted("x\"; DROP").is_err());
    }
}
