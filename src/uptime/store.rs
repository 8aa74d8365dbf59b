//! Uptime's database side: a round (one probe cycle or one accepted API batch) is written with
//! one sample per registered miner and folded into the hourly and daily rollups in the same
//! transaction, so rollups never disagree with the rounds they count.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};

use crate::units::NetUid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Probe,
    Api,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Probe => "probe",
            Source::Api => "api",
        }
    }
}

/// Hours and days. Rollups are keyed by the UTC hour and day of their round's block timestamp
/// (`Timestamp.Now`), numbered from the Unix epoch: time windows (peak hours, weekends,
/// holidays) are decided by the chain's clock, never by the daemon's, and mean the same after
/// any outage. Block counts (`blocks_per_hour`, `blocks_per_day`) turn windows given in blocks
/// into hours and days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    pub blocks_per_hour: u64,
    pub blocks_per_day: u64,
}

impl Periods {
    pub fn new(block_time_secs: u64) -> Self {
        let bt = block_time_secs.max(1);
        Periods {
            blocks_per_hour: (3_600 / bt).max(1),
            blocks_per_day: (86_400 / bt).max(1),
        }
    }

    /// The UTC hour `t` falls in.
    pub fn hour_at(t: DateTime<Utc>) -> i64 {
        t.timestamp().div_euclid(3_600)
    }

    /// The UTC day `t` falls in.
    pub fn day_at(t: DateTime<Utc>) -> i64 {
        t.timestamp().div_euclid(86_400)
    }

    /// The start of UTC hour `hour`.
    pub fn hour_start(hour: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(hour * 3_600, 0).unwrap_or_default()
    }

    /// The start of UTC day `day`.
    pub fn day_start(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default()
    }

    /// The time of `block`, `blocks` after (or before) a block of known time `at`.
    pub fn time_from(&self, at: DateTime<Utc>, blocks: i64) -> DateTime<Utc> {
        let secs = blocks * (86_400 / self.blocks_per_day.max(1)) as i64;
        at + chrono::Duration::seconds(secs)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub source: Source,
    pub block: u64,
    pub observed_at: DateTime<Utc>,
    pub duration_ms: Option<u32>,
}

/// One miner in one round. `reported = false`: the miner was not in the round (counted down).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub miner_id: i64,
    pub up: bool,
    pub reported: bool,
    pub latency_ms: Option<u32>,
    pub compute_score: Option<f64>,
    pub error: Option<String>,
}

/// A miner registered at a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub miner_id: i64,
    pub uid: u16,
    pub hotkey: String,
}

/// Miners registered at `block` (registered at or before it, not deregistered by then).
pub async fn registered_at(
    db: &mut PgConnection,
    netuid: NetUid,
    block: u64,
) -> Result<Vec<Registered>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, uid, hotkey FROM miners
          WHERE netuid = $1 AND first_seen_block <= $2
            AND (deregistered_at_block IS NULL OR deregistered_at_block > $2)
          ORDER BY uid",
    )
    .bind(i32::from(netuid))
    .bind(block as i64)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Registered {
            miner_id: r.get(0),
            uid: r.get::<i32, _>(1) as u16,
            hotkey: r.get(2),
        })
        .collect())
}

/// Writes a round, its samples and the rollups in the caller's transaction, which it must begin;
/// returns its id.
pub async fn record_round(
    tx: &mut PgConnection,
    netuid: NetUid,
    round: &Round,
    samples: &[Sample],
) -> Result<i64, sqlx::Error> {
    let n = i32::from(netuid);
    let up = samples.iter().filter(|s| s.up).count() as i32;
    // First statement of the transaction: the share lock orders this round with the block
    // transactions (which lock the cursor row first), so the uptime epoch at block E counted
    // the round exactly when the cursor read here is below E (`tenure replay` relies on it).
    let cursor: Option<i64> =
        sqlx::query_scalar("SELECT block_number FROM ingest_cursor WHERE netuid = $1 FOR SHARE")
            .bind(n)
            .fetch_optional(&mut *tx)
            .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO uptime_rounds (netuid, source, block, observed_at, miners, up, duration_ms,
                                    cursor_block)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(n)
    .bind(round.source.name())
    .bind(round.block as i64)
    .bind(round.observed_at)
    .bind(samples.len() as i32)
    .bind(up)
    .bind(round.duration_ms.map(|d| d as i32))
    .bind(cursor)
    .fetch_one(&mut *tx)
    .await?;
    if samples.is_empty() {
        return Ok(id);
    }
    let ids: Vec<i64> = samples.iter().map(|s| s.miner_id).collect();
    let ups: Vec<bool> = samples.iter().map(|s| s.up).collect();
    // One row per round, the samples as parallel arrays: written once, read by round.
    sqlx::query(
        "INSERT INTO uptime_round_samples
                (round_id, miner_ids, up, reported, latency_ms, compute_score, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&ids)
    .bind(&ups)
    .bind(samples.iter().map(|s| s.reported).collect::<Vec<_>>())
    .bind(
        samples
            .iter()
            .map(|s| s.latency_ms.map(|l| l.min(i32::MAX as u32) as i32))
            .collect::<Vec<_>>(),
    )
    .bind(samples.iter().map(|s| s.compute_score).collect::<Vec<_>>())
    .bind(samples.iter().map(|s| s.error.clone()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let (hour, day) = (
        Periods::hour_at(round.observed_at),
        Periods::day_at(round.observed_at),
    );
    // One row per miner and day; the round's hour is element `slot` of the day's hour arrays.
    let slot = (hour - day * 24 + 1) as i32;
    let mut once = vec![0i32; 24];
    once[(slot - 1) as usize] = 1;
    sqlx::query(
        "INSERT INTO uptime_days AS d (miner_id, day, netuid, rounds, up, hour_rounds, hour_up)
         SELECT m, $2, $1, 1, u::int, $5, CASE WHEN u THEN $5 ELSE $6 END
           FROM UNNEST($3::bigint[], $4::bool[]) AS t(m, u)
         ON CONFLICT (miner_id, day) DO UPDATE SET
             rounds = d.rounds + 1,
             up = d.up + EXCLUDED.up,
             hour_rounds[$7] = d.hour_rounds[$7] + 1,
             hour_up[$7] = d.hour_up[$7] + EXCLUDED.up",
    )
    .bind(n)
    .bind(day)
    .bind(&ids)
    .bind(&ups)
    .bind(&once)
    .bind(vec![0i32; 24])
    .bind(slot)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// The ingest cursor and its block's timestamp: where "now" is on chain.
pub async fn chain_now(
    pool: &PgPool,
    netuid: NetUid,
) -> Result<Option<(u64, DateTime<Utc>)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT c.block_number, b.timestamp_ms FROM ingest_cursor c
           JOIN blocks b ON b.netuid = c.netuid AND b.number = c.block_number
          WHERE c.netuid = $1",
    )
    .bind(i32::from(netuid))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let ms: i64 = r.get(1);
        (
            r.get::<i64, _>(0) as u64,
            DateTime::from_timestamp_millis(ms).unwrap_or_default(),
        )
    }))
}

/// The latest ingested block at or before `at` (by chain timestamp).
pub async fn block_at(
    pool: &PgPool,
    netuid: NetUid,
    at: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let b: Option<i64> = sqlx::query_scalar(
        "SELECT number FROM blocks WHERE netuid = $1 AND timestamp_ms <= $2
          ORDER BY number DESC LIMIT 1",
    )
    .bind(i32::from(netuid))
    .bind(at.timestamp_millis())
    .fetch_optional(pool)
    .await?;
    Ok(b.map(|b| b as u64))
}

/// A block's chain timestamp, when it was ingested.
pub async fn time_of(
    pool: &PgPool,
    netuid: NetUid,
    block: u64,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let ms: Option<i64> =
        sqlx::query_scalar("SELECT timestamp_ms FROM blocks WHERE netuid = $1 AND number = $2")
            .bind(i32::from(netuid))
            .bind(block as i64)
            .fetch_optional(pool)
            .await?;
    Ok(ms.and_then(DateTime::from_timestamp_millis))
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub rounds: u64,
    /// Hours with rounds, of the days deleted.
    pub hourly: u64,
    /// Days deleted (a miner's day, with its hours).
    pub daily: u64,
}

/// Deletes raw rounds (and their samples) older than `raw_days` and rollups older than
/// `rollup_days`, counted back from chain block `head`: the rows kept per miner per day stay
/// bounded whatever the probe rate.
pub async fn prune(
    pool: &PgPool,
    netuid: NetUid,
    periods: Periods,
    (head, now): (u64, DateTime<Utc>),
    raw_days: u32,
    rollup_days: u32,
) -> Result<Pruned, sqlx::Error> {
    let n = i32::from(netuid);
    let raw_from = head.saturating_sub(u64::from(raw_days) * periods.blocks_per_day);
    let rounds = sqlx::query("DELETE FROM uptime_rounds WHERE netuid = $1 AND block < $2")
        .bind(n)
        .bind(raw_from as i64)
        .execute(pool)
        .await?
        .rows_affected();
    // Rollups are kept by whole UTC days: the hours of the oldest day kept stay with it.
    let day = Periods::day_at(now) - i64::from(rollup_days);
    let gone: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM uptime_days WHERE netuid = $1 AND day < $2
         RETURNING (SELECT count(*) FROM unnest(hour_rounds) AS r WHERE r > 0)",
    )
    .bind(n)
    .bind(day)
    .fetch_all(pool)
    .await?;
    Ok(Pruned {
        rounds,
        hourly: gone.iter().sum::<i64>() as u64,
        daily: gone.len() as u64,
    })
}

/// Runs [`prune`] every hour until cancelled (and once a minute after start).
pub async fn retention(
    pool: PgPool,
    netuid: NetUid,
    periods: Periods,
    raw_days: u32,
    rollup_days: u32,
    cancel: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let mut wait = std::time::Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return Ok(()),
        }
        wait = std::time::Duration::from_secs(3_600);
        let head = match chain_now(&pool, netuid).await {
            Ok(Some(head)) => head,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "uptime retention: cannot read the head");
                continue;
            }
        };
        match prune(&pool, netuid, periods, head, raw_days, rollup_days).await {
            Ok(p) => tracing::info!(
                rounds = p.rounds,
                hourly = p.hourly,
                daily = p.daily,
                "uptime retention pass"
            ),
            Err(e) => tracing::warn!(error = %e, "uptime retention pass failed"),
        }
    }
}

/// The latest round of a source.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LastRound {
    pub source: String,
    pub block: i64,
    pub miners: i32,
    pub up: i32,
    pub observed_at: DateTime<Utc>,
}

/// The latest round of each source (`tenure uptime status`).
pub async fn last_rounds(pool: &PgPool, netuid: u16) -> Result<Vec<LastRound>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (source) source, block, miners, up, observed_at FROM uptime_rounds
          WHERE netuid = $1 ORDER BY source, block DESC",
    )
    .bind(i32::from(netuid))
    .fetch_all(pool)
    .await
}
