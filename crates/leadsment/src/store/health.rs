//! Whether the database takes writes, as the event writer last found it: for `/healthz`, for
//! `/metrics` (`leadsment_store_up`, `leadsment_store_write_errors_total{kind}`) and for the
//! log, which says once when writes start failing (with what to do) and once when they
//! succeed again, never once per request.

use std::sync::Mutex;
use std::time::Instant;

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

use super::StoreError;

/// Why a write failed, as far as an operator can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteErrorKind {
    /// The disk (or SQLite's page limit, or PostgreSQL's disk) is full.
    DiskFull,
    /// The database cannot be reached: refused, reset or timed-out connections, a server
    /// shutting down.
    Unavailable,
    /// Another process held the write lock longer than the busy timeout.
    Busy,
    /// The file or the server is read-only.
    ReadOnly,
    /// The operating system failed a read, write or sync.
    Io,
    /// Anything else (a constraint, a bug).
    Other,
}

impl WriteErrorKind {
    pub const ALL: [WriteErrorKind; 6] = [
        WriteErrorKind::DiskFull,
        WriteErrorKind::Unavailable,
        WriteErrorKind::Busy,
        WriteErrorKind::ReadOnly,
        WriteErrorKind::Io,
        WriteErrorKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteErrorKind::DiskFull => "disk_full",
            WriteErrorKind::Unavailable => "unavailable",
            WriteErrorKind::Busy => "busy",
            WriteErrorKind::ReadOnly => "read_only",
            WriteErrorKind::Io => "io",
            WriteErrorKind::Other => "other",
        }
    }

    /// What the operator can do about it, for the log line.
    pub fn advice(self) -> &'static str {
        match self {
            WriteErrorKind::DiskFull => {
                "free disk space where the database lives; events are answered 503 until a write succeeds again, which happens by itself"
            }
            WriteErrorKind::Unavailable => {
                "check that the database server runs and is reachable; events are answered 503 meanwhile, and writes resume by themselves when it answers"
            }
            WriteErrorKind::Busy => {
                "another process holds the database's write lock (a long transaction, a backup tool that locks); end it"
            }
            WriteErrorKind::ReadOnly => {
                "make the database file, its folder and its -wal and -shm files writable by this user, or the server writable"
            }
            WriteErrorKind::Io => {
                "the operating system failed a read or write: check the disk and the kernel log"
            }
            WriteErrorKind::Other => "see the error; if it repeats, report it",
        }
    }

    /// The kind of a failed write of either backend.
    pub fn of(error: &StoreError) -> WriteErrorKind {
        match error {
            StoreError::Sqlite(e) => Self::of_sqlite(e),
            StoreError::Database(e) | StoreError::Connect { cause: e, .. } => Self::of_sqlx(e),
            StoreError::TimedOut => WriteErrorKind::Unavailable,
            _ => WriteErrorKind::Other,
        }
    }

    fn of_sqlite(error: &rusqlite::Error) -> WriteErrorKind {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => WriteErrorKind::DiskFull,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => WriteErrorKind::Busy,
            Some(ErrorCode::ReadOnly) => WriteErrorKind::ReadOnly,
            Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => WriteErrorKind::Io,
            _ => WriteErrorKind::Other,
        }
    }

    fn of_sqlx(error: &sqlx::Error) -> WriteErrorKind {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => WriteErrorKind::Unavailable,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                match code.parse::<i32>() {
                    // SQLite through sqlx: its extended result code, whose low byte is the
                    // primary one. (PostgreSQL's SQLSTATE codes are five characters, some
                    // of them digits only; none is a SQLite code.)
                    Ok(n) if code.len() < 5 => Self::of_sqlite(&rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(n),
                        None,
                    )),
                    _ => match code.as_ref() {
                        // Insufficient resources: disk full, out of memory.
                        c if c.starts_with("53") => WriteErrorKind::DiskFull,
                        // Operator intervention (a shutdown), connection exceptions.
                        c if c.starts_with("57") || c.starts_with("08") => {
                            WriteErrorKind::Unavailable
                        }
                        "25006" => WriteErrorKind::ReadOnly,
                        "55P03" | "40P01" => WriteErrorKind::Busy,
                        _ => WriteErrorKind::Other,
                    },
                }
            }
            _ => WriteErrorKind::Other,
        }
    }
}

/// The writer's view of the database. One per writer; cheap to share behind an `Arc`.
pub struct StoreHealth {
    up: IntGauge,
    errors: IntCounterVec,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Since when writes fail, why, and how many failed since.
    failing: Option<Failing>,
    /// When a failure was last logged as an error.
    logged_at: Option<Instant>,
    /// When a failed read for an event was last logged as an error.
    read_logged_at: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Failing {
    kind: WriteErrorKind,
    since: Instant,
    failures: u64,
    /// Whether its start was logged as an error (then its end is logged too).
    logged: bool,
}

/// After a failure logged as an error, new failures are logged at debug level only for this
/// long: a disk at its limit lets some writes through (pages freed by a checkpoint) and fails
/// others, and each flap would otherwise log an error and a recovery.
const QUIET: std::time::Duration = std::time::Duration::from_secs(60);

/// The writer's state, for `/healthz`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WriterState {
    /// `ok`, or `failing` since a write failed and until one succeeds.
    pub state: &'static str,
    /// The kind of the last failure while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// Seconds since writes started failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_for_secs: Option<u64>,
}

impl StoreHealth {
    pub fn new() -> Result<StoreHealth, prometheus::Error> {
        let up = IntGauge::with_opts(Opts::new(
            "leadsment_store_up",
            "1 while the database takes writes, 0 from a failed write of events until one succeeds again.",
        ))?;
        up.set(1);
        let errors = IntCounterVec::new(
            Opts::new(
                "leadsment_store_write_errors_total",
                "Failed attempts to write a batch of events, by kind: disk_full, unavailable, busy, read_only, io, other.",
            ),
            &["kind"],
        )?;
        for kind in WriteErrorKind::ALL {
            errors.with_label_values(&[kind.as_str()]);
        }
        Ok(StoreHealth {
            up,
            errors,
            state: Mutex::new(State::default()),
        })
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.up.clone()))?;
        registry.register(Box::new(self.errors.clone()))?;
        Ok(())
    }

    /// Whether the last write failed.
    pub fn is_failing(&self) -> bool {
        self.lock().failing.is_some()
    }

    /// Records a failed write. The first failure after a success is logged as an error that
    /// says what to do; the ones after it only at debug level.
    pub fn failed(&self, error: &StoreError, events: usize) -> WriteErrorKind {
        let kind = WriteErrorKind::of(error);
        self.errors.with_label_values(&[kind.as_str()]).inc();
        self.up.set(0);
        let mut state = self.lock();
        let quiet = state.logged_at.is_some_and(|t| t.elapsed() < QUIET);
        match &mut state.failing {
            Some(failing) => {
                failing.failures += 1;
                if failing.kind != kind {
                    tracing::warn!(error = %error, kind = kind.as_str(), "writing events still fails, now for another reason: {}", kind.advice());
                    failing.kind = kind;
                } else {
                    tracing::debug!(error = %error, kind = kind.as_str(), events, "writing events failed again");
                }
            }
            None if quiet => {
                tracing::debug!(error = %error, kind = kind.as_str(), events, "writing events failed again soon after it recovered");
                state.failing = Some(Failing {
                    kind,
                    since: Instant::now(),
                    failures: 1,
                    logged: false,
                });
            }
            None => {
                tracing::error!(
                    error = %error,
                    kind = kind.as_str(),
                    events,
                    "writing events failed; they are answered 503 with Retry-After and nothing answered 202 is lost. What to do: {}",
                    kind.advice()
                );
                state.failing = Some(Failing {
                    kind,
                    since: Instant::now(),
                    failures: 1,
                    logged: true,
                });
                state.logged_at = Some(Instant::now());
            }
        }
        kind
    }

    /// Records a successful write; logs the recovery when writes were failing.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        if let Some(failing) = state.failing.take() {
            self.up.set(1);
            if !failing.logged {
                tracing::debug!(
                    failed_attempts = failing.failures,
                    "writing events succeeds again"
                );
                return;
            }
            tracing::info!(
                kind = failing.kind.as_str(),
                failed_attempts = failing.failures,
                after_secs = failing.since.elapsed().as_secs(),
                "writing events succeeds again"
            );
        }
    }

    /// Records a read for an event (its site, the day's salt) that failed: the event is
    /// answered 503. Logged as an error at most once a minute, at debug level otherwise.
    pub fn read_failed(&self, error: &StoreError) {
        let kind = WriteErrorKind::of(error);
        let mut state = self.lock();
        if state.read_logged_at.is_some_and(|t| t.elapsed() < QUIET) {
            tracing::debug!(error = %error, kind = kind.as_str(), "reading for an event failed again");
            return;
        }
        state.read_logged_at = Some(Instant::now());
        tracing::error!(
            error = %error,
            kind = kind.as_str(),
            "reading the site or the day's salt for an event failed; events are answered 503 with Retry-After (logged at most once a minute). What to do: {}",
            kind.advice()
        );
    }

    pub fn writer_state(&self) -> WriterState {
        match self.lock().failing {
            None => WriterState {
                state: "ok",
                error: None,
                failing_for_secs: None,
            },
            Some(f) => WriterState {
                state: "failing",
                error: Some(f.kind.as_str()),
                failing_for_secs: Some(f.since.elapsed().as_secs()),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use rusqlite::ffi;

    use super::*;

    fn sqlite_error(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None))
    }

    #[test]
    fn kinds_of_errors() {
        let kind = |e: &StoreError| WriteErrorKind::of(e);
        assert_eq!(
            kind(&sqlite_error(ffi::SQLITE_FULL)),
            WriteErrorKind::DiskFull
        );
        assert_eq!(kind(&sqlite_error(ffi::SQLITE_BUSY)), WriteErrorKind::Busy);
        assert_eq!(
            kind(&sqlite_error(ffi::SQLITE_READONLY)),
            WriteErrorKind::ReadOnly
        );
        assert_eq!(
            kind(&sqlite_error(ffi::SQLITE_IOERR_WRITE)),
            WriteErrorKind::Io
        );
        assert_eq!(
            kind(&sqlite_error(ffi::SQLITE_CONSTRAINT)),
            WriteErrorKind::Other
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            kind(&StoreError::Database(sqlx::Error::Io(refused))),
            WriteErrorKind::Unavailable
        );
        assert_eq!(
            kind(&StoreError::Database(sqlx::Error::PoolTimedOut)),
            WriteErrorKind::Unavailable
        );
        assert_eq!(kind(&StoreError::TimedOut), WriteErrorKind::Unavailable);
    }

    /// The log lines written while `f` runs.
    fn logged(f: impl FnOnce()) -> Vec<String> {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_failure_is_logged_once_with_what_to_do_and_the_recovery_once() {
        let health = StoreHealth::new().unwrap();
        let lines = logged(|| {
            for _ in 0..100 {
                health.failed(&sqlite_error(ffi::SQLITE_FULL), 10);
            }
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("ERROR"), "{lines:?}");
        assert!(lines[0].contains("free disk space"), "{lines:?}");
        assert!(health.is_failing());
        assert_eq!(health.up.get(), 0);
        assert_eq!(health.errors.with_label_values(&["disk_full"]).get(), 100);
        assert_eq!(health.writer_state().error, Some("disk_full"));

        let lines = logged(|| {
            health.succeeded();
            health.succeeded();
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("succeeds again"), "{lines:?}");
        assert!(lines[0].contains("failed_attempts=100"), "{lines:?}");
        assert!(!health.is_failing());
        assert_eq!(health.up.get(), 1);
        assert_eq!(health.writer_state().state, "ok");
    }
}
