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
