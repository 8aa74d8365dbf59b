//! The ingest's database side: loading what tenure knows (the planner's state) and writing one
//! block's rows, the tranche-book updates and the cursor in a single transaction. Rows go in
//! batches (`UNNEST`), so an epoch block of 4,096 miners is a few statements, not thousands.

use std::collections::{BTreeMap, HashMap};

use sqlx::{PgPool, Postgres, Row, Transaction};

use super::Settings;
use super::plan::{BlockWrite, Live, State};
use crate::chain::{AccountId, NetUid, Rao, Uid};
use crate::config::StakeScope;
use crate::laps::Laps;
use crate::vesting::book::{Book, Tranche, TrancheKind};
use crate::vesting::store::{Recorded, record_epoch, scope_name};
use crate::vesting::tally::Tally;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the database holds an account that is not SS58: {0}")]
    BadAccount(String),
    #[error("block {number} does not follow the database's cursor {cursor}")]
    Gap { number: u64, cursor: u64 },
    #[error("vesting: {0}")]
    Vesting(#[from] crate::vesting::store::StoreError),
    #[error("uptime: {0}")]
    Uptime(#[from] crate::uptime::epoch::EpochError),
    #[error("writing block {block} took more than {secs} s (rolled back)")]
    Timeout { block: u64, secs: u64 },
    #[error("no tranche book could be created for coldkey {0}")]
    BookMissing(String),
}

/// What the writer keeps in memory between blocks (reloaded with everything else after a
/// failed write).
#[derive(Debug, Clone)]
pub struct Memory {
    /// The vesting window's running sums, per book.
    pub tally: Tally,
    /// The ids of the tranche books (`tranche_books`) of this netuid and scope, by key: an
    /// epoch block's 4,096 new tranches name their books without a query.
    pub books: HashMap<BookKey, i32>,
    /// The uptime rollups the bonus rules read.
    pub uptime: crate::uptime::epoch::Tracker,
    /// Another instance wrote a block this one skipped: the memory lags the database and is
    /// reloaded before this instance writes again (HA: two daemons ingest one database).
    pub stale: bool,
    /// The cursor block the memory reflects (None: an empty database).
    pub at: Option<u64>,
    /// Taken back from the memory a graceful stop saved (not read from the tables).
    pub warm: bool,
}

impl Memory {
    /// The engines' memory as the database has it at `cursor` (None: an empty database).
    pub async fn load(
        pool: &PgPool,
        s: &Settings,
        cursor: Option<u64>,
    ) -> Result<Self, StoreError> {
        let Some(cursor) = cursor else {
            return Ok(Memory {
                tally: Tally::default(),
                books: HashMap::new(),
                uptime: crate::uptime::epoch::Tracker::new(&s.uptime),
                stale: false,
                at: None,
                warm: false,
            });
        };
        let started = std::time::Instant::now();
        if let Some((tally, uptime)) = super::warm_start::take_logged(pool, s, cursor).await {
            let books = book_ids_of(pool, s.netuid, s.scope).await?;
            tracing::info!(
                cursor,
                tranches = tally.len(),
                uptime_rows = uptime.cache.len(),
                ms = started.elapsed().as_millis() as u64,
                "vesting window and uptime rollups restored as the last stop saved them"
            );
            return Ok(Memory {
                tally,
                books,
                uptime,
                stale: false,
                at: Some(cursor),
                warm: true,
            });
        }
        let since =
            crate::vesting::epoch::Params::new(&s.vesting.cfg, s.vesting.block_time_secs, cursor)
                .since();
        // The two loads are independent: at once, each on its own connection.
        let ms = |t: std::time::Instant| t.elapsed().as_millis() as u64;
        let ((tally, window_ms), (uptime, uptime_ms)) = futures::future::try_join(
            async {
                crate::vesting::store::load_tally(pool, s.netuid, s.scope, since)
                    .await
                    .map(|w| (w, ms(started)))
                    .map_err(StoreError::from)
            },
            async {
                crate::uptime::epoch::load(pool, &s.uptime, cursor)
                    .await
                    .map(|u| (u, ms(started)))
                    .map_err(StoreError::from)
            },
        )
        .await?;
        let books = book_ids_of(pool, s.netuid, s.scope).await?;
        tracing::info!(
            tranches = tally.len(),
            uptime_rows = uptime.cache.len(),
            since,
            window_ms,
            uptime_ms,
            ms = ms(started),
            "vesting window and uptime rollups loaded"
        );
        Ok(Memory {
            tally,
            books,
            uptime,
            stale: false,
            at: Some(cursor),
            warm: false,
        })
    }
}

/// What an epoch block recorded besides its rows: the vesting and uptime epochs and the
/// network's health at that epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochWritten {
    pub vesting: Recorded,
    pub uptime: crate::uptime::epoch::Recorded,
    pub network: crate::network::store::Snapshot,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// Rows written, and what was recorded when the epoch ran in the block.
    Rows(u64, Option<Box<EpochWritten>>),
    /// The block was already in the database (re-processing changes nothing).
    AlreadyIngested,
}

fn acct(s: &str) -> Result<AccountId, StoreError> {
    s.parse().map_err(|_| StoreError::BadAccount(s.into()))
}

fn ss58(a: &AccountId) -> String {
    a.to_ss58()
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The planner's state as the database has it.
pub async fn load(pool: &PgPool, netuid: NetUid) -> Result<State, StoreError> {
    let n = i32::from(netuid);
    let mut state = State::default();
    if let Some(row) =
        sqlx::query("SELECT block_number, block_hash FROM ingest_cursor WHERE netuid = $1")
            .bind(n)
            .fetch_optional(pool)
            .await?
    {
        let hash: Vec<u8> = row.get(1);
        let mut h = [0u8; 32];
        h.copy_from_slice(&hash[..32.min(hash.len())]);
        state.cursor = Some((row.get::<i64, _>(0) as u64, h));
        state.spec_version = sqlx::query_scalar::<_, i32>(
            "SELECT spec_version FROM blocks WHERE netuid = $1 ORDER BY number DESC LIMIT 1",
        )
        .bind(n)
        .fetch_optional(pool)
        .await?
        .map(|v| v as u32);
    }
    let miners = sqlx::query(
        "SELECT m.uid, m.hotkey, m.registered_at_block,
                COALESCE((SELECT permitted FROM validator_permits p WHERE p.miner_id = m.id
                          ORDER BY block DESC LIMIT 1), FALSE)
           FROM miners m WHERE m.netuid = $1 AND m.deregistered_at_block IS NULL",
    )
    .bind(n)
    .fetch_all(pool)
    .await?;
    for r in miners {
        state.miners.insert(
            r.get::<i32, _>(0) as Uid,
            Live {
                hotkey: acct(r.get(1))?,
                registered_at: r.get::<i64, _>(2) as u64,
                permit: r.get(3),
            },
        );
    }
    for r in
        sqlx::query("SELECT hotkey, coldkey, to_block IS NULL FROM hotkey_owners WHERE netuid = $1")
            .bind(n)
            .fetch_all(pool)
            .await?
    {
        let (h, c) = (acct(r.get(0))?, acct(r.get(1))?);
        state.tracked.insert(c);
        if r.get::<bool, _>(2) {
            state.owners.insert(h, c);
        }
    }
    // The latest row of every (coldkey, hotkey) pair, one index probe per pair. (`DISTINCT ON`
    // over the rows read every one: 20 s for 7.35 M rows, 4,096 pairs × 90 days.)
    for r in sqlx::query(
        "SELECT p.coldkey, p.hotkey, l.alpha_rao FROM stake_pairs p CROSS JOIN LATERAL (
           SELECT s.alpha_rao FROM stakes s WHERE s.pair_id = p.id
            ORDER BY s.block DESC LIMIT 1) l
          WHERE p.netuid = $1",
    )
    .bind(n)
    .fetch_all(pool)
    .await?
    {
        let alpha = r.get::<i64, _>(2) as Rao;
        if alpha > 0 {
            state
                .holdings
                .insert((acct(r.get(0))?, acct(r.get(1))?), alpha);
        }
    }
    Ok(state)
}

/// Writes one block in one transaction; a block at or below the cursor is left alone. At an
/// epoch block the vesting of every miner is computed and recorded in the same transaction.
/// `window` receives the block's changes: after a failed write it must be reloaded (as the
/// ingest does with all its state).
pub async fn write(
    pool: &PgPool,
    s: &Settings,
    mem: &mut Memory,
    w: &BlockWrite,
) -> Result<Written, StoreError> {
    let (netuid, scope) = (s.netuid, s.scope);
    let mut tx = pool.begin().await?;
    let n = i32::from(netuid);
    let b = i64_of(w.number);
    let cursor: Option<i64> =
        sqlx::query_scalar("SELECT block_number FROM ingest_cursor WHERE netuid = $1 FOR UPDATE")
            .bind(n)
            .fetch_optional(&mut *tx)
            .await?;
    match cursor {
        Some(c) if c >= b => {
            mem.stale = true;
            return Ok(Written::AlreadyIngested);
        }
        Some(c) if c + 1 != b && !w.gap.as_ref().is_some_and(|g| closes(g, c, b)) => {
            return Err(StoreError::Gap {
                number: w.number,
                cursor: c as u64,
            });
        }
        None if !w.snapshot => {
            return Err(StoreError::Gap {
                number: w.number,
                cursor: 0,
            });
        }
        _ => {}
    }
    if mem.stale {
        // The cursor row is locked by this transaction, so the database cannot move on while
        // the memory is read back at it.
        let at = cursor.map(|c| c as u64);
        tracing::debug!(cursor = ?at, "another instance wrote the previous blocks; reloading the engines' memory");
        *mem = Memory::load(pool, s, at).await?;
    }
    let (tally, book_ids) = (&mut mem.tally, &mut mem.books);
    let mut rows: u64 = 0;
    let mut laps = Laps::start();
    rows += block_rows(&mut tx, n, b, w).await?;
    laps.lap("block");
    rows += miners(&mut tx, n, b, w).await?;
    rows += owners(&mut tx, n, b, w, tally, book_ids).await?;
    laps.lap("miners");
    rows += stake_and_emissions(&mut tx, n, b, w).await?;
    laps.lap("stake_emissions");
    rows += books(&mut tx, n, b, scope, w, tally, book_ids).await?;
    laps.lap("books");
    rows += reveals(&mut tx, n, b, w).await?;
    rows += gap(&mut tx, n, w).await?;
    let epoch = match w.epoch {
        Some(_) => {
            let recorded = record_engines(&mut tx, s, w, mem, &mut laps).await?;
            rows += (recorded.vesting.miners + recorded.uptime.miners) as u64 + 3;
            Some(Box::new(recorded))
        }
        None => None,
    };
    sqlx::query(
        "INSERT INTO ingest_cursor (netuid, block_number, block_hash, first_block)
         VALUES ($1, $2, $3, $2)
         ON CONFLICT (netuid) DO UPDATE SET block_number = $2, block_hash = $3, updated_at = now()",
    )
    .bind(n)
    .bind(b)
    .bind(&w.hash[..])
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE blocks SET rows_written = $3 WHERE netuid = $1 AND number = $2")
        .bind(n)
        .bind(b)
        .bind(i32::try_from(rows).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    mem.at = Some(w.number);
    laps.lap("commit");
    if epoch.is_some() {
        tracing::debug!(block = w.number, rows, steps = %laps, "epoch block written");
    }
    Ok(Written::Rows(rows, epoch))
}

type Tx<'a> = Transaction<'a, Postgres>;

/// The block's own row, and its epoch's when the epoch ran in it.
async fn block_rows(tx: &mut Tx<'_>, n: i32, b: i64, w: &BlockWrite) -> Result<u64, StoreError> {
    let mut rows = 0;
    let (epoch_index, tempo) = w.epoch.unzip();
    sqlx::query(
        "INSERT INTO blocks (netuid, number, hash, parent_hash, timestamp_ms, spec_version, epoch_ran)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(n)
    .bind(b)
    .bind(&w.hash[..])
    .bind(&w.parent_hash[..])
    .bind(i64_of(w.timestamp_ms))
    .bind(i64::from(w.spec_version))
    .bind(w.epoch.is_some())
    .execute(&mut **tx)
    .await?;
    rows += 1;
    if let (Some(index), Some(tempo)) = (epoch_index, tempo) {
        sqlx::query(
            "INSERT INTO epochs (netuid, block, epoch_index, tempo) VALUES ($1, $2, $3, $4)",
        )
        .bind(n)
        .bind(b)
        .bind(i64_of(index))
        .bind(i32::from(tempo))
        .execute(&mut **tx)
        .await?;
        rows += 1;
    }
    Ok(rows)
}

/// The gap a reanchored block closes (`tenure ingest reanchor`), recorded with the block.
async fn gap(tx: &mut Tx<'_>, n: i32, w: &BlockWrite) -> Result<u64, StoreError> {
    let Some(g) = &w.gap else {
        return Ok(0);
    };
    sqlx::query(
        "INSERT INTO ingest_gaps (netuid, from_block, to_block, anchor_hash, actor, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(n)
    .bind(i64_of(g.from))
    .bind(i64_of(g.to))
    .bind(&w.hash[..])
    .bind(&g.actor)
    .bind(&g.reason)
    .execute(&mut **tx)
    .await?;
    Ok(1)
}

/// Whether `gap` is exactly the blocks between the cursor `c` and the block `b` written now.
fn closes(gap: &super::plan::Gap, c: i64, b: i64) -> bool {
    gap.from as i64 == c + 1 && gap.to as i64 + 1 == b && gap.from <= gap.to
}

/// The block's `TimelockedWeightsRevealed` (one row per hotkey and mechanism).
async fn reveals(tx: &mut Tx<'_>, n: i32, b: i64, w: &BlockWrite) -> Result<u64, StoreError> {
    for r in &w.reveals {
        let (uids, weights): (Option<Vec<i32>>, Option<Vec<i32>>) = match &r.stored {
            Some(pairs) => (
                Some(pairs.iter().map(|(u, _)| i32::from(*u)).collect()),
                Some(pairs.iter().map(|(_, v)| i32::from(*v)).collect()),
            ),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO weight_reveals (netuid, block, netuid_index, hotkey, uids, weights)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(n)
        .bind(b)
        .bind(i32::from(r.netuid_index))
        .bind(ss58(&r.hotkey))
        .bind(uids)
        .bind(weights)
        .execute(&mut **tx)
        .await?;
    }
    Ok(w.reveals.len() as u64)
}

async fn miners(tx: &mut Tx<'_>, n: i32, b: i64, w: &BlockWrite) -> Result<u64, StoreError> {
    let mut rows = 0;
    if !w.deregistered.is_empty() {
        let uids: Vec<i32> = w.deregistered.iter().map(|u| i32::from(*u)).collect();
        rows += sqlx::query(
            "UPDATE miners SET deregistered_at_block = $2
              WHERE netuid = $1 AND uid = ANY($3) AND deregistered_at_block IS NULL",
        )
        .bind(n)
        .bind(b)
        .bind(&uids)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    if !w.registered.is_empty() {
        let uids: Vec<i32> = w.registered.iter().map(|r| i32::from(r.0)).collect();
        let hotkeys: Vec<String> = w.registered.iter().map(|r| ss58(&r.1)).collect();
        let at: Vec<i64> = w.registered.iter().map(|r| i64_of(r.2)).collect();
        rows += sqlx::query(
            "INSERT INTO miners (netuid, uid, hotkey, registered_at_block, first_seen_block)
             SELECT $1, u, h, r, $2 FROM UNNEST($3::int[], $4::text[], $5::bigint[]) AS t(u, h, r)",
        )
        .bind(n)
        .bind(b)
        .bind(&uids)
        .bind(&hotkeys)
        .bind(&at)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    for (uid, coldkey, old, new) in &w.hotkey_swaps {
        sqlx::query(
            "UPDATE miners SET hotkey = $3
              WHERE netuid = $1 AND uid = $2 AND deregistered_at_block IS NULL",
        )
        .bind(n)
        .bind(i32::from(*uid))
        .bind(ss58(new))
        .execute(&mut **tx)
        .await?;
        rows += sqlx::query(
            "INSERT INTO hotkey_swaps (netuid, block, coldkey, old_hotkey, new_hotkey)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(n)
        .bind(b)
        .bind(ss58(coldkey))
        .bind(ss58(old))
        .bind(ss58(new))
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    if !w.permits.is_empty() {
        let uids: Vec<i32> = w.permits.iter().map(|p| i32::from(p.0)).collect();
        let permitted: Vec<bool> = w.permits.iter().map(|p| p.1).collect();
        rows += sqlx::query(
            "INSERT INTO validator_permits (netuid, miner_id, block, permitted)
             SELECT $1, m.id, $2, t.p FROM UNNEST($3::int[], $4::bool[]) AS t(u, p)
               JOIN miners m ON m.netuid = $1 AND m.uid = t.u AND m.deregistered_at_block IS NULL",
        )
        .bind(n)
        .bind(b)
        .bind(&uids)
        .bind(&permitted)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(rows)
}

async fn owners(
    tx: &mut Tx<'_>,
    n: i32,
    b: i64,
    w: &BlockWrite,
    tally: &mut Tally,
    book_ids: &mut HashMap<BookKey, i32>,
) -> Result<u64, StoreError> {
    let mut rows = 0;
    for (old, new) in &w.coldkey_swaps {
        rows += sqlx::query(
            "INSERT INTO coldkey_swaps (netuid, block, old_coldkey, new_coldkey) VALUES ($1, $2, $3, $4)",
        )
        .bind(n)
        .bind(b)
        .bind(ss58(old))
        .bind(ss58(new))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        move_books(tx, n, &ss58(old), &ss58(new)).await?;
        tally.move_coldkey(&ss58(old), &ss58(new));
        // Books of both coldkeys merged or were renamed: their ids are read again when used.
        book_ids.retain(|(c, _), _| *c != ss58(old) && *c != ss58(new));
    }
    let closing: Vec<String> = w
        .owners_closed
        .iter()
        .chain(w.owner_changes.keys())
        .map(ss58)
        .collect();
    if !closing.is_empty() {
        sqlx::query(
            "UPDATE hotkey_owners SET to_block = $2
              WHERE netuid = $1 AND hotkey = ANY($3) AND to_block IS NULL",
        )
        .bind(n)
        .bind(b)
        .bind(&closing)
        .execute(&mut **tx)
        .await?;
    }
    if !w.owner_changes.is_empty() {
        let hotkeys: Vec<String> = w.owner_changes.keys().map(ss58).collect();
        let coldkeys: Vec<String> = w.owner_changes.values().map(|(c, _)| ss58(c)).collect();
        let reasons: Vec<&str> = w.owner_changes.values().map(|(_, r)| *r).collect();
        // A hotkey that changed owner in the same block it got its previous one keeps one row.
        rows += sqlx::query(
            "INSERT INTO hotkey_owners (netuid, hotkey, coldkey, from_block, reason)
             SELECT $1, h, c, $2, r FROM UNNEST($3::text[], $4::text[], $5::text[]) AS t(h, c, r)
             ON CONFLICT (netuid, hotkey, from_block)
             DO UPDATE SET coldkey = EXCLUDED.coldkey, to_block = NULL",
        )
        .bind(n)
        .bind(b)
        .bind(&hotkeys)
        .bind(&coldkeys)
        .bind(&reasons)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(rows)
}

/// A coldkey swap: same person, so its books move to the new coldkey whole. A book the new
/// coldkey already has (same scope and hotkey) takes the old one's tranches.
async fn move_books(tx: &mut Tx<'_>, n: i32, old: &str, new: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE tranches t SET book_id = nb.id
           FROM tranche_books ob
           JOIN tranche_books nb ON nb.netuid = ob.netuid AND nb.scope = ob.scope
                                AND nb.hotkey = ob.hotkey AND nb.coldkey = $3
          WHERE ob.netuid = $1 AND ob.coldkey = $2 AND t.book_id = ob.id",
    )
    .bind(n)
    .bind(old)
    .bind(new)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM tranche_books ob
          WHERE ob.netuid = $1 AND ob.coldkey = $2
            AND EXISTS (SELECT 1 FROM tranche_books nb
                         WHERE nb.netuid = ob.netuid AND nb.scope = ob.scope
                           AND nb.hotkey = ob.hotkey AND nb.coldkey = $3)",
    )
    .bind(n)
    .bind(old)
    .bind(new)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE tranche_books SET coldkey = $3 WHERE netuid = $1 AND coldkey = $2")
        .bind(n)
        .bind(old)
        .bind(new)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn stake_and_emissions(
    tx: &mut Tx<'_>,
    n: i32,
    b: i64,
    w: &BlockWrite,
) -> Result<u64, StoreError> {
    let mut rows = 0;
    if !w.stake.is_empty() {
        let c: Vec<String> = w.stake.iter().map(|h| ss58(&h.coldkey)).collect();
        let h: Vec<String> = w.stake.iter().map(|h| ss58(&h.hotkey)).collect();
        let a: Vec<i64> = w.stake.iter().map(|h| i64_of(h.alpha)).collect();
        // Each row under its pair's id (migration 19), a pair seen for the first time filed in
        // the same statement: the main query does not see the CTE's rows, hence its RETURNING.
        rows += sqlx::query(
            "WITH t AS (SELECT * FROM UNNEST($3::text[], $4::text[], $5::bigint[]) AS t(c, h, a)),
                  known AS (SELECT p.id, p.coldkey, p.hotkey FROM stake_pairs p
                              JOIN t ON p.netuid = $1 AND p.coldkey = t.c AND p.hotkey = t.h),
                  new AS (INSERT INTO stake_pairs (netuid, coldkey, hotkey)
                          SELECT $1, t.c, t.h FROM t
                           WHERE NOT EXISTS (SELECT 1 FROM known k
                                              WHERE k.coldkey = t.c AND k.hotkey = t.h)
                          RETURNING id, coldkey, hotkey)
             INSERT INTO stakes (pair_id, block, alpha_rao)
             SELECT p.id, $2, t.a
               FROM t JOIN (SELECT * FROM known UNION ALL SELECT * FROM new) p
                 ON p.coldkey = t.c AND p.hotkey = t.h",
        )
        .bind(n)
        .bind(b)
        .bind(&c)
        .bind(&h)
        .bind(&a)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    if !w.emissions.is_empty() {
        let e = &w.emissions;
        let uids: Vec<i32> = e.iter().map(|x| i32::from(x.uid)).collect();
        let hk: Vec<String> = e.iter().map(|x| ss58(&x.hotkey)).collect();
        let ck: Vec<String> = e.iter().map(|x| ss58(&x.coldkey)).collect();
        let amt: Vec<i64> = e.iter().map(|x| i64_of(x.amount)).collect();
        let permit: Vec<bool> = e.iter().map(|x| x.permit).collect();
        rows += sqlx::query(
            "INSERT INTO emissions (netuid, epoch_block, uid, miner_id, hotkey, coldkey, amount_rao, validator_permit)
             SELECT $1, $2, t.u, m.id, t.h, t.c, t.a, t.p
               FROM UNNEST($3::int[], $4::text[], $5::text[], $6::bigint[], $7::bool[]) AS t(u, h, c, a, p)
               JOIN miners m ON m.netuid = $1 AND m.uid = t.u AND m.deregistered_at_block IS NULL",
        )
        .bind(n)
        .bind(b)
        .bind(&uids)
        .bind(&hk)
        .bind(&ck)
        .bind(&amt)
        .bind(&permit)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(rows)
}

/// An epoch block's engines, in the block's transaction: vesting and uptime over one read of
/// the registered miners, then the network's health at that epoch.
async fn record_engines(
    tx: &mut Tx<'_>,
    s: &Settings,
    w: &BlockWrite,
    mem: &mut Memory,
    laps: &mut Laps,
) -> Result<EpochWritten, StoreError> {
    let n = i32::from(s.netuid);
    let miners = crate::vesting::store::live_miners(tx, n, &s.vesting.exempt).await?;
    laps.lap("live_miners");
    let vesting = record_epoch(tx, &s.vesting, w.number, &mut mem.tally, &miners).await?;
    laps.lap("vesting");
    let now = chrono::DateTime::from_timestamp_millis(i64_of(w.timestamp_ms)).unwrap_or_default();
    let uptime =
        crate::uptime::epoch::record_epoch(tx, &s.uptime, w.number, now, &mut mem.uptime, &miners)
            .await?;
    laps.lap("uptime");
    let recorded_uptime = crate::network::store::Uptime::Recorded {
        epoch: (uptime.miners > 0).then_some(w.number),
        miners: &uptime.evaluated,
        cache: &mem.uptime.cache,
    };
    let network = crate::network::store::record(
        tx,
        s.uptime.netuid,
        (w.number, now),
        s.uptime.periods.blocks_per_day,
        recorded_uptime,
    )
    .await?;
    laps.lap("network");
    Ok(EpochWritten {
        vesting,
        uptime,
        network,
    })
}

/// Applies the block's book deltas: open tranches are loaded for the touched books, the FILO
/// arithmetic of [`Book::apply`] runs in memory, and the changes go back in three statements.
async fn books(
    tx: &mut Tx<'_>,
    n: i32,
    b: i64,
    scope: StakeScope,
    w: &BlockWrite,
    tally: &mut Tally,
    book_ids: &mut HashMap<BookKey, i32>,
) -> Result<u64, StoreError> {
    if w.books.is_empty() {
        return Ok(0);
    }
    let scope = scope_name(scope);
    let book_of =
        |c: &AccountId, h: &Option<AccountId>| (ss58(c), h.as_ref().map(ss58).unwrap_or_default());
    let keys: Vec<BookKey> = w
        .books
        .iter()
        .map(|d| book_of(&d.coldkey, &d.hotkey))
        .collect();
    let open = open_tranches(tx, n, scope, w, &keys).await?;
    let miner_ids: BTreeMap<i32, i64> = if w.books.iter().any(|d| !d.emissions.is_empty()) {
        sqlx::query(
            "SELECT uid, id FROM miners WHERE netuid = $1 AND deregistered_at_block IS NULL",
        )
        .bind(n)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    } else {
        BTreeMap::new()
    };
    let changes = BookChanges::plan(w, &keys, open, &miner_ids);
    let rows = changes.write(tx, (n, scope, b), book_ids).await?;
    for c in changes.created.iter().filter(|c| c.kind == "emission") {
        let key = (c.coldkey.clone(), c.hotkey.clone());
        tally.insert(key, w.number, c.initial as Rao, c.remaining as Rao);
    }
    for (key, block, before, after) in &changes.tally_updates {
        tally.consume(key, *block, *before, *after);
    }
    Ok(rows)
}

/// A tranche book: (coldkey, hotkey or "" in the coldkey scope).
type BookKey = (String, String);

/// The open tranches (id, tranche) of the books with an outflow in this block, oldest first.
/// Only an outflow reads existing tranches: books that only receive (every book at an epoch
/// block, typically) append without loading months of history.
async fn open_tranches(
    tx: &mut Tx<'_>,
    n: i32,
    scope: &str,
    w: &BlockWrite,
    keys: &[BookKey],
) -> Result<BTreeMap<BookKey, Vec<(i64, Tranche)>>, StoreError> {
    let wanted: std::collections::BTreeSet<&BookKey> = w
        .books
        .iter()
        .zip(keys)
        .filter(|(d, _)| {
            let credited: i128 = d.emissions.iter().map(|(a, _)| i128::from(*a)).sum();
            i128::from(d.now) - i128::from(d.prev) - credited < 0
        })
        .map(|(_, k)| k)
        .collect();
    // By coldkey, then narrowed to the books with an outflow here.
    let cs: Vec<String> = wanted
        .iter()
        .map(|k| k.0.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut open: BTreeMap<BookKey, Vec<(i64, Tranche)>> = BTreeMap::new();
    if cs.is_empty() {
        return Ok(open);
    }
    let rows = sqlx::query(
        "SELECT t.id, b.coldkey, b.hotkey, t.kind, t.block, t.initial_rao, t.remaining_rao
           FROM tranches t
           JOIN tranche_books b ON b.id = t.book_id
          WHERE b.netuid = $1 AND b.scope = $2 AND ($4 OR b.coldkey = ANY($3))
            AND t.remaining_rao > 0
          ORDER BY t.block, t.id",
    )
    .bind(n)
    .bind(scope)
    .bind(&cs)
    // Many books (an epoch block): one scan of the open tranches beats thousands of index probes.
    .bind(cs.len() > 256)
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let key: BookKey = (r.try_get(1)?, r.try_get(2)?);
        if !wanted.contains(&key) {
            continue;
        }
        let kind = if r.try_get::<&str, _>(3)? == "emission" {
            TrancheKind::Emission
        } else {
            TrancheKind::Manual
        };
        open.entry(key).or_default().push((
            r.try_get(0)?,
            Tranche {
                kind,
                block: r.try_get::<i64, _>(4)? as u64,
                initial: r.try_get::<i64, _>(5)? as Rao,
                remaining: r.try_get::<i64, _>(6)? as Rao,
            },
        ));
    }
    Ok(open)
}

/// The ids of the tranche books of `netuid` and `scope`, by key.
async fn book_ids_of(
    pool: &PgPool,
    netuid: NetUid,
    scope: StakeScope,
) -> Result<HashMap<BookKey, i32>, StoreError> {
    let mut conn = pool.acquire().await?;
    let books = crate::vesting::store::books(&mut conn, netuid, scope_name(scope)).await?;
    Ok(books.into_iter().map(|(id, key)| (key, id)).collect())
}

/// Adds to `known` the ids of the books the new tranches go to that it lacks, creating the
/// books seen for the first time. The block's transaction holds the cursor row, so no other
/// writer creates a book meanwhile.
async fn resolve_books(
    tx: &mut Tx<'_>,
    n: i32,
    scope: &str,
    created: &[NewTranche],
    known: &mut HashMap<BookKey, i32>,
) -> Result<(), StoreError> {
    let keys: std::collections::BTreeSet<(&str, &str)> = created
        .iter()
        .map(|c| (c.coldkey.as_str(), c.hotkey.as_str()))
        .filter(|(c, h)| !known.contains_key(&(c.to_string(), h.to_string())))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i32, String, String)> = sqlx::query_as(
        "WITH wanted AS (SELECT c, h FROM UNNEST($3::text[], $4::text[]) AS t(c, h)),
              added AS (INSERT INTO tranche_books (netuid, scope, coldkey, hotkey)
                        SELECT $1, $2, c, h FROM wanted ON CONFLICT DO NOTHING
                        RETURNING id, coldkey, hotkey)
         SELECT id, coldkey, hotkey FROM added
         UNION ALL
         SELECT b.id, b.coldkey, b.hotkey FROM tranche_books b
           JOIN wanted w ON b.netuid = $1 AND b.scope = $2 AND b.coldkey = w.c AND b.hotkey = w.h",
    )
    .bind(n)
    .bind(scope)
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    known.extend(rows.into_iter().map(|(id, c, h)| ((c, h), id)));
    Ok(())
}

/// A tranche created in this block, and the slot of its id among the ids drawn for them.
struct NewTranche {
    coldkey: String,
    hotkey: String,
    kind: &'static str,
    initial: i64,
    remaining: i64,
    miner_id: Option<i64>,
    slot: usize,
}

/// What a block does to the books, computed in memory before anything is written.
#[derive(Default)]
struct BookChanges {
    /// (id, remaining) of changed existing tranches.
    updates: Vec<(i64, i64)>,
    /// The tally's copy of the same changes: (book, block, remaining before, after) of
    /// consumed emission tranches.
    tally_updates: Vec<(BookKey, u64, Rao, Rao)>,
    created: Vec<NewTranche>,
    /// Outflows: (Ok(existing id) | Err(slot of a created tranche), amount).
    outflows: Vec<(Result<i64, usize>, i64)>,
}

impl BookChanges {
    /// Runs every book's FILO arithmetic ([`Book::apply`]) over its open tranches.
    fn plan(
        w: &BlockWrite,
        keys: &[BookKey],
        mut open: BTreeMap<BookKey, Vec<(i64, Tranche)>>,
        miner_ids: &BTreeMap<i32, i64>,
    ) -> Self {
        let mut c = BookChanges::default();
        for (d, key) in w.books.iter().zip(keys) {
            let existing = open.remove(key).unwrap_or_default();
            let ids: Vec<i64> = existing.iter().map(|(id, _)| *id).collect();
            let mut book = Book::new(existing.into_iter().map(|(_, t)| t).collect());
            let before = book.tranches.len();
            // What each existing tranche held before this block (the tally adds the change).
            let mut held: Vec<Rao> = book.tranches.iter().map(|t| t.remaining).collect();
            let amounts: Vec<Rao> = d.emissions.iter().map(|(a, _)| *a).collect();
            let applied = book.apply(w.number, &amounts, d.prev, d.now);
            if applied.unbacked > 0 {
                tracing::warn!(
                    coldkey = %d.coldkey, block = w.number, unbacked_rao = applied.unbacked,
                    "outflow larger than the book: stake left that tenure never saw arrive"
                );
            }
            let mut slot_of = BTreeMap::new();
            for (i, t) in book.tranches.iter().enumerate().skip(before) {
                // Emission tranches are created first, in the order of `d.emissions`.
                let (kind, miner_id) = match t.kind {
                    TrancheKind::Emission => {
                        let uid = d.emissions.get(i - before).map(|(_, u)| i32::from(*u));
                        ("emission", uid.and_then(|u| miner_ids.get(&u).copied()))
                    }
                    TrancheKind::Manual => ("manual", None),
                };
                slot_of.insert(i, c.created.len());
                c.created.push(NewTranche {
                    coldkey: key.0.clone(),
                    hotkey: key.1.clone(),
                    kind,
                    initial: i64_of(t.initial),
                    remaining: i64_of(t.remaining),
                    miner_id,
                    slot: c.created.len(),
                });
            }
            for (i, amount) in &applied.consumed {
                let target = match ids.get(*i) {
                    Some(id) => {
                        let t = &book.tranches[*i];
                        c.updates.push((*id, i64_of(t.remaining)));
                        if t.kind == TrancheKind::Emission {
                            let update = (key.clone(), t.block, held[*i], t.remaining);
                            c.tally_updates.push(update);
                            held[*i] = t.remaining;
                        }
                        Ok(*id)
                    }
                    None => Err(slot_of[i]),
                };
                c.outflows.push((target, i64_of(*amount)));
            }
        }
        c
    }

    /// Writes the changes in three statements; returns the rows written.
    async fn write(
        &self,
        tx: &mut Tx<'_>,
        (n, scope, b): (i32, &str, i64),
        book_ids: &mut HashMap<BookKey, i32>,
    ) -> Result<u64, StoreError> {
        let mut rows = 0;
        // Ids are drawn first so that outflows from tranches created in this block can name them.
        let new_ids: Vec<i64> = if self.created.is_empty() {
            Vec::new()
        } else {
            sqlx::query_scalar("SELECT nextval('tranches_id_seq') FROM generate_series(1, $1)")
                .bind(self.created.len() as i64)
                .fetch_all(&mut **tx)
                .await?
        };
        if !self.created.is_empty() {
            let created = &self.created;
            resolve_books(tx, n, scope, created, book_ids).await?;
            let book_of = |c: &NewTranche| {
                book_ids
                    .get(&(c.coldkey.clone(), c.hotkey.clone()))
                    .copied()
                    .ok_or_else(|| StoreError::BookMissing(c.coldkey.clone()))
            };
            let book_ids = created.iter().map(book_of).collect::<Result<Vec<_>, _>>()?;
            rows += sqlx::query(
                "INSERT INTO tranches (id, book_id, kind, block, initial_rao, remaining_rao, miner_id)
                 SELECT i, bk, k, $1, a, r, m
                   FROM UNNEST($2::bigint[], $3::int[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
                     AS t(i, bk, k, a, r, m)",
            )
            .bind(b)
            .bind(created.iter().map(|c| new_ids[c.slot]).collect::<Vec<_>>())
            .bind(&book_ids)
            .bind(created.iter().map(|c| c.kind).collect::<Vec<_>>())
            .bind(created.iter().map(|c| c.initial).collect::<Vec<_>>())
            .bind(created.iter().map(|c| c.remaining).collect::<Vec<_>>())
            .bind(created.iter().map(|c| c.miner_id).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        }
        if !self.updates.is_empty() {
            rows += sqlx::query(
                "UPDATE tranches v SET remaining_rao = t.r
                   FROM UNNEST($1::bigint[], $2::bigint[]) AS t(i, r) WHERE v.id = t.i",
            )
            .bind(self.updates.iter().map(|u| u.0).collect::<Vec<_>>())
            .bind(self.updates.iter().map(|u| u.1).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        }
        if !self.outflows.is_empty() {
            let ids: Vec<i64> = self
                .outflows
                .iter()
                .map(|(t, _)| match t {
                    Ok(id) => *id,
                    Err(slot) => new_ids[*slot],
                })
                .collect();
            rows += sqlx::query(
                "INSERT INTO tranche_outflows (tranche_id, block, amount_rao)
                 SELECT i, $1, a FROM UNNEST($2::bigint[], $3::bigint[]) AS t(i, a)",
            )
            .bind(b)
            .bind(&ids)
            .bind(self.outflows.iter().map(|o| o.1).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        }
        Ok(rows)
    }
}
