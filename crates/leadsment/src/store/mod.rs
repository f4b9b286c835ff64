//! Storage: one trait, [`Store`], with a SQLite implementation (embedded, the default) and a
//! PostgreSQL one (several stateless nodes). Both pass the same test suite.
//!
//! Most statements are the same text in both dialects (sqlx binds `$1`, `$2`… positionally in
//! SQLite too), so the queries they share are written once in [`common`] and instantiated for
//! each backend; what differs (connections, transactions, migrations, bulk writes) lives in
//! [`sqlite`] and [`postgres`].

pub mod accounts;
mod common;
pub mod postgres;
pub mod sqlite;
mod sqlite_checkpoint;
mod sqlite_ingest;

use std::sync::Arc;

use async_trait::async_trait;

use crate::accounts::Workspace;
use ipnet::IpNet;

use crate::accounts::sites::{Hostname, NewSite, Site, SiteId};
use crate::config::{Backend, Config};
use crate::tracking::model::{ExportedEvent, IngestBatch, SessionCache};

pub use accounts::AccountStore;

pub type DynStore = Arc<dyn Store>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data conflicts with what is stored (a taken domain, say); the message is for users.
    #[error("{0}")]
    Conflict(String),
    // The causes are part of the message rather than a `source`, so that `{:#}` does not
    // print them twice.
    #[error("cannot connect to the database at {url}: {cause}")]
    Connect { url: String, cause: sqlx::Error },
    #[error("cannot prepare the data directory {path}: {cause}")]
    DataDir { path: String, cause: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// SQLite's event writer (its own connection, not sqlx's).
    #[error("database error: {0}")]
    Ingest(String),
    /// A stored value that the code does not know (a role written by a newer version).
    #[error("unexpected stored data: {0}")]
    Corrupt(String),
}

/// One applied or pending migration, for `leadsment migrate` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied_now: Vec<String>,
    pub already_applied: usize,
}

#[async_trait]
pub trait Store: AccountStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Brings the schema up to date. Safe to run from several nodes at once.
    async fn migrate(&self) -> Result<MigrationReport, StoreError>;

    /// A cheap round trip, for `/healthz`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Waits for connections in use to be returned, then closes them.
    async fn close(&self);

    /// The workspace that command-line sites belong to, created on first use.
    async fn default_workspace(&self) -> Result<Workspace, StoreError>;

    /// Creates a site. A domain or alias that another site already claims is a
    /// [`StoreError::Conflict`] naming it.
    async fn create_site(&self, site: &NewSite) -> Result<Site, StoreError>;

    /// Every site, oldest first.
    async fn list_sites(&self) -> Result<Vec<Site>, StoreError>;

    /// The site that claims `host` as its domain or an alias (compared without `www.`).
    async fn site_by_host(&self, host: &Hostname) -> Result<Option<Site>, StoreError>;

    /// A random secret of `len` bytes under `name`, created on first use and then the same for
    /// every node that shares this store.
    async fn shared_secret(&self, name: &str, len: usize) -> Result<Vec<u8>, StoreError>;

    /// The secret under `name` if it exists; never creates one.
    async fn existing_shared_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes the secrets whose name starts with `prefix` created before `before_ms`.
    async fn delete_shared_secrets(&self, prefix: &str, before_ms: i64) -> Result<u64, StoreError>;

    /// Networks whose visits the site ignores.
    async fn ignored_networks(&self, site: SiteId) -> Result<Vec<IpNet>, StoreError>;

    /// Adds a network to the site's ignore list (adding one twice is fine).
    async fn add_ignored_network(&self, site: SiteId, network: IpNet) -> Result<(), StoreError>;

    /// Writes a batch of events and bot counts in one transaction, assigning sessions. On
    /// success every event is durable; on failure none is written.
    async fn ingest(&self, batch: &IngestBatch, cache: &mut SessionCache)
    -> Result<(), StoreError>;

    /// The same writes without async, for a backend whose writes are fastest on a thread of
    /// their own (SQLite's file databases). The server's event writer uses it when there is one.
    fn blocking_ingest(&self) -> Option<Arc<dyn BlockingIngest>> {
        None
    }

    /// Events of a site between two times (milliseconds, `to` excluded), in time order (then
    /// id), after `after` (the time and id of the last event of the previous page; `None` for
    /// the first page), at most `limit`: the pages of an export. Each page is a range read of
    /// the site's time index, however far into the export it is.
    async fn export_events(
        &self,
        site: SiteId,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<ExportedEvent>, StoreError>;
}

/// [`Store::ingest`] as a blocking call: each call holds the calling thread for one
/// transaction, so it belongs on a thread of its own, never on the async runtime's.
pub trait BlockingIngest: Send + Sync + 'static {
    fn ingest(&self, batch: &IngestBatch, cache: &mut SessionCache) -> Result<(), StoreError>;
}

/// Opens the store that `config.database_url` names. Does not migrate.
pub async fn connect(config: &Config) -> Result<DynStore, StoreError> {
    match config.database_url.backend() {
        Some(Backend::Postgres) => Ok(Arc::new(postgres::PgStore::connect(config).await?)),
        // `Config` only holds URLs of the two known backends.
        Some(Backend::Sqlite) | None => Ok(Arc::new(sqlite::SqliteStore::connect(config).await?)),
    }
}

/// Milliseconds since the Unix epoch, the time format of every stored timestamp.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Turns a unique-constraint violation into a [`StoreError::Conflict`] with `message`.
pub(crate) fn conflict_or(error: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::Database(error),
    }
}
