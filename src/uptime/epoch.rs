//! One epoch's uptime for every miner, inside the epoch block's ingest transaction (like vesting):
//! the rollup cache is refreshed with the rows rounds can have changed since, every miner's
//! [`History`] is assembled from it, [`evaluate`]d, and recorded with every bonus, its metric and
//! reason; milestones reached for the first time become achievements (never awarded twice).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

use crate::config::{Mode, UptimeConfig};
use crate::laps::Laps;
use crate::settings;
use crate::units::NetUid;
use crate::uptime::bonus::{Milestone, Outcome, Record, Rule, Skipped, evaluate};
use crate::uptime::cache::{Cache, Horizon};
use crate::uptime::history::{Achievement, Grant, History, Period};
use crate::uptime::store::Periods;
use crate::vesting::epoch::MinerRef;

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Vesting(#[from] crate::vesting::store::StoreError),
}

#[derive(Debug, Clone)]
pub struct EpochSettings {
    pub netuid: NetUid,
    pub cfg: UptimeConfig,
    pub periods: Periods,
    pub exempt: BTreeSet<u16>,
}

/// The rollup cache and how far back it reaches, held by the ingest writer.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    pub cache: Cache,
    horizon: Horizon,
    /// The last round (`uptime_rounds.id`) whose rollups the cache has: later epochs read only
    /// the hours and days that newer rounds touched. `None` until an epoch has read the whole
    /// refresh window under the cursor lock.
    watermark: Option<i64>,
}

/// Days back from the epoch that a round may still change (the day before, and today).
pub const REFRESH_DAYS: i64 = 2;

/// Hours back from the epoch that a round may still change: the API accepts observations up to
/// `current_window_blocks` old.
pub fn refresh_hours(s: &EpochSettings) -> i64 {
    (s.cfg.current_window_blocks / s.periods.blocks_per_hour) as i64 + 2
}

/// One miner's stored day (`uptime_days`): the day's totals and, where asked for, its 24 hours.
#[derive(Debug, sqlx::FromRow)]
struct StoredDay {
    miner_id: i64,
    day: i64,
    rounds: i32,
    up: i32,
    hour_rounds: Option<Vec<i32>>,
    hour_up: Option<Vec<i32>>,
}

/// A stored day's counts as a period (the table's checks keep them non-negative).
fn period(index: i64, rounds: i32, up: i32) -> Period {
    Period {
        index,
        rounds: rounds.max(0) as u32,
        up: up.max(0) as u32,
    }
}

impl StoredDay {
    fn day(&self) -> Period {
        period(self.day, self.rounds, self.up)
    }

    /// The hours that had rounds (an hour without any is unknown, not a period).
    fn hours(&self) -> impl Iterator<Item = Period> + '_ {
        let none: &[i32] = &[];
        let rounds = self.hour_rounds.as_deref().unwrap_or(none);
        let up = self.hour_up.as_deref().unwrap_or(none);
        rounds
            .iter()
            .zip(up)
            .enumerate()
            .filter(|(_, (rounds, _))| **rounds > 0)
            .map(|(i, (rounds, up))| period(self.day * 24 + i as i64, *rounds, *up))
    }
}

/// Stored days of netuid `$1` from day `$3` on, with their hours from day `$2` on: the hours
/// are most of a row, and most days are read for their totals alone.
const DAYS_FROM: &str = "SELECT miner_id, day, rounds, up,
        CASE WHEN day >= $2 THEN hour_rounds END AS hour_rounds,
        CASE WHEN day >= $2 THEN hour_up END AS hour_up
   FROM uptime_days WHERE netuid = $1 AND day >= $3";

/// Stored days of netuid `$1` among days `$3`, with their hours for days `$2`.
const DAYS_AMONG: &str = "SELECT miner_id, day, rounds, up,
        CASE WHEN day = ANY($2) THEN hour_rounds END AS hour_rounds,
        CASE WHEN day = ANY($2) THEN hour_up END AS hour_up
   FROM uptime_days WHERE netuid = $1 AND day = ANY($3)";

/// Which rollup a stored period is.
#[derive(Debug, Clone, Copy)]
enum Rollup {
    Day,
    Hour,
}

/// Streams the daily and hourly rollups of `netuid` from day `from_day` and hour `from_hour` on
/// into `put`, in the table's order (no sort in the database, no copy of every row in memory);
/// returns the periods read.
async fn stream_rollups(
    db: &mut PgConnection,
    netuid: NetUid,
    (from_day, from_hour): (i64, i64),
    mut put: impl FnMut(Rollup, i64, Period),
) -> Result<usize, sqlx::Error> {
    use futures::TryStreamExt;
    let mut periods = 0;
    let mut found = sqlx::query_as::<_, StoredDay>(DAYS_FROM)
        .bind(i32::from(netuid))
        .bind(from_hour.div_euclid(24))
        .bind(from_day.min(from_hour.div_euclid(24)))
        .fetch(&mut *db);
    while let Some(d) = found.try_next().await? {
        if d.day >= from_day {
            periods += 1;
            put(Rollup::Day, d.miner_id, d.day());
        }
        for h in d.hours().filter(|h| h.index >= from_hour) {
            periods += 1;
            put(Rollup::Hour, d.miner_id, h);
        }
    }
    Ok(periods)
}

/// Reads the rollups of `netuid` from day `from_day` and hour `from_hour` on into an empty
/// `cache` (the daemon's start, and `tenure replay`); returns the periods read. Each miner's
/// periods are sorted once at the end. (Aggregating each miner's days into arrays in the
/// database was slower: 3.9–4.8 s instead of 3.0 s at 4,096 miners × 400 days, `array_agg`
/// costing more than the rows it saves.)
pub async fn load_rollups(
    db: &mut PgConnection,
    netuid: NetUid,
    cache: &mut Cache,
    from: (i64, i64),
) -> Result<usize, sqlx::Error> {
    let mut days: HashMap<i64, Vec<Period>> = HashMap::new();
    let mut hours: HashMap<i64, Vec<Period>> = HashMap::new();
    let periods = stream_rollups(db, netuid, from, |rollup, miner, p| match rollup {
        Rollup::Day => days.entry(miner).or_default().push(p),
        Rollup::Hour => hours.entry(miner).or_default().push(p),
    })
    .await?;
    cache.absorb(days, hours);
    Ok(periods)
}

/// Reads the rollups of `netuid` from day `from_day` and hour `from_hour` on into `cache`, each
/// replacing the period the cache had (an epoch's refresh); returns the periods read.
pub async fn read_rollups(
    db: &mut PgConnection,
    netuid: NetUid,
    cache: &mut Cache,
    from: (i64, i64),
) -> Result<usize, sqlx::Error> {
    stream_rollups(db, netuid, from, |rollup, miner, p| match rollup {
        Rollup::Day => cache.upsert_day(miner, p),
        Rollup::Hour => cache.upsert_hour(miner, p),
    })
    .await
}

/// Brings the cache up to the rollups as committed: probe and API rounds write them outside the
/// block's transaction. With a watermark, only the hours and days of the rounds recorded since
/// are read again (a few thousand rows an epoch); without one, every period a round may still
/// change (the day before, and the API's acceptance window).
///
/// Rounds lock the cursor row (`FOR SHARE`) before they take an id, and the block's transaction
/// holds it `FOR UPDATE` from its first statement: no round is in flight here, so every round
/// up to the newest id is committed and seen, and that id is a safe watermark. Without a cursor
/// row (the very first block) nothing is locked and no watermark is set.
async fn refresh(
    tx: &mut PgConnection,
    s: &EpochSettings,
    t: &mut Tracker,
    (day, hour): (i64, i64),
) -> Result<(), sqlx::Error> {
    let n = i32::from(s.netuid);
    let (newest, locked): (Option<i64>, bool) = sqlx::query_as(
        "SELECT (SELECT max(id) FROM uptime_rounds WHERE netuid = $1),
                EXISTS (SELECT 1 FROM ingest_cursor WHERE netuid = $1)",
    )
    .bind(n)
    .fetch_one(&mut *tx)
    .await?;
    match t.watermark {
        Some(w) => {
            let seen: Vec<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT observed_at FROM uptime_rounds WHERE netuid = $1 AND id > $2",
            )
            .bind(n)
            .bind(w)
            .fetch_all(&mut *tx)
            .await?;
            let days: BTreeSet<i64> = seen.iter().map(|t| Periods::day_at(*t)).collect();
            let hours: BTreeSet<i64> = seen.iter().map(|t| Periods::hour_at(*t)).collect();
            read_periods(tx, s.netuid, &mut t.cache, &days, &hours).await?;
        }
        None => {
            let since = (day - REFRESH_DAYS, hour - refresh_hours(s));
            read_rollups(&mut *tx, s.netuid, &mut t.cache, since).await?;
        }
    }
    if locked {
        t.watermark = Some(newest.unwrap_or(0).max(t.watermark.unwrap_or(0)));
    }
    Ok(())
}

/// The daily rollups of `days` and hourly of `hours` into `cache`.
async fn read_periods(
    db: &mut PgConnection,
    netuid: NetUid,
    cache: &mut Cache,
    days: &BTreeSet<i64>,
    hours: &BTreeSet<i64>,
) -> Result<(), sqlx::Error> {
    let hour_days: BTreeSet<i64> = hours.iter().map(|h| h.div_euclid(24)).collect();
    let stored: Vec<i64> = days.union(&hour_days).copied().collect();
    if stored.is_empty() {
        return Ok(());
    }
    let hour_days: Vec<i64> = hour_days.into_iter().collect();
    let found: Vec<StoredDay> = sqlx::query_as(DAYS_AMONG)
        .bind(i32::from(netuid))
        .bind(&hour_days)
        .bind(&stored)
        .fetch_all(&mut *db)
        .await?;
    for d in found {
        if days.contains(&d.day) {
            cache.upsert_day(d.miner_id, d.day());
        }
        for h in d.hours().filter(|h| hours.contains(&h.index)) {
            cache.upsert_hour(d.miner_id, h);
        }
    }
    Ok(())
}

/// The cache as the database has it, for an ingest resuming after `block`.
pub async fn load(pool: &PgPool, s: &EpochSettings, block: u64) -> Result<Tracker, EpochError> {
    let horizon = Horizon::of(&s.cfg, s.periods.blocks_per_hour);
    let mut cache = Cache::new();
    // Without the block's time (nothing ingested yet), everything kept is read: the first
    // epoch's prune drops what lies beyond the horizon.
    let (from_day, from_hour) = match crate::uptime::store::time_of(pool, s.netuid, block).await? {
        Some(t) => (
            Periods::day_at(t) - horizon.days,
            Periods::hour_at(t) - horizon.hours,
        ),
        None => (i64::MIN / 2, i64::MIN / 2),
    };
    let mut conn = pool.acquire().await?;
    load_rollups(&mut conn, s.netuid, &mut cache, (from_day, from_hour)).await?;
    Ok(Tracker {
        cache,
        horizon,
        watermark: None,
    })
}

impl Tracker {
    pub fn new(s: &EpochSettings) -> Self {
        Tracker {
            cache: Cache::new(),
            horizon: Horizon::of(&s.cfg, s.periods.blocks_per_hour),
            watermark: None,
        }
    }

    /// A tracker as a snapshot kept it: `cache` read up to round `watermark`.
    pub fn restored(cache: Cache, horizon: Horizon, watermark: Option<i64>) -> Self {
        Tracker {
            cache,
            horizon,
            watermark,
        }
    }

    /// The last round whose rollups the cache has read.
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// How far back the rules read.
    pub fn horizon(&self) -> Horizon {
        self.horizon
    }

    /// Forgets the rollups no rule reads any more at day `day` and hour `hour`.
    pub fn prune(&mut self, day: i64, hour: i64) {
        self.cache.prune(self.horizon, day, hour);
    }
}

/// What an epoch's computation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub mode: Mode,
    pub miners: usize,
    pub boosted: usize,
    pub new_achievements: usize,
    pub seconds: f64,
    /// The evaluated miners' figures as stored (validators and exempt uids left out): network
    /// health reads them from here instead of reading the rows back.
    pub evaluated: Vec<Figures>,
}

/// An evaluated miner's uptime figures at an epoch, as stored in `uptime_multipliers`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub miner_id: i64,
    pub current: Option<f64>,
    pub historical: Option<f64>,
    pub multiplier: f64,
}

/// Computes and records the uptime of every registered miner at the epoch block `block`
/// (chain time `now`), in the caller's transaction. Mode `off` records only the epoch row.
pub async fn record_epoch(
    tx: &mut PgConnection,
    s: &EpochSettings,
    block: u64,
    now: DateTime<Utc>,
    t: &mut Tracker,
    miners: &[MinerRef],
) -> Result<Recorded, EpochError> {
    let started = Instant::now();
    let n = i32::from(s.netuid);
    let mode = settings::mode(&mut *tx, s.netuid, settings::UPTIME_MODE, s.cfg.mode)
        .await?
        .mode;
    let (day, hour) = (Periods::day_at(now), Periods::hour_at(now));
    let mut recorded = Recorded {
        mode,
        miners: 0,
        boosted: 0,
        new_achievements: 0,
        seconds: 0.0,
        evaluated: Vec::new(),
    };
    if mode != Mode::Off {
        let mut laps = Laps::start();
        refresh(&mut *tx, s, t, (day, hour)).await?;
        t.prune(day, hour);
        laps.lap("refresh");
        let ids: Vec<i64> = miners.iter().map(|m| m.miner_id).collect();
        let extras = Extras::load(&mut *tx, n, &ids, now).await?;
        laps.lap("extras");
        let at = At::new(block, now);
        let (mut rows, new_achievements) = evaluate_all(s, t, miners, extras, at);
        laps.lap("evaluate");
        recorded.miners = rows.ids.len();
        recorded.boosted = rows.multiplier.iter().filter(|m| **m > 1.0).count();
        recorded.new_achievements = new_achievements.len();
        recorded.evaluated = std::mem::take(&mut rows.evaluated);
        rows.insert(tx, n, block, mode).await?;
        laps.lap("insert");
        store_achievements(tx, s, block, &new_achievements).await?;
        laps.lap("achievements");
        tracing::debug!(block, miners = recorded.miners, %laps, "uptime epoch");
    }
    recorded.seconds = started.elapsed().as_secs_f64();
    sqlx::query(
        "INSERT INTO uptime_epochs (netuid, epoch_block, mode, miners, boosted, params, compute_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(n)
    .bind(block as i64)
    .bind(mode.name())
    .bind(recorded.miners as i32)
    .bind(recorded.boosted as i32)
    .bind(serde_json::to_value(&s.cfg).unwrap_or_default())
    .bind(recorded.seconds * 1000.0)
    .execute(&mut *tx)
    .await?;
    Ok(recorded)
}

/// The epoch's point in chain time: its block, time, day and hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct At {
    pub block: u64,
    pub now: DateTime<Utc>,
    pub day: i64,
    pub hour: i64,
}

impl At {
    /// Epoch block `block` with timestamp `now`: hours and days are UTC, by the chain's clock.
    pub fn new(block: u64, now: DateTime<Utc>) -> Self {
        At {
            block,
            now,
            day: Periods::day_at(now),
            hour: Periods::hour_at(now),
        }
    }
}

/// What the rules read besides the rollups: registration blocks, achievements, active grants.
struct Extras {
    registered: HashMap<i64, u64>,
    achievements: HashMap<i64, Vec<Achievement>>,
    grants: HashMap<String, Vec<Grant>>,
}

impl Extras {
    async fn load(
        tx: &mut PgConnection,
        n: i32,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<Self, EpochError> {
        let registered: HashMap<i64, u64> = sqlx::query_as::<_, (i64, i64)>(
            "SELECT id, registered_at_block FROM miners WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, b)| (id, b.max(0) as u64))
        .collect();
        let mut achievements: HashMap<i64, Vec<Achievement>> = HashMap::new();
        for r in sqlx::query(
            "SELECT miner_id, milestone, bonus, epochs_remaining FROM achievements
              WHERE netuid = $1 AND miner_id = ANY($2)",
        )
        .bind(n)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?
        {
            let name: &str = r.try_get(1)?;
            // Only tenure writes achievements, with known milestones: anything else is an error.
            let milestone = Milestone::parse(name).ok_or_else(|| {
                sqlx::Error::Decode(format!("achievements holds unknown milestone `{name}`").into())
            })?;
            achievements
                .entry(r.try_get(0)?)
                .or_default()
                .push(Achievement {
                    milestone,
                    bonus: r.try_get(2)?,
                    epochs_remaining: r.try_get::<i32, _>(3)?.max(0) as u32,
                });
        }
        let mut grants: HashMap<String, Vec<Grant>> = HashMap::new();
        for r in sqlx::query(
            "SELECT hotkey, bonus, reason, expires_at FROM grants
              WHERE netuid = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(n)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        {
            grants.entry(r.try_get(0)?).or_default().push(Grant {
                bonus: r.try_get(1)?,
                reason: r.try_get(2)?,
                expires_at: r.try_get(3)?,
                revoked: false,
            });
        }
        Ok(Extras {
            registered,
            achievements,
            grants,
        })
    }
}

/// One miner's uptime at an epoch, before it is stored: the daemon's epoch and the incentive
/// lab both come through [`evaluate_miner`], so they cannot disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerUptime {
    pub current: Option<f64>,
    pub historical: Option<f64>,
    /// `Err(reason)`: the rules do not apply (validator permit, exempt uid), multiplier 1.0.
    pub outcome: Result<Outcome, &'static str>,
}

impl MinerUptime {
    pub fn multiplier(&self) -> f64 {
        self.outcome.as_ref().map_or(1.0, |o| o.multiplier)
    }

    /// What is stored of it.
    pub fn record(&self) -> Record {
        match &self.outcome {
            Ok(o) => Record::Evaluated(o.detail()),
            Err(why) => Record::Skipped(Skipped {
                reason: why.to_string(),
            }),
        }
    }
}

/// The recorded reasons a miner is left at 1.0 (`tenure replay` reads them back).
pub const SKIP_EXEMPT: &str = "exempt uid (weights.exempt_uids): 1.0";
pub const SKIP_VALIDATOR: &str = "validator permit: uptime bonuses do not apply, 1.0";

/// What a miner's history holds besides its rollups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinerExtras {
    /// Registration block (`None`: unknown, taken as the epoch block).
    pub registered: Option<u64>,
    pub achievements: Vec<Achievement>,
    pub grants: Vec<Grant>,
}

/// One miner's history from the rollup cache at `at`, evaluated under `cfg`.
pub fn evaluate_miner(
    s: &EpochSettings,
    cache: &Cache,
    m: &MinerRef,
    extras: MinerExtras,
    at: At,
) -> MinerUptime {
    let id = m.miner_id;
    let current_hours = (s.cfg.current_window_blocks / s.periods.blocks_per_hour).max(1) as i64;
    let historical_hours =
        (s.cfg.historical_window_blocks / s.periods.blocks_per_hour).max(1) as i64;
    // Complete hours only: the epoch's own hour is still being observed, and what an epoch
    // reads must be what `tenure replay` can read back.
    let current = cache.uptime(id, at.hour - 1, current_hours);
    let historical = cache.uptime(id, at.hour - 1, historical_hours);
    let outcome = if m.exempt {
        Err(SKIP_EXEMPT)
    } else if m.validator {
        Err(SKIP_VALIDATOR)
    } else {
        let reg = extras.registered.unwrap_or(at.block);
        let h = History {
            current,
            historical,
            days: cache.days(id, at.day - 1).into(),
            hours: cache.hours(id, at.hour - 1).into(),
            last_day: at.day - 1,
            last_hour: at.hour - 1,
            registered_days: at.block.saturating_sub(reg) as f64 / s.periods.blocks_per_day as f64,
            // Registrations may predate tenure's blocks: placed by block time from the epoch.
            registered_day: Periods::day_at(
                s.periods
                    .time_from(at.now, -(at.block.saturating_sub(reg) as i64)),
            ),
            achievements: extras.achievements,
            grants: extras.grants,
            now: Some(at.now),
        };
        Ok(evaluate(&s.cfg, &h))
    };
    MinerUptime {
        current,
        historical,
        outcome,
    }
}

/// Every miner's record at the epoch (validators and exempt uids skipped at 1.0), and the
/// milestones reached for the first time with the bonus they pay.
fn evaluate_all(
    s: &EpochSettings,
    t: &Tracker,
    miners: &[MinerRef],
    mut x: Extras,
    at: At,
) -> (Rows, Vec<(i64, Milestone, f64)>) {
    let extras: Vec<MinerExtras> = miners
        .iter()
        .map(|m| MinerExtras {
            registered: x.registered.get(&m.miner_id).copied(),
            achievements: x.achievements.remove(&m.miner_id).unwrap_or_default(),
            grants: x.grants.remove(&m.hotkey).unwrap_or_default(),
        })
        .collect();
    let outcomes = evaluate_parallel(s, &t.cache, miners, extras, at);
    let mut rows = Rows::default();
    let mut new_achievements: Vec<(i64, Milestone, f64)> = Vec::new();
    for (m, u) in miners.iter().zip(outcomes) {
        let id = m.miner_id;
        if let Ok(o) = &u.outcome {
            new_achievements.extend(new_milestones(o).map(|(ms, bonus)| (id, ms, bonus)));
        }
        let detail = u.record();
        if u.outcome.is_ok() {
            rows.evaluated.push(Figures {
                miner_id: id,
                current: u.current,
                historical: u.historical,
                multiplier: u.multiplier(),
            });
        }
        rows.push(
            id,
            m.uid,
            &m.hotkey,
            u.current,
            u.historical,
            detail,
            u.multiplier(),
        );
    }
    (rows, new_achievements)
}

/// [`evaluate_miner`] for every miner, in order, on every core: each evaluation is pure over
/// the cache, so the split changes nothing but the time (4,096 miners × 400 days: ~110 ms on
/// one core).
fn evaluate_parallel(
    s: &EpochSettings,
    cache: &Cache,
    miners: &[MinerRef],
    extras: Vec<MinerExtras>,
    at: At,
) -> Vec<MinerUptime> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let work: Vec<(&MinerRef, MinerExtras)> = miners.iter().zip(extras).collect();
    let one = |(m, x): (&MinerRef, MinerExtras)| evaluate_miner(s, cache, m, x, at);
    if work.len() < 512 || threads < 2 {
        return work.into_iter().map(one).collect();
    }
    let chunk = work.len().div_ceil(threads);
    let mut work = work.into_iter();
    let parts: Vec<Vec<(&MinerRef, MinerExtras)>> = std::iter::from_fn(|| {
        let part: Vec<_> = work.by_ref().take(chunk).collect();
        (!part.is_empty()).then_some(part)
    })
    .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The milestones an outcome reached for the first time, with the bonus each pays.
pub fn new_milestones(o: &Outcome) -> impl Iterator<Item = (Milestone, f64)> + '_ {
    o.new_milestones.iter().map(|ms| {
        let bonus = o
            .bonuses
            .iter()
            .find(|b| b.rule == Rule::from(*ms))
            .map_or(0.0, |b| b.bonus);
        (*ms, bonus)
    })
}

/// Awards the milestones reached for the first time (never twice). Their bonus, like an earlier
/// achievement's, is used up by the weight submissions that pay it
/// (`weights::submission::plan`), not by the epoch: a shadow trial keeps it for later.
async fn store_achievements(
    tx: &mut PgConnection,
    s: &EpochSettings,
    block: u64,
    new_achievements: &[(i64, Milestone, f64)],
) -> Result<(), EpochError> {
    let n = i32::from(s.netuid);
    if new_achievements.is_empty() {
        return Ok(());
    }
    let remaining = s.cfg.milestones.bonus_epochs as i32;
    sqlx::query(
        "INSERT INTO achievements (netuid, miner_id, milestone, awarded_block, bonus, epochs_remaining)
         SELECT $1, m, k, $2, b, $3 FROM UNNEST($4::bigint[], $5::text[], $6::float8[]) AS t(m, k, b)
         ON CONFLICT (miner_id, milestone) DO NOTHING",
    )
    .bind(n)
    .bind(block as i64)
    .bind(remaining)
    .bind(new_achievements.iter().map(|a| a.0).collect::<Vec<_>>())
    .bind(new_achievements.iter().map(|a| a.1.name()).collect::<Vec<_>>())
    .bind(new_achievements.iter().map(|a| a.2).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Default)]
struct Rows {
    ids: Vec<i64>,
    uids: Vec<i32>,
    hotkeys: Vec<String>,
    current: Vec<Option<f64>>,
    historical: Vec<Option<f64>>,
    detail: Vec<String>,
    multiplier: Vec<f64>,
    evaluated: Vec<Figures>,
}

impl Rows {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: i64,
        uid: u16,
        hotkey: &str,
        current: Option<f64>,
        historical: Option<f64>,
        detail: Record,
        multiplier: f64,
    ) {
        self.ids.push(id);
        self.uids.push(i32::from(uid));
        self.hotkeys.push(hotkey.to_string());
        self.current.push(current);
        self.historical.push(historical);
        // A record is plain data: serializing it into a String cannot fail.
        self.detail
            .push(serde_json::to_string(&detail).unwrap_or_default());
        self.multiplier.push(multiplier);
    }

    async fn insert(
        &self,
        tx: &mut PgConnection,
        n: i32,
        block: u64,
        mode: Mode,
    ) -> Result<(), sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO uptime_multipliers
               (netuid, epoch_block, mode, miner_id, uid, hotkey, current_uptime, historical_uptime,
                bonuses, multiplier)
             SELECT $1, $2, $3, * FROM UNNEST($4::bigint[], $5::int[], $6::text[], $7::float8[],
                    $8::float8[], $9::text[]::json[], $10::float8[])",
        )
        .bind(n)
        .bind(block as i64)
        .bind(mode.name())
        .bind(&self.ids)
        .bind(&self.uids)
        .bind(&self.hotkeys)
        .bind(&self.current)
        .bind(&self.historical)
        .bind(&self.detail)
        .bind(&self.multiplier)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}
