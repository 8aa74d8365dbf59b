//! Weights benchmark (see BENCHMARKS.md): one epoch's weights for `<uids>` uids — the pure
//! pipeline (product, clamp, the SDK conversion with the max-weight clip, explanations) and,
//! with `DATABASE_URL` set, storing the plan with every uid's explanation (scratch database
//! `tenure_bench_weights`), as the submitter does once per epoch; then the network-health step
//! of an epoch block over the same miners.
//!
//! `cargo run --release --example bench_weights -- <uids>`

#[path = "support/mod.rs"]
mod support;
use support::median;

use std::time::Instant;

use tenure::config::{Mode, ScoresSource};
use tenure::uptime::bonus::{Detail, RULES, Record};
use tenure::weights::explanation::{UptimeRecorded, UptimeWhy, VestingRecorded, VestingWhy};
use tenure::weights::pipeline::{Base, Factor, Input, Params, compute, neutral};

/// A miner's uptime record of the stored size: every rule's metric.
fn record(current: f64) -> Record {
    Record::Evaluated(Detail {
        earned: Vec::new(),
        metrics: RULES.iter().map(|r| (r.0, Some(current))).collect(),
        reliability_factor: 1.0,
        raw: 1.0,
        new_milestones: Vec::new(),
    })
}

fn uptime_why(current: f64) -> UptimeWhy {
    UptimeWhy::Recorded(UptimeRecorded {
        epoch_block: 1,
        mode: Mode::On,
        multiplier: 1.0,
        current_uptime: Some(current),
        historical_uptime: Some(current),
        detail: record(current),
    })
}

fn vesting_why(fraction: f64) -> VestingWhy {
    VestingWhy::Recorded(VestingRecorded {
        epoch_block: 1,
        mode: Mode::On,
        multiplier: 1.0,
        holding_fraction: Some(fraction),
        holding_days: 3.0,
        amount_tier: 1.0,
        duration_tier: 1.0,
        earned_rao: 1_000_000_000,
        remaining_rao: 900_000_000,
        reason: "holds 90% for 3 days".into(),
    })
}

fn inputs(n: usize) -> Vec<Input> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 1_000_000) as f64 / 1_000_000.0
    };
    (0..n)
        .map(|i| Input {
            uid: i as u16,
            hotkey: format!("hk{i}"),
            miner_id: None,
            validator: i < 8,
            exempt: false,
            base: Some(Base {
                score: next(),
                block: Some(1),
                source: ScoresSource::Api,
            }),
            uptime: Factor {
                applied: 1.0 + next(),
                why: uptime_why(next()),
            },
            vesting: Factor {
                applied: 1.0 + next(),
                why: vesting_why(next()),
            },
            penalty: neutral("off"),
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(4096, |s| s.parse().unwrap_or(4096));
    let params = Params {
        max_total_multiplier: 3.0,
        min_allowed_weights: 8,
        max_weights_limit: 655, // 1 %: the iterative clip runs
    };
    let mut pure = Vec::new();
    let mut plan = None;
    for _ in 0..7 {
        let input = inputs(n);
        let t = Instant::now();
        let p = compute(&params, input)?;
        let explained: usize = p
            .entries
            .iter()
            .map(|e| serde_json::to_string(&e.explain(3.0)).map_or(0, |s| s.len()))
            .sum();
        pure.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(explained > 0 && p.uids().len() > n / 2);
        plan = Some(p);
    }
    println!("weights_pipeline uids={n} median_ms={:.1}", median(pure));
    let Some(plan) = plan else { return Ok(()) };

    let Ok(base) = std::env::var("DATABASE_URL") else {
        println!("DATABASE_URL not set: database steps skipped");
        return Ok(());
    };
    let pool = tenure::db::scratch(&base, "tenure_bench_weights").await?;
    let mut stored = Vec::new();
    for epoch in 0..7u64 {
        let new = tenure::weights::submission::NewPlan {
            netuid: 1,
            mechid: 0,
            epoch_index: epoch,
            epoch_block: epoch * 361,
            planned_block: epoch * 361 + 340,
            method: "set_weights",
            dry_run: false,
            version_key: 0,
            max_total_multiplier: 3.0,
            plan: &plan,
            detail: "bench".into(),
            uptime_epoch: Some(epoch * 361),
            min_allowed_weights: 1,
            max_weights_limit: u16::MAX,
        };
        let t = Instant::now();
        let id = tenure::weights::submission::plan(&pool, &new, None).await?;
        stored.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(id.is_some());
    }
    println!(
        "weights_plan_stored uids={n} median_ms={:.1}",
        median(stored)
    );
    network_step(&pool, n).await
}

/// The network-health step of an epoch block: `n` miners with a full uptime record each, the
/// plans stored above, then `network::store::record` timed at seven epochs.
async fn network_step(pool: &sqlx::PgPool, n: usize) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         SELECT g, 1, 'hk' || g, g - 1, g * 10, g * 10 FROM generate_series(1, $1) g",
    )
    .bind(n as i64)
    .execute(pool)
    .await?;
    let record = serde_json::to_string(&record(0.99))?;
    let mut times = Vec::new();
    for epoch in 0..7i64 {
        let block = 100_000 + epoch * 361;
        sqlx::query(
            "INSERT INTO uptime_multipliers (netuid, epoch_block, miner_id, uid, hotkey,
                 current_uptime, historical_uptime, bonuses, multiplier, mode)
             SELECT 1, $1, g, g - 1, 'hk' || g, random(), random(), $3::jsonb, 1 + random(), 'on'
               FROM generate_series(1, $2) g",
        )
        .bind(block)
        .bind(n as i64)
        .bind(&record)
        .execute(pool)
        .await?;
        let mut conn = pool.acquire().await?;
        let t = Instant::now();
        let at = chrono::DateTime::from_timestamp(block * 12, 0).unwrap_or_default();
        // The epoch's uptime as the engine hands it over: every miner evaluated.
        let figures: Vec<tenure::uptime::epoch::Figures> = (1..=n as i64)
            .map(|miner_id| tenure::uptime::epoch::Figures {
                miner_id,
                current: Some(0.99),
                historical: Some(0.98),
                multiplier: 1.2,
            })
            .collect();
        let cache = tenure::uptime::cache::Cache::new();
        let uptime = tenure::network::store::Uptime::Recorded {
            epoch: Some(block as u64),
            miners: &figures,
            cache: &cache,
        };
        let s =
            tenure::network::store::record(&mut conn, 1, (block as u64, at), 7_200, uptime).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(s.miners, n);
        assert!(s.gini.is_some());
    }
    println!("network_record uids={n} median_ms={:.1}", median(times));
    Ok(())
}
