//! PostgreSQL, for several stateless nodes sharing one database: a connection pool.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::StoreError;
use super::settings::StoreSettings;

pub async fn connect(settings: &StoreSettings) -> Result<PgPool, StoreError> {
    let connect_error = |cause| StoreError::Connect {
        url: settings.database_url.redacted(),
        cause,
    };
    let options: PgConnectOptions = settings
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
    PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(connect_error)
}
