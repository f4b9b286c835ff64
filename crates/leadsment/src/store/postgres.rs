//! The PostgreSQL store, for several stateless nodes sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, Transaction};

use super::accounts::impl_account_store;
use super::common::{EVENT_COLUMNS, EventRow, impl_ingest, impl_store};
use super::{MigrationReport, StoreError, sqlite::report};
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

impl_ingest!(PgStore, Postgres, numbered = true);

impl PgStore {
    async fn ingest_batch(
        &self,
        batch: &crate::tracking::model::IngestBatch,
        cache: &mut crate::tracking::model::SessionCache,
    ) -> Result<(), StoreError> {
        let tx = self.begin_write().await?;
        Self::ingest_tx(tx, batch, cache).await
    }

    /// One statement per batch: each column travels as an array and UNNEST turns them back
    /// into rows, which beats row-by-row inserts by an order of magnitude.
    async fn insert_events(
        tx: &mut Transaction<'_, Postgres>,
        rows: &[EventRow<'_>],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        fn col<T>(rows: &[EventRow<'_>], f: impl Fn(&EventRow<'_>) -> T) -> Vec<T> {
            rows.iter().map(f).collect()
        }
        let sql = format!(
            "INSERT INTO events ({EVENT_COLUMNS}) SELECT * FROM UNNEST(\
             $1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
             $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], \
             $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], \
             $19::text[], $20::text[])"
        );
        sqlx::query(&sql)
            .bind(col(rows, |r| r.event.site_id.0))
            .bind(col(rows, |r| r.session_id))
            .bind(col(rows, |r| r.event.ts))
            .bind(col(rows, |r| r.event.name.clone()))
            .bind(col(rows, |r| r.event.path.clone()))
            .bind(col(rows, |r| r.event.props.clone()))
            .bind(col(rows, |r| r.event.engaged_ms))
            .bind(col(rows, |r| r.company_id))
            .bind(col(rows, |r| r.event.class.clone()))
            .bind(col(rows, |r| r.event.country.clone()))
            .bind(col(rows, |r| r.event.source.clone()))
            .bind(col(rows, |r| r.event.channel.clone()))
            .bind(col(rows, |r| r.event.utm_source.clone()))
            .bind(col(rows, |r| r.event.utm_medium.clone()))
            .bind(col(rows, |r| r.event.utm_campaign.clone()))
            .bind(col(rows, |r| r.event.utm_term.clone()))
            .bind(col(rows, |r| r.event.utm_content.clone()))
            .bind(col(rows, |r| r.event.browser.clone()))
            .bind(col(rows, |r| r.event.os.clone()))
            .bind(col(rows, |r| r.event.device.clone()))
            .execute(&mut **tx)
            .await?;
        Ok(())
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
