//! What `tenure replay` reads back: every input the daemon recorded for its epochs and weight
//! submissions, as plain data (the replay itself is pure). Read-only: it writes nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use crate::config::{Mode, StakeScope, UptimeConfig, VestingConfig};
use crate::units::{NetUid, Rao};
use crate::uptime::cache::{Cache, Horizon};
use crate::uptime::epoch::load_rollups;
use crate::uptime::history::Grant;
use crate::uptime::store::Periods;
use crate::weights::explanation::BaseScore;

#[derive(Debug, thiserror::Error)]
pub enum RecordedError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Invalid(String),
}

/// A miner at one recorded epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochMiner {
    pub miner_id: i64,
    pub uid: u16,
    pub hotkey: String,
    pub coldkey: Option<String>,
    pub validator: bool,
    pub exempt: bool,
    pub registered: u64,
}

/// One engine at one epoch: its mode, its parameters, and the multiplier each miner got.
#[derive(Debug, Clone)]
pub struct Engine<C> {
    pub mode: Mode,
    pub cfg: C,
    pub multipliers: HashMap<i64, f64>,
}

/// One recorded epoch block.
#[derive(Debug, Clone)]
pub struct Epoch {
    pub block: u64,
    pub time: DateTime<Utc>,
    /// When its transaction ran (what operator grants made or revoked then are measured by).
    pub ingested_at: Option<DateTime<Utc>>,
    pub miners: Vec<EpochMiner>,
    pub vesting: Option<Engine<VestingConfig>>,
    pub uptime: Option<Engine<UptimeConfig>>,
}

/// An emission tranche, keyed by the book it was credited to when it was created.
#[derive(Debug, Clone, PartialEq)]
pub struct Tranche {
    pub id: i64,
    pub block: u64,
    pub coldkey: String,
    pub hotkey: String,
    pub initial: Rao,
}

/// A round written after an epoch had read its hour (see migration 10).
#[derive(Debug, Clone, PartialEq)]
pub struct LateRound {
    pub block: u64,
    pub cursor_block: u64,
    /// The UTC hour and day it was counted in (by its block's timestamp).
    pub hour: i64,
    pub day: i64,
    /// `(miner, up)`; `None` when its samples are past `uptime.raw_retention_days`.
    pub samples: Option<Vec<(i64, bool)>>,
}

/// One uid of a submission: what its weight was computed from. Read from the stored
/// explanation's fields in SQL (the whole explanation, with every rule's metric, is ten times
/// the size and a replay needs none of the rest).
#[derive(Debug, Clone)]
pub struct Entry {
    pub uid: u16,
    pub hotkey: String,
    pub miner_id: Option<i64>,
    pub exempt: bool,
    pub base: BaseScore,
    /// Why the multipliers were not applied (validator permit, exempt uid).
    pub untouched: Option<String>,
    pub uptime: Factor,
    pub vesting: Factor,
    pub penalty: f64,
    pub max_total_multiplier: f64,
}

/// A multiplier as a submission applied it: from an engine's epoch record, or neutral.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Factor {
    Recorded {
        epoch_block: u64,
        mode: Mode,
        multiplier: f64,
    },
    Neutral(f64),
}

impl Factor {
    fn of(
        applied: f64,
        epoch_block: Option<i64>,
        mode: Option<Mode>,
        multiplier: Option<f64>,
    ) -> Self {
        match (epoch_block, mode, multiplier) {
            (Some(b), Some(mode), Some(multiplier)) => Factor::Recorded {
                epoch_block: u64_of(b),
                mode,
                multiplier,
            },
            _ => Factor::Neutral(applied),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Submission {
    pub id: i64,
    pub epoch_block: u64,
    pub planned_block: u64,
    pub dry_run: bool,
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    /// `(MinAllowedWeights, MaxWeightsLimit)`; `None` before migration 10.
    pub limits: Option<(u16, u16)>,
    pub entries: Vec<Entry>,
}

/// Everything a replay reads.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub epochs: Vec<Epoch>,
    pub scope: StakeScope,
    pub tranches: Vec<Tranche>,
    /// `(tranche id, block, amount)`, by block.
    pub outflows: Vec<(i64, u64, Rao)>,
    /// `(block, old, new)`, by block.
    pub swaps: Vec<(u64, String, String)>,
    /// The hourly and daily rollups as kept now.
    pub rollups: Cache,
    pub late: Vec<LateRound>,
    pub submissions: Vec<Submission>,
    /// Operator grants by hotkey.
    pub grants: HashMap<String, Vec<RecordedGrant>>,
}

/// A grant and when it was made and revoked.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedGrant {
    pub grant: Grant,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl RecordedGrant {
    /// Whether an epoch whose transaction ran at `ingested` (chain time `now`) counted it.
    pub fn counted(&self, ingested: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let made = ingested.is_none_or(|t| self.granted_at <= t);
        let standing = self
            .revoked_at
            .is_none_or(|r| ingested.is_some_and(|t| r > t));
        made && standing && self.grant.expires_at > now
    }
}

fn u64_of(x: i64) -> u64 {
    x.max(0) as u64
}

fn u16_of(x: i32, what: &str) -> Result<u16, RecordedError> {
    u16::try_from(x).map_err(|_| RecordedError::Invalid(format!("{what} {x} is not a u16")))
}

/// Reads the recorded inputs of every epoch up to `to` (the engines replay from the start of
/// the history: milestones and the tranche window depend on everything before).
pub async fn load(
    pool: &PgPool,
    netuid: NetUid,
    periods: Periods,
    to: u64,
    extra: &[(UptimeConfig, VestingConfig)],
) -> Result<Recorded, RecordedError> {
    let n = i32::from(netuid);
    let mut epochs = epochs(pool, n, to).await?;
    miners(pool, n, to, &mut epochs).await?;
    let first = epochs.first().map_or(to, |e| e.block);
    let mut configs: Vec<(&UptimeConfig, &VestingConfig)> =
        extra.iter().map(|(u, v)| (u, v)).collect();
    for e in &epochs {
        if let (Some(u), Some(v)) = (&e.uptime, &e.vesting) {
            configs.push((&u.cfg, &v.cfg));
        }
    }
    let scope = epochs
        .iter()
        .find_map(|e| e.vesting.as_ref().map(|v| v.cfg.stake_scope))
        .unwrap_or(StakeScope::Coldkey);
    let lookback = configs
        .iter()
        .map(|(_, v)| u64::from(v.lookback_days) * periods.blocks_per_day)
        .max()
        .unwrap_or(0);
    let since = first.saturating_sub(lookback);
    let (tranches, outflows, swaps) = books(pool, n, scope, since, to).await?;
    let horizon = configs
        .iter()
        .map(|(u, _)| Horizon::of(u, periods.blocks_per_hour))
        .fold(Horizon { days: 0, hours: 0 }, |a, h| Horizon {
            days: a.days.max(h.days),
            hours: a.hours.max(h.hours),
        });
    let first_time = epochs.first().map_or_else(Utc::now, |e| e.time);
    let rollups = rollups(pool, netuid, first_time, horizon).await?;
    let late = late_rounds(pool, n, first, to).await?;
    let submissions = submissions(pool, n, to).await?;
    let grants = grants(pool, n).await?;
    Ok(Recorded {
        epochs,
        scope,
        tranches,
        outflows,
        swaps,
        rollups,
        late,
        submissions,
        grants,
    })
}

/// A grant row: hotkey, bonus, reason, expiry, made, revoked.
type GrantRow = (
    String,
    f64,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

async fn grants(
    pool: &PgPool,
    n: i32,
) -> Result<HashMap<String, Vec<RecordedGrant>>, RecordedError> {
    let rows: Vec<GrantRow> = sqlx::query_as(
        "SELECT hotkey, bonus, reason, expires_at, granted_at, revoked_at FROM grants
              WHERE netuid = $1",
    )
    .bind(n)
    .fetch_all(pool)
    .await?;
    let mut out: HashMap<String, Vec<RecordedGrant>> = HashMap::new();
    for (hotkey, bonus, reason, expires_at, granted_at, revoked_at) in rows {
        out.entry(hotkey).or_default().push(RecordedGrant {
            grant: Grant {
                bonus,
                reason,
                expires_at,
                revoked: false,
            },
            granted_at,
            revoked_at,
        });
    }
    Ok(out)
}

async fn epochs(pool: &PgPool, n: i32, to: u64) -> Result<Vec<Epoch>, RecordedError> {
    type Row = (
        i64,
        Option<i64>,
        Option<Mode>,
        Option<Json<VestingConfig>>,
        Option<Mode>,
        Option<Json<UptimeConfig>>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT coalesce(v.epoch_block, u.epoch_block), b.timestamp_ms,
                v.mode, v.params, u.mode, u.params, b.ingested_at
           FROM vesting_epochs v
           FULL JOIN uptime_epochs u ON u.netuid = v.netuid AND u.epoch_block = v.epoch_block
           LEFT JOIN blocks b ON b.netuid = $1 AND b.number = coalesce(v.epoch_block, u.epoch_block)
          WHERE coalesce(v.netuid, u.netuid) = $1 AND coalesce(v.epoch_block, u.epoch_block) <= $2
          ORDER BY 1",
    )
    .bind(n)
    .bind(to as i64)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (block, ts, vmode, vparams, umode, uparams, ingested_at) in rows {
        out.push(Epoch {
            block: u64_of(block),
            time: ts
                .and_then(DateTime::from_timestamp_millis)
                .unwrap_or_default(),
            ingested_at,
            miners: Vec::new(),
            vesting: vparams.map(|p| engine(vmode, p.0)),
            uptime: uparams.map(|p| engine(umode, p.0)),
        });
    }
    Ok(out)
}

fn engine<C>(mode: Option<Mode>, cfg: C) -> Engine<C> {
    Engine {
        mode: mode.unwrap_or(Mode::Off),
        cfg,
        multipliers: HashMap::new(),
    }
}

/// Why an engine left a miner at 1.0, from the reasons the engines themselves record.
fn skipped_as(reason: &str) -> Result<(bool, bool), RecordedError> {
    use crate::uptime::epoch::{SKIP_EXEMPT, SKIP_VALIDATOR};
    match reason {
        SKIP_VALIDATOR => Ok((true, false)),
        SKIP_EXEMPT => Ok((false, true)),
        other => Err(RecordedError::Invalid(format!(
            "uptime record skipped a miner for an unknown reason: {other}"
        ))),
    }
}

/// Every epoch's miners (from what the engines recorded for them) and recorded multipliers.
async fn miners(pool: &PgPool, n: i32, to: u64, epochs: &mut [Epoch]) -> Result<(), RecordedError> {
    let at: HashMap<u64, usize> = epochs
        .iter()
        .enumerate()
        .map(|(i, e)| (e.block, i))
        .collect();
    let registered: HashMap<i64, u64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT id, registered_at_block FROM miners WHERE netuid = $1",
    )
    .bind(n)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, b)| (id, u64_of(b)))
    .collect();
    let mut found: Vec<HashMap<i64, EpochMiner>> = vec![HashMap::new(); epochs.len()];
    let rows = sqlx::query(
        "SELECT epoch_block, miner_id, uid, hotkey, multiplier, bonuses->>'reason'
           FROM uptime_multipliers WHERE netuid = $1 AND epoch_block <= $2",
    )
    .bind(n)
    .bind(to as i64)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let Some(&i) = at.get(&u64_of(r.try_get(0)?)) else {
            continue;
        };
        let id: i64 = r.try_get(1)?;
        // Only a skipped record has a reason at its top level.
        let skipped: Option<String> = r.try_get(5)?;
        let (validator, exempt) = match skipped {
            Some(reason) => skipped_as(&reason)?,
            None => (false, false),
        };
        if let Some(u) = epochs[i].uptime.as_mut() {
            u.multipliers.insert(id, r.try_get(4)?);
        }
        found[i].insert(
            id,
            EpochMiner {
                miner_id: id,
                uid: u16_of(r.try_get(2)?, "uid")?,
                hotkey: r.try_get(3)?,
                coldkey: None,
                validator,
                exempt,
                registered: registered.get(&id).copied().unwrap_or(0),
            },
        );
    }
    let rows = sqlx::query(
        "SELECT epoch_block, miner_id, uid, hotkey, coldkey, multiplier, reason
           FROM vesting_multipliers WHERE netuid = $1 AND epoch_block <= $2",
    )
    .bind(n)
    .bind(to as i64)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let Some(&i) = at.get(&u64_of(r.try_get(0)?)) else {
            continue;
        };
        let id: i64 = r.try_get(1)?;
        let coldkey: String = r.try_get(4)?;
        let reason: String = r.try_get(6)?;
        if let Some(v) = epochs[i].vesting.as_mut() {
            v.multipliers.insert(id, r.try_get(5)?);
        }
        let m = found[i].entry(id).or_insert(EpochMiner {
            miner_id: id,
            uid: u16_of(r.try_get(2)?, "uid")?,
            hotkey: r.try_get(3)?,
            coldkey: None,
            validator: reason == crate::vesting::epoch::SKIP_VALIDATOR,
            exempt: reason == crate::vesting::epoch::SKIP_EXEMPT,
            registered: registered.get(&id).copied().unwrap_or(0),
        });
        m.coldkey = (!coldkey.is_empty()).then_some(coldkey);
    }
    for (e, f) in epochs.iter_mut().zip(found) {
        e.miners = f.into_values().collect();
        e.miners.sort_by_key(|m| m.uid);
    }
    Ok(())
}

type Books = (
    Vec<Tranche>,
    Vec<(i64, u64, Rao)>,
    Vec<(u64, String, String)>,
);

/// The emission tranches created in `[since, to]`, keyed by the coldkey they were credited to
/// (the tranche rows follow later coldkey swaps), their outflows and the swaps.
async fn books(
    pool: &PgPool,
    n: i32,
    scope: StakeScope,
    since: u64,
    to: u64,
) -> Result<Books, RecordedError> {
    let scope = crate::vesting::store::scope_name(scope);
    let tranches = sqlx::query_as::<_, (i64, i64, String, String, i64)>(
        "SELECT t.id, t.block, coalesce(e.coldkey, t.coldkey), t.hotkey, t.initial_rao
           FROM vesting_tranches t
           LEFT JOIN emissions e ON e.netuid = t.netuid AND e.miner_id = t.miner_id
                                AND e.epoch_block = t.block AND e.epoch_block BETWEEN $3 AND $4
          WHERE t.netuid = $1 AND t.scope = $2 AND t.kind = 'emission'
            AND t.block BETWEEN $3 AND $4
          ORDER BY t.id",
    )
    .bind(n)
    .bind(scope)
    .bind(since as i64)
    .bind(to as i64)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, block, coldkey, hotkey, initial)| Tranche {
        id,
        block: u64_of(block),
        coldkey,
        hotkey,
        initial: u64_of(initial),
    })
    .collect();
    let outflows = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT o.tranche_id, o.block, o.amount_rao FROM tranche_outflows o
           JOIN vesting_tranches t ON t.id = o.tranche_id
          WHERE t.netuid = $1 AND t.scope = $2 AND t.kind = 'emission'
            AND t.block BETWEEN $3 AND $4 AND o.block <= $4
          ORDER BY o.block, o.tranche_id",
    )
    .bind(n)
    .bind(scope)
    .bind(since as i64)
    .bind(to as i64)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, block, amount)| (id, u64_of(block), u64_of(amount)))
    .collect();
    let swaps = sqlx::query_as::<_, (i64, String, String)>(
        "SELECT block, old_coldkey, new_coldkey FROM coldkey_swaps
          WHERE netuid = $1 AND block BETWEEN $2 AND $3 ORDER BY block",
    )
    .bind(n)
    .bind(since as i64)
    .bind(to as i64)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(b, old, new)| (u64_of(b), old, new))
    .collect();
    Ok((tranches, outflows, swaps))
}

/// The rollups the epochs from `first` (its time) on can read, through the daemon's own reader.
async fn rollups(
    pool: &PgPool,
    netuid: NetUid,
    first: DateTime<Utc>,
    horizon: Horizon,
) -> Result<Cache, RecordedError> {
    let mut cache = Cache::new();
    let since = (
        Periods::day_at(first) - horizon.days,
        Periods::hour_at(first) - horizon.hours,
    );
    let mut conn = pool.acquire().await?;
    load_rollups(&mut conn, netuid, &mut cache, since).await?;
    Ok(cache)
}

/// Rounds written after the ingest cursor had passed their block: an epoch between the two did
/// not count them.
async fn late_rounds(
    pool: &PgPool,
    n: i32,
    first: u64,
    to: u64,
) -> Result<Vec<LateRound>, RecordedError> {
    let rows = sqlx::query(
        "SELECT r.id, r.block, r.cursor_block, r.miners, r.observed_at,
                coalesce(s.miner_ids, '{}'), coalesce(s.up, '{}')
           FROM uptime_rounds r LEFT JOIN uptime_round_samples s ON s.round_id = r.id
          WHERE r.netuid = $1 AND r.cursor_block > r.block AND r.cursor_block >= $2
            AND r.block <= $3
          ORDER BY r.id",
    )
    .bind(n)
    .bind(first as i64)
    .bind(to as i64)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let miners: i32 = r.try_get(3)?;
        let observed_at: DateTime<Utc> = r.try_get(4)?;
        let ids: Vec<i64> = r.try_get(5)?;
        let ups: Vec<bool> = r.try_get(6)?;
        let kept = ids.len() == miners.max(0) as usize;
        out.push(LateRound {
            block: u64_of(r.try_get(1)?),
            cursor_block: u64_of(r.try_get(2)?),
            hour: Periods::hour_at(observed_at),
            day: Periods::day_at(observed_at),
            samples: kept.then(|| ids.into_iter().zip(ups).collect()),
        });
    }
    Ok(out)
}

async fn submissions(pool: &PgPool, n: i32, to: u64) -> Result<Vec<Submission>, RecordedError> {
    let rows = sqlx::query(
        "SELECT id, epoch_block, planned_block, dry_run, uids, weights, min_allowed_weights,
                max_weights_limit
           FROM weight_submissions WHERE netuid = $1 AND planned_block <= $2
          ORDER BY planned_block, id",
    )
    .bind(n)
    .bind(to as i64)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let u16s = |v: Vec<i32>, what| -> Result<Vec<u16>, RecordedError> {
            v.into_iter().map(|x| u16_of(x, what)).collect()
        };
        let min: Option<i32> = r.try_get(6)?;
        let max: Option<i32> = r.try_get(7)?;
        let limits = match (min, max) {
            (Some(a), Some(b)) => Some((
                u16_of(a, "min_allowed_weights")?,
                u16_of(b, "max_weights_limit")?,
            )),
            _ => None,
        };
        out.push(Submission {
            id: r.try_get(0)?,
            epoch_block: u64_of(r.try_get(1)?),
            planned_block: u64_of(r.try_get(2)?),
            dry_run: r.try_get(3)?,
            uids: u16s(r.try_get(4)?, "uid")?,
            weights: u16s(r.try_get(5)?, "weight")?,
            limits,
            entries: Vec::new(),
        });
    }
    let ids: Vec<i64> = out.iter().map(|s| s.id).collect();
    let at: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let rows = sqlx::query(
        "SELECT submission_id, uid, miner_id, hotkey, exempt, explain->'base', explain->>'untouched',
                (explain #>> '{uptime,applied}')::float8, (explain #>> '{uptime,why,epoch_block}')::bigint,
                explain #>> '{uptime,why,mode}', (explain #>> '{uptime,why,multiplier}')::float8,
                (explain #>> '{vesting,applied}')::float8, (explain #>> '{vesting,why,epoch_block}')::bigint,
                explain #>> '{vesting,why,mode}', (explain #>> '{vesting,why,multiplier}')::float8,
                (explain #>> '{penalty,applied}')::float8,
                (explain #>> '{clamp,max_total_multiplier}')::float8
           FROM weight_entries WHERE submission_id = ANY($1) ORDER BY submission_id, uid",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let Some(&i) = at.get(&r.try_get::<i64, _>(0)?) else {
            continue;
        };
        let base: Json<BaseScore> = r.try_get(5)?;
        let mode = |k: usize| -> Result<Option<Mode>, RecordedError> {
            let m: Option<String> = r.try_get(k)?;
            m.map(|m| {
                m.parse()
                    .map_err(|e| RecordedError::Invalid(format!("{e}")))
            })
            .transpose()
        };
        let need = |k: usize| -> Result<f64, RecordedError> {
            let x: Option<f64> = r.try_get(k)?;
            x.ok_or_else(|| RecordedError::Invalid("a stored explanation lacks a factor".into()))
        };
        out[i].entries.push(Entry {
            uid: u16_of(r.try_get(1)?, "uid")?,
            miner_id: r.try_get(2)?,
            hotkey: r.try_get(3)?,
            exempt: r.try_get(4)?,
            base: base.0,
            untouched: r.try_get(6)?,
            uptime: Factor::of(need(7)?, r.try_get(8)?, mode(9)?, r.try_get(10)?),
            vesting: Factor::of(need(11)?, r.try_get(12)?, mode(13)?, r.try_get(14)?),
            penalty: need(15)?,
            max_total_multiplier: need(16)?,
        });
    }
    Ok(out)
}
