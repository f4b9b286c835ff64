//! Storage, the ground floor: opening the database ([`Db`], SQLite embedded by default or
//! PostgreSQL for several nodes), transactions, statements written once for both
//! ([`db`]), migrations, errors, the secrets that nodes share, and SQLite's background
//! checkpoints. It knows no capability: each capability keeps its queries in a store module
//! of its own (`accounts::store`, `auth::store`, `tracking::store`...).

pub mod backup;
mod checkpoint;
pub mod db;
pub mod health;
pub mod lockfile;
mod migrate;
pub mod postgres;
pub mod secrets;
pub mod settings;
pub mod sqlite;

pub use db::{Column, Db, Record, Sql, Tx, is_unique_violation, sql};
pub use migrate::{MigrationReport, migrate};

use settings::{Backend, StoreSettings};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The causes are part of the message rather than a `source`, so that `{:#}` does not
    // print them twice.
    #[error("cannot connect to the database at {url}: {cause}")]
    Connect { url: String, cause: sqlx::Error },
    #[error("cannot prepare the data directory {path}: {cause}")]
    DataDir { path: String, cause: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database was migrated by a newer build than this one.
    #[error(
        "this database's schema (version {found}) is newer than this leadsment build knows \
         ({known}): upgrade this node; see docs/operations.md, Rolling upgrades"
    )]
    SchemaNewer { found: i64, known: i64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite's event writer (its own connection, not sqlx's): opening it.
    #[error("database error: {0}")]
    Ingest(String),
    /// SQLite's event writer: a statement that failed.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// A write that took too long to be answered (a database that stopped answering).
    #[error("the database did not answer in time")]
    TimedOut,
    /// A stored value that the code does not know (a role written by a newer version).
    #[error("unexpected stored data: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// Opens the database that `config.store.database_url` names. Does not migrate.
pub async fn connect(settings: &StoreSettings) -> Result<Db, StoreError> {
    match settings.database_url.backend() {
        Some(Backend::Postgres) => Ok(Db::Postgres(postgres::connect(settings).await?)),
        // `StoreSettings` only hold URLs of the two known backends.
        Some(Backend::Sqlite) | None => Ok(Db::Sqlite(sqlite::SqliteDb::connect(settings).await?)),
    }
}

impl Db {
    /// Waits for connections in use to be returned, then closes them (and stops SQLite's
    /// background checkpoints).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(db) => db.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Milliseconds since the Unix epoch, the time format of every stored timestamp.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
