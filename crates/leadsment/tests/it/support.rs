//! Test harness: a fresh database per test on either backend, and the real application on
//! port 0 in front of it.
//!
//! PostgreSQL tests never skip: when the server is unreachable they fail and say how to start
//! it. `LEADSMENT_TEST_POSTGRES_URL` names the server (default: postgres://postgres@127.0.0.1:5432/postgres);
//! each test gets its own database, copied from a migrated template.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use leadsment::config::Config;
use leadsment::server::Server;
use leadsment::store::{self, Db};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates, for each named async test function taking a [`Backend`], a module with one test
/// per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A fresh, empty (migrated) database and a scratch data directory.
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
    pg_name: Option<String>,
}

fn admin_url() -> String {
    std::env::var("LEADSMENT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{db}"));
    u.to_string()
}

async fn admin_connection() -> PgConnection {
    let url = admin_url();
    match PgConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is unreachable at {url}: {e}. The storage tests run on SQLite and \
             PostgreSQL and never skip: start PostgreSQL (scripts/test does) or point \
             LEADSMENT_TEST_POSTGRES_URL at one."
        ),
    }
}

/// The migrated template every PostgreSQL test database is copied from. Its name carries a
/// digest of the migrations, so a changed migration gets a new template.
async fn pg_template() -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("lm_tpl_{}", migrations_digest());
            let mut admin = admin_connection().await;
            // One process at a time creates the template; the others wait and reuse it.
            sqlx::query("SELECT pg_advisory_lock(727274)")
                .execute(&mut admin)
                .await
                .unwrap();
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut admin)
                    .await
                    .unwrap();
            if !exists {
                let building = format!("{name}_building");
                exec(&mut admin, &format!("DROP DATABASE IF EXISTS {building}")).await;
                exec(&mut admin, &format!("CREATE DATABASE {building}")).await;
                let dir = TempDir::new().unwrap();
                let config =
                    Config::for_tests(&with_database(&admin_url(), &building), dir.path()).unwrap();
                let store = store::connect(&config.store).await.unwrap();
                leadsment::store::migrate(&store).await.unwrap();
                store.close().await;
                // A closed pool's connections may still be ending; a rename needs none left.
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&building)
                .execute(&mut admin)
                .await
                .unwrap();
                exec(
                    &mut admin,
                    &format!("ALTER DATABASE {building} RENAME TO {name}"),
                )
                .await;
            }
            sweep_stale_databases(&mut admin).await;
            sqlx::query("SELECT pg_advisory_unlock(727274)")
                .execute(&mut admin)
                .await
                .unwrap();
            let _ = admin.close().await;
            name
        })
        .await
}

fn migrations_digest() -> String {
    use sha2::{Digest, Sha256};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(f.file_name().unwrap().to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&f).unwrap());
    }
    hasher.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Drops test databases left behind by runs that crashed more than an hour ago.
/// Runs one statement on the administration connection.
async fn exec(admin: &mut PgConnection, statement: &str) {
    sqlx::query(statement).execute(admin).await.unwrap();
}

async fn sweep_stale_databases(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'lm_t\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap();
    let cutoff = unix_secs().saturating_sub(3600);
    for name in names {
        let created: u64 = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        if created < cutoff {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = TempDir::new().unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("leadsment.db").display());
                TestDb {
                    url,
                    dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let template = pg_template().await;
                let name = format!("lm_t_{}_{:08x}", unix_secs(), rand::random::<u32>());
                let mut admin = admin_connection().await;
                exec(
                    &mut admin,
                    &format!("CREATE DATABASE {name} TEMPLATE {template}"),
                )
                .await;
                let _ = admin.close().await;
                TestDb {
                    url: with_database(&admin_url(), &name),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A fresh database with no table in it (PostgreSQL: not made from the migrated
    /// template), for tests that migrate it step by step.
    pub async fn unmigrated(backend: Backend) -> TestDb {
        let dir = TempDir::new().unwrap();
        match backend {
            Backend::Sqlite => TestDb::new(backend).await,
            Backend::Postgres => {
                let name = format!("lm_t_{}_{:08x}", unix_secs(), rand::random::<u32>());
                let mut admin = admin_connection().await;
                exec(&mut admin, &format!("CREATE DATABASE {name}")).await;
                let _ = admin.close().await;
                TestDb {
                    url: with_database(&admin_url(), &name),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A fresh database migrated only up to the migrations numbered below `version`, with
    /// `rows` then written into it: a database as an older release left it, for tests of the
    /// migrations that follow.
    pub async fn migrated_below(backend: Backend, version: i64, rows: &[&str]) -> TestDb {
        let db = TestDb::unmigrated(backend).await;
        let dir = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut migrator = sqlx::migrate::Migrator::new(path).await.unwrap();
        migrator.migrations = migrator
            .migrations
            .iter()
            .filter(|m| m.version < version)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        match backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&format!("{}?mode=rwc", db.url))
                    .await
                    .unwrap();
                migrator.run(&pool).await.unwrap();
                for q in rows {
                    sqlx::query(q).execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                migrator.run(&pool).await.unwrap();
                for q in rows {
                    sqlx::query(q).execute(&pool).await.unwrap();
                }
                pool.close().await;
            }
        }
        db
    }

    /// The same database for another node, with a data directory of its own; dropping it
    /// leaves the database to this one.
    pub fn beside(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            dir: TempDir::new().unwrap(),
            pg_name: None,
        }
    }

    /// A fresh database and a handle on it.
    pub async fn open(backend: Backend) -> (TestDb, Db) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        (db, store)
    }

    pub fn config(&self) -> Config {
        Config::for_tests(&self.url, self.dir.path()).unwrap()
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Db {
        let store = store::connect(&self.config().store).await.unwrap();
        leadsment::store::migrate(&store).await.unwrap();
        store
    }

    /// The database's name on the PostgreSQL server.
    pub fn pg_name(&self) -> Option<&str> {
        self.pg_name.as_deref()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop the database on a thread of its own: this may run inside an async runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// The real application, listening on a free port of 127.0.0.1.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the app after `configure` has adjusted its configuration.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
        let db = TestDb::new(backend).await;
        let mut config = db.config();
        configure(&mut config);
        let server = Server::bind(config).await.unwrap();
        Self::start(db, server, None).await
    }

    /// Starts an already bound server, serving `router` instead of the application's own
    /// when given (tests that add a route of their own to the real middleware).
    pub async fn start(db: TestDb, server: Server, router: Option<axum::Router>) -> TestApp {
        let addr = server.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let task = match router {
            Some(router) => tokio::spawn(server.run_router(router, shutdown)),
            None => tokio::spawn(server.run(shutdown)),
        };
        TestApp {
            addr,
            db,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Asks the server to stop and waits until it has.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }
}
