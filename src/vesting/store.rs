//! Vesting's database side: loading the lookback window, recording an epoch's multipliers
//! (inside the ingest transaction of the epoch's block, so they are exactly as of that block and
//! written once), and the read-only views the CLI and the API show.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};

use crate::config::{Mode, StakeScope, VestingConfig};
use crate::settings::{self, ModeSetting, SettingsError};
use crate::units::NetUid;
use crate::vesting::epoch::{self, MinerRef, MinerVesting, Params};
use crate::vesting::tally::{Tally, Totals};
use crate::vesting::window::BookKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("a sum of tranche amounts `{0}` is not a whole number of RAO")]
    Sum(String),
    #[error("the vesting window would move back to block {since} from {tally}")]
    TallyBehind { since: u64, tally: u64 },
}

pub fn scope_name(scope: StakeScope) -> &'static str {
    match scope {
        StakeScope::Coldkey => "coldkey",
        StakeScope::Hotkey => "hotkey",
    }
}

fn i64_of(n: impl Into<u128>) -> i64 {
    i64::try_from(n.into()).unwrap_or(i64::MAX)
}

/// The window's running sums as the database has them ([`Tally`]): PostgreSQL aggregates the
/// emission tranches of `scope` created at or after `since` per book, and sends 8,192 rows
/// where the tranches are millions.
pub async fn load_tally(
    pool: &PgPool,
    netuid: NetUid,
    scope: StakeScope,
    since: u64,
) -> Result<Tally, StoreError> {
    let rows = sqlx::query_as::<_, (String, String, i64, String, String, Option<i64>)>(
        "SELECT b.coldkey, b.hotkey, s.n, s.earned::text, s.remaining::text, s.oldest_held
           FROM (SELECT book_id, count(*) AS n, sum(initial_rao) AS earned,
                        sum(remaining_rao) AS remaining,
                        min(block) FILTER (WHERE remaining_rao > 0) AS oldest_held
                   FROM tranches WHERE kind = 'emission' AND block >= $3 GROUP BY book_id) s
           JOIN tranche_books b ON b.id = s.book_id
          WHERE b.netuid = $1 AND b.scope = $2",
    )
    .bind(i32::from(netuid))
    .bind(scope_name(scope))
    .bind(i64_of(since))
    .fetch_all(pool)
    .await?;
    let mut tally = Tally::new(since);
    for (coldkey, hotkey, n, earned, remaining, oldest) in rows {
        let totals = totals(n, &earned, &remaining)?;
        tally.load((coldkey, hotkey), totals, oldest.map(|b| b.max(0) as u64));
    }
    Ok(tally)
}

/// [`Totals`] from a row: PostgreSQL sums `bigint` into `numeric`, sent as text.
fn totals(count: i64, earned: &str, remaining: &str) -> Result<Totals, StoreError> {
    let amount = |s: &str| {
        s.parse::<u128>()
            .map_err(|_| StoreError::Sum(s.to_string()))
    };
    Ok(Totals {
        count: count.max(0) as u64,
        earned: amount(earned)?,
        remaining: amount(remaining)?,
    })
}

/// Moves the tally's window to start at `since`, in the epoch block's transaction (after the
/// block's own tranche changes): the tranches it leaves behind are subtracted as they stand,
/// and the books whose oldest held tranche left or emptied read that block again.
pub async fn advance_tally(
    tx: &mut PgConnection,
    netuid: NetUid,
    scope: StakeScope,
    tally: &mut Tally,
    since: u64,
) -> Result<(), StoreError> {
    let (n, scope) = (i32::from(netuid), scope_name(scope));
    if since > tally.since() {
        let rows = sqlx::query_as::<_, (String, String, i64, String, String)>(
            "SELECT b.coldkey, b.hotkey, count(*), sum(t.initial_rao)::text,
                    sum(t.remaining_rao)::text
               FROM tranches t JOIN tranche_books b ON b.id = t.book_id
              WHERE b.netuid = $1 AND b.scope = $2 AND t.kind = 'emission'
                AND t.block >= $3 AND t.block < $4
              GROUP BY b.id, b.coldkey, b.hotkey",
        )
        .bind(n)
        .bind(scope)
        .bind(i64_of(tally.since()))
        .bind(i64_of(since))
        .fetch_all(&mut *tx)
        .await?;
        let mut leaving = Vec::with_capacity(rows.len());
        for (coldkey, hotkey, count, earned, remaining) in rows {
            leaving.push(((coldkey, hotkey), totals(count, &earned, &remaining)?));
        }
        tally.advance(since, leaving);
    } else if since < tally.since() {
        // The window never moves back while the daemon runs (its start follows the block).
        return Err(StoreError::TallyBehind {
            since,
            tally: tally.since(),
        });
    }
    let stale = tally.stale();
    if stale.is_empty() {
        return Ok(());
    }
    let (c, h): (Vec<&str>, Vec<&str>) =
        stale.iter().map(|(c, h)| (c.as_str(), h.as_str())).unzip();
    // One probe of `tranches_open` per book: its oldest held tranche in the window.
    let found: HashMap<BookKey, i64> = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT b.coldkey, b.hotkey, o.block
           FROM UNNEST($3::text[], $4::text[]) AS k(c, h)
           JOIN tranche_books b ON b.netuid = $1 AND b.scope = $2 AND b.coldkey = k.c AND b.hotkey = k.h
          CROSS JOIN LATERAL (
                SELECT t.block FROM tranches t
                 WHERE t.book_id = b.id AND t.remaining_rao > 0 AND t.kind = 'emission'
                   AND t.block >= $5
                 ORDER BY t.block LIMIT 1) o",
    )
    .bind(n)
    .bind(scope)
    .bind(&c)
    .bind(&h)
    .bind(i64_of(since))
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(c, h, b)| ((c, h), b))
    .collect();
    for key in stale {
        let oldest = found.get(&key).map(|b| (*b).max(0) as u64);
        tally.set_oldest_held(&key, oldest);
    }
    Ok(())
}

/// The tranche books of `netuid` and `scope`: (id, (coldkey, hotkey or "")).
pub async fn books(
    conn: &mut PgConnection,
    netuid: NetUid,
    scope: &str,
) -> Result<Vec<(i32, BookKey)>, sqlx::Error> {
    let rows: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT id, coldkey, hotkey FROM tranche_books WHERE netuid = $1 AND scope = $2",
    )
    .bind(i32::from(netuid))
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(id, c, h)| (id, (c, h))).collect())
}

/// What the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct EpochSettings {
    pub netuid: NetUid,
    pub cfg: VestingConfig,
    pub block_time_secs: u64,
    pub exempt: BTreeSet<u16>,
}

/// What an epoch's computation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub mode: Mode,
    pub miners: usize,
    pub boosted: usize,
    pub seconds: f64,
}

/// Computes and records the vesting of `miners` (every registered miner, [`live_miners`]) at the
/// epoch block `block`, in the caller's transaction, after the block's own rows. Mode `off`
/// records only the epoch row.
pub async fn record_epoch(
    tx: &mut PgConnection,
    s: &EpochSettings,
    block: u64,
    tally: &mut Tally,
    miners: &[MinerRef],
) -> Result<Recorded, StoreError> {
    let started = Instant::now();
    let n = i32::from(s.netuid);
    let b = i64::try_from(block).unwrap_or(i64::MAX);
    let mode = settings::mode(&mut *tx, s.netuid, settings::VESTING_MODE, s.cfg.mode)
        .await?
        .mode;
    let p = Params::new(&s.cfg, s.block_time_secs, block);
    advance_tally(&mut *tx, s.netuid, p.scope, tally, p.since()).await?;
    let mut out: Vec<MinerVesting> = Vec::new();
    if mode != Mode::Off {
        out = epoch::compute(&s.cfg, &p, miners, tally);
        insert(tx, n, b, mode, &out).await?;
    }
    let boosted = out.iter().filter(|m| m.outcome.multiplier > 1.0).count();
    let seconds = started.elapsed().as_secs_f64();
    sqlx::query(
        "INSERT INTO vesting_epochs (netuid, epoch_block, mode, miners, boosted, params, compute_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(n)
    .bind(b)
    .bind(mode.name())
    .bind(out.len() as i32)
    .bind(boosted as i32)
    .bind(serde_json::to_value(&s.cfg).unwrap_or_default())
    .bind(seconds * 1000.0)
    .execute(&mut *tx)
    .await?;
    Ok(Recorded {
        mode,
        miners: out.len(),
        boosted,
        seconds,
    })
}

/// Registered miners with their owner and validator permit. Three single-table scans joined
/// here: a join plan chosen before the planner has statistics on freshly filled tables can
/// turn quadratic (seconds at 4,096 miners).
pub async fn live_miners(
    tx: &mut PgConnection,
    n: i32,
    exempt: &BTreeSet<u16>,
) -> Result<Vec<MinerRef>, StoreError> {
    let owners: HashMap<String, String> = sqlx::query_as(
        "SELECT hotkey, coldkey FROM hotkey_owners WHERE netuid = $1 AND to_block IS NULL",
    )
    .bind(n)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let permits: HashMap<i64, bool> = sqlx::query_as(
        "SELECT DISTINCT ON (miner_id) miner_id, permitted FROM validator_permits
          WHERE netuid = $1 ORDER BY miner_id, block DESC",
    )
    .bind(n)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let rows: Vec<(i64, i32, String)> = sqlx::query_as(
        "SELECT id, uid, hotkey FROM miners
          WHERE netuid = $1 AND deregistered_at_block IS NULL ORDER BY uid",
    )
    .bind(n)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, uid, hotkey)| {
            let uid = uid as u16;
            MinerRef {
                miner_id: id,
                uid,
                coldkey: owners.get(&hotkey).cloned(),
                hotkey,
                validator: permits.get(&id).copied().unwrap_or(false),
                exempt: exempt.contains(&uid),
            }
        })
        .collect())
}

async fn insert(
    tx: &mut PgConnection,
    n: i32,
    b: i64,
    mode: Mode,
    out: &[MinerVesting],
) -> Result<(), StoreError> {
    if out.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&MinerVesting) -> f64| out.iter().map(f).collect::<Vec<f64>>();
    sqlx::query(
        "INSERT INTO vesting_multipliers
           (netuid, epoch_block, mode, miner_id, uid, hotkey, coldkey, earned_rao, remaining_rao,
            holding_fraction, holding_days, amount_tier, duration_tier, multiplier, reason)
         SELECT $1, $2, $3, * FROM UNNEST($4::bigint[], $5::int[], $6::text[], $7::text[],
                $8::bigint[], $9::bigint[], $10::float8[], $11::float8[], $12::float8[],
                $13::float8[], $14::float8[], $15::text[])",
    )
    .bind(n)
    .bind(b)
    .bind(mode.name())
    .bind(out.iter().map(|m| m.miner_id).collect::<Vec<_>>())
    .bind(out.iter().map(|m| i32::from(m.uid)).collect::<Vec<_>>())
    .bind(out.iter().map(|m| m.hotkey.as_str()).collect::<Vec<_>>())
    .bind(out.iter().map(|m| m.coldkey.as_str()).collect::<Vec<_>>())
    .bind(out.iter().map(|m| i64_of(m.earned_rao)).collect::<Vec<_>>())
    .bind(
        out.iter()
            .map(|m| i64_of(m.remaining_rao))
            .collect::<Vec<_>>(),
    )
    .bind(
        out.iter()
            .map(|m| m.holding.fraction)
            .collect::<Vec<Option<f64>>>(),
    )
    .bind(col(|m| m.holding.days))
    .bind(col(|m| m.outcome.amount_tier))
    .bind(col(|m| m.outcome.duration_tier))
    .bind(col(|m| m.outcome.multiplier))
    .bind(
        out.iter()
            .map(|m| m.outcome.reason.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A miner's vesting at one epoch, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = VestingRecord)]
pub struct Record {
    pub epoch_block: u64,
    pub mode: Mode,
    pub uid: u16,
    pub hotkey: String,
    pub coldkey: String,
    pub earned_rao: u64,
    pub remaining_rao: u64,
    pub holding_fraction: Option<f64>,
    pub holding_days: f64,
    pub amount_tier: f64,
    pub duration_tier: f64,
    pub multiplier: f64,
    /// The factor weights get from it (1.0 unless the mode was `on`).
    pub applied: f64,
    pub reason: String,
}

const RECORD_COLUMNS: &str = "epoch_block, mode, uid, hotkey, coldkey, earned_rao, remaining_rao,
    holding_fraction, holding_days, amount_tier, duration_tier, multiplier, reason";

fn record(r: &sqlx::postgres::PgRow) -> Record {
    let mode: Mode = r.get(1);
    let multiplier: f64 = r.get(11);
    Record {
        epoch_block: r.get::<i64, _>(0) as u64,
        mode,
        uid: r.get::<i32, _>(2) as u16,
        hotkey: r.get(3),
        coldkey: r.get(4),
        earned_rao: r.get::<i64, _>(5) as u64,
        remaining_rao: r.get::<i64, _>(6) as u64,
        holding_fraction: r.get(7),
        holding_days: r.get(8),
        amount_tier: r.get(9),
        duration_tier: r.get(10),
        multiplier,
        applied: epoch::applied(mode, multiplier),
        reason: r.get(12),
    }
}

/// Which miner: a uid (its current registration) or a hotkey (every registration of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MinerSel {
    Uid(u16),
    Hotkey(String),
}

impl MinerSel {
    /// "uid N" or "hotkey X", for messages.
    pub fn describe(&self) -> String {
        match self {
            MinerSel::Uid(u) => format!("uid {u}"),
            MinerSel::Hotkey(h) => format!("hotkey {h}"),
        }
    }

    pub fn parse(s: &str) -> MinerSel {
        match s.parse::<u16>() {
            Ok(uid) => MinerSel::Uid(uid),
            Err(_) => MinerSel::Hotkey(s.to_string()),
        }
    }

    /// The `miners` ids it designates (none for an unknown miner).
    pub async fn ids(&self, pool: &PgPool, netuid: NetUid) -> Result<Vec<i64>, sqlx::Error> {
        let n = i32::from(netuid);
        match self {
            MinerSel::Uid(uid) => {
                sqlx::query_scalar(
                    "SELECT id FROM miners WHERE netuid = $1 AND uid = $2 AND deregistered_at_block IS NULL",
                )
                .bind(n)
                .bind(i32::from(*uid))
                .fetch_all(pool)
                .await
            }
            MinerSel::Hotkey(h) => {
                sqlx::query_scalar("SELECT id FROM miners WHERE netuid = $1 AND hotkey = $2")
                    .bind(n)
                    .bind(h)
                    .fetch_all(pool)
                    .await
            }
        }
    }
}

/// Vesting history of one miner, newest epoch first; `None` when no such miner is known.
pub async fn history(
    pool: &PgPool,
    netuid: NetUid,
    miner: &MinerSel,
    before: Option<u64>,
    limit: i64,
) -> Result<Option<Vec<Record>>, StoreError> {
    let n = i32::from(netuid);
    let ids = miner.ids(pool, netuid).await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM vesting_multipliers
          WHERE netuid = $1 AND miner_id = ANY($2) AND epoch_block < $3
          ORDER BY epoch_block DESC LIMIT $4"
    )))
    .bind(n)
    .bind(&ids)
    .bind(before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX)))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(Some(rows.iter().map(record).collect()))
}

/// Every miner's vesting at the latest recorded epoch (or at `epoch_block`), by uid.
pub async fn at_epoch(
    pool: &PgPool,
    netuid: NetUid,
    epoch_block: Option<u64>,
) -> Result<Option<(EpochRow, Vec<Record>)>, StoreError> {
    let Some(epoch) = epoch_row(pool, netuid, epoch_block).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM vesting_multipliers
          WHERE netuid = $1 AND epoch_block = $2 ORDER BY uid"
    )))
    .bind(i32::from(netuid))
    .bind(epoch.epoch_block as i64)
    .fetch_all(pool)
    .await?;
    Ok(Some((epoch, rows.iter().map(record).collect())))
}

/// An epoch as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = VestingEpoch)]
pub struct EpochRow {
    pub epoch_block: u64,
    pub mode: Mode,
    pub miners: u32,
    pub boosted: u32,
    pub compute_ms: f64,
    pub params: serde_json::Value,
}

async fn epoch_row(
    pool: &PgPool,
    netuid: NetUid,
    epoch_block: Option<u64>,
) -> Result<Option<EpochRow>, StoreError> {
    let row = sqlx::query(
        "SELECT epoch_block, mode, miners, boosted, compute_ms, params FROM vesting_epochs
          WHERE netuid = $1 AND ($2::bigint IS NULL OR epoch_block = $2)
          ORDER BY epoch_block DESC LIMIT 1",
    )
    .bind(i32::from(netuid))
    .bind(epoch_block.map(|b| b as i64))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| EpochRow {
        epoch_block: r.get::<i64, _>(0) as u64,
        mode: r.get(1),
        miners: r.get::<i32, _>(2) as u32,
        boosted: r.get::<i32, _>(3) as u32,
        compute_ms: r.get(4),
        params: r.get(5),
    }))
}

/// How many miners sit in each (amount tier, duration tier) cell at an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Cell {
    pub amount_tier: f64,
    pub duration_tier: f64,
    pub multiplier: f64,
    pub miners: u32,
}

/// What `tenure vesting status` and `GET /v1/vesting` show.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = VestingStatus)]
pub struct Status {
    pub netuid: NetUid,
    /// The mode in force now, applied from the next epoch.
    pub mode: ModeSetting,
    pub config: VestingConfig,
    pub last_epoch: Option<EpochRow>,
    /// Miners per tier cell at the last epoch; validators and exempt uids are counted in the
    /// 1.0 cell with everyone below the first tiers.
    pub distribution: Vec<Cell>,
    pub recent_changes: Vec<settings::AuditEntry>,
}

pub async fn status(
    pool: &PgPool,
    netuid: NetUid,
    cfg: &VestingConfig,
) -> Result<Status, StoreError> {
    let mode = settings::mode(pool, netuid, settings::VESTING_MODE, cfg.mode).await?;
    let last_epoch = epoch_row(pool, netuid, None).await?;
    let mut distribution = Vec::new();
    if let Some(e) = &last_epoch {
        for r in sqlx::query(
            "SELECT amount_tier, duration_tier, multiplier, count(*)::int FROM vesting_multipliers
              WHERE netuid = $1 AND epoch_block = $2
              GROUP BY 1, 2, 3 ORDER BY 3, 1, 2",
        )
        .bind(i32::from(netuid))
        .bind(e.epoch_block as i64)
        .fetch_all(pool)
        .await?
        {
            distribution.push(Cell {
                amount_tier: r.get(0),
                duration_tier: r.get(1),
                multiplier: r.get(2),
                miners: r.get::<i32, _>(3) as u32,
            });
        }
    }
    let recent_changes = settings::audit(pool, netuid, settings::VESTING_MODE, 5).await?;
    Ok(Status {
        netuid,
        mode,
        config: cfg.clone(),
        last_epoch,
        distribution,
        recent_changes,
    })
}
