//! `POST /v1/uptime` over real TCP into a real database: an accepted batch is one round with a
//! sample for every registered miner (unmentioned ones down) folded into the hourly and daily
//! rollups; every kind of bad batch gets a 4xx with its reason and stores nothing.

use crate::common;

use std::net::SocketAddr;

use sqlx::PgPool;
use tenure::api::ApiConfig;
use tenure::config::{Secret, UptimeConfig, UptimeSource};

const TOKEN: &str = "uptime-test-token-0123";
const HEAD: i64 = 10_000;
/// 12 s blocks: 300 blocks an hour, 7,200 a day.
const T0_MS: i64 = 1_767_571_200_000; // 2026-01-05T00:00:00Z

async fn serve(pool: PgPool, sources: Vec<UptimeSource>, max_batch: usize) -> SocketAddr {
    let mut uptime = UptimeConfig {
        sources,
        ..UptimeConfig::default()
    };
    uptime.api.max_batch = max_batch;
    let config = ApiConfig {
        netuid: 3,
        block_time_secs: 12,
        uptime,
        token: Some(Secret::new(TOKEN)),
        ..Default::default()
    };
    common::serve_api(pool, config).await.0
}

/// Three live miners (uids 0-2), one deregistered at block 9,000 (uid 3), blocks 9,990-10,000
/// ingested 12 s apart.
async fn seed(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO miners (id, netuid, hotkey, uid, registered_at_block, first_seen_block, deregistered_at_block)
         VALUES (1, 3, 'hk0', 0, 100, 100, NULL), (2, 3, 'hk1', 1, 100, 100, NULL),
                (3, 3, 'hk2', 2, 100, 100, NULL), (4, 3, 'hk3', 3, 100, 100, 9000)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO blocks (netuid, number, hash, parent_hash, timestamp_ms, spec_version)
         SELECT 3, n, decode(lpad(to_hex(n), 64, '0'), 'hex'), decode(lpad(to_hex(n - 1), 64, '0'), 'hex'),
                $1 + (n - 9990) * 12000, 1
           FROM generate_series(9990, $2) n",
    )
    .bind(T0_MS)
    .bind(HEAD)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ingest_cursor (netuid, block_number, block_hash, first_block)
         VALUES (3, $1, decode(lpad(to_hex($1::int), 64, '0'), 'hex'), 9990)",
    )
    .bind(HEAD)
    .execute(pool)
    .await
    .unwrap();
}

async fn post(addr: SocketAddr, token: Option<&str>, body: &str) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    common::http_request(addr, "POST", "/v1/uptime", &headers, Some(body)).await
}

async fn counts(pool: &PgPool) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM uptime_rounds), (SELECT count(*) FROM uptime_samples),
                (SELECT count(*) FROM uptime_hourly), (SELECT count(*) FROM uptime_daily)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn accepted_batches_are_rounds_with_rollups(pool: PgPool) {
    seed(&pool).await;
    let addr = serve(pool.clone(), vec![UptimeSource::Api], 100).await;
    let (status, body) = post(
        addr,
        Some(TOKEN),
        r#"{"observations": [
            {"hotkey": "hk0", "up": true, "compute_score": 0.75, "block": 9999},
            {"hotkey": "hk1", "up": false, "block": 10000}
        ]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["block"], 10000);
    assert_eq!(
        (
            v["miners"].as_u64(),
            v["up"].as_u64(),
            v["unreported"].as_u64()
        ),
        (Some(3), Some(1), Some(1))
    );
    // Every registered miner has a sample; the unmentioned one is down and unreported; the
    // deregistered one has none.
    let samples: Vec<(i64, bool, bool, Option<f64>)> = sqlx::query_as(
        "SELECT miner_id, up, reported, compute_score FROM uptime_samples ORDER BY miner_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        samples,
        vec![
            (1, true, true, Some(0.75)),
            (2, false, true, None),
            (3, false, false, None)
        ]
    );
    // A second batch by timestamp, in the same chain hour (block 10,000 / 300 = hour 33).
    let (status, body) = post(
        addr,
        Some(TOKEN),
        r#"{"observations": [{"hotkey": "hk0", "up": true, "timestamp": "2026-01-05T00:01:00Z"},
                             {"hotkey": "hk2", "up": true, "timestamp": "2026-01-05T00:01:30Z"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // 2026-01-05T00:01:30Z is block 9990 + 90/12 = 9997.
    assert!(body.contains("\"block\":9997"), "{body}");
    let hourly: Vec<(i64, i64, i32, i32)> = sqlx::query_as(
        "SELECT miner_id, hour, rounds, up FROM uptime_hourly ORDER BY miner_id, hour",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // Keyed by the UTC hour and day of the blocks' timestamps (2026-01-05T00:xx).
    let (h, d) = (T0_MS / 3_600_000, T0_MS / 86_400_000);
    assert_eq!(hourly, vec![(1, h, 2, 2), (2, h, 2, 0), (3, h, 2, 1)]);
    let daily: Vec<(i64, i64, i32, i32)> =
        sqlx::query_as("SELECT miner_id, day, rounds, up FROM uptime_daily ORDER BY miner_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(daily, vec![(1, d, 2, 2), (2, d, 2, 0), (3, d, 2, 1)]);
    assert_eq!(counts(&pool).await, (2, 6, 3, 3));
    let (_, metrics) = common::http_get(addr, "/metrics").await;
    assert!(
        metrics.contains("tenure_uptime_rounds_total{source=\"api\"} 2"),
        "{metrics}"
    );
}

#[sqlx::test]
async fn bad_batches_get_a_reason_and_store_nothing(pool: PgPool) {
    seed(&pool).await;
    let addr = serve(pool.clone(), vec![UptimeSource::Api], 3).await;
    let ok = r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000}]}"#;
    for (token, body, status, reason) in [
        (None, ok, 401, "Bearer"),
        (Some("wrong-token-01234567"), ok, 401, "invalid token"),
        (Some(TOKEN), "{not json", 400, "error"),
        (Some(TOKEN), r#"{"observations": []}"#, 400, "empty"),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": "yes", "block": 1}]}"#,
            400,
            "up",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000, "extra": 1}]}"#,
            400,
            "extra",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true}]}"#,
            400,
            "exactly one of block and timestamp",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000, "timestamp": "2026-01-05T00:00:00Z"}]}"#,
            400,
            "exactly one",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000, "compute_score": -1}]}"#,
            400,
            "compute_score",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000, "compute_score": 1e999}]}"#,
            400,
            "error",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000}, {"hotkey": "hk0", "up": false, "block": 10000}]}"#,
            400,
            "appears twice",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000}, {"hotkey": "nobody", "up": true, "block": 10000}]}"#,
            422,
            "nobody",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk3", "up": true, "block": 10000}]}"#,
            422,
            "not registered",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10006}]}"#,
            422,
            "ahead of the ingested head",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 2000}]}"#,
            422,
            "older than the current window",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "timestamp": "2099-01-01T00:00:00Z"}]}"#,
            422,
            "future",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "timestamp": "2020-01-01T00:00:00Z"}]}"#,
            422,
            "before the first ingested block",
        ),
        (
            Some(TOKEN),
            r#"{"observations": [{"hotkey": "hk0", "up": true, "block": 10000}, {"hotkey": "hk1", "up": true, "block": 10000}, {"hotkey": "hk2", "up": true, "block": 10000}, {"hotkey": "hk3", "up": true, "block": 10000}]}"#,
            413,
            "max_batch",
        ),
    ] {
        let (got, answer) = post(addr, token, body).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(answer.contains(reason), "{body} -> {answer}");
        assert!(answer.contains("\"error\""), "{answer}");
        assert_eq!(counts(&pool).await, (0, 0, 0, 0), "{body} stored something");
    }
    // The api source must be enabled.
    let addr = serve(pool.clone(), vec![UptimeSource::Probe], 3).await;
    let (got, answer) = post(addr, Some(TOKEN), ok).await;
    assert_eq!(got, 403, "{answer}");
    assert!(answer.contains("uptime.sources"), "{answer}");
    assert_eq!(counts(&pool).await, (0, 0, 0, 0));
}

#[sqlx::test]
async fn grants_and_the_uptime_mode(pool: PgPool) {
    seed(&pool).await;
    let addr = serve(pool.clone(), vec![UptimeSource::Api], 10).await;
    let auth = format!("Bearer {TOKEN}");
    let with_token = [("Authorization", auth.as_str())];
    let send =
        |method: &'static str, path: &'static str, body: Option<&'static str>, token: bool| {
            let headers: Vec<(&str, &str)> = if token { with_token.to_vec() } else { vec![] };
            async move { common::http_request(addr, method, path, &headers, body).await }
        };
    let grants = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM grants")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    for (body, token, status, reason) in [
        (
            r#"{"hotkey": "hk1", "reason": "docs", "days": 30}"#,
            false,
            401,
            "Bearer",
        ),
        (
            r#"{"hotkey": "nobody", "reason": "docs", "days": 30}"#,
            true,
            422,
            "never been a miner",
        ),
        (
            r#"{"hotkey": "hk1", "reason": "docs", "days": 30, "bonus": 1.5}"#,
            true,
            400,
            "between 0 and 1",
        ),
        (
            r#"{"hotkey": "hk1", "reason": "  ", "days": 30}"#,
            true,
            400,
            "reason",
        ),
        (
            r#"{"hotkey": "hk1", "reason": "docs"}"#,
            true,
            400,
            "exactly one of days",
        ),
        (
            r#"{"hotkey": "hk1", "reason": "docs", "expires_at": "2020-01-01T00:00:00Z"}"#,
            true,
            400,
            "not in the future",
        ),
    ] {
        let (got, answer) = send("POST", "/v1/uptime/grants", Some(body), token).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(answer.contains(reason), "{answer}");
        assert_eq!(grants().await, 0);
    }
    let (got, answer) = send(
        "POST",
        "/v1/uptime/grants",
        Some(r#"{"hotkey": "hk1", "reason": "wrote the miner guide", "days": 30, "actor": "ops"}"#),
        true,
    )
    .await;
    assert_eq!(got, 201, "{answer}");
    assert!(answer.contains("\"bonus\":0.1"), "{answer}");
    let (_, listed) = send("GET", "/v1/uptime/grants", None, false).await;
    assert!(
        listed.contains("wrote the miner guide") && listed.contains("api:ops"),
        "{listed}"
    );
    assert_eq!(
        send("DELETE", "/v1/uptime/grants/1", None, false).await.0,
        401
    );
    assert_eq!(
        send("DELETE", "/v1/uptime/grants/1", None, true).await.0,
        200
    );
    assert_eq!(
        send("DELETE", "/v1/uptime/grants/1", None, true).await.0,
        404
    );
    assert_eq!(send("GET", "/v1/uptime/grants", None, false).await.1, "[]");
    let (_, all) = send("GET", "/v1/uptime/grants?all=true", None, false).await;
    assert!(all.contains("\"revoked_by\":\"api\""), "{all}");

    // The uptime mode, like vesting's: stored, audited, shown.
    let (got, answer) = send(
        "PUT",
        "/v1/uptime/mode",
        Some(r#"{"mode": "shadow"}"#),
        true,
    )
    .await;
    assert_eq!(got, 200, "{answer}");
    assert!(
        answer.contains("\"old\":\"on\",\"new\":\"shadow\",\"changed\":true"),
        "{answer}"
    );
    let (_, status) = send("GET", "/v1/uptime", None, false).await;
    assert!(
        status.contains("\"mode\":\"shadow\"") && status.contains("\"source\":\"database\""),
        "{status}"
    );
    let audited: String =
        sqlx::query_scalar("SELECT actor FROM settings_audit WHERE key = 'uptime.mode'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, "api");
}

#[sqlx::test]
async fn retention_keeps_rows_per_miner_per_day_bounded(pool: PgPool) {
    use tenure::uptime::store::{self, Periods, Round, Sample, Source};
    seed(&pool).await;
    let periods = Periods::new(12);
    // A round every 25 blocks for 5 days, three miners.
    for block in (0..5 * 7_200u64).step_by(25) {
        let mut tx = pool.begin().await.unwrap();
        let samples: Vec<Sample> = (1..=3)
            .map(|id| Sample {
                miner_id: id,
                up: !(block / 25 + id as u64).is_multiple_of(3),
                reported: true,
                latency_ms: Some(3),
                compute_score: None,
                error: None,
            })
            .collect();
        let round = Round {
            source: Source::Probe,
            block,
            observed_at: chrono::DateTime::from_timestamp(block as i64 * 12, 0).unwrap(),
            duration_ms: Some(1),
        };
        store::record_round(&mut tx, 3, &round, &samples)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(counts(&pool).await, (1_440, 4_320, 3 * 120, 3 * 5));
    // Raw: the last day; rollups: the last 2 days (counted back from block 36,000, day 5).
    let head = (
        36_000,
        chrono::DateTime::from_timestamp(36_000 * 12, 0).unwrap(),
    );
    let pruned = store::prune(&pool, 3, periods, head, 1, 2).await.unwrap();
    assert_eq!(
        (pruned.rounds, pruned.hourly, pruned.daily),
        (1_152, 3 * 72, 3 * 3)
    );
    assert_eq!(counts(&pool).await, (288, 864, 3 * 48, 3 * 2));
    // Rollups still equal the samples they summarize (daily sums over the kept days).
    let (rounds, up): (i64, i64) = sqlx::query_as(
        "SELECT sum(rounds)::bigint, sum(up)::bigint FROM uptime_daily WHERE day = 4",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (s_rounds, s_up): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE s.up) FROM uptime_samples s
           JOIN uptime_rounds r ON r.id = s.round_id WHERE r.block / 7200 = 4",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((rounds, up), (s_rounds, s_up));
}

#[sqlx::test]
async fn leaderboard_achievements_and_history(pool: PgPool) {
    seed(&pool).await;
    let addr = serve(pool.clone(), vec![UptimeSource::Api], 10).await;
    assert_eq!(
        common::http_get(addr, "/v1/uptime/leaderboard").await.0,
        404
    );
    let detail = |longevity: f64| {
        serde_json::json!({
            "earned": [], "metrics": {"consistency": null, "longevity": longevity},
            "reliability_factor": 1.0, "raw": 1.0, "new_milestones": [],
        })
    };
    for (epoch, miner, uid, current, longevity, m) in [
        (100, 1, 0, Some(0.9), 3.0, 1.1),
        (100, 2, 1, Some(0.9), 9.0, 1.2),
        (100, 3, 2, None, 0.0, 1.0),
        (200, 1, 0, Some(1.0), 4.0, 1.3),
        (200, 2, 1, Some(0.5), 10.0, 1.0),
        (200, 3, 2, Some(0.95), 1.0, 1.25),
    ] {
        sqlx::query(
            "INSERT INTO uptime_multipliers (netuid, epoch_block, miner_id, uid, hotkey, current_uptime, historical_uptime, bonuses, multiplier, mode)
             VALUES (3, $1, $2, $3, 'hk' || $3, $4, $4, $5, $6, 'on')",
        )
        .bind(epoch as i64)
        .bind(miner as i64)
        .bind(uid)
        .bind(current)
        .bind(detail(longevity))
        .bind(m)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO achievements (netuid, miner_id, milestone, awarded_block, bonus, epochs_remaining)
         VALUES (3, 1, 'perfect_week', 200, 0.15, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let uids = |body: &str| -> Vec<u64> {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["miners"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["uid"].as_u64().unwrap())
            .collect()
    };
    let (status, body) = common::http_get(addr, "/v1/uptime/leaderboard").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"epoch_block\":200"), "{body}");
    assert_eq!(uids(&body), vec![0, 2, 1]);
    // Ties on current uptime go to longevity; no uptime at all ranks last.
    let (_, body) = common::http_get(addr, "/v1/uptime/leaderboard?epoch_block=100").await;
    assert_eq!(uids(&body), vec![1, 0, 2]);
    assert_eq!(
        common::http_get(addr, "/v1/uptime/leaderboard?epoch_block=150")
            .await
            .0,
        404
    );
    let (_, body) = common::http_get(addr, "/v1/uptime/achievements").await;
    assert!(
        body.contains("\"milestone\":\"perfect_week\"") && body.contains("\"uid\":0"),
        "{body}"
    );
    let (status, body) = common::http_get(addr, "/v1/uptime/miners/hk1?limit=1").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["history"].as_array().unwrap().len(), 1);
    assert_eq!(v["history"][0]["epoch_block"], 200);
    assert_eq!(
        common::http_get(addr, "/v1/uptime/miners/nobody").await.0,
        404
    );
    assert_eq!(
        common::http_get(addr, "/v1/uptime/miners/1?limit=0")
            .await
            .0,
        400
    );

    // The command line says the same as the API.
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::daemon::config("ws://127.0.0.1:9", &common::url_of(&pool), 3);
    let file = common::daemon::write(dir.path(), "cli", &cfg);
    let run = |args: &'static [&'static str]| {
        let file = file.clone();
        let url = cfg.database.url.expose().to_string();
        async move {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenure"));
            cmd.arg("--config")
                .arg(&file)
                .args(args)
                .env("TENURE__DATABASE__URL", url);
            let out = tokio::task::spawn_blocking(move || cmd.output())
                .await
                .unwrap()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        }
    };
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    let (ok, out) = run(&["uptime", "achievements", "--json"]).await;
    assert!(ok, "{out}");
    let (_, api) = common::http_get(addr, "/v1/uptime/achievements").await;
    assert_eq!(json(&out), json(&api));
    let (ok, out) = run(&["uptime", "achievements"]).await;
    assert!(ok && out.contains("uid     0  perfect_week"), "{out}");
    let (ok, out) = run(&["uptime", "history", "hk1", "--limit", "1", "--json"]).await;
    assert!(ok, "{out}");
    let (_, api) = common::http_get(addr, "/v1/uptime/miners/hk1?limit=1").await;
    assert_eq!(json(&out), json(&api));
    let (ok, out) = run(&["uptime", "history", "hk1"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("epoch block       200  uid     1  current   50.00%"),
        "{out}"
    );
    assert!(out.contains("epoch block       100"), "{out}");
    let (ok, out) = run(&["uptime", "history", "nobody"]).await;
    assert!(!ok && out.contains("no miner nobody on netuid 3"), "{out}");
}

/// Time windows follow the chain's clock: two rounds of blocks 2 apart (one chain hour by block
/// count) whose timestamps straddle 11:00 UTC land in two UTC hours, and a peak window of
/// 11:00–12:00 counts only the second.
#[sqlx::test]
async fn a_time_window_at_a_utc_hour_boundary_follows_the_block_timestamp(pool: PgPool) {
    use chrono::{DateTime, Utc};
    use tenure::uptime::bonus::Rule;
    use tenure::uptime::epoch::{At, EpochSettings, MinerExtras, Tracker, evaluate_miner};
    use tenure::uptime::store::{self, Periods, Round, Sample, Source};
    seed(&pool).await;
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    for (block, time, up) in [
        (600, "2026-01-05T10:59:54Z", true),
        (602, "2026-01-05T11:00:18Z", false),
    ] {
        let mut tx = pool.begin().await.unwrap();
        let sample = Sample {
            miner_id: 1,
            up,
            reported: true,
            latency_ms: None,
            compute_score: None,
            error: None,
        };
        let round = Round {
            source: Source::Api,
            block,
            observed_at: at(time),
            duration_ms: None,
        };
        store::record_round(&mut tx, 3, &round, &[sample])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let rows: Vec<(i64, DateTime<Utc>, i32, i32)> = sqlx::query_as(
        "SELECT hour, started_at, rounds, up FROM uptime_hourly WHERE miner_id = 1 ORDER BY hour",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let ten = at("2026-01-05T10:00:00Z");
    assert_eq!(
        rows,
        vec![
            (Periods::hour_at(ten), ten, 1, 1),
            (Periods::hour_at(ten) + 1, at("2026-01-05T11:00:00Z"), 1, 0),
        ]
    );
    // An epoch at 12:00 UTC with 11:00–12:00 as peak hours.
    let mut cfg = UptimeConfig::default();
    cfg.time.peak_hours_utc = vec![11];
    let s = EpochSettings {
        netuid: 3,
        cfg,
        periods: Periods::new(12),
        exempt: Default::default(),
    };
    let mut t = Tracker::new(&s);
    for (hour, _, rounds, up) in rows {
        t.cache.upsert_hour(
            1,
            tenure::uptime::history::Period {
                index: hour,
                rounds: rounds as u32,
                up: up as u32,
            },
        );
    }
    let miner = tenure::vesting::epoch::MinerRef {
        miner_id: 1,
        uid: 0,
        hotkey: "hk0".into(),
        coldkey: None,
        validator: false,
        exempt: false,
    };
    let u = evaluate_miner(
        &s,
        &t.cache,
        &miner,
        MinerExtras::default(),
        At::new(900, at("2026-01-05T12:00:00Z")),
    );
    let o = u.outcome.unwrap();
    let metric = |rule| o.bonuses.iter().find(|b| b.rule == rule).unwrap().metric;
    assert_eq!(metric(Rule::PeakHours), Some(0.0), "the 11:00 round only");
    assert_eq!(metric(Rule::OffPeak), Some(1.0), "the 10:59 round only");
}

/// The start-up load reads every miner's daily totals as one row of arrays, and the recent
/// days' hours as rows: the cache it builds holds exactly the periods the `uptime_daily` and
/// `uptime_hourly` views show from the horizon on (other subnets, older days and hours without
/// a round left out).
#[sqlx::test]
async fn the_start_up_load_holds_the_stored_periods_from_the_horizon_on(pool: PgPool) {
    use tenure::uptime::cache::Cache;
    use tenure::uptime::epoch::load_rollups;
    use tenure::uptime::history::Period;
    seed(&pool).await;
    let (first, last) = (20_000_i64, 20_040_i64);
    for (netuid, miner) in [(3, 1_i64), (3, 2), (3, 3), (4, 4)] {
        for day in (first..=last).filter(|d| (d + miner) % 7 != 0) {
            let mut rounds: Vec<i32> = (0..24).map(|h| ((miner * day + h) % 4) as i32).collect();
            rounds[0] += 1;
            let up: Vec<i32> = (0..24)
                .map(|h| rounds[h].min(((day + h as i64) % 3) as i32))
                .collect();
            sqlx::query(
                "INSERT INTO uptime_days (miner_id, day, netuid, rounds, up, hour_rounds, hour_up)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(miner)
            .bind(day)
            .bind(netuid)
            .bind(rounds.iter().sum::<i32>())
            .bind(up.iter().sum::<i32>())
            .bind(&rounds)
            .bind(&up)
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    let (from_day, from_hour) = (first + 5, (last - 10) * 24 + 5);
    let mut cache = Cache::new();
    let mut conn = pool.acquire().await.unwrap();
    let read = load_rollups(&mut conn, 3, &mut cache, (from_day, from_hour))
        .await
        .unwrap();
    let periods = |sql: &'static str, from: i64, miner: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (i64, i32, i32)>(sql)
                .bind(miner)
                .bind(from)
                .fetch_all(&pool)
                .await
                .unwrap()
                .into_iter()
                .map(|(index, rounds, up)| Period {
                    index,
                    rounds: rounds as u32,
                    up: up as u32,
                })
                .collect::<Vec<_>>()
        }
    };
    let mut expected = 0;
    for miner in 1..=4 {
        let days = periods(
            "SELECT day, rounds, up FROM uptime_daily
              WHERE netuid = 3 AND miner_id = $1 AND day >= $2 ORDER BY day",
            from_day,
            miner,
        )
        .await;
        let hours = periods(
            "SELECT hour, rounds, up FROM uptime_hourly
              WHERE netuid = 3 AND miner_id = $1 AND hour >= $2 ORDER BY hour",
            from_hour,
            miner,
        )
        .await;
        assert_eq!(cache.days(miner, i64::MAX), days, "miner {miner}'s days");
        assert_eq!(cache.hours(miner, i64::MAX), hours, "miner {miner}'s hours");
        expected += days.len() + hours.len();
    }
    assert!(expected > 3 * 30, "the fixture has periods on both sides");
    assert_eq!((read, cache.len()), (expected, expected));
}
