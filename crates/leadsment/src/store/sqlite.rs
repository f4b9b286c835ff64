//! The embedded SQLite store: one writer connection (SQLite allows one writer at a time, and
//! a single connection makes that explicit) and a pool of read-only readers, in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::accounts::impl_account_store;
use super::common::{
    EVENT_COLUMN_COUNT, EVENT_COLUMNS, EventRow, impl_ingest, impl_store, values_list,
};
use super::sqlite_ingest::SqliteIngester;
use super::{BlockingIngest, MigrationReport, StoreError};
use crate::config::{Backend, Config, SqliteSynchronous as Synchronous};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// The event writer's own synchronous connection (see `sqlite_ingest`). `None` for an
    /// in-memory database, which exists only in the pool's one connection.
    ingest: Option<Arc<SqliteIngester>>,
}

/// Pages of write-ahead log after which a committing writer checkpoints it itself. The event
/// writer's background checkpoints (`sqlite_checkpoint`) keep the log far below this.
const WAL_CHECKPOINT_BOUND_PAGES: u32 = 8_000;

impl Drop for SqliteStore {
    /// A store dropped without `close` stops its checkpoints too.
    fn drop(&mut self) {
        if let Some(ingest) = &self.ingest {
            ingest.stop_checkpoints();
        }
    }
}

impl SqliteStore {
    pub async fn connect(config: &Config) -> Result<SqliteStore, StoreError> {
        let url = config.database_url.expose();
        let connect_error = |cause| StoreError::Connect {
            url: config.database_url.redacted(),
            cause,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match config.sqlite_synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .optimize_on_close(true, None)
            // Checkpoints are made in the background (see `sqlite_checkpoint`); a writer makes
            // one itself only when the log has grown this far, which bounds its size.
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_BOUND_PAGES.to_string());

        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            ensure_parent_dir(options.get_filename())?;
        }

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        // An in-memory database exists once per connection, so it cannot have separate readers.
        let readers = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(config.database_max_connections)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(
                    options
                        .clone()
                        .read_only(true)
                        .optimize_on_close(false, None),
                )
                .await
                .map_err(connect_error)?
        };
        let ingest = if in_memory {
            None
        } else {
            // The writer pool has created the file and set WAL mode by now.
            Some(Arc::new(SqliteIngester::open(
                options.get_filename(),
                config.sqlite_synchronous,
                WAL_CHECKPOINT_BOUND_PAGES,
                BUSY_TIMEOUT,
            )?))
        };
        Ok(SqliteStore {
            writer,
            readers,
            ingest,
        })
    }

    fn reader(&self) -> &SqlitePool {
        &self.readers
    }

    /// Writes take the write lock up front: a deferred transaction that reads first and then
    /// writes fails with SQLITE_BUSY_SNAPSHOT when another process wrote in between, without
    /// waiting for busy_timeout.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

/// How long a write waits for another process's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl_ingest!(SqliteStore, Sqlite, numbered = false);

impl SqliteStore {
    /// File databases write on the ingester's connection, on a blocking thread (the server's
    /// writer calls [`BlockingIngest`] from a thread of its own and never comes here); an
    /// in-memory one through the pool's only connection.
    async fn ingest_batch(
        &self,
        batch: &crate::tracking::model::IngestBatch,
        cache: &mut crate::tracking::model::SessionCache,
    ) -> Result<(), StoreError> {
        let Some(ingester) = &self.ingest else {
            let tx = self.begin_write().await?;
            return Self::ingest_tx(tx, batch, cache).await;
        };
        let ingester = ingester.clone();
        let owned = crate::tracking::model::IngestBatch {
            events: batch.events.clone(),
            bots: batch.bots.clone(),
        };
        let mut taken = std::mem::take(cache);
        let (result, taken) = tokio::task::spawn_blocking(move || {
            let result = ingester.ingest(&owned, &mut taken);
            (result, taken)
        })
        .await
        .map_err(|e| StoreError::Ingest(format!("the event write stopped: {e}")))?;
        *cache = taken;
        result
    }

    /// Multi-row inserts, in chunks that stay below SQLite's limit of bound parameters.
    async fn insert_events(
        tx: &mut Transaction<'_, Sqlite>,
        rows: &[EventRow<'_>],
    ) -> Result<(), sqlx::Error> {
        const CHUNK: usize = 500;
        for chunk in rows.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO events ({EVENT_COLUMNS}) VALUES {}",
                values_list(chunk.len(), &["{}"; EVENT_COLUMN_COUNT], false, 1)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                let e = r.event;
                q = q
                    .bind(e.site_id.0)
                    .bind(r.session_id)
                    .bind(e.ts)
                    .bind(&e.name)
                    .bind(&e.path)
                    .bind(&e.props)
                    .bind(e.engaged_ms)
                    .bind(r.company_id)
                    .bind(&e.class)
                    .bind(&e.country)
                    .bind(&e.source)
                    .bind(&e.channel)
                    .bind(&e.utm_source)
                    .bind(&e.utm_medium)
                    .bind(&e.utm_campaign)
                    .bind(&e.utm_term)
                    .bind(&e.utm_content)
                    .bind(&e.browser)
                    .bind(&e.os)
                    .bind(&e.device);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

fn ensure_parent_dir(file: &Path) -> Result<(), StoreError> {
    let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|cause| StoreError::DataDir {
        path: dir.display().to_string(),
        cause,
    })
}

impl_account_store!(SqliteStore, Sqlite);

impl_store!(SqliteStore, {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let before = applied_versions(&self.writer).await?;
        MIGRATOR.run(&self.writer).await?;
        Ok(report(&MIGRATOR, &before))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    fn blocking_ingest(&self) -> Option<Arc<dyn BlockingIngest>> {
        self.ingest.clone().map(|i| i as Arc<dyn BlockingIngest>)
    }

    async fn close(&self) {
        if let Some(ingest) = &self.ingest {
            ingest.stop_checkpoints();
        }
        self.readers.close().await;
        self.writer.close().await;
    }
});

async fn applied_versions(pool: &SqlitePool) -> Result<Vec<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?,
    )
}

pub(super) fn report(migrator: &sqlx::migrate::Migrator, before: &[i64]) -> MigrationReport {
    let mut applied_now = Vec::new();
    let mut already_applied = 0;
    for m in migrator.iter() {
        if before.contains(&m.version) {
            already_applied += 1;
        } else {
            applied_now.push(format!("{} {}", m.version, m.description));
        }
    }
    MigrationReport {
        applied_now,
        already_applied,
    }
}
