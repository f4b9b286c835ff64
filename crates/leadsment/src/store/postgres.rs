//! The PostgreSQL store, for several stateless nodes sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, Transaction};

use super::accounts::impl_account_store;
use super::{MigrationReport, StoreError, common::impl_store, sqlite::report};
use crate::config::{Backend, Config};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(config: &Config) -> Result<PgStore, StoreError> {
        let connect_error = |cause| StoreError::Connect {
            url: config.database_url.redacted(),
            cause,
        };
        let options: PgConnectOptions = config
            .database_url
            .expose()
            .parse::<PgConnectOptions>()
            .map_err(connect_error)?
            .application_name("leadsment")
            // Statements are logged by our own tracing at debug level, never with their values.
            .log_statements(tracing::log::LevelFilter::Debug)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
        // One direct connection first: the pool would retry until its timeout and then report
        // only that it timed out, where this reports why (refused, unknown host, bad password).
        let mut probe = tokio::time::timeout(Duration::from_secs(10), options.connect())
            .await
            .map_err(|_| connect_error(sqlx::Error::PoolTimedOut))?
            .map_err(connect_error)?;
        let _ = probe.ping().await;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(config.database_max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(PgStore { pool })
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

impl_account_store!(PgStore, Postgres);

impl_store!(PgStore, {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let before: Vec<i64> = if exists {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        // sqlx takes an advisory lock, so nodes starting together migrate one at a time.
        MIGRATOR.run(&self.pool).await?;
        Ok(report(&MIGRATOR, &before))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
});
