//! Read-only views of the recorded uptime: the leaderboard of an epoch (rank by current uptime,
//! then longevity), the achievements (badges), and one miner's bonus history.

use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use crate::uptime::bonus::{Record, Rule};

use crate::units::NetUid;
use crate::vesting::store::MinerSel;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub rank: usize,
    pub uid: u16,
    pub hotkey: String,
    pub current_uptime: Option<f64>,
    pub historical_uptime: Option<f64>,
    /// Consecutive days at or above the consistency threshold.
    pub consistency_days: f64,
    /// Consecutive days at or above the longevity floor.
    pub longevity_days: f64,
    pub multiplier: f64,
    pub mode: String,
    /// The bonuses earned and every rule's metric (or why none applies).
    pub detail: Record,
}

fn entry(r: &sqlx::postgres::PgRow) -> Result<Entry, sqlx::Error> {
    let detail: Record = r.try_get::<Json<Record>, _>(5)?.0;
    Ok(Entry {
        rank: 0,
        uid: r.try_get::<i32, _>(0)? as u16,
        hotkey: r.try_get(1)?,
        current_uptime: r.try_get(2)?,
        historical_uptime: r.try_get(3)?,
        consistency_days: detail.metric(Rule::Consistency).unwrap_or(0.0),
        longevity_days: detail.metric(Rule::Longevity).unwrap_or(0.0),
        multiplier: r.try_get(4)?,
        mode: r.try_get(6)?,
        detail,
    })
}

/// The leaderboard at the last recorded epoch (or `epoch_block`): `None` before any.
pub async fn leaderboard(
    pool: &PgPool,
    netuid: NetUid,
    epoch_block: Option<u64>,
) -> Result<Option<(u64, Vec<Entry>)>, sqlx::Error> {
    let n = i32::from(netuid);
    let epoch: Option<i64> = sqlx::query_scalar(
        "SELECT max(epoch_block) FROM uptime_multipliers
          WHERE netuid = $1 AND ($2::bigint IS NULL OR epoch_block = $2)",
    )
    .bind(n)
    .bind(epoch_block.map(|b| b as i64))
    .fetch_one(pool)
    .await?;
    let Some(epoch) = epoch else {
        return Ok(None);
    };
    let mut entries: Vec<Entry> = sqlx::query(
        "SELECT uid, hotkey, current_uptime, historical_uptime, multiplier, bonuses, mode
           FROM uptime_multipliers WHERE netuid = $1 AND epoch_block = $2",
    )
    .bind(n)
    .bind(epoch)
    .fetch_all(pool)
    .await?
    .iter()
    .map(entry)
    .collect::<Result<_, _>>()?;
    entries.sort_by(|a, b| {
        let c = |e: &Entry| e.current_uptime.unwrap_or(-1.0);
        c(b).total_cmp(&c(a))
            .then(b.longevity_days.total_cmp(&a.longevity_days))
            .then(a.uid.cmp(&b.uid))
    });
    for (i, e) in entries.iter_mut().enumerate() {
        e.rank = i + 1;
    }
    Ok(Some((epoch as u64, entries)))
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Badge {
    pub uid: u16,
    pub hotkey: String,
    pub milestone: String,
    pub awarded_block: u64,
    pub bonus: f64,
    pub epochs_remaining: u32,
}

/// Every achievement, newest first.
pub async fn achievements(pool: &PgPool, netuid: NetUid) -> Result<Vec<Badge>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT m.uid, m.hotkey, a.milestone, a.awarded_block, a.bonus, a.epochs_remaining
           FROM achievements a JOIN miners m ON m.id = a.miner_id
          WHERE a.netuid = $1 ORDER BY a.awarded_block DESC, m.uid",
    )
    .bind(i32::from(netuid))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Badge {
            uid: r.get::<i32, _>(0) as u16,
            hotkey: r.get(1),
            milestone: r.get(2),
            awarded_block: r.get::<i64, _>(3) as u64,
            bonus: r.get(4),
            epochs_remaining: r.get::<i32, _>(5).max(0) as u32,
        })
        .collect())
}

/// The leaderboard of one epoch (`GET /v1/uptime/leaderboard`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Board {
    pub epoch_block: u64,
    pub miners: Vec<Entry>,
}

/// One miner's uptime at one epoch (`GET /v1/uptime/miners/{miner}`, `tenure uptime history`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryPoint {
    pub epoch_block: u64,
    pub entry: Entry,
}

/// A miner's bonus history, newest first, as asked for (a uid or a hotkey).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MinerHistory {
    pub miner: String,
    pub history: Vec<HistoryPoint>,
}

impl MinerHistory {
    pub fn new(miner: &str, rows: Vec<(u64, Entry)>) -> Self {
        MinerHistory {
            miner: miner.to_string(),
            history: rows
                .into_iter()
                .map(|(epoch_block, entry)| HistoryPoint { epoch_block, entry })
                .collect(),
        }
    }
}

/// One miner's uptime epoch by epoch, newest first; `None` for an unknown miner.
pub async fn history(
    pool: &PgPool,
    netuid: NetUid,
    miner: &MinerSel,
    limit: i64,
) -> Result<Option<Vec<(u64, Entry)>>, sqlx::Error> {
    let n = i32::from(netuid);
    let ids = miner.ids(pool, netuid).await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT uid, hotkey, current_uptime, historical_uptime, multiplier, bonuses, mode, epoch_block
           FROM uptime_multipliers WHERE netuid = $1 AND miner_id = ANY($2)
          ORDER BY epoch_block DESC LIMIT $3",
    )
    .bind(n)
    .bind(&ids)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let entries = rows
        .iter()
        .map(|r| Ok((r.try_get::<i64, _>(7)? as u64, entry(r)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(entries))
}
