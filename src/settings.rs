//! Settings an operator changes while the daemon runs (`vesting.mode`, later `uptime.mode`):
//! stored in the database, every change with an audit row (who, when, old, new, why). The
//! configuration file only gives the value used until the first change. The daemon reads them
//! when it computes an epoch, so a change applies from the next epoch.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool, Row};

use crate::config::Mode;
use crate::units::NetUid;

pub const VESTING_MODE: &str = "vesting.mode";
pub const UPTIME_MODE: &str = "uptime.mode";

/// Where a setting's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Source {
    /// Never changed at run time: the configuration file's value.
    Config,
    /// Changed at run time.
    Database {
        updated_by: String,
        updated_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModeSetting {
    pub mode: Mode,
    #[serde(flatten)]
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub old: Mode,
    pub new: Mode,
    /// False when the setting already had that value (nothing written, nothing audited).
    pub changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("setting {key} holds {value}, which is not a mode (on, shadow, off)")]
    Corrupt { key: String, value: String },
}

fn parse(key: &str, value: serde_json::Value) -> Result<Mode, SettingsError> {
    serde_json::from_value(value.clone()).map_err(|_| SettingsError::Corrupt {
        key: key.into(),
        value: value.to_string(),
    })
}

/// The mode in force for `key`: the stored one, else `default` (the configuration's).
pub async fn mode<'e>(
    db: impl PgExecutor<'e>,
    netuid: NetUid,
    key: &str,
    default: Mode,
) -> Result<ModeSetting, SettingsError> {
    let row = sqlx::query(
        "SELECT value, updated_by, updated_at FROM settings WHERE netuid = $1 AND key = $2",
    )
    .bind(i32::from(netuid))
    .bind(key)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(r) => ModeSetting {
            mode: parse(key, r.get(0))?,
            source: Source::Database {
                updated_by: r.get(1),
                updated_at: r.get(2),
            },
        },
        None => ModeSetting {
            mode: default,
            source: Source::Config,
        },
    })
}

/// Sets `key` to `new` on behalf of `actor`, with an audit row, in one transaction.
pub async fn set_mode(
    pool: &PgPool,
    netuid: NetUid,
    key: &str,
    default: Mode,
    new: Mode,
    actor: &str,
    reason: Option<&str>,
) -> Result<Change, SettingsError> {
    let n = i32::from(netuid);
    let mut tx = pool.begin().await?;
    // Serializes concurrent changes of the same setting, even before its first row exists.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tenure.settings'), $1)")
        .bind(n)
        .execute(&mut *tx)
        .await?;
    let old = mode(&mut *tx, netuid, key, default).await?.mode;
    if old == new {
        tx.commit().await?;
        return Ok(Change {
            old,
            new,
            changed: false,
        });
    }
    let (old_json, new_json) = (serde_json::json!(old), serde_json::json!(new));
    sqlx::query(
        "INSERT INTO settings (netuid, key, value, updated_at, updated_by) VALUES ($1, $2, $3, now(), $4)
         ON CONFLICT (netuid, key) DO UPDATE SET value = $3, updated_at = now(), updated_by = $4",
    )
    .bind(n)
    .bind(key)
    .bind(&new_json)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO settings_audit (netuid, key, old_value, new_value, actor, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(n)
    .bind(key)
    .bind(&old_json)
    .bind(&new_json)
    .bind(actor)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Change {
        old,
        new,
        changed: true,
    })
}

/// One audited change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub key: String,
    pub old: Option<serde_json::Value>,
    pub new: serde_json::Value,
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// The latest `limit` changes of `key`, newest first.
pub async fn audit(
    pool: &PgPool,
    netuid: NetUid,
    key: &str,
    limit: i64,
) -> Result<Vec<AuditEntry>, SettingsError> {
    let rows = sqlx::query(
        "SELECT key, old_value, new_value, actor, reason, at FROM settings_audit
          WHERE netuid = $1 AND key = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(i32::from(netuid))
    .bind(key)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            key: r.get(0),
            old: r.get(1),
            new: r.get(2),
            actor: r.get(3),
            reason: r.get(4),
            at: r.get(5),
        })
        .collect())
}
