//! Starting and stopping the HTTP server.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use tokio::net::TcpListener;

use std::sync::Arc;
use std::time::Duration;

use crate::app::{self, AppState};
use crate::config::Config;
use crate::ipdb::IpDb;
use crate::store::{self, Db};
use crate::tracking::Tracking;
use crate::tracking::writer::Writer;
use crate::web::{self, serve::ConnectionLimits};

/// A server whose sockets are bound and whose database is open and migrated, ready to run.
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    writer: Writer,
    lease: crate::nodes::NodeLease,
    ipdb_watch: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Prepares the data directory, opens and migrates the database, and binds the listeners.
    /// Each failure names what failed: the folder, the database or the address.
    /// The sockets are bound first: a port in use is the cheapest failure to find.
    pub async fn bind(mut config: Config) -> anyhow::Result<Server> {
        let listener = bind_listener(config.web.listen).await?;
        // Listening on port 0 picks a free port; the public URL derived from it names that port.
        if config.web.public_url.port() == Some(0) {
            let port = listener.local_addr()?.port();
            let _ = config.web.public_url.set_port(Some(port));
        }
        let metrics_listener = match config.web.metrics_listen {
            Some(addr) => Some(bind_listener(addr).await?),
            None => None,
        };
        ensure_writable_dir(&config.data_dir)?;
        let store = store::connect(&config.store).await?;
        let report = crate::store::migrate(&store).await?;
        for m in &report.applied_now {
            tracing::info!(migration = %m, "applied database migration");
        }
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            database = %config.store.database_url,
            data_dir = %config.data_dir.display(),
            "database ready"
        );
        let web = Arc::new(config.web.clone());
        let auth = crate::auth::AuthState::load(&config.auth, web, store.clone()).await?;
        crate::accounts::pages::announce_setup(&config.web, &store).await?;
        Self::with_listeners(config, store, auth, listener, metrics_listener).await
    }

    async fn with_listeners(
        config: Config,
        store: Db,
        auth: crate::auth::AuthState,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
    ) -> anyhow::Result<Server> {
        let overrides = match &config.tracking.ip_overrides {
            Some(path) => ipintel::Overrides::from_path(path)
                .with_context(|| format!("key `ip_overrides`: cannot use {}", path.display()))?,
            None => ipintel::Overrides::default(),
        };
        let ipdb = Arc::new(IpDb::open(&config.data_dir, overrides));
        let ipdb_watch = ipdb.watch(Duration::from_secs(5));
        let rdns = match config.tracking.reverse_dns_config() {
            Some(rdns) => {
                let client = ipintel::rdns::HickoryReverseDns::new(rdns)
                    .context("key `reverse_dns`: cannot set up reverse DNS")?;
                tracing::info!(
                    resolver = config
                        .tracking
                        .reverse_dns_resolver
                        .map_or_else(|| "the system's".to_owned(), |a| a.to_string()),
                    timeout_ms = config.tracking.reverse_dns_timeout.as_millis() as u64,
                    "reverse DNS is on: visitors' addresses are sent to the resolver"
                );
                Some(client)
            }
            None => None,
        };
        let lease = crate::nodes::NodeLease::start(store.clone(), config.tracking.node_lease)
            .await
            .context("cannot lease a node tag")?;
        tracing::info!(
            tag = lease.tag().map_or(-1, i64::from),
            "node tag leased for the ids of new visits"
        );
        let writer = Writer::spawn(store.clone(), config.tracking.ingest_queue, lease.clone())
            .context("cannot start the event writer")?;
        let limits = crate::tracking::limits::EventLimits::new(
            config.tracking.events_per_client_per_minute,
            config.tracking.events_per_site_per_minute,
        );
        let tracking = Tracking::new(
            store.clone(),
            writer.handle(),
            ipdb,
            rdns,
            limits,
            config.tracking.site_cache_size,
        )?;
        let tracking = Arc::new(tracking);
        let consent = crate::consent::Consent::start(
            store.clone(),
            auth.web.clone(),
            tracking.ipdb.clone(),
            config.consent.clone(),
            crate::auth::PERSISTENT_SESSION_MS / (24 * 3600 * 1000),
        )
        .await
        .context("cannot set up the consent manager")?;
        // The instance's own pages are counted in the platform workspace.
        let site = crate::site::SiteState::start(
            &store,
            auth.web.clone(),
            config.site.clone(),
            &config.data_dir,
        )
        .await?;
        let state = AppState::new(config, store, auth, tracking, Arc::new(consent), site)
            .context("cannot set up the metrics registry")?;
        Ok(Server {
            listener,
            metrics_listener,
            state,
            writer,
            lease,
            ipdb_watch,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting connections, lets requests in
    /// flight finish, and closes the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = app::router(self.state.clone());
        self.run_router(router, shutdown).await
    }

    /// Like [`Server::run`] with a router of the caller's (the application's plus extra
    /// routes, in tests).
    pub async fn run_router(
        self,
        router: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let stop_metrics = stop_tx.subscribe();
        let mut stop_main = stop_tx.subscribe();
        let mut stop_warm = stop_tx.subscribe();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(());
        });

        let limits = ConnectionLimits::from_settings(&self.state.web);
        let connections = self.state.metrics.connections();
        let metrics_task = self.metrics_listener.map(|listener| {
            let connections = connections.clone();
            let router = app::metrics_router(&self.state);
            let mut stop = stop_metrics;
            tokio::spawn(web::serve::serve(
                listener,
                router,
                limits,
                connections,
                async move {
                    let _ = stop.recv().await;
                },
            ))
        });

        let addr = self.listener.local_addr()?;
        tracing::info!(
            %addr,
            public_url = %self.state.config.web.public_url,
            max_connections = limits.max_connections,
            header_read_timeout_secs = limits.header_read_timeout.as_secs(),
            idle_timeout_secs = limits.idle_timeout.as_secs(),
            "listening"
        );
        // The dashboard's first pages after a start would each read their whole period.
        let warm = {
            let (db, cache) = (self.state.db.clone(), self.state.leads_cache.clone());
            AbortOnDrop(tokio::spawn(async move {
                let work = async {
                    // After a moment: a start's own work (and the first requests) come first.
                    tokio::time::sleep(WARM_UP_AFTER).await;
                    let sites = crate::accounts::store::list_sites(&db).await?;
                    crate::leads::warm::warm_up(&db, &cache, sites).await
                };
                tokio::select! {
                    _ = stop_warm.recv() => {}
                    done = work => {
                        if let Err(e) = done {
                            tracing::warn!(error = %e, "warming the dashboard cache failed");
                        }
                    }
                }
            }))
        };
        // The consent proof log keeps decisions for the retention period, then forgets them.
        let _retention = {
            let consent = self.state.consent.clone();
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    match consent.apply_retention(crate::store::now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(
                            deleted = n,
                            "consent decisions past their retention deleted"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "deleting old consent decisions failed")
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(6 * 3600)).await;
                }
            }))
        };
        // Each site's traffic older than its retention is deleted every hour; PostgreSQL's
        // event partitions are made three months ahead.
        let _traffic_retention = AbortOnDrop(self.state.retention.clone().spawn());
        // Unverified hosts are checked again every hour; each node claims the hosts it checks.
        let _ownership = {
            let (db, probe) = (self.state.db.clone(), self.state.ownership_probe.clone());
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(RECHECK_OWNERSHIP_EVERY).await;
                    match crate::accounts::ownership::recheck_due(&db, probe.as_ref()).await {
                        Ok((0, _)) => {}
                        Ok((checked, verified)) => {
                            tracing::info!(checked, verified, "unverified hosts checked again")
                        }
                        Err(e) => tracing::warn!(error = %e, "checking unverified hosts failed"),
                    }
                }
            }))
        };
        // A tag switched on or off at one node's panel takes effect at every node within
        // seconds: each follows the change log.
        let _follow = {
            let consent = self.state.consent.clone();
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(FOLLOW_TAG_CHANGES_EVERY).await;
                    match consent.follow_changes().await {
                        Ok(true) => tracing::info!("the cookie policy changed at another node"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "checking for tag changes failed"),
                    }
                }
            }))
        };
        web::serve::serve(self.listener, router, limits, connections, async move {
            let _ = stop_main.recv().await;
            tracing::info!("shutting down: finishing requests in flight");
        })
        .await;

        if let Some(task) = metrics_task {
            task.await.context("the metrics server task failed")?;
        }
        // No request can submit an event any more: write what is queued, then close.
        self.writer.shutdown().await;
        self.lease.release().await;
        self.ipdb_watch.abort();
        drop(warm);
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// A task that ends with its owner, on every way out.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often a node checks for tag changes made at another.
const FOLLOW_TAG_CHANGES_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// How often a node looks for unverified hosts due for their hourly check: a host is checked
/// within this long after its hour is up.
const RECHECK_OWNERSHIP_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// How long after a start the dashboard cache is warmed.
const WARM_UP_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

async fn bind_listener(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Creates the data directory if needed and proves that it can be written to.
pub fn ensure_writable_dir(dir: &Path) -> anyhow::Result<()> {
    let shown = dir.display();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {shown}"))?;
    let probe = dir.join(".leadsment-write-test");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("the data directory {shown} is not writable"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}
