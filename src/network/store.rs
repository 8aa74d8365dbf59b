//! Network health now, from what is recorded: the latest uptime epoch (miners' uptime and
//! bonus coverage), the latest planned weights (skew, and how far the multipliers moved them),
//! and every registration (retention). Miners are registered non-validator, non-exempt uids.
//! Read-only; shared by `GET /v1/network` and `tenure network`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};

use super::{Moved, Registration, coverage, gini, moved, retention, top_share};
use crate::units::NetUid;
use crate::uptime::bonus::Record;
use crate::uptime::cache::Cache;
use crate::uptime::epoch::Figures;

/// Complete chain days the downtime trend is fitted over.
const DOWNTIME_TREND_DAYS: i64 = 30;

/// The retention horizons of network health (docs/rules.md), in chain days.
pub const RETENTION_DAYS: [i64; 4] = [7, 30, 90, 180];

/// Network health at the latest recorded epochs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// The uptime epoch the uptime figures are from.
    pub uptime_epoch: Option<u64>,
    /// Miners in that epoch's record (validators and exempt uids excluded).
    pub miners: usize,
    pub mean_current_uptime: Option<f64>,
    pub mean_historical_uptime: Option<f64>,
    /// Share of miners with an uptime multiplier above 1 (the design's target: 80 %).
    pub bonus_coverage: Option<f64>,
    /// Miner-hours down on the last complete chain day (those miners; `None`: nothing known).
    pub downtime_hours: Option<f64>,
    /// The least-squares slope of the daily downtime over the last 30 complete chain days, in
    /// miner-hours per day (the strategy's target: down by half).
    pub downtime_trend: Option<f64>,
    /// The epoch index of the planned weights the skew figures are from.
    pub weights_epoch: Option<u64>,
    /// Gini coefficient of the miners' final weight shares.
    pub gini: Option<f64>,
    /// Share of the final weight held by the top 10 % of miners.
    pub top10_share: Option<f64>,
    /// How far the multipliers moved the weights from the base scores alone.
    pub moved: Option<Moved>,
    /// Registrations still there `after_days` after they began (at the ingested head).
    pub retention: Vec<Retention>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Retention {
    pub after_days: i64,
    pub share: Option<f64>,
}

/// The snapshot of `netuid` at the ingested head; `blocks_per_day` places registrations in days.
pub async fn snapshot(
    pool: &PgPool,
    netuid: NetUid,
    blocks_per_day: u64,
) -> Result<Snapshot, sqlx::Error> {
    let head = crate::uptime::store::chain_now(pool, netuid).await?;
    let mut conn = pool.acquire().await?;
    snapshot_at(&mut conn, netuid, blocks_per_day, head, Uptime::Stored).await
}

/// Where a snapshot's uptime figures come from.
#[derive(Clone, Copy)]
pub enum Uptime<'a> {
    /// The latest recorded uptime epoch and the daily rollups, read from the tables.
    Stored,
    /// The epoch being recorded, from the uptime engine's memory: its evaluated miners and its
    /// rollup cache (`None` epoch: nothing recorded, mode off). Reading 30 days of rollups of
    /// 4,096 miners back took ≈ 200 ms of the epoch block.
    Recorded {
        epoch: Option<u64>,
        miners: &'a [Figures],
        cache: &'a Cache,
    },
}

/// The snapshot as of block `head` and its timestamp (`None`: nothing ingested, no retention
/// or downtime figure), with the uptime figures of `uptime_epoch` (`None`: the latest
/// recorded). Retention counts chain days (blocks); downtime, UTC days (the rollups' keys).
async fn snapshot_at(
    conn: &mut PgConnection,
    netuid: NetUid,
    blocks_per_day: u64,
    head: Option<(u64, DateTime<Utc>)>,
    uptime: Uptime<'_>,
) -> Result<Snapshot, sqlx::Error> {
    let n = i32::from(netuid);
    let (uptime_epoch, miners) = match uptime {
        Uptime::Stored => uptime_rows(conn, n).await?,
        Uptime::Recorded { epoch, miners, .. } => (epoch, miners.to_vec()),
    };
    let mean = |pick: fn(&Figures) -> Option<f64>| {
        let known: Vec<f64> = miners.iter().filter_map(pick).collect();
        (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
    };
    let multipliers: Vec<f64> = miners.iter().map(|m| m.multiplier).collect();
    let (weights_epoch, base, final_shares) = weight_rows(conn, n).await?;
    let registrations = registrations(conn, n, blocks_per_day).await?;
    let today = head.map(|(h, _)| (h / blocks_per_day.max(1)) as i64);
    let utc_today = head.map(|(_, t)| crate::uptime::store::Periods::day_at(t));
    let ids: Vec<i64> = miners.iter().map(|m| m.miner_id).collect();
    let daily = match (utc_today, uptime) {
        (None, _) => Vec::new(),
        (Some(t), Uptime::Stored) => downtime(conn, n, &ids, t - DOWNTIME_TREND_DAYS, t).await?,
        (Some(t), Uptime::Recorded { cache, .. }) => {
            cache.downtime_by_day(&ids, t - DOWNTIME_TREND_DAYS, t)
        }
    };
    let last_day = utc_today.and_then(|t| daily.iter().find(|(d, _)| *d == t - 1).map(|(_, h)| *h));
    let points: Vec<(f64, f64)> = daily.iter().map(|(d, h)| (*d as f64, *h)).collect();
    Ok(Snapshot {
        uptime_epoch,
        miners: miners.len(),
        mean_current_uptime: mean(|m| m.current),
        mean_historical_uptime: mean(|m| m.historical),
        bonus_coverage: coverage(&multipliers),
        downtime_hours: last_day,
        downtime_trend: crate::uptime::history::slope(&points),
        weights_epoch,
        gini: gini(&final_shares),
        top10_share: top_share(&final_shares, 0.10),
        moved: weights_epoch.map(|_| moved(&base, &final_shares)),
        retention: RETENTION_DAYS
            .iter()
            .map(|after| Retention {
                after_days: *after,
                share: today.and_then(|t| retention(&registrations, *after, t)),
            })
            .collect(),
    })
}

/// Computes the snapshot at the uptime epoch `epoch_block` (just recorded, in the caller's
/// transaction; `uptime` is what it recorded) and stores it as that epoch's row of
/// `network_epochs`.
pub async fn record(
    conn: &mut PgConnection,
    netuid: NetUid,
    (epoch_block, now): (u64, DateTime<Utc>),
    blocks_per_day: u64,
    uptime: Uptime<'_>,
) -> Result<Snapshot, sqlx::Error> {
    let head = Some((epoch_block, now));
    let s = snapshot_at(conn, netuid, blocks_per_day, head, uptime).await?;
    let retention = |days: i64| {
        s.retention
            .iter()
            .find(|r| r.after_days == days)
            .and_then(|r| r.share)
    };
    sqlx::query(
        "INSERT INTO network_epochs (netuid, epoch_block, miners, mean_current_uptime,
             mean_historical_uptime, bonus_coverage, weights_epoch, gini, top10_share,
             total_variation, largest_gain, largest_loss, retention_7, retention_30,
             retention_90, retention_180, downtime_hours, downtime_trend)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18)
         ON CONFLICT (netuid, epoch_block) DO NOTHING",
    )
    .bind(i32::from(netuid))
    .bind(epoch_block as i64)
    .bind(s.miners as i32)
    .bind(s.mean_current_uptime)
    .bind(s.mean_historical_uptime)
    .bind(s.bonus_coverage)
    .bind(s.weights_epoch.map(|e| e as i64))
    .bind(s.gini)
    .bind(s.top10_share)
    .bind(s.moved.map(|m| m.total_variation))
    .bind(s.moved.map(|m| m.largest_gain))
    .bind(s.moved.map(|m| m.largest_loss))
    .bind(retention(7))
    .bind(retention(30))
    .bind(retention(90))
    .bind(retention(180))
    .bind(s.downtime_hours)
    .bind(s.downtime_trend)
    .execute(&mut *conn)
    .await?;
    Ok(s)
}

/// Miner-hours down per complete chain day in `[from, to)` for the miners `ids`, from the daily
/// rollups (`24 · (rounds − up) / rounds` a miner and day). A day without rounds is unknown, and
/// absent: never zero.
async fn downtime(
    conn: &mut PgConnection,
    n: i32,
    ids: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day, sum(24.0 * (rounds - up) / rounds)::float8 FROM uptime_daily
          WHERE netuid = $1 AND miner_id = ANY($2) AND day >= $3 AND day < $4
          GROUP BY day ORDER BY day",
    )
    .bind(n)
    .bind(ids)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
}

/// One recorded epoch of `network_epochs`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = NetworkEpoch)]
pub struct EpochRow {
    pub epoch_block: i64,
    pub miners: i32,
    pub mean_current_uptime: Option<f64>,
    pub mean_historical_uptime: Option<f64>,
    pub bonus_coverage: Option<f64>,
    pub downtime_hours: Option<f64>,
    pub downtime_trend: Option<f64>,
    pub weights_epoch: Option<i64>,
    pub gini: Option<f64>,
    pub top10_share: Option<f64>,
    pub total_variation: Option<f64>,
    pub largest_gain: Option<f64>,
    pub largest_loss: Option<f64>,
    pub retention_7: Option<f64>,
    pub retention_30: Option<f64>,
    pub retention_90: Option<f64>,
    pub retention_180: Option<f64>,
}

/// The recorded epochs, newest first.
pub async fn history(
    pool: &PgPool,
    netuid: NetUid,
    limit: i64,
) -> Result<Vec<EpochRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT epoch_block, miners, mean_current_uptime, mean_historical_uptime, bonus_coverage,
                downtime_hours, downtime_trend, weights_epoch, gini, top10_share, total_variation, largest_gain, largest_loss,
                retention_7, retention_30, retention_90, retention_180
           FROM network_epochs WHERE netuid = $1 ORDER BY epoch_block DESC LIMIT $2",
    )
    .bind(i32::from(netuid))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One miner in an uptime epoch's record.
#[derive(sqlx::FromRow)]
struct MinerUptime {
    miner_id: i64,
    current_uptime: Option<f64>,
    historical_uptime: Option<f64>,
    multiplier: f64,
    bonuses: Json<Record>,
}

/// The evaluated miners of the latest uptime epoch (validators and exempt uids skipped). An
/// epoch in mode off records no miner: no figures.
async fn uptime_rows(
    conn: &mut PgConnection,
    n: i32,
) -> Result<(Option<u64>, Vec<Figures>), sqlx::Error> {
    let epoch: Option<i64> =
        sqlx::query_scalar("SELECT max(epoch_block) FROM uptime_multipliers WHERE netuid = $1")
            .bind(n)
            .fetch_one(&mut *conn)
            .await?;
    let Some(epoch) = epoch else {
        return Ok((None, Vec::new()));
    };
    let rows: Vec<MinerUptime> = sqlx::query_as(
        "SELECT miner_id, current_uptime, historical_uptime, multiplier, bonuses
           FROM uptime_multipliers WHERE netuid = $1 AND epoch_block = $2",
    )
    .bind(n)
    .bind(epoch)
    .fetch_all(&mut *conn)
    .await?;
    let miners = rows
        .into_iter()
        .filter(|r| matches!(r.bonuses.0, Record::Evaluated(_)))
        .map(|r| Figures {
            miner_id: r.miner_id,
            current: r.current_uptime,
            historical: r.historical_uptime,
            multiplier: r.multiplier,
        })
        .collect();
    Ok((Some(epoch as u64), miners))
}

/// The latest planned weights' miners: (epoch, base scores, final normalized weights).
async fn weight_rows(
    conn: &mut PgConnection,
    n: i32,
) -> Result<(Option<u64>, Vec<f64>, Vec<f64>), sqlx::Error> {
    let latest: Option<(i64, i64)> = sqlx::query_as(
        "SELECT s.id, s.epoch_index FROM weight_submissions s
          WHERE s.netuid = $1 AND EXISTS (SELECT 1 FROM weight_entries e WHERE e.submission_id = s.id)
          ORDER BY s.epoch_index DESC, s.mechid LIMIT 1",
    )
    .bind(n)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, epoch)) = latest else {
        return Ok((None, Vec::new(), Vec::new()));
    };
    // `exempt` is set for validators and exempt uids alike: they are not miners here.
    let rows: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT base_score, normalized_weight FROM weight_entries
          WHERE submission_id = $1 AND NOT exempt ORDER BY uid",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let (base, final_shares) = rows.into_iter().unzip();
    Ok((Some(epoch as u64), base, final_shares))
}

/// Every registration of the subnet, in chain days.
async fn registrations(
    conn: &mut PgConnection,
    n: i32,
    blocks_per_day: u64,
) -> Result<Vec<Registration>, sqlx::Error> {
    let per_day = blocks_per_day.max(1) as i64;
    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT registered_at_block, deregistered_at_block FROM miners WHERE netuid = $1",
    )
    .bind(n)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(from, until)| Registration {
            from_day: from / per_day,
            until_day: until.map(|u| u / per_day),
        })
        .collect())
}

/// Network health now: the latest figures and the success criteria over the whole recorded
/// history (`GET /v1/network`, `tenure network`, the `/network` page).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Health {
    #[serde(flatten)]
    pub latest: Snapshot,
    pub criteria: Vec<crate::network::criteria::Criterion>,
}

/// Recorded epochs kept for the charts and the criteria at most (400 days of 20 epochs).
pub const HISTORY_LIMIT: i64 = 8_000;

/// The recorded epochs, oldest first (at most [`HISTORY_LIMIT`], the newest).
pub async fn history_ascending(
    pool: &PgPool,
    netuid: NetUid,
) -> Result<Vec<EpochRow>, sqlx::Error> {
    let mut rows = history(pool, netuid, HISTORY_LIMIT).await?;
    rows.reverse();
    Ok(rows)
}

/// [`snapshot`] and the success criteria.
pub async fn health(
    pool: &PgPool,
    netuid: NetUid,
    blocks_per_day: u64,
    cfg: &crate::config::NetworkConfig,
) -> Result<Health, sqlx::Error> {
    let latest = snapshot(pool, netuid, blocks_per_day).await?;
    let rows = history_ascending(pool, netuid).await?;
    Ok(Health {
        latest,
        criteria: crate::network::criteria::criteria(&rows, cfg, blocks_per_day),
    })
}
