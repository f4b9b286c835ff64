//! Migrations, one folder per backend, embedded in the binary.

use super::{Db, StoreError, sql};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// One applied or pending migration, for `leadsment migrate` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied_now: Vec<String>,
    pub already_applied: usize,
}

/// Brings the schema up to date. Safe to run from several nodes at once (on PostgreSQL sqlx
/// takes an advisory lock, so nodes starting together migrate one at a time). A database
/// that a newer build migrated further than this build knows is refused
/// ([`StoreError::SchemaNewer`]): this node is the one to upgrade.
pub async fn migrate(db: &Db) -> Result<MigrationReport, StoreError> {
    let exists = match db {
        Db::Sqlite(_) => sql("SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations')"),
        Db::Postgres(_) => sql("SELECT to_regclass('_sqlx_migrations') IS NOT NULL"),
    };
    let before: Vec<i64> = if db.value::<bool>(exists).await? {
        db.values(sql("SELECT version FROM _sqlx_migrations WHERE success"))
            .await?
    } else {
        Vec::new()
    };
    let known = match db {
        Db::Sqlite(_) => &SQLITE,
        Db::Postgres(_) => &POSTGRES,
    }
    .iter()
    .map(|m| m.version)
    .max()
    .unwrap_or(0);
    if let Some(&found) = before.iter().max()
        && found > known
    {
        return Err(StoreError::SchemaNewer { found, known });
    }
    let migrator = match db {
        Db::Sqlite(sqlite) => {
            SQLITE.run(sqlite.writer()).await?;
            &SQLITE
        }
        Db::Postgres(pool) => {
            prepare_event_partitions(db).await?;
            POSTGRES.run(pool).await?;
            &POSTGRES
        }
    };
    let mut applied_now = Vec::new();
    let mut already_applied = 0;
    for m in migrator.iter() {
        if before.contains(&m.version) {
            already_applied += 1;
        } else {
            applied_now.push(format!("{} {}", m.version, m.description));
        }
    }
    Ok(MigrationReport {
        applied_now,
        already_applied,
    })
}

/// Before migration 0021 partitions `events` (PostgreSQL): the two things that read the whole
/// table are done here without blocking the event writers of nodes still running, so that
/// the migration itself only changes the catalog. The unique index on `(id, ts)` that becomes
/// the old table's primary key is built `CONCURRENTLY` (which a migration file cannot do:
/// sqlx sends a `-- no-transaction` file as one multi-statement query, which PostgreSQL runs
/// as one implicit transaction, and `CONCURRENTLY` refuses to run in one); the `CHECK` on
/// `ts` that lets `ATTACH PARTITION` skip its scan is added `NOT VALID`, then validated
/// (which takes a lock that lets writes through). Its bound is the start of the month after
/// next, so that events written meanwhile still pass it. Nothing here when `events` is
/// already partitioned, or not made yet.
async fn prepare_event_partitions(db: &Db) -> Result<(), StoreError> {
    let Db::Postgres(pool) = db else {
        return Ok(());
    };
    let pending: bool = db
        .value(sql(
            "SELECT to_regclass('events') IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('events'))",
        ))
        .await?;
    if !pending {
        return Ok(());
    }
    // An index left invalid by an interrupted build is built again.
    let invalid: bool = db
        .value(sql("SELECT EXISTS (SELECT 1 FROM pg_index \
             WHERE indexrelid = to_regclass('events_old_pkey') AND NOT indisvalid)"))
        .await?;
    if invalid {
        sqlx::query("DROP INDEX CONCURRENTLY events_old_pkey")
            .execute(pool)
            .await?;
    }
    tracing::info!("preparing the events table for its partitions (migration 0021)");
    sqlx::query(
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_old_pkey ON events (id, ts)",
    )
    .execute(pool)
    .await?;
    let has_bound: bool = db
        .value(sql("SELECT EXISTS (SELECT 1 FROM pg_constraint \
             WHERE conrelid = 'events'::regclass AND conname = 'events_partition_bound')"))
        .await?;
    if !has_bound {
        db.write(sql(
            "DO $$ BEGIN EXECUTE format('ALTER TABLE events ADD CONSTRAINT \
             events_partition_bound CHECK (ts < %s) NOT VALID', \
             (EXTRACT(EPOCH FROM date_trunc('month', now() AT TIME ZONE 'UTC') \
             + INTERVAL '2 months') * 1000)::BIGINT); END $$",
        ))
        .await?;
    }
    db.write(sql(
        "ALTER TABLE events VALIDATE CONSTRAINT events_partition_bound",
    ))
    .await?;
    Ok(())
}
