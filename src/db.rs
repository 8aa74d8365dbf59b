//! PostgreSQL: the connection pool and the embedded migrations. Every other module's queries live
//! with the module; this one owns connecting and the schema's version.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use crate::config::DatabaseConfig;

/// The schema, embedded at build time from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!();

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL {url}: {source}")]
    Url {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database {url} unreachable after {waited_secs} s: {source}")]
    Unreachable {
        url: String,
        waited_secs: u64,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("database did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cancelled while waiting for the database")]
    Cancelled,
}

/// A pool that connects on first use: the daemon can start (and report "database unreachable"
/// on /readyz) before PostgreSQL is up.
pub fn lazy_pool(cfg: &DatabaseConfig) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = cfg.url.expose().parse().map_err(|source| DbError::Url {
        url: cfg.url.redacted(),
        source,
    })?;
    let timeout = format!("{}s", cfg.statement_timeout_secs);
    Ok(PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(Duration::from_secs(cfg.connect_timeout_secs))
        .connect_lazy_with(
            options
                .application_name("tenure")
                .options([("statement_timeout", timeout.as_str())]),
        ))
}

/// `SELECT 1` within `timeout`.
pub async fn ping(pool: &PgPool, timeout: Duration) -> Result<(), DbError> {
    match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(result) => result.map(|_| ()).map_err(DbError::from),
        Err(_) => Err(DbError::Timeout(timeout)),
    }
}

/// Waits for the database with exponential backoff (0.5 s doubling to 10 s) for at most
/// `cfg.startup_retry_secs`, logging each failure.
pub async fn wait_until_reachable(
    pool: &PgPool,
    cfg: &DatabaseConfig,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let started = tokio::time::Instant::now();
    let limit = Duration::from_secs(cfg.startup_retry_secs);
    let mut delay = Duration::from_millis(500);
    loop {
        let err = match pool.acquire().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if started.elapsed() + delay > limit {
            return Err(DbError::Unreachable {
                url: cfg.url.redacted(),
                waited_secs: started.elapsed().as_secs(),
                source: err,
            });
        }
        tracing::warn!(url = %cfg.url.redacted(), error = %err, retry_in = ?delay, "database unreachable");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Err(DbError::Cancelled),
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Applies every pending migration; a no-op on an up-to-date database. Returns the versions
/// that were newly applied.
pub async fn migrate(pool: &PgPool) -> Result<Vec<i64>, DbError> {
    let before: Vec<i64> = applied_versions(pool).await.unwrap_or_default();
    // A migration may rewrite large tables: no statement timeout on its connection.
    let mut conn = pool.acquire().await?;
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    let ran = MIGRATOR.run(&mut *conn).await;
    let _ = sqlx::query("RESET statement_timeout")
        .execute(&mut *conn)
        .await;
    ran?;
    let after = applied_versions(pool).await?;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

/// Versions recorded in sqlx's bookkeeping table, ascending.
pub async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, DbError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}

/// A fresh database `name` on the server `base_url` points at, with the schema applied (dropped
/// first when it exists): the scratch space of the benchmarks. `name` must be a plain SQL
/// identifier.
pub async fn scratch(base_url: &str, name: &str) -> Result<PgPool, DbError> {
    let admin = PgPool::connect(base_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    let mut url = url::Url::parse(base_url).map_err(|e| DbError::Url {
        url: crate::config::DatabaseUrl::new(base_url).redacted(),
        source: sqlx::Error::Configuration(e.into()),
    })?;
    url.set_path(name);
    let pool = PgPool::connect(url.as_str()).await?;
    migrate(&pool).await?;
    Ok(pool)
}
