//! What an epoch's weights are computed from, read from the database as of the ingested head:
//! the live miners and their permits, the base scores, and the last recorded vesting and uptime
//! epochs (their `applied` factor: the multiplier in mode `on`, 1.0 in `shadow` and `off`).

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use sqlx::PgConnection;

use super::pipeline::{Base, Factor, Input};
use super::scores::{self, Fresh};
use crate::config::{Mode, ScoresSource};

#[derive(Debug, Clone)]
pub struct Settings {
    pub netuid: u16,
    pub source: ScoresSource,
    pub max_age_blocks: u64,
    pub exempt: BTreeSet<u16>,
}

/// The inputs of one epoch's computation.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub inputs: Vec<Input>,
    pub fresh: Fresh,
    /// The epoch blocks of the vesting and uptime records used.
    pub vesting_epoch: Option<u64>,
    pub uptime_epoch: Option<u64>,
}

#[derive(sqlx::FromRow)]
struct VestingRow {
    miner_id: i64,
    multiplier: f64,
    holding_fraction: Option<f64>,
    holding_days: f64,
    amount_tier: f64,
    duration_tier: f64,
    earned_rao: i64,
    remaining_rao: i64,
    reason: String,
}

#[derive(sqlx::FromRow)]
struct UptimeRow {
    miner_id: i64,
    multiplier: f64,
    current_uptime: Option<f64>,
    historical_uptime: Option<f64>,
    detail: String,
}

/// The last epoch an engine recorded at or before `head`, and its mode.
async fn last_epoch(
    tx: &mut PgConnection,
    table: &str,
    netuid: i32,
    head: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT epoch_block, mode FROM {table} WHERE netuid = $1 AND epoch_block <= $2
          ORDER BY epoch_block DESC LIMIT 1"
    )))
    .bind(netuid)
    .bind(head)
    .fetch_optional(&mut *tx)
    .await
}

fn mode_of(name: &str) -> Mode {
    Mode::from_name(name)
}

fn applied(mode: Mode, multiplier: f64) -> f64 {
    if mode == Mode::On { multiplier } else { 1.0 }
}

pub async fn load(tx: &mut PgConnection, s: &Settings, head: u64) -> Result<Loaded, sqlx::Error> {
    let n = i32::from(s.netuid);
    let h = head as i64;
    let miners = crate::vesting::store::live_miners(tx, n, &s.exempt)
        .await
        .map_err(|e| match e {
            crate::vesting::store::StoreError::Db(e) => e,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
    let fresh = scores::fresh(tx, s.netuid, s.source, head, s.max_age_blocks).await?;

    let vesting_epoch = last_epoch(tx, "vesting_epochs", n, h).await?;
    let mut vesting: HashMap<i64, Factor> = HashMap::new();
    if let Some((block, mode)) = &vesting_epoch {
        let mode = mode_of(mode);
        let rows: Vec<VestingRow> = sqlx::query_as(
            "SELECT miner_id, multiplier, holding_fraction, holding_days, amount_tier,
                    duration_tier, earned_rao, remaining_rao, reason
               FROM vesting_multipliers WHERE netuid = $1 AND epoch_block = $2",
        )
        .bind(n)
        .bind(block)
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            vesting.insert(
                r.miner_id,
                Factor {
                    applied: applied(mode, r.multiplier),
                    why: json!({
                        "epoch_block": block, "mode": mode.name(), "multiplier": r.multiplier,
                        "holding_fraction": r.holding_fraction, "holding_days": r.holding_days,
                        "amount_tier": r.amount_tier, "duration_tier": r.duration_tier,
                        "earned_rao": r.earned_rao, "remaining_rao": r.remaining_rao,
                        "reason": r.reason,
                    }),
                },
            );
        }
    }
    let vesting_default = match &vesting_epoch {
        None => "no vesting epoch recorded yet: 1.0".to_string(),
        Some((b, m)) if m == "off" => format!("vesting mode off at epoch block {b}: 1.0"),
        Some((b, _)) => format!("not in the vesting record of epoch block {b}: 1.0"),
    };

    let uptime_epoch = last_epoch(tx, "uptime_epochs", n, h).await?;
    let mut uptime: HashMap<i64, Factor> = HashMap::new();
    if let Some((block, mode)) = &uptime_epoch {
        let mode = mode_of(mode);
        let rows: Vec<UptimeRow> = sqlx::query_as(
            "SELECT miner_id, multiplier, current_uptime, historical_uptime, bonuses::text AS detail
               FROM uptime_multipliers WHERE netuid = $1 AND epoch_block = $2",
        )
        .bind(n)
        .bind(block)
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            let detail: Value = serde_json::from_str(&r.detail).unwrap_or(Value::Null);
            uptime.insert(
                r.miner_id,
                Factor {
                    applied: applied(mode, r.multiplier),
                    why: json!({
                        "epoch_block": block, "mode": mode.name(), "multiplier": r.multiplier,
                        "current_uptime": r.current_uptime,
                        "historical_uptime": r.historical_uptime,
                        "detail": detail,
                    }),
                },
            );
        }
    }
    let uptime_default = match &uptime_epoch {
        None => "no uptime epoch recorded yet: 1.0".to_string(),
        Some((b, m)) if m == "off" => format!("uptime mode off at epoch block {b}: 1.0"),
        Some((b, _)) => format!("not in the uptime record of epoch block {b}: 1.0"),
    };

    let inputs = miners
        .into_iter()
        .map(|m| {
            let base = match s.source {
                ScoresSource::Uniform => Some(Base {
                    score: 1.0,
                    block: None,
                    source: "uniform",
                }),
                src => fresh.scores.get(&m.hotkey).map(|(score, block)| Base {
                    score: *score,
                    block: Some(*block),
                    source: src.name(),
                }),
            };
            Input {
                uid: m.uid,
                miner_id: Some(m.miner_id),
                validator: m.validator,
                exempt: m.exempt,
                base,
                uptime: uptime
                    .remove(&m.miner_id)
                    .unwrap_or_else(|| Factor::neutral(&uptime_default)),
                vesting: vesting
                    .remove(&m.miner_id)
                    .unwrap_or_else(|| Factor::neutral(&vesting_default)),
                penalty: Factor::neutral("weights.penalty disabled"),
                hotkey: m.hotkey,
            }
        })
        .collect();
    Ok(Loaded {
        inputs,
        fresh,
        vesting_epoch: vesting_epoch.map(|(b, _)| b as u64),
        uptime_epoch: uptime_epoch.map(|(b, _)| b as u64),
    })
}
