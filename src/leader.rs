//! High availability: daemons sharing one database elect a leader, the only one that submits
//! weights. All of them ingest (ingestion is idempotent), so a standby that takes over needs no
//! catch-up.
//!
//! The lease is a session advisory lock held on a dedicated connection. Three rules keep two
//! leaders from ever submitting at once:
//! 1. the leader checks every `lease_check` that its lease connection still holds the lock, and
//!    steps down at once when the check fails or does not answer within `lease_check`;
//! 2. a new leader that took the lock from one that did not release it waits `takeover_delay`
//!    (more than two checks) before it submits, so the old one has stepped down by then;
//! 3. every submission write re-checks, in its own transaction, that its term's token is the
//!    lease's and that the lease connection still holds the lock (`Fence::check`): a leader
//!    whose connection was cut cannot write, even before its next check.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::health::{Health, LeaderState};
use crate::metrics::{EventLabels, Metrics};

/// First key of the advisory lock: "ten" in ASCII, shared by every tenure lease.
const LOCK_CLASS: i32 = 0x0074_656e;

/// This instance's place in the election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not connected to the lease yet, or between terms.
    Standby { leader: Option<String> },
    /// Holds the lock, waiting out the takeover delay.
    Acquiring { token: i64 },
    /// May submit, with this fencing token.
    Leader { token: i64 },
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Standby { .. } => "standby",
            Role::Acquiring { .. } => "acquiring",
            Role::Leader { .. } => "leader",
        }
    }

    pub fn token(&self) -> Option<i64> {
        match self {
            Role::Leader { token } => Some(*token),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// One lease per (netuid, mechid): the weights that one hotkey sets there.
    pub netuid: u16,
    pub mechid: u8,
    pub instance: String,
    pub check: Duration,
    pub takeover_delay: Duration,
}

impl Settings {
    pub fn from_config(c: &crate::config::Config) -> Self {
        Settings {
            netuid: c.chain.netuid,
            mechid: c.chain.mechid,
            instance: c.ha.instance_name(),
            check: Duration::from_millis(c.ha.lease_check_ms),
            takeover_delay: Duration::from_millis(c.ha.takeover_delay_ms),
        }
    }

    pub fn scope(&self) -> String {
        scope(self.netuid, self.mechid)
    }

    fn lock_key(&self) -> i32 {
        (i32::from(self.netuid) << 8) | i32::from(self.mechid)
    }
}

pub fn scope(netuid: u16, mechid: u8) -> String {
    format!("weights/{netuid}/{mechid}")
}

/// A term's fencing token, checked inside each submission write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub scope: String,
    pub token: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The lease moved on, or its connection is gone: this instance no longer leads.
    #[error(
        "lease term {token} of {scope} is over: this instance no longer leads; nothing written"
    )]
    Fenced { scope: String, token: i64 },
}

impl Fence {
    /// Locks the lease row (a new leader's token bump waits for this transaction) and checks
    /// that it is still this term's and that its holder's session still holds the lock.
    pub async fn check(&self, tx: &mut PgConnection) -> Result<(), FenceError> {
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT l.token FROM leader_lease l
              WHERE l.scope = $1 AND l.token = $2
                AND EXISTS (SELECT 1 FROM pg_locks k
                             WHERE k.locktype = 'advisory' AND k.granted
                               AND k.pid = l.holder_pid
                               AND k.database = (SELECT oid FROM pg_database
                                                  WHERE datname = current_database())
                               AND k.classid = $3::int4::oid AND k.objsubid = 2)
              FOR SHARE OF l",
        )
        .bind(&self.scope)
        .bind(self.token)
        .bind(LOCK_CLASS)
        .fetch_optional(&mut *tx)
        .await?;
        match held {
            Some(_) => Ok(()),
            None => Err(FenceError::Fenced {
                scope: self.scope.clone(),
                token: self.token,
            }),
        }
    }
}

/// The instance the lease row names as holder, if any.
async fn holder(pool: &PgPool, scope: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT holder FROM leader_lease WHERE scope = $1")
        .bind(scope)
        .fetch_optional(pool)
        .await
}

/// Runs the election until `cancel`, publishing the role on `role`. Never fails: a database
/// outage is standby until it ends.
pub async fn run(
    pool: PgPool,
    s: Settings,
    role: watch::Sender<Role>,
    obs: Observers,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut delay = s.check;
    loop {
        let term = campaign(&pool, &s, &role, &obs, &cancel).await;
        set(&role, &obs, &s, Role::Standby { leader: None });
        let wait = match term {
            Ok(()) => return Ok(()),
            // The instance whose lease connection failed is the suspect one: it gives a
            // healthy standby the time to take over before contending again.
            Err(e) if e.led => {
                tracing::warn!(error = %e.error, instance = %s.instance, retry_in_ms = s.takeover_delay.as_millis() as u64, "leader lease lost; standby");
                s.takeover_delay
            }
            Err(e) => {
                tracing::warn!(error = %e.error, instance = %s.instance, retry_in_ms = delay.as_millis() as u64, "leader lease: connection failed; standby");
                let d = delay;
                delay = (delay * 2).min(Duration::from_secs(10));
                d
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Ok(()),
        }
    }
}

/// Where the role is shown: metrics and `/readyz`.
#[derive(Clone)]
pub struct Observers {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

fn set(role: &watch::Sender<Role>, obs: &Observers, s: &Settings, r: Role) {
    obs.metrics.lease.token.set(r.token().unwrap_or(0));
    obs.metrics.lease.leader.set(i64::from(r.token().is_some()));
    obs.health.set_leader(LeaderState {
        instance: s.instance.clone(),
        role: r.name().into(),
        token: match &r {
            Role::Leader { token } | Role::Acquiring { token } => Some(*token),
            Role::Standby { .. } => None,
        },
        leader: match &r {
            Role::Leader { .. } => Some(s.instance.clone()),
            Role::Acquiring { .. } => None,
            Role::Standby { leader } => leader.clone(),
        },
    });
    role.send_if_modified(|cur| {
        if *cur == r {
            false
        } else {
            *cur = r;
            true
        }
    });
}

fn count(obs: &Observers, event: &str) {
    obs.metrics
        .lease
        .changes
        .get_or_create(&EventLabels {
            event: event.into(),
        })
        .inc();
}

async fn log_event(pool: &PgPool, s: &Settings, token: i64, event: &str, detail: &str) {
    let written = sqlx::query(
        "INSERT INTO leader_log (scope, token, instance, event, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.scope())
    .bind(token)
    .bind(&s.instance)
    .bind(event)
    .bind(detail)
    .execute(pool)
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, event, "leader lease: cannot record the event");
    }
}

/// Why a campaign ended early: its connection failed, while leading (`led`) or not.
struct Ended {
    error: anyhow::Error,
    led: bool,
}

/// One connection's life: standby until the lock is ours, then leader until the lease is lost
/// (Err) or `cancel` (Ok, the lease released).
async fn campaign(
    pool: &PgPool,
    s: &Settings,
    role: &watch::Sender<Role>,
    obs: &Observers,
    cancel: &CancellationToken,
) -> Result<(), Ended> {
    let standby = |error: anyhow::Error| Ended { error, led: false };
    let Some((conn, token, released)) =
        acquire(pool, s, role, obs, cancel).await.map_err(standby)?
    else {
        return Ok(());
    };
    lead(pool, s, role, obs, cancel, conn, token, released)
        .await
        .map_err(|error| Ended { error, led: true })
}

/// Standby until the lock is ours: the lease connection, the new term's token, and whether the
/// previous holder released the lease cleanly. `None` on `cancel`.
async fn acquire(
    pool: &PgPool,
    s: &Settings,
    role: &watch::Sender<Role>,
    obs: &Observers,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<(PgConnection, i64, bool)>> {
    let opts = pool.connect_options();
    let mut conn = tokio::time::timeout(
        s.check.max(Duration::from_secs(5)),
        PgConnection::connect_with(&opts),
    )
    .await
    .map_err(|_| anyhow::anyhow!("connecting timed out"))??;
    // The server notices a half-open lease connection (and frees the lock) in about 20 s,
    // rather than after the kernel's two-hour default. A no-op over Unix sockets.
    let _ = sqlx::raw_sql(
        "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 2;
         SET application_name = 'tenure leader lease'",
    )
    .execute(&mut conn)
    .await;
    let scope = s.scope();
    let mut last_leader = None;
    loop {
        let got: bool = tokio::time::timeout(
            s.check,
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(s.lock_key())
                .fetch_one(&mut conn),
        )
        .await
        .map_err(|_| anyhow::anyhow!("lock attempt timed out"))??;
        if got {
            break;
        }
        let leader = holder(pool, &scope).await.ok().flatten();
        if leader != last_leader {
            tracing::info!(leader = ?leader, instance = %s.instance, "standby: another instance leads");
            last_leader.clone_from(&leader);
        }
        set(role, obs, s, Role::Standby { leader });
        tokio::select! {
            _ = tokio::time::sleep(s.check) => {}
            _ = cancel.cancelled() => return Ok(None),
        }
    }

    // The lock is ours: open a term with the next token.
    let mut tx = conn.begin().await?;
    let prior: Option<(String, bool)> = sqlx::query_as(
        "SELECT holder, released_at IS NOT NULL FROM leader_lease WHERE scope = $1 FOR UPDATE",
    )
    .bind(&scope)
    .fetch_optional(&mut *tx)
    .await?;
    let token: i64 = sqlx::query_scalar(
        "INSERT INTO leader_lease (scope, token, holder, holder_pid)
         VALUES ($1, 1, $2, pg_backend_pid())
         ON CONFLICT (scope) DO UPDATE SET token = leader_lease.token + 1, holder = $2,
             holder_pid = pg_backend_pid(), acquired_at = now(), released_at = NULL
         RETURNING token",
    )
    .bind(&scope)
    .bind(&s.instance)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO leader_log (scope, token, instance, event, detail) VALUES ($1, $2, $3, 'acquired', $4)",
    )
    .bind(&scope)
    .bind(token)
    .bind(&s.instance)
    .bind(match &prior {
        Some((h, true)) => format!("after {h} released it"),
        Some((h, false)) => format!("from {h}, which did not release it"),
        None => "first lease".to_string(),
    })
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let released = !matches!(prior, Some((_, false)));
    Ok(Some((conn, token, released)))
}

/// A term: the takeover delay (unless the lease was released cleanly), then leader until the
/// lease connection fails a check (Err) or `cancel` (the lease released).
#[allow(clippy::too_many_arguments)]
async fn lead(
    pool: &PgPool,
    s: &Settings,
    role: &watch::Sender<Role>,
    obs: &Observers,
    cancel: &CancellationToken,
    mut conn: PgConnection,
    token: i64,
    released: bool,
) -> anyhow::Result<()> {
    set(role, obs, s, Role::Acquiring { token });
    let wait = if released {
        Duration::ZERO
    } else {
        s.takeover_delay
    };
    tracing::info!(token, instance = %s.instance, wait_ms = wait.as_millis() as u64, "leader lease acquired");
    let leading_at = tokio::time::Instant::now() + wait;
    let mut leading = false;
    let mut tick = tokio::time::interval(s.check);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => {
                set(role, obs, s, Role::Standby { leader: None });
                release(&mut conn, s, token).await;
                count(obs, "released");
                log_event(pool, s, token, "released", "shutdown").await;
                tracing::info!(token, instance = %s.instance, "leader lease released");
                return Ok(());
            }
        }
        let held = tokio::time::timeout(s.check, holds_lock(&mut conn)).await;
        let lost = match held {
            Ok(Ok(true)) => None,
            Ok(Ok(false)) => Some("the lock is no longer held by the lease connection".to_string()),
            Ok(Err(e)) => Some(format!("lease connection failed: {e}")),
            Err(_) => Some(format!(
                "lease connection did not answer within {} ms",
                s.check.as_millis()
            )),
        };
        if let Some(why) = lost {
            // Standby first, then everything else: nothing may submit under this term now.
            set(role, obs, s, Role::Standby { leader: None });
            count(obs, "lost");
            tracing::error!(token, instance = %s.instance, reason = %why, "leader lease lost: submissions stop");
            log_event(pool, s, token, "lost", &why).await;
            return Err(anyhow::anyhow!(why));
        }
        if !leading && tokio::time::Instant::now() >= leading_at {
            leading = true;
            set(role, obs, s, Role::Leader { token });
            count(obs, "leading");
            tracing::info!(token, instance = %s.instance, "leading: this instance submits weights");
            log_event(pool, s, token, "leading", "").await;
        }
    }
}

async fn holds_lock(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                          AND pid = pg_backend_pid() AND classid = $1::int4::oid AND objsubid = 2)",
    )
    .bind(LOCK_CLASS)
    .fetch_one(conn)
    .await
}

/// Marks the term released (so the next leader need not wait) and lets the lock go.
async fn release(conn: &mut PgConnection, s: &Settings, token: i64) {
    let done = async {
        sqlx::query("UPDATE leader_lease SET released_at = now() WHERE scope = $1 AND token = $2")
            .bind(s.scope())
            .bind(token)
            .execute(&mut *conn)
            .await?;
        sqlx::query("SELECT pg_advisory_unlock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(s.lock_key())
            .execute(&mut *conn)
            .await?;
        anyhow::Ok(())
    };
    match tokio::time::timeout(Duration::from_secs(5), done).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "leader lease: clean release failed; the next leader waits the takeover delay")
        }
        Err(_) => tracing::warn!(
            "leader lease: clean release timed out; the next leader waits the takeover delay"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_per_mechanism_and_subnet() {
        let s = |netuid, mechid| Settings {
            netuid,
            mechid,
            instance: "a".into(),
            check: Duration::from_secs(1),
            takeover_delay: Duration::from_secs(3),
        };
        assert_ne!(s(1, 0).lock_key(), s(1, 1).lock_key());
        assert_ne!(s(1, 0).lock_key(), s(2, 0).lock_key());
        assert_eq!(s(65535, 255).lock_key(), 0x00ff_ffff);
        assert_eq!(s(3, 1).scope(), "weights/3/1");
    }

    #[test]
    fn only_a_leader_has_a_token() {
        assert_eq!(Role::Leader { token: 4 }.token(), Some(4));
        assert_eq!(Role::Acquiring { token: 4 }.token(), None);
        assert_eq!(Role::Standby { leader: None }.token(), None);
    }
}
