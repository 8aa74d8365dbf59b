//! What an epoch's weights are computed from, read from the database as of the ingested head:
//! the live miners and their permits, the base scores, and the last recorded vesting and uptime
//! epochs (their `applied` factor: the multiplier in mode `on`, 1.0 in `shadow` and `off`).

use std::collections::{BTreeSet, HashMap};

use sqlx::PgConnection;
use sqlx::types::Json;

use super::explanation::{
    PenaltyInForce, PenaltyWhy, UptimeRecorded, UptimeWhy, VestingRecorded, VestingWhy,
};
use super::penalty::{self, Series};
use super::pipeline::{Base, Factor, Input, neutral};
use super::scores::{self, Fresh};
use crate::config::{Mode, PenaltyConfig, ScoresSource};
use crate::uptime::bonus::Record;
use crate::vesting::epoch::applied;
use crate::vesting::store::StoreError;

#[derive(Debug, Clone)]
pub struct Settings {
    pub netuid: u16,
    pub source: ScoresSource,
    pub max_age_blocks: u64,
    pub exempt: BTreeSet<u16>,
    /// The alpha-selling penalty, when enabled.
    pub penalty: Option<PenaltySettings>,
}

#[derive(Debug, Clone)]
pub struct PenaltySettings {
    pub cfg: PenaltyConfig,
    pub blocks_per_hour: u64,
    /// Detect new drops (and store the penalties) while loading: the submitter does, a
    /// preview does not write.
    pub detect: bool,
}

impl PenaltySettings {
    pub fn from_config(c: &crate::config::Config, detect: bool) -> Option<Self> {
        c.weights.penalty.enabled.then(|| PenaltySettings {
            cfg: c.weights.penalty.clone(),
            blocks_per_hour: (3_600 / c.chain.block_time_secs.max(1)).max(1),
            detect,
        })
    }
}

/// The rows of `sql` for `coldkeys` of a subnet over the blocks `(from, to]` (bound as $1 to $4).
async fn over_window<T>(
    tx: &mut PgConnection,
    sql: &'static str,
    (netuid, coldkeys): (i32, &[String]),
    (from, to): (i64, i64),
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .bind(netuid)
        .bind(coldkeys)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await
}

/// Measures every coldkey's drop over the window ending at `head` and stores a penalty where a
/// tier is reached and no penalty at least as strong is in force.
async fn detect(
    tx: &mut PgConnection,
    netuid: i32,
    head: u64,
    p: &PenaltySettings,
    coldkeys: &[String],
) -> Result<usize, sqlx::Error> {
    let window = u64::from(p.cfg.mean_window_days) * 24 * p.blocks_per_hour;
    let from = head.saturating_sub(window);
    if from == 0 || coldkeys.is_empty() {
        // Less history than the window (a young database, or a young chain): no measure.
        return Ok(0);
    }
    let (f, h) = (from as i64, head as i64);
    let series = held_series(tx, (netuid, coldkeys), (f, h)).await?;
    let active: HashMap<String, f64> = sqlx::query_as(
        "SELECT coldkey, min(factor) FROM stake_penalties
          WHERE netuid = $1 AND from_block <= $2 AND until_block > $2 GROUP BY coldkey",
    )
    .bind(netuid)
    .bind(h)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let last: HashMap<String, i64> = sqlx::query_as(
        "SELECT coldkey, max(from_block) FROM stake_penalties WHERE netuid = $1 GROUP BY coldkey",
    )
    .bind(netuid)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut stored = 0;
    for (coldkey, s) in series {
        let start = last.get(&coldkey).map_or(from, |b| (*b).max(0) as u64);
        let Some(d) = penalty::drop(&s, from, start, head) else {
            continue;
        };
        let Some(t) = penalty::tier(&p.cfg.tiers, d.fraction) else {
            continue;
        };
        if active.get(&coldkey).is_some_and(|f| *f <= t.factor) {
            continue;
        }
        let until = head + u64::from(t.hours) * p.blocks_per_hour;
        sqlx::query(
            "INSERT INTO stake_penalties (netuid, coldkey, from_block, until_block, drop_fraction, factor)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(netuid)
        .bind(&coldkey)
        .bind(h)
        .bind(until as i64)
        .bind(d.fraction)
        .bind(t.factor)
        .execute(&mut *tx)
        .await?;
        stored += 1;
    }
    Ok(stored)
}

/// Each coldkey's held stake over the blocks `(f, h]`: what it held at `f`, every change after
/// (summed over its hotkeys) and the emissions credited to it.
async fn held_series(
    tx: &mut PgConnection,
    (netuid, coldkeys): (i32, &[String]),
    (f, h): (i64, i64),
) -> Result<HashMap<String, Series>, sqlx::Error> {
    let mut series: HashMap<String, (HashMap<String, i64>, Series)> = HashMap::new();
    let initial: Vec<(String, String, i64)> = sqlx::query_as(
        // Each pair's latest row at or before the window's start: one index probe per pair.
        "SELECT p.coldkey, p.hotkey, l.alpha_rao FROM stake_pairs p
           JOIN UNNEST($2::text[]) AS k(coldkey) ON k.coldkey = p.coldkey
          CROSS JOIN LATERAL (SELECT s.alpha_rao FROM stakes s
                               WHERE s.pair_id = p.id AND s.block <= $3
                               ORDER BY s.block DESC LIMIT 1) l
          WHERE p.netuid = $1",
    )
    .bind(netuid)
    .bind(coldkeys)
    .bind(f)
    .fetch_all(&mut *tx)
    .await?;
    for (c, hk, a) in initial {
        let e = series.entry(c).or_default();
        e.0.insert(hk, a);
        e.1.initial += a;
    }
    let changes: Vec<(String, String, i64, i64)> = over_window(
        tx,
        "SELECT p.coldkey, p.hotkey, s.block, s.alpha_rao FROM stake_pairs p
           JOIN UNNEST($2::text[]) AS k(coldkey) ON k.coldkey = p.coldkey
           JOIN stakes s ON s.pair_id = p.id AND s.block > $3 AND s.block <= $4
          WHERE p.netuid = $1
          ORDER BY s.block",
        (netuid, coldkeys),
        (f, h),
    )
    .await?;
    for (c, hk, b, a) in changes {
        let e = series.entry(c).or_default();
        e.0.insert(hk, a);
        let total = e.0.values().sum();
        e.1.changes.push((b as u64, total));
    }
    let emissions: Vec<(String, i64, i64)> = over_window(
        tx,
        // A range of the primary key joined to the coldkeys (a hash of them): emissions have no
        // index by coldkey (migration 18), and `= ANY($2)` under a generic plan compares each
        // row with every coldkey.
        "SELECT e.coldkey, e.epoch_block, sum(e.amount_rao)::bigint FROM emissions e
           JOIN UNNEST($2::text[]) AS k(coldkey) ON k.coldkey = e.coldkey
          WHERE e.netuid = $1 AND e.epoch_block > $3 AND e.epoch_block <= $4
          GROUP BY 1, 2 ORDER BY 2",
        (netuid, coldkeys),
        (f, h),
    )
    .await?;
    for (c, b, a) in emissions {
        series.entry(c).or_default().1.emissions.push((b as u64, a));
    }
    Ok(series.into_iter().map(|(c, (_, s))| (c, s)).collect())
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
    detail: Json<Record>,
}

/// The last epoch an engine recorded at or before `head`, and its mode.
async fn last_epoch(
    tx: &mut PgConnection,
    table: &str,
    netuid: i32,
    head: i64,
) -> Result<Option<(i64, Mode)>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT epoch_block, mode FROM {table} WHERE netuid = $1 AND epoch_block <= $2
          ORDER BY epoch_block DESC LIMIT 1"
    )))
    .bind(netuid)
    .bind(head)
    .fetch_optional(&mut *tx)
    .await
}

/// Why a miner without a row in an engine's last epoch record gets 1.0.
fn neutral_reason(engine: &str, epoch: &Option<(i64, Mode)>) -> String {
    match epoch {
        None => format!("no {engine} epoch recorded yet: 1.0"),
        Some((b, Mode::Off)) => format!("{engine} mode off at epoch block {b}: 1.0"),
        Some((b, _)) => format!("not in the {engine} record of epoch block {b}: 1.0"),
    }
}

/// Every miner's factor at an engine's epoch `(block, mode)`: the rows `sql` reads, each
/// made into (miner, multiplier, reasons) by `why`; applied only where the mode applies it.
async fn engine_factors<R, W>(
    tx: &mut PgConnection,
    sql: &'static str,
    n: i32,
    (block, mode): (i64, Mode),
    why: impl Fn(R, i64, Mode) -> (i64, f64, W),
) -> Result<HashMap<i64, Factor<W>>, sqlx::Error>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let rows: Vec<R> = sqlx::query_as(sql)
        .bind(n)
        .bind(block)
        .fetch_all(&mut *tx)
        .await?;
    let factor = |r: R| {
        let (miner_id, multiplier, why) = why(r, block, mode);
        let applied = applied(mode, multiplier);
        (miner_id, Factor { applied, why })
    };
    Ok(rows.into_iter().map(factor).collect())
}

const VESTING_ROWS: &str = "SELECT miner_id, multiplier, holding_fraction, holding_days,
        amount_tier, duration_tier, earned_rao, remaining_rao, reason
   FROM vesting_multipliers WHERE netuid = $1 AND epoch_block = $2";

/// A miner's vesting record as the reasons of its factor.
fn vesting_why(r: VestingRow, epoch_block: i64, mode: Mode) -> (i64, f64, VestingWhy) {
    let why = VestingWhy::Recorded(VestingRecorded {
        epoch_block,
        mode,
        multiplier: r.multiplier,
        holding_fraction: r.holding_fraction,
        holding_days: r.holding_days,
        amount_tier: r.amount_tier,
        duration_tier: r.duration_tier,
        earned_rao: r.earned_rao,
        remaining_rao: r.remaining_rao,
        reason: r.reason,
    });
    (r.miner_id, r.multiplier, why)
}

const UPTIME_ROWS: &str = "SELECT miner_id, multiplier, current_uptime, historical_uptime,
        bonuses AS detail
   FROM uptime_multipliers WHERE netuid = $1 AND epoch_block = $2";

/// A miner's uptime record as the reasons of its factor.
fn uptime_why(r: UptimeRow, epoch_block: i64, mode: Mode) -> (i64, f64, UptimeWhy) {
    let multiplier = r.multiplier;
    let why = UptimeWhy::Recorded(UptimeRecorded {
        current_uptime: r.current_uptime,
        historical_uptime: r.historical_uptime,
        detail: r.detail.0,
        epoch_block,
        mode,
        multiplier,
    });
    (r.miner_id, multiplier, why)
}

/// The penalties in force at `head`, strongest per coldkey (detecting new ones first when the
/// settings say so).
async fn penalty_factors(
    tx: &mut PgConnection,
    n: i32,
    head: u64,
    p: &PenaltySettings,
    miners: &[crate::vesting::epoch::MinerRef],
) -> Result<HashMap<String, Factor<PenaltyWhy>>, sqlx::Error> {
    if p.detect {
        let coldkeys: Vec<String> = miners
            .iter()
            .filter_map(|m| m.coldkey.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        detect(tx, n, head, p, &coldkeys).await?;
    }
    let rows: Vec<(String, f64, i64, i64, f64)> = sqlx::query_as(
        "SELECT DISTINCT ON (coldkey) coldkey, factor, from_block, until_block, drop_fraction
           FROM stake_penalties WHERE netuid = $1 AND from_block <= $2 AND until_block > $2
          ORDER BY coldkey, factor, from_block DESC",
    )
    .bind(n)
    .bind(head as i64)
    .fetch_all(&mut *tx)
    .await?;
    let factor = |factor, from_block, until_block, drop_fraction| Factor {
        applied: factor,
        why: PenaltyWhy::InForce(PenaltyInForce {
            factor,
            drop_fraction,
            from_block,
            until_block,
            mean_window_days: p.cfg.mean_window_days,
        }),
    };
    Ok(rows
        .into_iter()
        .map(|(coldkey, f, from, until, drop)| (coldkey, factor(f, from, until, drop)))
        .collect())
}

pub async fn load(tx: &mut PgConnection, s: &Settings, head: u64) -> Result<Loaded, StoreError> {
    let n = i32::from(s.netuid);
    let h = head as i64;
    let miners = crate::vesting::store::live_miners(tx, n, &s.exempt).await?;
    let fresh = scores::fresh(tx, s.netuid, s.source, head, s.max_age_blocks).await?;

    let vesting_epoch = last_epoch(tx, "vesting_epochs", n, h).await?;
    let mut vesting = match vesting_epoch {
        Some(epoch) => engine_factors(tx, VESTING_ROWS, n, epoch, vesting_why).await?,
        None => HashMap::new(),
    };
    let vesting_default = neutral_reason("vesting", &vesting_epoch);
    let uptime_epoch = last_epoch(tx, "uptime_epochs", n, h).await?;
    let mut uptime = match uptime_epoch {
        Some(epoch) => engine_factors(tx, UPTIME_ROWS, n, epoch, uptime_why).await?,
        None => HashMap::new(),
    };
    let uptime_default = neutral_reason("uptime", &uptime_epoch);
    let penalties = match &s.penalty {
        Some(p) => penalty_factors(tx, n, head, p, &miners).await?,
        None => HashMap::new(),
    };
    let no_penalty = if s.penalty.is_some() {
        "no alpha-selling penalty in force: 1.0"
    } else {
        "weights.penalty disabled"
    };

    let inputs = miners
        .into_iter()
        .map(|m| {
            let base = match s.source {
                ScoresSource::Uniform => Some(Base {
                    score: 1.0,
                    block: None,
                    source: ScoresSource::Uniform,
                }),
                src => fresh.scores.get(&m.hotkey).map(|(score, block)| Base {
                    score: *score,
                    block: Some(*block),
                    source: src,
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
                    .unwrap_or_else(|| neutral(&uptime_default)),
                vesting: vesting
                    .remove(&m.miner_id)
                    .unwrap_or_else(|| neutral(&vesting_default)),
                penalty: m
                    .coldkey
                    .as_ref()
                    .and_then(|c| penalties.get(c).cloned())
                    .unwrap_or_else(|| neutral(no_penalty)),
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
