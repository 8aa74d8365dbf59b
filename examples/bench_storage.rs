//! Uptime history on disk (see BENCHMARKS.md): `<miners>` miners probed `<rounds>` times a day
//! for `<days>` days, written through the daemon's own writer (`uptime::store::record_round`,
//! one transaction a round, as the prober does), then measured with PostgreSQL's own sizes
//! (tables, TOAST and indexes, after a plain `VACUUM` as autovacuum leaves them):
//! rollups (`uptime_days`) and raw samples (`uptime_round_samples` and `uptime_rounds`), in bytes
//! per miner-day.
//!
//! `DATABASE_URL=postgres://… cargo run --release --example bench_storage -- 256 30 288`
//! (a scratch database `tenure_bench_storage` is created beside the one named).

#[path = "support/mod.rs"]
mod support;
use support::Rng;

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use sqlx::PgPool;
use tenure::uptime::store::{self, Round, Sample, Source};

const NETUID: u16 = 1;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |s| s.parse().unwrap_or(default))
    };
    let (miners, days, rounds) = (arg(1, 256), arg(2, 30), arg(3, 288));
    let base = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is needed (a PostgreSQL to measure in)"))?;
    let pool = tenure::db::scratch(&base, "tenure_bench_storage").await?;
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         SELECT i + 1, $1, 'hk' || i, i, 0, 0 FROM generate_series(0, $2 - 1) i",
    )
    .bind(i32::from(NETUID))
    .bind(miners as i64)
    .execute(&pool)
    .await?;
    let written = Instant::now();
    write(&pool, miners, days, rounds).await?;
    let secs = written.elapsed().as_secs_f64();
    sqlx::query("VACUUM ANALYZE uptime_days, uptime_round_samples, uptime_rounds")
        .execute(&pool)
        .await?;
    let size = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT pg_total_relation_size($1::regclass)")
                .bind(table)
                .fetch_one(&pool)
                .await
        }
    };
    let rollups = size("uptime_days").await?;
    let raw = size("uptime_round_samples").await? + size("uptime_rounds").await?;
    let miner_days = (miners * days) as f64;
    println!(
        "miners={miners} days={days} rounds_per_day={rounds} write_seconds={secs:.1} \
         rollup_bytes_per_miner_day={:.0} raw_bytes_per_miner_day={:.0}",
        rollups as f64 / miner_days,
        raw as f64 / miner_days
    );
    Ok(())
}

/// `days × rounds` rounds of every miner, each round one transaction. A miner is down in about
/// 5 % of its rounds (with the prober's error text), up ones carry a latency.
async fn write(pool: &PgPool, miners: u64, days: u64, rounds: u64) -> anyhow::Result<()> {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let every = Duration::seconds((86_400 / rounds.max(1)) as i64);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for r in 0..days * rounds {
        let samples: Vec<Sample> = (0..miners)
            .map(|m| {
                let up = rng.next() % 100 >= 5;
                Sample {
                    miner_id: m as i64 + 1,
                    up,
                    reported: true,
                    latency_ms: up.then(|| 20 + (rng.next() % 180) as u32),
                    compute_score: None,
                    error: (!up).then(|| "timed out after 2000 ms".to_string()),
                }
            })
            .collect();
        let round = Round {
            source: Source::Probe,
            block: r * 25,
            observed_at: t0 + every * r as i32,
            duration_ms: Some(70),
        };
        let mut tx = pool.begin().await?;
        store::record_round(&mut tx, NETUID, &round, &samples).await?;
        tx.commit().await?;
    }
    Ok(())
}
