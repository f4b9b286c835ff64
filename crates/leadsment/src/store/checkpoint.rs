//! Background checkpoints of SQLite's write-ahead log, made so that the event writer never
//! waits for a disk.
//!
//! A checkpoint copies the log into the database file; it is complete (and the log can start
//! again from its beginning) only when it copied every frame, which cannot happen while the
//! writer keeps appending. Left alone, the writer itself completes one whenever the log
//! passes its bound, and pays for the copy and two fsyncs of everything written since the last
//! one (tens of milliseconds, during which every request of the next batch waits).
//!
//! So each round here, on a connection of its own:
//! 1. a passive checkpoint copies what the log holds (and fsyncs the log first), without
//!    stopping the writer;
//! 2. the database file is fsynced, so the pages just copied are on disk;
//!    (1 and 2 are repeated a few times: each pass has only what was written during the one
//!    before to copy and sync, which is less each time;)
//! 3. with the writer paused between two batches (its connection's mutex held), a last
//!    passive checkpoint copies the few frames written meanwhile and completes, with fsyncs
//!    that have only those to write.
//!
//! The pause is the time to copy and sync what was written during the last pass: about a
//! millisecond on a busy server.

use std::ffi::{CStr, c_int, c_void};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, ffi};

use super::settings::SqliteSynchronous;
use super::sqlite::BulkWriter;

/// How often a round runs.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// The checkpoint thread; stopped when dropped.
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread. `writer` is the event writer's connection, locked for step 3.
    pub fn start(
        path: &Path,
        synchronous: SqliteSynchronous,
        writer: BulkWriter,
    ) -> std::io::Result<Checkpointer> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let path = path.to_owned();
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let conn = match open(&path, synchronous) {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::error!(error = %e, "the background checkpointer cannot open the database; the event writer checkpoints itself");
                        return;
                    }
                };
                let mut done = None;
                let (flag, wake) = &*stopping;
                let mut stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
                while !*stopped {
                    stopped = wake
                        .wait_timeout(stopped, CHECKPOINT_EVERY)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    if *stopped {
                        break;
                    }
                    drop(stopped);
                    if let Err(e) = round_if_written(&conn, &writer, &mut done) {
                        tracing::debug!(error = %e, "background checkpoint failed; the next round retries");
                    }
                    stopped = flag.lock().unwrap_or_else(|p| p.into_inner());
                }
            })?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread after its current round.
    pub fn stop(&mut self) {
        let (flag, wake) = &*self.stop;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn open(path: &Path, synchronous: SqliteSynchronous) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(1))?;
    conn.pragma_update(None, "synchronous", synchronous.pragma_value())?;
    Ok(conn)
}

/// `(frames in the log, frames of it copied so far)` after a passive checkpoint (the second is
/// a running total since the log last started again, not what this call copied).
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

/// Unpaused passes before the paused one: each copies and syncs what was written during the
/// one before, which is less each time.
const PASSES: usize = 3;
/// Frames left to copy below which the writer is paused at once.
const SMALL: i64 = 64;

/// SQLite's count of commits by other connections, which changes whenever anything was written.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// Runs a round unless nothing was committed since the last complete one (`done` holds the
/// data version it saw), so an idle server syncs nothing.
fn round_if_written(
    conn: &Connection,
    writer: &BulkWriter,
    done: &mut Option<i64>,
) -> rusqlite::Result<()> {
    let version = data_version(conn)?;
    if *done == Some(version) {
        return Ok(());
    }
    round(conn, writer)?;
    *done = Some(version);
    Ok(())
}

fn round(conn: &Connection, writer: &BulkWriter) -> rusqlite::Result<()> {
    for _ in 0..PASSES {
        // 1. Copy what is there, while the writer goes on.
        let (log, copied) = passive_checkpoint(conn)?;
        if log <= 0 {
            return Ok(());
        }
        // 2. Put the copied pages on disk. (`copied` cannot tell whether the checkpoint
        // completed: it counts up to this connection's view of the log, and the writer may
        // have added to it meanwhile.)
        sync_database_file(conn)?;
        if log - copied < SMALL {
            break;
        }
    }
    // 3. Complete it with the writer between batches.
    let _paused = writer.lock();
    passive_checkpoint(conn)?;
    Ok(())
}

/// fsyncs the database file through SQLite's own handle on it (opening the file a second
/// time would not do: closing that descriptor would drop every POSIX lock this process holds
/// on the file, SQLite's included).
fn sync_database_file(conn: &Connection) -> rusqlite::Result<()> {
    const MAIN: &CStr = c"main";
    let failed = |what: &str| {
        rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_IOERR_FSYNC),
            Some(format!("cannot sync the database file: {what}")),
        )
    };
    let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
    // SAFETY: `conn` is open and used only by this thread; SQLITE_FCNTL_FILE_POINTER writes the
    // connection's `sqlite3_file` for "main" into `file`, which stays valid while `conn` is
    // open. xSync is the VFS's own sync of that file (an fsync), safe to call between
    // statements.
    unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            MAIN.as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&mut file as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
            return Err(failed("no file handle"));
        }
        let Some(sync) = (*(*file).pMethods).xSync else {
            return Err(failed("the file system layer has no sync"));
        };
        let rc: c_int = sync(file, ffi::SQLITE_SYNC_NORMAL);
        if rc != ffi::SQLITE_OK {
            return Err(failed(&format!("error code {rc}")));
        }
    }
    Ok(())
}
