//! Uptime bonus benchmark (see BENCHMARKS.md): every bonus family and the multiplier for
//! `<miners>` miners, each with `<days>` days of daily rollups and the hourly rollups the rules
//! read (1,100 hours), computed by `uptime::evaluate` (the pure part of an epoch).
//!
//! With `DATABASE_URL` set, also the database side at the same scale (in a scratch database
//! `tenure_bench_uptime`): loading the rollup cache at start-up (`uptime::epoch::load`) and one
//! epoch's step in its transaction (`uptime::epoch::record_epoch`: refresh the recent rollups,
//! evaluate, write every miner's multiplier).
//!
//! `cargo run --release --example bench_uptime -- <miners> <days>`

#[path = "support/mod.rs"]
mod support;
use support::Rng;

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use tenure::config::UptimeConfig;
use tenure::uptime::{History, Period, evaluate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let miners: usize = args.get(1).map_or(4096, |s| s.parse().unwrap_or(4096));
    let days: i64 = args.get(2).map_or(400, |s| s.parse().unwrap_or(400));
    let hours: i64 = 1_100;
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut cfg = UptimeConfig::default();
    cfg.time.peak_hours_utc = vec![14, 15, 16, 17];
    cfg.time.holidays = vec![tenure::config::Date(
        chrono::NaiveDate::from_ymd_opt(2026, 2, 1).expect("a date"),
    )];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let histories: Vec<History> = (0..miners)
        .map(|i| {
            // A mix of reliabilities; one day in 50 unknown (tenure down).
            let quality = (i % 10) as u64;
            let period = |index: i64, rounds: u32, rng: &mut Rng| {
                let down = (rng.next() % 100) < quality;
                Period {
                    index,
                    rounds,
                    up: if down {
                        rounds - 1 - (rng.next() % 3) as u32
                    } else {
                        rounds
                    },
                }
            };
            // Day and hour numbers since the Unix epoch, counted from t0.
            let (d0, h0) = (t0.timestamp() / 86_400, t0.timestamp() / 3_600);
            let mut d = Vec::new();
            for x in 0..days {
                if !rng.next().is_multiple_of(50) {
                    d.push(period(d0 + x, 288, &mut rng));
                }
            }
            let first_hour = days * 24 - hours;
            let h: Vec<Period> = (first_hour..days * 24)
                .map(|x| period(h0 + x, 12, &mut rng))
                .collect();
            History {
                current: Some(1.0 - quality as f64 / 100.0),
                historical: Some(1.0 - quality as f64 / 90.0),
                days: d.into(),
                hours: h.into(),
                last_day: d0 + days - 1,
                last_hour: h0 + days * 24 - 1,
                registered_days: days as f64,
                registered_day: d0,
                now: Some(t0 + Duration::days(days)),
                ..History::default()
            }
        })
        .collect();
    let mut runs = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let boosted = histories
            .iter()
            .map(|h| evaluate(&cfg, h))
            .filter(|o| o.multiplier > 1.0)
            .count();
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(boosted > 0);
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "uptime_bonuses miners={miners} days={days} hours={hours} median_ms={:.1}",
        runs[runs.len() / 2]
    );
    let Ok(base) = std::env::var("DATABASE_URL") else {
        println!("DATABASE_URL not set: database steps skipped");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    if let Err(e) = rt.block_on(database(&base, miners, days, hours, cfg)) {
        eprintln!("database steps failed: {e:#}");
        std::process::exit(1);
    }
}

const NETUID: u16 = 1;

/// Seeds `miners` miners with `days` of daily and `hours` of hourly rollups ending at the epoch
/// block, then times the start-up load and the per-epoch step.
async fn database(
    base: &str,
    miners: usize,
    days: i64,
    hours: i64,
    cfg: UptimeConfig,
) -> anyhow::Result<()> {
    use tenure::uptime::epoch::{EpochSettings, load};
    use tenure::uptime::store::Periods;
    let pool = tenure::db::scratch(base, "tenure_bench_uptime").await?;
    let periods = Periods::new(12);
    // The epoch block: the last hour of the last day.
    let block = (days as u64) * periods.blocks_per_day - 1;
    // Blocks are dated from the Unix epoch in this benchmark: UTC hours are block hours.
    let at = chrono::DateTime::from_timestamp(block as i64 * 12, 0).unwrap_or_default();
    let (day, hour) = (Periods::day_at(at), Periods::hour_at(at));
    seed(&pool, miners, (days, hours), (day, hour)).await?;
    let s = EpochSettings {
        netuid: NETUID,
        cfg,
        periods,
        exempt: Default::default(),
    };
    let refs: Vec<tenure::vesting::epoch::MinerRef> = (0..miners)
        .map(|i| tenure::vesting::epoch::MinerRef {
            miner_id: i as i64 + 1,
            uid: i as u16,
            hotkey: format!("hk{i}"),
            coldkey: Some(format!("ck{i}")),
            validator: false,
            exempt: false,
        })
        .collect();
    // The epoch block as ingested: its time bounds what the start-up load reads, as in the
    // daemon.
    sqlx::query(
        "INSERT INTO blocks (netuid, number, hash, parent_hash, timestamp_ms, spec_version)
         VALUES ($1, $2, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), $3, 1)",
    )
    .bind(i32::from(NETUID))
    .bind(block as i64)
    .bind(at.timestamp_millis())
    .execute(&pool)
    .await?;
    // The ingest writer's transaction locks the cursor row first; rounds then wait for it.
    sqlx::query(
        "INSERT INTO ingest_cursor (netuid, block_number, block_hash, first_block)
         VALUES ($1, $2, decode(repeat('00', 32), 'hex'), $2)",
    )
    .bind(i32::from(NETUID))
    .bind(block as i64)
    .execute(&pool)
    .await?;
    let now = at;
    let (mut loads, mut firsts, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..5u64 {
        let t = Instant::now();
        let mut tracker = load(&pool, &s, block).await?;
        loads.push(t.elapsed().as_secs_f64());
        // Each run one epoch later (one more block), as consecutive epochs would be. The first
        // epoch after a start reads the whole refresh window and sets the watermark.
        let b = block + 2 * run;
        let (ms, n) = timed_epoch(&pool, &s, &refs, &mut tracker, (b, now)).await?;
        assert_eq!(n, miners);
        firsts.push(ms);
        // An epoch's worth of probe rounds (72 minutes at 12 rounds an hour) in the epoch's
        // hour, then the next epoch: it reads only what they touched.
        for r in 0..14 {
            let mut tx = pool.begin().await?;
            let round = tenure::uptime::store::Round {
                source: tenure::uptime::store::Source::Probe,
                block: b,
                observed_at: now - chrono::Duration::minutes(r * 5),
                duration_ms: Some(1),
            };
            let samples: Vec<tenure::uptime::store::Sample> = refs
                .iter()
                .map(|m| tenure::uptime::store::Sample {
                    miner_id: m.miner_id,
                    up: (m.miner_id + r) % 7 != 0,
                    reported: true,
                    latency_ms: Some(3),
                    compute_score: None,
                    error: None,
                })
                .collect();
            tenure::uptime::store::record_round(&mut tx, NETUID, &round, &samples).await?;
            tx.commit().await?;
        }
        let (ms, _) = timed_epoch(&pool, &s, &refs, &mut tracker, (b + 1, now)).await?;
        steps.push(ms);
    }
    loads.sort_by(f64::total_cmp);
    firsts.sort_by(f64::total_cmp);
    steps.sort_by(f64::total_cmp);
    println!(
        "uptime_cache_load median_s={:.2} runs={loads:.2?}",
        loads[loads.len() / 2]
    );
    println!(
        "uptime_epoch_step_first median_ms={:.1} runs={firsts:.1?}",
        firsts[firsts.len() / 2]
    );
    println!(
        "uptime_epoch_step median_ms={:.1} runs={steps:.1?}",
        steps[steps.len() / 2]
    );
    Ok(())
}

/// One epoch's uptime step in a transaction that holds the cursor row first (as the ingest
/// writer's does); returns its milliseconds and the miners recorded.
async fn timed_epoch(
    pool: &sqlx::PgPool,
    s: &tenure::uptime::epoch::EpochSettings,
    refs: &[tenure::vesting::epoch::MinerRef],
    tracker: &mut tenure::uptime::epoch::Tracker,
    (block, now): (u64, chrono::DateTime<chrono::Utc>),
) -> anyhow::Result<(f64, usize)> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM ingest_cursor WHERE netuid = $1 FOR UPDATE")
        .bind(i32::from(NETUID))
        .execute(&mut *tx)
        .await?;
    let t = Instant::now();
    let rec = tenure::uptime::epoch::record_epoch(&mut tx, s, block, now, tracker, refs).await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    tx.commit().await?;
    Ok((ms, rec.miners))
}

/// `miners` miners with `days` of daily and `hours` of hourly rollups ending at day `day` and
/// hour `hour`.
async fn seed(
    pool: &sqlx::PgPool,
    miners: usize,
    (days, hours): (i64, i64),
    (day, hour): (i64, i64),
) -> anyhow::Result<()> {
    let seeded = Instant::now();
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         SELECT i + 1, $1, 'hk' || i, i, 0, 0 FROM generate_series(0, $2 - 1) i",
    )
    .bind(i32::from(NETUID))
    .bind(miners as i32)
    .execute(pool)
    .await?;
    // 288 rounds a day (12 an hour); miner i is down in (i mod 10) % of them; one day in 50
    // unknown. The last `hours` hours carry hourly rollups.
    sqlx::query(
        "INSERT INTO uptime_days (netuid, miner_id, day, rounds, up, hour_rounds, hour_up)
         SELECT $1, m, d, 288, 288 - ((m + d) % 10) * 3 / 10,
                ARRAY(SELECT CASE WHEN d * 24 + i >= $5 AND d * 24 + i <= $6 THEN 12 ELSE 0 END
                        FROM generate_series(0, 23) i),
                ARRAY(SELECT CASE WHEN d * 24 + i >= $5 AND d * 24 + i <= $6
                                  THEN 12 - CASE WHEN (m + d * 24 + i) % 10 < m % 10 THEN 1 ELSE 0 END
                                  ELSE 0 END
                        FROM generate_series(0, 23) i)
           FROM generate_series(1, $2) m, generate_series($3, $4) d
          WHERE (m + d) % 50 <> 0",
    )
    .bind(i32::from(NETUID))
    .bind(miners as i64)
    .bind((day - days + 1).min((hour - hours + 1).div_euclid(24)))
    .bind(day)
    .bind(hour - hours + 1)
    .bind(hour)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    println!(
        "seeded {miners} miners × {days} days + {hours} hours in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    Ok(())
}
