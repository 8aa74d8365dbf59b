//! Network health at the latest recorded epochs, against a real PostgreSQL: `GET /v1/network`
//! and `tenure network --json` give figures computed here independently from the seeded rows
//! (Gini by its pairwise definition, the moved weight by hand, retention by counting).

use std::net::SocketAddr;

use serde_json::Value as Json;
use sqlx::PgPool;
use tenure::api::ApiConfig;
use tenure::network::store::{Uptime, record};
use tenure::uptime::cache::Cache;
use tenure::uptime::epoch::Figures;

use crate::common;

const NETUID: u16 = 5;
const DAY: i64 = 7_200;

async fn serve(pool: PgPool) -> SocketAddr {
    let config = ApiConfig {
        netuid: NETUID,
        block_time_secs: 12,
        ..Default::default()
    };
    common::serve_api(pool, config).await.0
}

async fn exec(pool: &PgPool, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The time of `block`: 12 s blocks from the Unix epoch, as [`seed`] dates the head.
fn at(block: u64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(block as i64 * 12, 0).unwrap()
}

/// Six registrations (the sixth a validator), two uptime epochs, two planned epochs; the head
/// at chain day 100.
async fn seed(pool: &PgPool) {
    let regs = [
        (1, 0, 0, None),
        (2, 1, 0, Some(3 * DAY)),
        (3, 2, 0, Some(40 * DAY)),
        (4, 3, 10 * DAY, None),
        (5, 4, 95 * DAY, None),
        (6, 9, 0, None),
    ];
    for (id, uid, from, until) in regs {
        sqlx::query(
            "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block,
                 deregistered_at_block) VALUES ($1, $2, 'hk' || $1, $3, $4, $4, $5)",
        )
        .bind(id as i64)
        .bind(i32::from(NETUID))
        .bind(uid)
        .bind(from)
        .bind(until)
        .execute(pool)
        .await
        .unwrap();
    }
    exec(
        pool,
        &format!(
            "INSERT INTO ingest_cursor (netuid, block_number, block_hash, first_block)
         VALUES ({NETUID}, {}, decode(repeat('00', 32), 'hex'), 0)",
            100 * DAY
        ),
    )
    .await;
    // The head's block, dated (12 s blocks from the Unix epoch) on UTC day 100.
    exec(
        pool,
        &format!(
            "INSERT INTO blocks (netuid, number, hash, parent_hash, timestamp_ms, spec_version)
         VALUES ({NETUID}, {b}, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                 {ms}, 1)",
            b = 100 * DAY,
            ms = 100 * DAY * 12_000
        ),
    )
    .await;
    // Daily rollups on days 97–99: miner 1 down 3/4, 5/8, 1/2 of its rounds (18, 15, 12
    // miner-hours), miner 4 never, the validator (not a miner here) always.
    for (miner, day, rounds, up) in [
        (1, 97, 4, 1),
        (1, 98, 8, 3),
        (1, 99, 10, 5),
        (4, 99, 4, 4),
        (6, 99, 2, 0),
    ] {
        exec(
            pool,
            &format!(
                "INSERT INTO uptime_days (netuid, miner_id, day, rounds, up, hour_rounds, hour_up)
             VALUES ({NETUID}, {miner}, {day}, {rounds}, {up}, array_fill(0, ARRAY[24]),
                     array_fill(0, ARRAY[24]))"
            ),
        )
        .await;
    }
    let evaluated = r#"{"earned": [], "metrics": {}, "reliability_factor": 1.0, "raw": 1.0, "new_milestones": []}"#;
    let skipped = r#"{"reason": "validator permit: uptime bonuses do not apply, 1.0"}"#;
    for (epoch, miner, uid, current, historical, detail, multiplier) in [
        (100, 1, 0, "0.1", "0.1", evaluated, 1.9),
        (200, 1, 0, "1.0", "0.9", evaluated, 1.5),
        (200, 4, 3, "0.8", "0.7", evaluated, 1.0),
        (200, 5, 4, "NULL", "NULL", evaluated, 1.2),
        (200, 6, 9, "1.0", "1.0", skipped, 1.0),
    ] {
        exec(
            pool,
            &format!(
                "INSERT INTO uptime_multipliers (netuid, epoch_block, miner_id, uid, hotkey,
                 current_uptime, historical_uptime, bonuses, multiplier, mode)
             VALUES ({NETUID}, {epoch}, {miner}, {uid}, 'hk{miner}', {current}, {historical},
                     '{detail}', {multiplier}, 'on')"
            ),
        )
        .await;
    }
    for (epoch, entries) in [
        (3, vec![(0, false, 1.0, 1.0)]),
        (
            4,
            vec![
                (0, false, 1.0, 0.1),
                (1, false, 1.0, 0.4),
                (2, false, 2.0, 0.5),
                (3, false, 0.0, 0.0),
                (9, true, 5.0, 0.9),
            ],
        ),
    ] {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO weight_submissions (netuid, epoch_index, epoch_block, planned_block,
                 status, method, version_key, uids, weights)
             VALUES ($1, $2, $2 * 100, $2 * 100 + 1, 'finalized', 'set_weights', 0, '{}', '{}')
             RETURNING id",
        )
        .bind(i32::from(NETUID))
        .bind(epoch as i64)
        .fetch_one(pool)
        .await
        .unwrap();
        for (uid, exempt, base, normalized) in entries {
            sqlx::query(
                "INSERT INTO weight_entries (submission_id, uid, hotkey, exempt, base_score,
                     uptime_multiplier, vesting_multiplier, penalty, total_multiplier, raw_weight,
                     normalized_weight, weight_u16)
                 VALUES ($1, $2, 'hk', $3, $4, 1, 1, 1, 1, $4, $5, 0)",
            )
            .bind(id)
            .bind(uid)
            .bind(exempt)
            .bind(base)
            .bind(normalized)
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

/// The evaluated miners [`seed`] records at uptime epoch `epoch`, as the uptime engine hands
/// them to the network step (the validator's skipped record left out).
fn evaluated_at(epoch: u64) -> Vec<Figures> {
    let f = |miner_id, current, historical, multiplier| Figures {
        miner_id,
        current,
        historical,
        multiplier,
    };
    match epoch {
        100 => vec![f(1, Some(0.1), Some(0.1), 1.9)],
        200 => vec![
            f(1, Some(1.0), Some(0.9), 1.5),
            f(4, Some(0.8), Some(0.7), 1.0),
            f(5, None, None, 1.2),
        ],
        _ => Vec::new(),
    }
}

/// The Gini coefficient by its definition over every pair.
fn gini_by_pairs(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let pairs: f64 = x
        .iter()
        .flat_map(|a| x.iter().map(move |b| (a - b).abs()))
        .sum();
    pairs / (2.0 * n * n * mean)
}

fn close(v: &Json, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

fn check(s: &Json) {
    // Uptime at the latest epoch (200): three miners (the validator's record is skipped).
    assert_eq!(s["uptime_epoch"], 200, "{s}");
    assert_eq!(s["miners"], 3, "{s}");
    assert!(close(&s["mean_current_uptime"], 0.9), "{s}");
    assert!(close(&s["mean_historical_uptime"], 0.8), "{s}");
    assert!(close(&s["bonus_coverage"], 2.0 / 3.0), "{s}");
    // Downtime on day 99 (the last complete day at day 100), and its trend over 18, 15, 12.
    assert!(close(&s["downtime_hours"], 12.0), "{s}");
    assert!(close(&s["downtime_trend"], -3.0), "{s}");
    // The latest planned weights (epoch 4), without the exempt validator.
    assert_eq!(s["weights_epoch"], 4, "{s}");
    assert!(
        close(&s["gini"], gini_by_pairs(&[0.1, 0.4, 0.5, 0.0])),
        "{s}"
    );
    assert!(close(&s["top10_share"], 0.5), "{s}");
    // Base-only shares (¼, ¼, ½, 0) against the final (0.1, 0.4, 0.5, 0).
    assert!(close(&s["moved"]["total_variation"], 0.15), "{s}");
    assert!(close(&s["moved"]["largest_gain"], 0.15), "{s}");
    assert!(close(&s["moved"]["largest_loss"], -0.15), "{s}");
    // At day 100: five registrations are 7 and 30 days old (one left on day 3), five are 90 days
    // old (two left before day 90), none is 180 days old.
    let retention: Vec<(i64, Json)> = s["retention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["after_days"].as_i64().unwrap(), r["share"].clone()))
        .collect();
    let want = [(7, 0.8), (30, 0.8), (90, 0.6)];
    for ((after, share), (want_after, want_share)) in retention.iter().zip(want) {
        assert_eq!(*after, want_after);
        assert!(close(share, want_share), "{after} d: {share}");
    }
    assert_eq!(retention[3], (180, Json::Null));
}

#[sqlx::test]
async fn network_health_from_the_recorded_epochs(pool: PgPool) {
    let addr = serve(pool.clone()).await;
    // Nothing recorded yet: a snapshot of unknowns, not an error.
    let (status, body) = common::http_get(addr, "/v1/network").await;
    assert_eq!(status, 200, "{body}");
    let empty: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (empty["miners"].clone(), empty["gini"].clone()),
        (0.into(), Json::Null)
    );
    seed(&pool).await;
    let (status, body) = common::http_get(addr, "/v1/network").await;
    assert_eq!(status, 200, "{body}");
    check(&serde_json::from_str(&body).unwrap());

    // The same from the command line.
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::daemon::config("ws://127.0.0.1:1", &common::url_of(&pool), NETUID);
    c.chain.block_time_secs = 12;
    let file = common::daemon::write(dir.path(), "tenure", &c);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["--config", file.to_str().unwrap(), "network", "--json"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&serde_json::from_slice(&out.stdout).unwrap());
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["--config", file.to_str().unwrap(), "network"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("3 miners") && text.contains("with a bonus 66.67%"),
        "{text}"
    );
}

/// An epoch's snapshot is recorded with the uptime figures of that very epoch and retention
/// at its block; the history serves the rows newest first and refuses a bad limit.
#[sqlx::test]
async fn each_epoch_is_recorded_and_served_newest_first(pool: PgPool) {
    seed(&pool).await;
    let cache = Cache::new();
    let mut conn = pool.acquire().await.unwrap();
    for epoch in [100u64, 200] {
        let miners = evaluated_at(epoch);
        let uptime = Uptime::Recorded {
            epoch: Some(epoch),
            miners: &miners,
            cache: &cache,
        };
        record(&mut conn, NETUID, (epoch, at(epoch)), DAY as u64, uptime)
            .await
            .unwrap();
    }
    // An epoch without uptime rows (mode off): no uptime figures, never another epoch's.
    let off = Uptime::Recorded {
        epoch: None,
        miners: &[],
        cache: &cache,
    };
    let off = record(&mut conn, NETUID, (150, at(150)), DAY as u64, off)
        .await
        .unwrap();
    assert_eq!((off.uptime_epoch, off.miners), (None, 0));
    drop(conn);
    let addr = serve(pool.clone()).await;
    let (status, body) = common::http_get(addr, "/v1/network/history").await;
    assert_eq!(status, 200, "{body}");
    let rows: Vec<Json> = serde_json::from_str(&body).unwrap();
    let blocks: Vec<i64> = rows
        .iter()
        .map(|r| r["epoch_block"].as_i64().unwrap())
        .collect();
    assert_eq!(blocks, [200, 150, 100]);
    assert_eq!(
        (rows[0]["miners"].clone(), rows[2]["miners"].clone()),
        (3.into(), 1.into())
    );
    assert!(close(&rows[0]["bonus_coverage"], 2.0 / 3.0), "{}", rows[0]);
    assert!(close(&rows[2]["mean_current_uptime"], 0.1), "{}", rows[2]);
    // At block 200 (chain day 0) no registration is 7 days old yet.
    assert_eq!(rows[0]["retention_7"], Json::Null);
    assert!(close(&rows[0]["total_variation"], 0.15), "{}", rows[0]);
    for bad in ["limit=0", "limit=x", "since=3"] {
        let (status, _) = common::http_get(addr, &format!("/v1/network/history?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
    }
}

/// Recording an epoch reads the daily downtime from the uptime engine's rollup cache (loaded as
/// the daemon loads it), not from the tables: the figures equal those the API computes from the
/// stored rollups.
#[sqlx::test]
async fn an_epoch_record_takes_downtime_from_the_rollup_cache(pool: PgPool) {
    seed(&pool).await;
    let head = 100 * DAY as u64;
    let settings = tenure::uptime::epoch::EpochSettings {
        netuid: NETUID,
        cfg: tenure::config::UptimeConfig::default(),
        periods: tenure::uptime::store::Periods::new(12),
        exempt: Default::default(),
    };
    let tracker = tenure::uptime::epoch::load(&pool, &settings, head)
        .await
        .unwrap();
    let miners = evaluated_at(200);
    let uptime = Uptime::Recorded {
        epoch: Some(200),
        miners: &miners,
        cache: &tracker.cache,
    };
    let mut conn = pool.acquire().await.unwrap();
    let recorded = record(&mut conn, NETUID, (head, at(head)), DAY as u64, uptime)
        .await
        .unwrap();
    drop(conn);
    let stored = tenure::network::store::snapshot(&pool, NETUID, DAY as u64)
        .await
        .unwrap();
    assert_eq!(recorded.downtime_hours, Some(12.0));
    assert!((recorded.downtime_trend.unwrap() + 3.0).abs() < 1e-9);
    assert_eq!(
        (
            recorded.downtime_hours,
            recorded.downtime_trend,
            recorded.miners
        ),
        (stored.downtime_hours, stored.downtime_trend, stored.miners)
    );
    // An empty cache knows no day: no downtime, never zero.
    let empty = Cache::new();
    let none = Uptime::Recorded {
        epoch: Some(200),
        miners: &miners,
        cache: &empty,
    };
    let mut conn = pool.acquire().await.unwrap();
    let unknown = record(
        &mut conn,
        NETUID,
        (head + 1, at(head + 1)),
        DAY as u64,
        none,
    )
    .await
    .unwrap();
    assert_eq!(
        (unknown.downtime_hours, unknown.downtime_trend),
        (None, None)
    );
}
