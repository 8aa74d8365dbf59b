//! Vesting benchmark (see BENCHMARKS.md): an epoch's multipliers for `<miners>` miners, each
//! coldkey with `<days>` days of emission tranches (one per epoch, tempo 360, 12 s blocks),
//! a third of them sold down in part.
//!
//! `DATABASE_URL=postgres://… cargo run --release --example bench_vesting -- <miners> <days> [--load]`
//!
//! Prints: the pure computation over the in-memory window; the whole epoch step in the
//! database (settings, miners, computation over the ingest writer's running sums, 4,096 rows)
//! inside a rolled-back transaction; with `--load`, the start-up load of those sums from
//! `tranches`. Creates (and drops) its
//! own database on that server.

#[path = "support/mod.rs"]
mod support;
use support::{Rng, median};

use std::time::Instant;

use sqlx::PgPool;
use tenure::config::VestingConfig;
use tenure::vesting::epoch::{MinerRef, Params, compute};
use tenure::vesting::store::{EpochSettings, live_miners, load_tally, record_epoch};
use tenure::vesting::tally::{Tally, Totals};
use tenure::vesting::window::{Entry, Window};

const NETUID: u16 = 1;
const TEMPO_BLOCKS: u64 = 361;
const BLOCKS_PER_DAY: u64 = 7_200;

fn coldkey(i: usize) -> String {
    format!("ck{i:05}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let miners: usize = args.get(1).map_or(Ok(4096), |s| s.parse())?;
    let days: u64 = args.get(2).map_or(Ok(90), |s| s.parse())?;
    let load = args.iter().any(|a| a == "--load");
    let now = 10_000_000u64;
    let cfg = VestingConfig::default();
    let p = Params::new(&cfg, 12, now);
    let first = now - days * BLOCKS_PER_DAY;

    // The window: one tranche per epoch per coldkey; every third coldkey sold part of it.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut window = Window::new();
    // What the ingest writer keeps of the same window: each book's sums.
    let mut tally = Tally::new(p.since());
    let mut rows: Vec<(String, i64, i64, i64, i64)> = Vec::new();
    let mut id = 0i64;
    for i in 0..miners {
        let mut block = first + rng.next() % TEMPO_BLOCKS;
        let mut entries = Vec::new();
        while block <= now {
            id += 1;
            let initial = 1_000_000_000 + rng.next() % 1_000_000_000;
            entries.push(Entry {
                id,
                block,
                initial,
                remaining: initial,
            });
            block += TEMPO_BLOCKS;
        }
        if i % 3 == 0 {
            // FILO: the newest part of the history is gone.
            let keep = entries.len() * (30 + (rng.next() % 60) as usize) / 100;
            for e in entries.iter_mut().skip(keep) {
                e.remaining = 0;
            }
        }
        let inside = entries.iter().filter(|e| e.block >= p.since());
        let (mut totals, mut oldest) = (Totals::default(), None);
        for e in inside {
            totals.count += 1;
            totals.earned += u128::from(e.initial);
            totals.remaining += u128::from(e.remaining);
            if e.remaining > 0 {
                oldest = oldest.or(Some(e.block));
            }
        }
        tally.load((coldkey(i), String::new()), totals, oldest);
        for e in entries {
            if load {
                rows.push((
                    coldkey(i),
                    e.id,
                    e.block as i64,
                    e.initial as i64,
                    e.remaining as i64,
                ));
            }
            window.insert((coldkey(i), String::new()), e)?;
        }
    }
    let refs: Vec<MinerRef> = (0..miners)
        .map(|i| MinerRef {
            miner_id: i as i64 + 1,
            uid: i as u16,
            hotkey: format!("hk{i:05}"),
            coldkey: Some(coldkey(i)),
            validator: i < 64,
            exempt: false,
        })
        .collect();
    println!(
        "window miners={miners} days={days} tranches={}",
        window.len()
    );

    let mut pure = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let out = compute(&cfg, &p, &refs, &window);
        pure.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.len(), miners);
    }
    println!("pure_compute median_ms={:.1}", median(pure));

    let Ok(base) = std::env::var("DATABASE_URL") else {
        println!("DATABASE_URL not set: database steps skipped");
        return Ok(());
    };
    let pool = tenure::db::scratch(&base, "tenure_bench_vesting").await?;
    // Miners, owners and permits as ingestion leaves them.
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         SELECT i + 1, $1, 'hk' || lpad(i::text, 5, '0'), i, 0, 0 FROM generate_series(0, $2 - 1) i",
    )
    .bind(i32::from(NETUID))
    .bind(miners as i32)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO hotkey_owners (netuid, hotkey, coldkey, from_block, reason)
         SELECT $1, 'hk' || lpad(i::text, 5, '0'), 'ck' || lpad(i::text, 5, '0'), 0, 'snapshot'
           FROM generate_series(0, $2 - 1) i",
    )
    .bind(i32::from(NETUID))
    .bind(miners as i32)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO validator_permits (netuid, miner_id, block, permitted)
         SELECT $1, i + 1, 0, i < 64 FROM generate_series(0, $2 - 1) i",
    )
    .bind(i32::from(NETUID))
    .bind(miners as i32)
    .execute(&pool)
    .await?;
    let settings = EpochSettings {
        netuid: NETUID,
        cfg: cfg.clone(),
        block_time_secs: 12,
        exempt: Default::default(),
    };
    let mut step = Vec::new();
    for _ in 0..7 {
        let mut w = tally.clone();
        let mut tx = pool.begin().await?;
        let t = Instant::now();
        let live = live_miners(&mut tx, i32::from(NETUID), &settings.exempt).await?;
        let recorded = record_epoch(&mut tx, &settings, now, &mut w, &live).await?;
        step.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(recorded.miners, miners);
        tx.rollback().await?;
    }
    println!("epoch_step_db median_ms={:.1}", median(step));

    if load {
        let t = Instant::now();
        for chunk in rows.chunks(100_000) {
            sqlx::query(
                "INSERT INTO tranche_books (netuid, scope, coldkey)
                 SELECT DISTINCT $1, 'coldkey', c FROM UNNEST($2::text[]) AS t(c)
                 ON CONFLICT DO NOTHING",
            )
            .bind(i32::from(NETUID))
            .bind(chunk.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
            .execute(&pool)
            .await?;
            sqlx::query(
                "INSERT INTO tranches (id, book_id, kind, block, initial_rao, remaining_rao, miner_id)
                 SELECT i, k.id, 'emission', b, a, r, 1
                   FROM UNNEST($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS t(c, i, b, a, r)
                   JOIN tranche_books k ON k.netuid = $1 AND k.scope = 'coldkey' AND k.coldkey = t.c",
            )
            .bind(i32::from(NETUID))
            .bind(chunk.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.2).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.3).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
            .execute(&pool)
            .await?;
        }
        sqlx::query("ANALYZE tranches").execute(&pool).await?;
        println!(
            "seeded tranches={} seconds={:.1}",
            rows.len(),
            t.elapsed().as_secs_f64()
        );
        let mut loads = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let w = load_tally(
                &pool,
                NETUID,
                tenure::config::StakeScope::Coldkey,
                p.since(),
            )
            .await?;
            loads.push(t.elapsed().as_secs_f64());
            assert_eq!(w.len(), tally.len());
        }
        println!("startup_load median_s={:.2}", median(loads));
    }
    pool.close().await;
    if args.iter().any(|a| a == "--keep") {
        return Ok(());
    }
    let admin = PgPool::connect(&base).await?;
    sqlx::query("DROP DATABASE IF EXISTS tenure_bench_vesting WITH (FORCE)")
        .execute(&admin)
        .await?;
    Ok(())
}
