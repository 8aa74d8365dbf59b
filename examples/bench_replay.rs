//! Replay benchmark (see BENCHMARKS.md): `tenure replay` over 30 chain days of recorded history
//! at 256 uids (an epoch every 360 blocks: 600 epochs and 600 weight submissions), seeded into
//! a scratch database (`tenure_bench_replay`): every miner's vesting and uptime record at every
//! epoch, an emission tranche per miner and epoch with outflows, hourly and daily rollups, and
//! every submission with its 256 explained entries. Times reading it back
//! (`lab::recorded::load`) and recomputing it with two configurations (`lab::replay::replay`).
//!
//! `DATABASE_URL=… cargo run --release --example bench_replay`

#[path = "support/mod.rs"]
mod support;
use support::{Rng, median};

use std::time::Instant;

use sqlx::PgPool;
use tenure::config::{Config, Mode, ScoresSource};
use tenure::lab::simulate::Rules;
use tenure::uptime::bonus::{Detail, RULES, Record};
use tenure::uptime::store::Periods;
use tenure::weights::explanation::{UptimeRecorded, UptimeWhy, VestingRecorded, VestingWhy};
use tenure::weights::pipeline::{Base, Factor, Input, Params, compute, neutral};

const UIDS: u16 = 256;
const DAYS: u64 = 30;
const EPOCH_BLOCKS: u64 = 360;
const NETUID: i32 = 1;

fn record(current: f64) -> Record {
    Record::Evaluated(Detail {
        earned: Vec::new(),
        metrics: RULES.iter().map(|r| (r.0, Some(current))).collect(),
        reliability_factor: 1.0,
        raw: 1.0,
        new_milestones: Vec::new(),
    })
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(pool)
        .await
        .expect(sql);
}

/// Miners, epochs, engine records, tranches and emissions, rollups: all in SQL.
async fn seed_tables(pool: &PgPool, epochs: u64) {
    let cfg = Config::default();
    let vesting = serde_json::to_string(&cfg.vesting).unwrap();
    let uptime = serde_json::to_string(&cfg.uptime).unwrap();
    let detail = serde_json::to_string(&record(0.97)).unwrap();
    let n = UIDS as i64;
    let last = epochs * EPOCH_BLOCKS;
    exec(
        pool,
        &format!(
            "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block)
         SELECT u + 1, {NETUID}, 'hk' || u, u, 0, 0 FROM generate_series(0, {n} - 1) u"
        ),
    )
    .await;
    exec(pool, &format!(
        "INSERT INTO blocks (netuid, number, hash, parent_hash, timestamp_ms, spec_version, epoch_ran)
         SELECT {NETUID}, b, decode(lpad(to_hex(b), 64, '0'), 'hex'), decode(lpad(to_hex(b - 1), 64, '0'), 'hex'),
                b::bigint * 12000, 393, true
           FROM generate_series({EPOCH_BLOCKS}::bigint, {last}, {EPOCH_BLOCKS}) b")).await;
    for (table, params) in [("vesting_epochs", &vesting), ("uptime_epochs", &uptime)] {
        exec(
            pool,
            &format!(
                "INSERT INTO {table} (netuid, epoch_block, mode, miners, params)
             SELECT {NETUID}, b, 'on', {n}, '{params}'::jsonb
               FROM generate_series({EPOCH_BLOCKS}::bigint, {last}, {EPOCH_BLOCKS}) b"
            ),
        )
        .await;
    }
    exec(pool, &format!(
        "INSERT INTO vesting_multipliers (netuid, epoch_block, miner_id, uid, hotkey, coldkey,
             holding_fraction, holding_days, amount_tier, duration_tier, multiplier, mode, reason)
         SELECT {NETUID}, b, u + 1, u, 'hk' || u, 'ck' || u, 0.8, 3, 1.3, 1.0, 1.25, 'on', 'bench'
           FROM generate_series({EPOCH_BLOCKS}, {last}, {EPOCH_BLOCKS}) b, generate_series(0, {n} - 1) u")).await;
    exec(pool, &format!(
        "INSERT INTO uptime_multipliers (netuid, epoch_block, miner_id, uid, hotkey, current_uptime,
             historical_uptime, bonuses, multiplier, mode)
         SELECT {NETUID}, b, u + 1, u, 'hk' || u, 0.97, 0.97, '{detail}'::json, 1.2, 'on'
           FROM generate_series({EPOCH_BLOCKS}, {last}, {EPOCH_BLOCKS}) b, generate_series(0, {n} - 1) u")).await;
    exec(pool, &format!(
        "INSERT INTO emissions (netuid, epoch_block, uid, miner_id, hotkey, coldkey, amount_rao)
         SELECT {NETUID}, b, u, u + 1, 'hk' || u, 'ck' || u, 1000000000
           FROM generate_series({EPOCH_BLOCKS}, {last}, {EPOCH_BLOCKS}) b, generate_series(0, {n} - 1) u")).await;
    exec(
        pool,
        &format!(
            "INSERT INTO tranche_books (netuid, scope, coldkey)
         SELECT {NETUID}, 'coldkey', 'ck' || u FROM generate_series(0, {n} - 1) u"
        ),
    )
    .await;
    exec(pool, &format!(
        "INSERT INTO tranches (book_id, kind, block, initial_rao, remaining_rao, miner_id)
         SELECT k.id, 'emission', b, 1000000000,
                CASE WHEN u % 3 = 0 THEN 500000000 ELSE 1000000000 END, u + 1
           FROM generate_series({EPOCH_BLOCKS}, {last}, {EPOCH_BLOCKS}) b, generate_series(0, {n} - 1) u
           JOIN tranche_books k ON k.netuid = {NETUID} AND k.coldkey = 'ck' || u
          ORDER BY b, u")).await;
    exec(
        pool,
        "INSERT INTO tranche_outflows (tranche_id, block, amount_rao)
         SELECT id, block + 100, 500000000 FROM vesting_tranches WHERE remaining_rao < initial_rao",
    )
    .await;
    let hours = last / 300;
    exec(
        pool,
        &format!(
            "INSERT INTO uptime_days (netuid, miner_id, day, rounds, up, hour_rounds, hour_up)
         SELECT {NETUID}, u + 1, d, sum(r), sum(p), array_agg(r ORDER BY i), array_agg(p ORDER BY i)
           FROM generate_series(0, {hours} / 24) d, generate_series(0, {n} - 1) u,
                generate_series(0, 23) i,
                LATERAL (SELECT CASE WHEN d * 24 + i <= {hours} THEN 12 ELSE 0 END AS r) r,
                LATERAL (SELECT CASE WHEN d * 24 + i <= {hours}
                                     THEN 12 - ((d * 24 + i + u) % 3 = 0)::int ELSE 0 END AS p) p
          GROUP BY d, u"
        ),
    )
    .await;
}

/// One plan per epoch with every uid's explanation, as the submitter stores it.
async fn seed_submissions(pool: &PgPool, epochs: u64) {
    let mut rng = Rng(7);
    for k in 1..=epochs {
        let block = k * EPOCH_BLOCKS;
        let inputs: Vec<Input> = (0..UIDS)
            .map(|uid| {
                let current = 0.9 + (rng.next() % 100) as f64 / 1000.0;
                let mut uptime: Factor<UptimeWhy> = neutral("");
                uptime.applied = 1.2;
                uptime.why = UptimeWhy::Recorded(UptimeRecorded {
                    epoch_block: block as i64,
                    mode: Mode::On,
                    multiplier: 1.2,
                    current_uptime: Some(current),
                    historical_uptime: Some(current),
                    detail: record(current),
                });
                let mut vesting: Factor<VestingWhy> = neutral("");
                vesting.applied = 1.25;
                vesting.why = VestingWhy::Recorded(VestingRecorded {
                    epoch_block: block as i64,
                    mode: Mode::On,
                    multiplier: 1.25,
                    holding_fraction: Some(0.8),
                    holding_days: 3.0,
                    amount_tier: 1.3,
                    duration_tier: 1.0,
                    earned_rao: 1,
                    remaining_rao: 1,
                    reason: "bench".into(),
                });
                Input {
                    uid,
                    hotkey: format!("hk{uid}"),
                    miner_id: Some(i64::from(uid) + 1),
                    validator: false,
                    exempt: false,
                    base: Some(Base {
                        score: 1.0 + (rng.next() % 1000) as f64,
                        block: Some(block),
                        source: ScoresSource::Api,
                    }),
                    uptime,
                    vesting,
                    penalty: neutral("no penalty"),
                }
            })
            .collect();
        let plan = compute(
            &Params {
                max_total_multiplier: 3.0,
                min_allowed_weights: 1,
                max_weights_limit: u16::MAX,
            },
            inputs,
        )
        .unwrap();
        let new = tenure::weights::submission::NewPlan {
            netuid: NETUID as u16,
            mechid: 0,
            epoch_index: k,
            epoch_block: block,
            planned_block: block + 300,
            method: "set_weights",
            dry_run: true,
            version_key: 0,
            max_total_multiplier: 3.0,
            plan: &plan,
            detail: "bench".into(),
            uptime_epoch: Some(block),
            min_allowed_weights: 1,
            max_weights_limit: u16::MAX,
        };
        tenure::weights::submission::plan(pool, &new, None)
            .await
            .unwrap();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Ok(base) = std::env::var("DATABASE_URL") else {
        println!("DATABASE_URL not set: nothing to replay");
        return Ok(());
    };
    let pool = tenure::db::scratch(&base, "tenure_bench_replay").await?;
    let epochs = DAYS * 7_200 / EPOCH_BLOCKS;
    let t = Instant::now();
    seed_tables(&pool, epochs).await;
    seed_submissions(&pool, epochs).await;
    println!(
        "seeded {epochs} epochs x {UIDS} uids in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut alt = Config::default();
    alt.uptime.max_multiplier = 3.0;
    let rules = Rules::of(&alt);
    let extra = [(rules.uptime.clone(), rules.vesting.clone())];
    let (mut loads, mut replays, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let rec = tenure::lab::recorded::load(
            &pool,
            NETUID as u16,
            Periods::new(12),
            u64::MAX >> 1,
            &extra,
        )
        .await?;
        let loaded = t.elapsed().as_secs_f64();
        let r = Instant::now();
        let report = tenure::lab::replay::replay(&rec, &rules, 0, u64::MAX >> 1)?;
        let replayed = r.elapsed().as_secs_f64();
        println!(
            "load {loaded:.2} s, replay {replayed:.2} s ({} vesting, {} uptime multipliers, {} vectors)",
            report.reproduced.vesting_multipliers,
            report.reproduced.uptime_multipliers,
            report.reproduced.weight_vectors
        );
        loads.push(loaded);
        replays.push(replayed);
        totals.push(loaded + replayed);
    }
    println!(
        "median: load {:.2} s, replay {:.2} s, total {:.2} s",
        median(loads),
        median(replays),
        median(totals)
    );
    Ok(())
}
