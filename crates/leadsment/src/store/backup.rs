//! `leadsment backup FILE`: a consistent copy of a SQLite database, made while the server runs.
//!
//! `VACUUM INTO` copies the database as one read transaction sees it: every transaction
//! committed before it began, none after, whatever the writer does meanwhile (in WAL mode a
//! reader never blocks the writer and is never blocked by it). It takes no write lock and not
//! the server's lock file. The copy is written beside the target under a temporary name,
//! checked, synced and then renamed, so FILE is either a whole backup or absent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// What a backup wrote.
#[derive(Debug)]
pub struct Backup {
    pub bytes: u64,
    pub events: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; a backup never overwrites a file, give a new name")]
    Exists(String),
    #[error("there is no database at {0}; check --data-dir or --database-url")]
    NoDatabase(String),
    #[error("cannot back up {database} into {target}: {cause}")]
    Sqlite {
        database: String,
        target: String,
        cause: rusqlite::Error,
    },
    #[error("the copy in {target} failed its integrity check ({found}); it was removed")]
    Check { target: String, found: String },
    #[error("cannot write {target}: {cause}")]
    Io {
        target: String,
        cause: std::io::Error,
    },
}

/// Copies the SQLite database `database` into the new file `target`.
pub fn sqlite(database: &Path, target: &Path) -> Result<Backup, BackupError> {
    let shown = |p: &Path| p.display().to_string();
    if target.exists() {
        return Err(BackupError::Exists(shown(target)));
    }
    if !database.is_file() {
        return Err(BackupError::NoDatabase(shown(database)));
    }
    let partial = partial_name(target);
    let sqlite_error = |cause| BackupError::Sqlite {
        database: shown(database),
        target: shown(target),
        cause,
    };
    let io_error = |cause| BackupError::Io {
        target: shown(target),
        cause,
    };
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        copy(database, &partial).map_err(sqlite_error)?;
        let events = check(&partial).map_err(sqlite_error)??;
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io_error)?;
        std::fs::rename(&partial, target).map_err(io_error)?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the folder is synced.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        let bytes = std::fs::metadata(target).map_err(io_error)?.len();
        Ok(Backup { bytes, events })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// `FILE.partial`, beside `FILE`.
fn partial_name(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn copy(database: &Path, into: &Path) -> rusqlite::Result<()> {
    // Read and write, as the server opens it (a read-only connection cannot open a WAL
    // database whose shared-memory file is missing); nothing is written through it.
    let conn = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let into = into
        .to_str()
        .ok_or_else(|| rusqlite::Error::InvalidPath(into.to_path_buf()))?;
    conn.execute("VACUUM INTO ?1", [into])?;
    Ok(())
}

/// SQLite's quick check of the copy, and its count of events.
fn check(copy: &Path) -> rusqlite::Result<Result<i64, BackupError>> {
    let conn = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let found: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if found != "ok" {
        return Ok(Err(BackupError::Check {
            target: copy.display().to_string(),
            found,
        }));
    }
    let events = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap_or(0);
    Ok(Ok(events))
}
