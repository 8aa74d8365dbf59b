//! The whole epoch block at scale (see BENCHMARKS.md, issue 24): `<miners>` miners with
//! `<uptime_days>` days of uptime rollups and `<vesting_days>` days of emission tranches, in a
//! scratch database `tenure_bench_epoch`.
//!
//! `DATABASE_URL=postgres://… cargo run --release --example bench_epoch -- 4096 400 90`
//!
//! The miners are registered by the ingest writer's own snapshot block; the history (tranches,
//! emissions, held-stake changes and rollups) is seeded by SQL; then, as the daemon does: the engines' memory is loaded (`ingest::store::Memory::load`,
//! the start-up load), and epoch blocks — every miner's emission, held stake and tranche —
//! are written by `ingest::store::write`, each after an epoch's worth of probe rounds. Prints
//! the start-up load, each epoch block's whole transaction and the process's resident memory.

#[path = "support/mod.rs"]
mod support;
use support::{Rng, median};

use std::time::Instant;

use sqlx::PgPool;
use tenure::chain::state::Holding;
use tenure::chain::{AccountId, Uid};
use tenure::ingest::plan::{BlockWrite, BookDelta, Emission};
use tenure::ingest::{Settings, store};
use tenure::uptime::store::{Round, Sample, Source, record_round};

const NETUID: u16 = 1;
const BLOCKS_PER_DAY: u64 = 7_200;
const TEMPO_BLOCKS: u64 = 361;
const VALIDATORS: usize = 64;

struct Miner {
    uid: Uid,
    hotkey: AccountId,
    coldkey: AccountId,
    stake: u64,
}

fn account(rng: &mut Rng) -> AccountId {
    let mut a = [0u8; 32];
    for chunk in a.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    AccountId(a)
}

fn header(number: u64) -> BlockWrite {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&number.to_le_bytes());
    let mut parent_hash = [0u8; 32];
    parent_hash[..8].copy_from_slice(&(number - 1).to_le_bytes());
    BlockWrite {
        number,
        hash,
        parent_hash,
        // Blocks are dated from the Unix epoch, 12 s apart: UTC days are block days.
        timestamp_ms: number * 12_000,
        spec_version: 1,
        ..Default::default()
    }
}

/// The snapshot block that registers every miner with its owner and permit.
fn snapshot(number: u64, miners: &[Miner]) -> BlockWrite {
    let mut w = header(number);
    w.snapshot = true;
    for m in miners {
        w.registered.push((m.uid, m.hotkey, 0));
        w.owner_changes.insert(m.hotkey, (m.coldkey, "snapshot"));
        if usize::from(m.uid) < VALIDATORS {
            w.permits.push((m.uid, true));
        }
    }
    w
}

/// An epoch block: every miner earns, holds it, and its book gets a tranche.
fn epoch(number: u64, index: u64, miners: &mut [Miner], rng: &mut Rng) -> BlockWrite {
    let mut w = header(number);
    w.epoch = Some((index, 360));
    for m in miners.iter_mut() {
        let amount = 1_000_000_000 + rng.next() % 1_000_000_000;
        let prev = m.stake;
        m.stake += amount;
        let permit = usize::from(m.uid) < VALIDATORS;
        w.emissions.push(Emission {
            uid: m.uid,
            hotkey: m.hotkey,
            coldkey: m.coldkey,
            amount,
            permit,
        });
        w.stake.push(Holding {
            coldkey: m.coldkey,
            hotkey: m.hotkey,
            alpha: m.stake,
        });
        w.books.push(BookDelta {
            coldkey: m.coldkey,
            hotkey: None,
            emissions: vec![(amount, m.uid)],
            prev,
            now: m.stake,
        });
    }
    w
}

/// `vesting_days` of emission tranches per coldkey (one per epoch; every third book sold the
/// newest 40 % of it, FILO) and `uptime_days` of rollups per miner (288 rounds a day, the last
/// 46 days with their hours), ending at `block`.
async fn seed_history(
    pool: &PgPool,
    block: u64,
    (uptime_days, vesting_days): (u64, u64),
) -> anyhow::Result<()> {
    let t = Instant::now();
    let from = block.saturating_sub(vesting_days * BLOCKS_PER_DAY) as i64;
    sqlx::query(
        "INSERT INTO tranche_books (netuid, scope, coldkey)
         SELECT DISTINCT o.netuid, 'coldkey', o.coldkey FROM hotkey_owners o WHERE o.netuid = $1",
    )
    .bind(i32::from(NETUID))
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO tranches (book_id, kind, block, initial_rao, remaining_rao, miner_id)
         SELECT k.id, 'emission', b, 1500000000,
                CASE WHEN m.id % 3 = 0 AND b > $2 + ($3 - $2) * 6 / 10 THEN 0 ELSE 1500000000 END,
                m.id
           FROM miners m
           JOIN hotkey_owners o ON o.netuid = m.netuid AND o.hotkey = m.hotkey
           JOIN tranche_books k ON k.netuid = m.netuid AND k.scope = 'coldkey' AND k.coldkey = o.coldkey
          CROSS JOIN LATERAL generate_series($2 + m.id % $4, $3 - 1, $4) b
          WHERE m.netuid = $1",
    )
    .bind(i32::from(NETUID))
    .bind(from)
    .bind(block as i64)
    .bind(TEMPO_BLOCKS as i64)
    .execute(pool)
    .await?;
    // The block's own history: an emission and a held-stake change per miner and epoch.
    sqlx::query(
        "INSERT INTO emissions (netuid, epoch_block, uid, miner_id, hotkey, coldkey, amount_rao)
         SELECT m.netuid, b, m.uid, m.id, m.hotkey, o.coldkey, 1500000000
           FROM miners m
           JOIN hotkey_owners o ON o.netuid = m.netuid AND o.hotkey = m.hotkey
          CROSS JOIN generate_series($2, $3 - 1, $4) b
          WHERE m.netuid = $1",
    )
    .bind(i32::from(NETUID))
    .bind(from)
    .bind(block as i64)
    .bind(TEMPO_BLOCKS as i64)
    .execute(pool)
    .await?;
    // Straight into the tables (the `stake_changes` view files a row at a time).
    sqlx::query(
        "INSERT INTO stake_pairs (netuid, coldkey, hotkey)
         SELECT DISTINCT e.netuid, e.coldkey, e.hotkey FROM emissions e WHERE e.netuid = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(i32::from(NETUID))
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO stakes (pair_id, block, alpha_rao)
         SELECT p.id, e.epoch_block, 1500000000 * (e.epoch_block - $2 + 1)
           FROM emissions e
           JOIN stake_pairs p ON p.netuid = e.netuid AND p.coldkey = e.coldkey AND p.hotkey = e.hotkey
          WHERE e.netuid = $1",
    )
    .bind(i32::from(NETUID))
    .bind(from)
    .execute(pool)
    .await?;
    let day = (block * 12 / 86_400) as i64;
    let hours_from = (day - 45) * 24;
    sqlx::query(
        "INSERT INTO uptime_days (netuid, miner_id, day, rounds, up, hour_rounds, hour_up)
         SELECT $1, m.id, d, 288, 288 - ((m.id + d) % 10) * 3 / 10,
                ARRAY(SELECT CASE WHEN d * 24 >= $4 THEN 12 ELSE 0 END FROM generate_series(0, 23) i),
                ARRAY(SELECT CASE WHEN d * 24 >= $4 THEN 12 - ((m.id + i) % 2) ELSE 0 END
                        FROM generate_series(0, 23) i)
           FROM miners m, generate_series($2, $3) d
          WHERE m.netuid = $1 AND (m.id + d) % 50 <> 0",
    )
    .bind(i32::from(NETUID))
    .bind(day - uptime_days as i64 + 1)
    .bind(day)
    .bind(hours_from)
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(pool).await?;
    let tranches: i64 = sqlx::query_scalar("SELECT count(*) FROM tranches")
        .fetch_one(pool)
        .await?;
    println!(
        "seeded {tranches} tranches, as many emissions and stake changes, and {uptime_days} days of rollups in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// An epoch's worth of probe rounds (14 at 12 an hour) before the epoch block `block`.
async fn probe_rounds(pool: &PgPool, block: u64, ids: &[i64]) -> anyhow::Result<()> {
    let at = chrono::DateTime::from_timestamp((block * 12) as i64, 0).unwrap_or_default();
    for r in 0..14i64 {
        let round = Round {
            source: Source::Probe,
            block,
            observed_at: at - chrono::Duration::minutes(r * 5),
            duration_ms: Some(1),
        };
        let samples: Vec<Sample> = ids
            .iter()
            .map(|&miner_id| Sample {
                miner_id,
                up: (miner_id + r) % 7 != 0,
                reported: true,
                latency_ms: Some(3),
                compute_score: None,
                error: None,
            })
            .collect();
        let mut tx = pool.begin().await?;
        record_round(&mut tx, NETUID, &round, &samples).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// This process's resident memory now and at its peak, in MB (Linux).
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
            / 1024.0
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// A graceful restart after the epochs: the writer's memory saved at the stop, then taken
/// back by the next start's load, which must give the same memory.
async fn warm_start(
    pool: &PgPool,
    settings: &Settings,
    mut mem: store::Memory,
) -> anyhow::Result<()> {
    let at = mem
        .at
        .ok_or_else(|| anyhow::anyhow!("the memory reflects no cursor"))?;
    let (mut saves, mut loads) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let saved = tenure::ingest::warm_start::save(pool, settings, &mem).await?;
        saves.push(t.elapsed().as_secs_f64());
        let bytes = saved.ok_or_else(|| anyhow::anyhow!("nothing saved"))?.bytes;
        let t = Instant::now();
        let back = store::Memory::load(pool, settings, Some(at)).await?;
        loads.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            back.tally == mem.tally && back.uptime == mem.uptime,
            "the restored memory differs from the saved one"
        );
        println!("warm_start_bytes={bytes}");
        mem = back;
    }
    println!(
        "warm_start_save median_s={:.2} runs={saves:.2?}",
        median(saves.clone())
    );
    println!(
        "warm_start_load median_s={:.2} runs={loads:.2?}",
        median(loads.clone())
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).map_or(Ok(4096), |s| s.parse())?;
    let uptime_days: u64 = args.get(2).map_or(Ok(400), |s| s.parse())?;
    let vesting_days: u64 = args.get(3).map_or(Ok(90), |s| s.parse())?;
    // `--reuse`: the scratch database of an earlier run, its history kept (seeding takes
    // minutes); the epoch blocks go on from its cursor.
    let reuse = args.iter().any(|a| a == "--reuse");
    let base = std::env::var("DATABASE_URL")?;
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let mut url = url::Url::parse(&base)?;
    url.set_path("tenure_bench_epoch");
    let pool = if reuse {
        // A database seeded by an older build gets the newer migrations first (timed: they
        // may rewrite tables of this size).
        let pool = PgPool::connect(url.as_str()).await?;
        let t = Instant::now();
        let ran = tenure::db::migrate(&pool).await?;
        if !ran.is_empty() {
            println!("migrated {ran:?} in {:.1} s", t.elapsed().as_secs_f64());
        }
        pool
    } else {
        tenure::db::scratch(&base, "tenure_bench_epoch").await?
    };
    let mut cfg = tenure::config::Config::default();
    cfg.chain.netuid = NETUID;
    let settings = Settings::from_config(&cfg);

    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    let mut miners: Vec<Miner> = (0..count)
        .map(|i| Miner {
            uid: i as Uid,
            hotkey: account(&mut rng),
            coldkey: account(&mut rng),
            stake: 0,
        })
        .collect();
    // Day-aligned, past both histories.
    let mut first = (uptime_days.max(vesting_days) + 1) * BLOCKS_PER_DAY;
    let mut mem = store::Memory::load(&pool, &settings, None).await?;
    if reuse {
        let cursor: i64 = sqlx::query_scalar("SELECT block_number FROM ingest_cursor")
            .fetch_one(&pool)
            .await?;
        first = cursor as u64;
    } else {
        store::write(&pool, &settings, &mut mem, &snapshot(first, &miners)).await?;
        seed_history(&pool, first, (uptime_days, vesting_days)).await?;
    }
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM miners ORDER BY uid")
        .fetch_all(&pool)
        .await?;
    drop(mem);

    // A snapshot left by an earlier run would turn the cold loads below into warm ones.
    tenure::ingest::warm_start::discard(&pool, &settings).await?;
    let mut loads = Vec::new();
    let mut mem = None;
    for _ in 0..3 {
        // The previous load freed first: the figure is one window's memory, not two.
        drop(mem.take());
        let t = Instant::now();
        mem = Some(store::Memory::load(&pool, &settings, Some(first)).await?);
        loads.push(t.elapsed().as_secs_f64());
    }
    let mut mem = mem.ok_or_else(|| anyhow::anyhow!("no load"))?;
    let (loaded_rss, _) = rss();
    println!(
        "startup_load median_s={:.2} runs={loads:.2?}",
        median(loads.clone())
    );
    println!("rss_after_load_mb={loaded_rss:.0}");

    let mut runs = Vec::new();
    for e in 0..7u64 {
        // Consecutive blocks, each an epoch (the epoch index is the block: unique on reuse).
        let number = first + 1 + e;
        probe_rounds(&pool, number, &ids).await?;
        let w = epoch(number, number, &mut miners, &mut rng);
        let t = Instant::now();
        let written = store::write(&pool, &settings, &mut mem, &w).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            matches!(written, store::Written::Rows(_, Some(_))),
            "epoch block {number} not recorded as an epoch"
        );
        runs.push(ms);
    }
    // The first epoch after a start reads the whole refresh window; the rest are steady.
    println!("epoch_block_first_ms={:.1}", runs[0]);
    let steady = runs[1..].to_vec();
    println!(
        "epoch_block median_ms={:.1} runs={steady:.1?}",
        median(steady.clone())
    );
    let (now, peak) = rss();
    println!("rss_mb={now:.0} peak_rss_mb={peak:.0}");
    warm_start(&pool, &settings, mem).await?;
    pool.close().await;
    Ok(())
}
