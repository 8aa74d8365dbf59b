//! A warm start: the writer's memory kept across a graceful restart. Loading it from the
//! tables of record means aggregating every tranche of the vesting window and streaming every
//! rollup the uptime rules read (millions of rows at 4,096 miners: seconds of both cores). At
//! a graceful stop the writer holds exactly that memory for the database's cursor, so it saves
//! it (`engine_snapshots`, migration 20), and the next start at the same cursor block and
//! hash, under the same settings, takes it back as it was: the daemon goes on as if it had
//! never stopped.
//!
//! A snapshot is consumed by the next load whether it is used or not, so it can never be
//! used twice or after the cursor moved. Anything unexpected in it (another layout, a period
//! out of order) is reported and the memory is loaded from the tables of record instead: the
//! snapshot only ever saves time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::{PgPool, Row};

use super::Settings;
use super::store::Memory;
use crate::uptime::cache::{Cache, Horizon};
use crate::uptime::history::Period;
use crate::vesting::store::scope_name;
use crate::vesting::tally::{Kept, Tally, Totals};

/// The layout of the snapshot's rows; a snapshot of another layout is not used.
const FORMAT: i32 = 1;

/// Bytes of one period in the rollups' `bytea`: index i64, rounds u32, up u32.
const PERIOD_BYTES: usize = 16;

/// Miners' rollups per statement when saving: bounds the bytes a statement carries (≈ 20 MB
/// at 1,200 periods a miner).
const MINERS_PER_STATEMENT: usize = 1_024;

/// How long a save at a stop may take: well inside the daemon's shutdown deadline (20 s by
/// default); an unfinished save is rolled back and the next start loads from the tables.
pub const SAVE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the snapshot's {0} are malformed")]
    Malformed(&'static str),
    #[error("saving took longer than {} s", SAVE_TIMEOUT.as_secs())]
    Timeout,
}

/// What a save stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub cursor: u64,
    pub books: usize,
    pub miners: usize,
    pub bytes: usize,
}

/// What the settings make of the memory at block `cursor`: a snapshot taken under other
/// settings is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    scope: &'static str,
    window_since: u64,
    horizon: Horizon,
}

impl Tag {
    fn of(s: &Settings, cursor: u64) -> Self {
        let v = &s.vesting;
        Tag {
            scope: scope_name(s.scope),
            window_since: crate::vesting::epoch::Params::new(&v.cfg, v.block_time_secs, cursor)
                .since(),
            horizon: Horizon::of(&s.uptime.cfg, s.uptime.periods.blocks_per_hour),
        }
    }
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn encode(periods: &[Period]) -> Vec<u8> {
    let mut out = Vec::with_capacity(periods.len() * PERIOD_BYTES);
    for p in periods {
        out.extend_from_slice(&p.index.to_le_bytes());
        out.extend_from_slice(&p.rounds.to_le_bytes());
        out.extend_from_slice(&p.up.to_le_bytes());
    }
    out
}

/// The periods of [`encode`], which must be in strictly increasing index order.
fn decode(bytes: &[u8]) -> Result<Vec<Period>, SnapshotError> {
    let chunks = bytes.chunks_exact(PERIOD_BYTES);
    if !chunks.remainder().is_empty() {
        return Err(SnapshotError::Malformed("rollup bytes"));
    }
    let mut out: Vec<Period> = Vec::with_capacity(bytes.len() / PERIOD_BYTES);
    for c in chunks {
        // `chunks_exact` hands out whole periods: the three fields are fixed slices of it.
        let (mut index, mut rounds, mut up) = ([0u8; 8], [0u8; 4], [0u8; 4]);
        index.copy_from_slice(&c[..8]);
        rounds.copy_from_slice(&c[8..12]);
        up.copy_from_slice(&c[12..16]);
        let p = Period {
            index: i64::from_le_bytes(index),
            rounds: u32::from_le_bytes(rounds),
            up: u32::from_le_bytes(up),
        };
        if out.last().is_some_and(|l| l.index >= p.index) || p.up > p.rounds {
            return Err(SnapshotError::Malformed("rollups"));
        }
        out.push(p);
    }
    Ok(out)
}

/// Saves `mem`, the memory of a writer that has just stopped, unless the database's cursor is
/// no longer the block it reflects (another instance wrote on) or it lags the database.
/// Replaces any earlier snapshot of the netuid.
pub async fn save(
    pool: &PgPool,
    s: &Settings,
    mem: &Memory,
) -> Result<Option<Saved>, SnapshotError> {
    let Some(at) = mem.at.filter(|_| !mem.stale) else {
        return Ok(None);
    };
    let n = i32::from(s.netuid);
    let mut tx = pool.begin().await?;
    let cursor: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT block_number, block_hash FROM ingest_cursor WHERE netuid = $1 FOR SHARE",
    )
    .bind(n)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((block, hash)) = cursor.filter(|(b, _)| *b == i64_of(at)) else {
        return Ok(None);
    };
    let tag = Tag::of(s, at);
    sqlx::query("DELETE FROM engine_snapshots WHERE netuid = $1")
        .bind(n)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO engine_snapshots (netuid, format, scope, cursor_block, cursor_hash,
                window_since, tally_since, horizon_days, horizon_hours, watermark)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(n)
    .bind(FORMAT)
    .bind(tag.scope)
    .bind(block)
    .bind(&hash)
    .bind(i64_of(tag.window_since))
    .bind(i64_of(mem.tally.since()))
    .bind(tag.horizon.days)
    .bind(tag.horizon.hours)
    .bind(mem.uptime.watermark())
    .execute(&mut *tx)
    .await?;
    let books = save_books(&mut tx, n, &mem.tally).await?;
    let (miners, bytes) = save_rollups(&mut tx, n, &mem.uptime.cache).await?;
    tx.commit().await?;
    Ok(Some(Saved {
        cursor: at,
        books,
        miners,
        bytes,
    }))
}

async fn save_books(
    tx: &mut sqlx::PgConnection,
    n: i32,
    tally: &Tally,
) -> Result<usize, SnapshotError> {
    let kept: Vec<Kept> = tally.kept().collect();
    let col = |f: fn(&Kept) -> String| kept.iter().map(f).collect::<Vec<String>>();
    sqlx::query(
        "INSERT INTO engine_snapshot_books
           (netuid, coldkey, hotkey, tranches, earned, remaining, oldest_held, stale)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[]::numeric[],
                $6::text[]::numeric[], $7::bigint[], $8::bool[])",
    )
    .bind(n)
    .bind(col(|k| k.key.0.clone()))
    .bind(col(|k| k.key.1.clone()))
    .bind(
        kept.iter()
            .map(|k| i64_of(k.totals.count))
            .collect::<Vec<_>>(),
    )
    .bind(col(|k| k.totals.earned.to_string()))
    .bind(col(|k| k.totals.remaining.to_string()))
    .bind(
        kept.iter()
            .map(|k| k.oldest_held.map(i64_of))
            .collect::<Vec<_>>(),
    )
    .bind(kept.iter().map(|k| k.stale).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(kept.len())
}

async fn save_rollups(
    tx: &mut sqlx::PgConnection,
    n: i32,
    cache: &Cache,
) -> Result<(usize, usize), SnapshotError> {
    let miners: Vec<_> = cache.per_miner().collect();
    let mut bytes = 0;
    for part in miners.chunks(MINERS_PER_STATEMENT) {
        let ids: Vec<i64> = part.iter().map(|m| m.0).collect();
        let days: Vec<Vec<u8>> = part.iter().map(|m| encode(m.1)).collect();
        let hours: Vec<Vec<u8>> = part.iter().map(|m| encode(m.2)).collect();
        bytes += days.iter().chain(&hours).map(Vec::len).sum::<usize>();
        sqlx::query(
            "INSERT INTO engine_snapshot_rollups (netuid, miner_id, days, hours)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bytea[], $4::bytea[])",
        )
        .bind(n)
        .bind(&ids)
        .bind(&days)
        .bind(&hours)
        .execute(&mut *tx)
        .await?;
    }
    Ok((miners.len(), bytes))
}

/// Takes the netuid's snapshot out of the database, and returns the memory it holds when it
/// was saved at the cursor block `cursor` (with the hash the database has for it) under the
/// same settings and layout. The tranche books' ids are not in it (the caller reads them).
pub async fn take(
    pool: &PgPool,
    s: &Settings,
    cursor: u64,
) -> Result<Option<(Tally, crate::uptime::epoch::Tracker)>, SnapshotError> {
    let n = i32::from(s.netuid);
    let mut tx = pool.begin().await?;
    let Some(head) = sqlx::query(
        "SELECT x.format, x.scope, x.cursor_block,
                x.cursor_hash = c.block_hash AND x.cursor_block = c.block_number,
                x.window_since, x.tally_since, x.horizon_days, x.horizon_hours, x.watermark
           FROM engine_snapshots x JOIN ingest_cursor c ON c.netuid = x.netuid
          WHERE x.netuid = $1 FOR UPDATE OF x",
    )
    .bind(n)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let tag = Tag::of(s, cursor);
    let usable = head.try_get::<i32, _>(0)? == FORMAT
        && head.try_get::<&str, _>(1)? == tag.scope
        && head.try_get::<i64, _>(2)? == i64_of(cursor)
        && head.try_get::<bool, _>(3)?
        && head.try_get::<i64, _>(4)? == i64_of(tag.window_since)
        && head.try_get::<i64, _>(6)? == tag.horizon.days
        && head.try_get::<i64, _>(7)? == tag.horizon.hours;
    let memory = if usable {
        let tally_since = head.try_get::<i64, _>(5)?.max(0) as u64;
        let tally = Tally::restored(tally_since, take_books(&mut tx, n).await?);
        let cache = take_rollups(&mut tx, n).await?;
        let tracker = crate::uptime::epoch::Tracker::restored(cache, tag.horizon, head.try_get(8)?);
        Some((tally, tracker))
    } else {
        None
    };
    // Used or not, it is gone: the next load reads the tables unless a new stop saves again.
    sqlx::query("DELETE FROM engine_snapshots WHERE netuid = $1")
        .bind(n)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(memory)
}

/// The tally's books as saved.
async fn take_books(tx: &mut sqlx::PgConnection, n: i32) -> Result<Vec<Kept>, SnapshotError> {
    let rows = sqlx::query_as::<_, (String, String, i64, String, String, Option<i64>, bool)>(
        "SELECT coldkey, hotkey, tranches, earned::text, remaining::text, oldest_held, stale
           FROM engine_snapshot_books WHERE netuid = $1",
    )
    .bind(n)
    .fetch_all(&mut *tx)
    .await?;
    let amount = |s: &str| {
        s.parse::<u128>()
            .map_err(|_| SnapshotError::Malformed("book sums"))
    };
    rows.into_iter()
        .map(|(c, h, count, earned, remaining, oldest, stale)| {
            Ok(Kept {
                key: (c, h),
                totals: Totals {
                    count: count.max(0) as u64,
                    earned: amount(&earned)?,
                    remaining: amount(&remaining)?,
                },
                oldest_held: oldest.map(|b| b.max(0) as u64),
                stale,
            })
        })
        .collect()
}

async fn take_rollups(tx: &mut sqlx::PgConnection, n: i32) -> Result<Cache, SnapshotError> {
    use futures::TryStreamExt;
    let mut days = HashMap::new();
    let mut hours = HashMap::new();
    let mut rows = sqlx::query_as::<_, (i64, Vec<u8>, Vec<u8>)>(
        "SELECT miner_id, days, hours FROM engine_snapshot_rollups WHERE netuid = $1",
    )
    .bind(n)
    .fetch(&mut *tx);
    while let Some((miner, d, h)) = rows.try_next().await? {
        let (d, h) = (decode(&d)?, decode(&h)?);
        if !d.is_empty() && days.insert(miner, d).is_some() {
            return Err(SnapshotError::Malformed("miners"));
        }
        if !h.is_empty() && hours.insert(miner, h).is_some() {
            return Err(SnapshotError::Malformed("miners"));
        }
    }
    let mut cache = Cache::new();
    cache.absorb(days, hours);
    Ok(cache)
}

/// Deletes the netuid's snapshot (one [`take`] could not read).
pub async fn discard(pool: &PgPool, s: &Settings) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM engine_snapshots WHERE netuid = $1")
        .bind(i32::from(s.netuid))
        .execute(pool)
        .await
        .map(|_| ())
}

/// [`take`], logged: a snapshot that cannot be read is reported, discarded and replaced by
/// the load from the tables of record.
pub async fn take_logged(
    pool: &PgPool,
    s: &Settings,
    cursor: u64,
) -> Option<(Tally, crate::uptime::epoch::Tracker)> {
    match take(pool, s, cursor).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "the saved engines' memory cannot be used; loading it from the tables");
            if let Err(e) = discard(pool, s).await {
                tracing::warn!(error = %e, "the saved engines' memory could not be discarded");
            }
            None
        }
    }
}

/// [`save`] within [`SAVE_TIMEOUT`], logged: a stop never waits on it for long, and never fails
/// because of it.
pub async fn save_at_stop(pool: &PgPool, s: &Settings, mem: &Memory) {
    let started = Instant::now();
    let saved = tokio::time::timeout(SAVE_TIMEOUT, save(pool, s, mem))
        .await
        .unwrap_or(Err(SnapshotError::Timeout));
    let ms = started.elapsed().as_millis() as u64;
    match saved {
        Ok(Some(x)) => tracing::info!(
            cursor = x.cursor,
            books = x.books,
            miners = x.miners,
            bytes = x.bytes,
            ms,
            "the engines' memory saved for the next start"
        ),
        Ok(None) => tracing::info!(
            "the engines' memory not saved: it does not reflect the database's cursor"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            ms,
            "the engines' memory could not be saved; the next start loads it from the tables"
        ),
    }
}
