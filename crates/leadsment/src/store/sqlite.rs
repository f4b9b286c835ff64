//! The embedded SQLite database: one writer connection (SQLite allows one writer at a time,
//! and a single connection makes that explicit), a pool of read-only readers, in WAL mode; and,
//! for the event writer, a synchronous connection of its own ([`BulkWriter`]) beside which the
//! log is checkpointed in the background (see `checkpoint`).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous as SqlxSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::StoreError;
use super::checkpoint::Checkpointer;
use super::settings::{SqliteSynchronous, StoreSettings};

/// Pages of write-ahead log after which a committing writer checkpoints it itself. The
/// background checkpoints keep the log far below this.
const WAL_CHECKPOINT_BOUND_PAGES: u32 = 8_000;

/// How long a write waits for another connection's write lock before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's pools and the event writer's connection. Cheap to clone.
#[derive(Clone)]
pub struct SqliteDb(Arc<Inner>);

struct Inner {
    writer: SqlitePool,
    readers: SqlitePool,
    path: PathBuf,
    synchronous: SqliteSynchronous,
    /// Opened at the first call of [`SqliteDb::bulk_writer`], with the checkpoints beside it.
    bulk: Mutex<Option<(BulkWriter, Checkpointer)>>,
}

impl Inner {
    fn stop_checkpoints(&self) {
        let taken = self.bulk.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((_, mut checkpointer)) = taken {
            checkpointer.stop();
        }
    }
}

impl Drop for Inner {
    /// A database dropped without `close` stops its checkpoints too.
    fn drop(&mut self) {
        self.stop_checkpoints();
    }
}

impl SqliteDb {
    pub async fn connect(settings: &StoreSettings) -> Result<SqliteDb, StoreError> {
        let url = settings.database_url.expose();
        let connect_error = |cause| StoreError::Connect {
            url: settings.database_url.redacted(),
            cause,
        };
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::Connect {
                url: settings.database_url.redacted(),
                cause: sqlx::Error::Configuration(
                    "an in-memory SQLite database is not supported: give a file".into(),
                ),
            });
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match settings.sqlite_synchronous {
                SqliteSynchronous::Normal => SqlxSynchronous::Normal,
                SqliteSynchronous::Full => SqlxSynchronous::Full,
            })
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .optimize_on_close(true, None)
            // Checkpoints are made in the background (see `checkpoint`); a writer makes one
            // itself only when the log has grown this far, which bounds its size.
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_BOUND_PAGES.to_string());
        let path = options.get_filename().to_owned();
        ensure_parent_dir(&path)?;

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        let readers = SqlitePoolOptions::new()
            .max_connections(settings.database_max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true).optimize_on_close(false, None))
            .await
            .map_err(connect_error)?;
        Ok(SqliteDb(Arc::new(Inner {
            writer,
            readers,
            path,
            synchronous: settings.sqlite_synchronous,
            bulk: Mutex::new(None),
        })))
    }

    pub(super) fn readers(&self) -> &SqlitePool {
        &self.0.readers
    }

    pub(super) fn writer(&self) -> &SqlitePool {
        &self.0.writer
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Writes take the write lock up front: a deferred transaction that reads first and then
    /// writes fails with SQLITE_BUSY_SNAPSHOT when another connection wrote in between,
    /// without waiting for busy_timeout.
    pub(super) async fn begin_immediate(
        &self,
    ) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.0.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// The event writer's synchronous connection, opened (and the background checkpoints
    /// started) at the first call.
    pub fn bulk_writer(&self) -> Result<BulkWriter, StoreError> {
        let mut bulk = self.0.bulk.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((writer, _)) = &*bulk {
            return Ok(writer.clone());
        }
        let conn = open_bulk(&self.0.path, self.0.synchronous).map_err(|e| {
            StoreError::Ingest(format!(
                "cannot open {} for writing events: {e}",
                self.0.path.display()
            ))
        })?;
        let writer = BulkWriter(Arc::new(Mutex::new(conn)));
        let checkpointer = Checkpointer::start(&self.0.path, self.0.synchronous, writer.clone())
            .map_err(|e| StoreError::Ingest(format!("cannot start the checkpoint thread: {e}")))?;
        *bulk = Some((writer.clone(), checkpointer));
        Ok(writer)
    }

    pub(super) async fn close(&self) {
        self.0.stop_checkpoints();
        self.0.readers.close().await;
        self.0.writer.close().await;
    }
}

/// The event writer's synchronous connection (rusqlite, on the same libsqlite3 that sqlx
/// links), and the handshake with the checkpoints: whoever holds [`BulkWriter::lock`] has the
/// connection to itself, and the checkpoint thread takes the same lock to pause the writer
/// between two batches.
///
/// Why not sqlx for events: sqlx runs each SQLite connection on a worker thread of its own and
/// every statement is a round trip from the calling task to that thread and back; on a busy
/// machine each round trip waits for the scheduler twice. The event writer runs a whole batch,
/// `BEGIN IMMEDIATE` to `COMMIT`, on this connection from a thread of its own.
#[derive(Clone)]
pub struct BulkWriter(Arc<Mutex<rusqlite::Connection>>);

impl BulkWriter {
    /// The connection, to this caller alone until the guard drops. (A panic mid-batch rolled
    /// its transaction back, so a poisoned lock still holds a usable connection.)
    pub fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The statements a batch uses, all prepared once and kept.
const STATEMENT_CACHE: usize = 16;

/// Opens the database file (created already) for writing events, with the database's settings:
/// WAL, the configured synchronous level, foreign keys, a busy timeout, and a writer
/// checkpoint only past [`WAL_CHECKPOINT_BOUND_PAGES`].
fn open_bulk(
    path: &Path,
    synchronous: SqliteSynchronous,
) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous.pragma_value())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_BOUND_PAGES)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
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
