//! One server per SQLite file: `serve` holds an exclusive `flock` on a lock file beside the
//! database for its whole life. The lock is on a file of its own, never on the database:
//! closing any descriptor of the database file would drop SQLite's own POSIX locks. The
//! kernel releases a `flock` when its holder dies, SIGKILL included, so a crashed server
//! restarts without a clean-up step. One-shot commands (`site add`, `migrate`...) never take
//! it and run beside a server.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

/// Held for as long as the server runs; dropping it (or the process dying) releases the lock.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `leadsment serve` is already running on {database} (it holds {lock}): one \
         server per SQLite file; stop it first, or use PostgreSQL to run several nodes"
    )]
    Held { database: String, lock: String },
    #[error("cannot open the lock file {lock}: {cause}")]
    Open { lock: String, cause: std::io::Error },
}

/// The database file a SQLite URL names, if it names one.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// The lock file of a database: its name with `.lock` appended, in the same folder.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl ServeLock {
    /// Takes the lock without waiting: a second server fails at once with [`LockError::Held`].
    pub fn acquire(database: &Path) -> Result<ServeLock, LockError> {
        let path = lock_path(database);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|cause| LockError::Open {
                lock: path.display().to_string(),
                cause,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(ServeLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held {
                database: database.display().to_string(),
                lock: path.display().to_string(),
            }),
            Err(TryLockError::Error(cause)) => Err(LockError::Open {
                lock: path.display().to_string(),
                cause,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_the_lock_returns_when_the_first_goes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("leadsment.db");
        let first = ServeLock::acquire(&db).unwrap();
        assert_eq!(first.path(), dir.path().join("leadsment.db.lock"));
        let err = ServeLock::acquire(&db).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains("already running"), "{err}");
        drop(first);
        ServeLock::acquire(&db).unwrap();
    }

    #[test]
    fn the_database_file_is_read_from_the_url() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/leadsment/leadsment.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/leadsment/leadsment.db"))
        );
    }
}
