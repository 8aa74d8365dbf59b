//! Operator grants ("community contributor"): a bonus for a miner's hotkey, with a reason, who
//! granted it and an expiry. Revoking keeps the row (who, when) for the record.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::units::NetUid;

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("hotkey {0} has never been a miner of this subnet")]
    UnknownHotkey(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GrantRow {
    pub id: i64,
    pub hotkey: String,
    pub bonus: f64,
    pub reason: String,
    pub granted_by: String,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

impl GrantRow {
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What a grant request must satisfy.
pub fn check(
    bonus: f64,
    reason: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), GrantError> {
    if !(bonus.is_finite() && (0.0..=1.0).contains(&bonus)) {
        return Err(GrantError::Invalid(format!(
            "bonus {bonus}: must be between 0 and 1"
        )));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(GrantError::Invalid("reason: 1 to 500 characters".into()));
    }
    if reason.chars().any(char::is_control) {
        return Err(GrantError::Invalid(
            "reason: control characters are not allowed".into(),
        ));
    }
    if expires_at <= now {
        return Err(GrantError::Invalid(format!(
            "expiry {} is not in the future",
            expires_at.to_rfc3339()
        )));
    }
    Ok(())
}

pub async fn grant(
    pool: &PgPool,
    netuid: NetUid,
    hotkey: &str,
    bonus: f64,
    reason: &str,
    by: &str,
    expires_at: DateTime<Utc>,
) -> Result<i64, GrantError> {
    check(bonus, reason, expires_at, Utc::now())?;
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM miners WHERE netuid = $1 AND hotkey = $2)",
    )
    .bind(i32::from(netuid))
    .bind(hotkey)
    .fetch_one(pool)
    .await?;
    if !known {
        return Err(GrantError::UnknownHotkey(hotkey.into()));
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO grants (netuid, hotkey, bonus, reason, granted_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(i32::from(netuid))
    .bind(hotkey)
    .bind(bonus)
    .bind(reason.trim())
    .bind(by)
    .bind(expires_at)
    .fetch_one(pool)
    .await?)
}

/// Revokes an active grant; `false` when there is no such active grant.
pub async fn revoke(pool: &PgPool, netuid: NetUid, id: i64, by: &str) -> Result<bool, GrantError> {
    let n = sqlx::query(
        "UPDATE grants SET revoked_at = now(), revoked_by = $3
          WHERE netuid = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(i32::from(netuid))
    .bind(id)
    .bind(by)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Grants, newest first; `active_only` hides revoked and expired ones.
pub async fn list(
    pool: &PgPool,
    netuid: NetUid,
    active_only: bool,
) -> Result<Vec<GrantRow>, GrantError> {
    let rows = sqlx::query(
        "SELECT id, hotkey, bonus, reason, granted_by, granted_at, expires_at, revoked_at, revoked_by
           FROM grants
          WHERE netuid = $1 AND (NOT $2 OR (revoked_at IS NULL AND expires_at > now()))
          ORDER BY id DESC",
    )
    .bind(i32::from(netuid))
    .bind(active_only)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| GrantRow {
            id: r.get(0),
            hotkey: r.get(1),
            bonus: r.get(2),
            reason: r.get(3),
            granted_by: r.get(4),
            granted_at: r.get(5),
            expires_at: r.get(6),
            revoked_at: r.get(7),
            revoked_by: r.get(8),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn requests_are_checked() {
        let now = Utc::now();
        let later = now + Duration::days(30);
        assert!(check(0.1, "docs", later, now).is_ok());
        assert!(check(1.5, "docs", later, now).is_err());
        assert!(check(f64::NAN, "docs", later, now).is_err());
        assert!(check(0.1, "  ", later, now).is_err());
        assert!(check(0.1, "docs", now, now).is_err());
    }

    #[test]
    fn active_until_expiry_or_revocation() {
        let now = Utc::now();
        let mut g = GrantRow {
            id: 1,
            hotkey: "h".into(),
            bonus: 0.1,
            reason: "r".into(),
            granted_by: "cli:x".into(),
            granted_at: now,
            expires_at: now + Duration::hours(1),
            revoked_at: None,
            revoked_by: None,
        };
        assert!(g.active(now));
        assert!(!g.active(now + Duration::hours(1)));
        g.revoked_at = Some(now);
        assert!(!g.active(now));
    }
}
