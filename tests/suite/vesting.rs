//! End to end: the real `tenure run` binary computes vesting at every epoch of a live devnet
//! (short days: 10 blocks a day, a 5-day window, duration tiers at 1, 2 and 4 days) while the
//! mode is switched from the CLI and the authenticated API. Every recorded multiplier is
//! compared with an independent computation from the devnet's ledger; every epoch's mode must
//! be the one in force when it was computed; the audit log must name who changed what.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sqlx::{PgPool, Row};
use tenure::config::{Config, MultiplierTier, StakeScope, VestingConfig};
use tenure::vesting::{Holding, multiplier};
use tenure_devnet::{Devnet, DevnetArgs};

const BIN: &str = env!("CARGO_BIN_EXE_tenure");
const VALIDATORS: u64 = 2;
const BLOCKS_PER_DAY: u64 = 10;
const WINDOW_BLOCKS: u64 = 5 * BLOCKS_PER_DAY;
const TOKEN: &str = "vesting-test-token-0123";

/// uid 3 sells everything twice; uid 4 sells a RAO (fraction just below 1, days kept); uid 5
/// buys (never raises the fraction); uid 6 sells about an epoch's emission; uid 7's coldkey is
/// swapped (its book moves with it).
const SCENARIO: &str = r#"
{"block": 25, "action": "sell", "uid": 3}
{"block": 27, "action": "sell", "uid": 4, "alpha": 1}
{"block": 33, "action": "buy", "uid": 5, "alpha": 4000000000}
{"block": 47, "action": "sell", "uid": 6, "alpha": 1000000000}
{"block": 52, "action": "swap_coldkey", "uid": 7}
{"block": 95, "action": "sell", "uid": 3}
{"block": 118, "action": "sell", "uid": 6, "alpha": 500000000}
"#;

const LAST: u64 = 170;

fn vesting_cfg() -> VestingConfig {
    VestingConfig {
        lookback_days: 5,
        duration_tiers: vec![
            MultiplierTier {
                min: 1.0,
                multiplier: 1.1,
            },
            MultiplierTier {
                min: 2.0,
                multiplier: 1.2,
            },
            MultiplierTier {
                min: 4.0,
                multiplier: 1.3,
            },
        ],
        ..VestingConfig::default()
    }
}

fn write_config(
    dir: &Path,
    chain: &str,
    db: &str,
    port: u16,
    scope: StakeScope,
) -> (PathBuf, Config) {
    let mut c = common::daemon::config(chain, db, 1);
    c.uptime.sources = Config::default().uptime.sources;
    c.chain.block_time_secs = 86_400 / BLOCKS_PER_DAY;
    common::daemon::http(&mut c, port, Some(TOKEN));
    c.vesting.lookback_days = 5;
    c.vesting.duration_tiers = [(1.0, 1.1), (2.0, 1.2), (4.0, 1.3)]
        .map(|(min, multiplier)| MultiplierTier { min, multiplier })
        .to_vec();
    c.vesting.stake_scope = scope;
    (common::daemon::write(dir, "tenure", &c), c)
}

fn spawn((file, config): &(PathBuf, Config)) -> Child {
    common::daemon::spawn(file, config)
}

fn cli(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .args(args)
        .env("USER", "tester")
        .env_remove("SUDO_USER")
        .stdin(Stdio::null())
        .output()
        .expect("run tenure");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn cursor(pool: &PgPool) -> u64 {
    sqlx::query_scalar::<_, i64>("SELECT block_number FROM ingest_cursor WHERE netuid = 1")
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(0) as u64
}

async fn wait_for(pool: &PgPool, block: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while cursor(pool).await < block {
        assert!(Instant::now() < deadline, "cursor did not reach {block}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A mode change and the cursor just before and just after it: epochs at or below `before`
/// were computed under the old mode, epochs above `after` under the new one.
struct Switch {
    before: u64,
    after: u64,
    mode: &'static str,
}

async fn put_mode(addr: SocketAddr, token: Option<&str>, body: &str) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    common::http_request(addr, "PUT", "/v1/vesting/mode", &headers, Some(body)).await
}

async fn stored_mode(pool: &PgPool) -> Option<String> {
    sqlx::query_scalar::<_, Json>(
        "SELECT value FROM settings WHERE netuid = 1 AND key = 'vesting.mode'",
    )
    .fetch_optional(pool)
    .await
    .unwrap()
    .map(|v| v.as_str().unwrap().to_string())
}

/// Per epoch block and book: (earned, remaining, holding) from the ledger alone.
type Expected = BTreeMap<u64, BTreeMap<(String, String), (u64, u64, Holding)>>;

fn expected(lines: &[Json], epochs: &[u64], hotkey_scope: bool) -> (Expected, usize) {
    let mut out: Expected = BTreeMap::new();
    let mut aged_out = 0;
    common::ledger::replay(lines, hotkey_scope, VALIDATORS, |b, books| {
        if !epochs.contains(&b) {
            return;
        }
        let since = b.saturating_sub(WINDOW_BLOCKS);
        let at = out.entry(b).or_default();
        for (key, tranches) in books {
            let emitted: Vec<_> = tranches.iter().filter(|t| t.kind == "emission").collect();
            let window: Vec<_> = emitted.iter().filter(|t| t.block >= since).collect();
            aged_out += emitted.len() - window.len();
            let earned: u64 = window.iter().map(|t| t.initial).sum();
            let remaining: u64 = window.iter().map(|t| t.remaining).sum();
            let oldest = window
                .iter()
                .filter(|t| t.remaining > 0)
                .map(|t| t.block)
                .min();
            let holding = Holding {
                fraction: (earned > 0).then(|| remaining as f64 / earned as f64),
                days: oldest.map_or(0.0, |o| (b - o) as f64 / BLOCKS_PER_DAY as f64),
            };
            at.insert(key.clone(), (earned, remaining, holding));
        }
    });
    (out, aged_out)
}

async fn start_devnet(dir: &Path, block_ms: u64) -> (Devnet, PathBuf) {
    let scenario = dir.join("scenario.jsonl");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let ledger = dir.join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms,
        finality_lag: 2,
        seed: 5,
        netuid: 1,
        miners: 8,
        validators: VALIDATORS as u16,
        tempo: 9,
        activity: 10,
        halt_at: LAST + 10,
        scenario: Some(scenario),
        ledger: Some(ledger.clone()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    (devnet, ledger)
}

#[sqlx::test(migrations = false)]
async fn multipliers_match_the_ledger_and_modes_switch_at_run_time(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, ledger) = start_devnet(dir.path(), 40).await;
    let port = common::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (file, c) = write_config(
        dir.path(),
        &devnet.url(),
        &common::url_of(&pool),
        port,
        StakeScope::Coldkey,
    );
    let config = (file.clone(), c);
    let daemon = spawn(&config);
    let config = file;
    let mut switches = Vec::new();

    // 1. Shadow from the CLI.
    wait_for(&pool, 60).await;
    let before = cursor(&pool).await;
    let (ok, out) = cli(&config, &["vesting", "shadow", "--reason", "trial run"]);
    assert!(ok, "{out}");
    assert!(out.contains("on -> shadow"), "{out}");
    switches.push(Switch {
        before,
        after: cursor(&pool).await,
        mode: "shadow",
    });
    let (ok, out) = cli(&config, &["vesting", "shadow"]);
    assert!(ok && out.contains("already shadow"), "{out}");

    // 2. Refused API writes change nothing; then off through the API.
    wait_for(&pool, 95).await;
    for (token, body, status) in [
        (None, r#"{"mode": "off"}"#, 401),
        (Some("wrong-token-0123456789"), r#"{"mode": "off"}"#, 401),
        (Some(TOKEN), r#"{"mode": "sideways"}"#, 400),
        (Some(TOKEN), r#"{"mode": "off", "extra": 1}"#, 400),
        (Some(TOKEN), "not json", 400),
    ] {
        let (got, body_out) = put_mode(addr, token, body).await;
        assert_eq!(got, status, "{body} -> {body_out}");
        assert!(body_out.contains("\"error\""), "{body_out}");
        assert_eq!(stored_mode(&pool).await.as_deref(), Some("shadow"));
    }
    let before = cursor(&pool).await;
    let (status, body) = put_mode(
        addr,
        Some(TOKEN),
        r#"{"mode": "off", "reason": "incident 42", "actor": "ops"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"old\":\"shadow\""), "{body}");
    switches.push(Switch {
        before,
        after: cursor(&pool).await,
        mode: "off",
    });

    // 3. Back on from the CLI.
    wait_for(&pool, 125).await;
    let before = cursor(&pool).await;
    let (ok, out) = cli(&config, &["vesting", "on"]);
    assert!(ok && out.contains("off -> on"), "{out}");
    switches.push(Switch {
        before,
        after: cursor(&pool).await,
        mode: "on",
    });
    wait_for(&pool, LAST).await;

    // The read-only API and the status command.
    let (status, body) = common::http_get(addr, "/v1/vesting").await;
    assert_eq!(status, 200, "{body}");
    let v: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(v["mode"]["mode"], "on");
    assert_eq!(v["mode"]["source"], "database");
    assert_eq!(v["mode"]["updated_by"], "cli:tester");
    assert!(v["last_epoch"]["epoch_block"].as_u64().unwrap() >= 150);
    assert!(!v["distribution"].as_array().unwrap().is_empty());
    let (status, body) = common::http_get(addr, "/v1/vesting/miners/4?limit=3").await;
    assert_eq!(status, 200, "{body}");
    let h: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(h["history"].as_array().unwrap().len(), 3);
    assert_eq!(h["history"][0]["uid"], 4);
    let (status, body) = common::http_get(addr, "/v1/vesting/miners").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Json>(&body).unwrap()["miners"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        common::http_get(addr, "/v1/vesting/miners/5Gnobody")
            .await
            .0,
        404
    );
    assert_eq!(
        common::http_get(addr, "/v1/vesting/miners/4?limit=0")
            .await
            .0,
        400
    );
    let (ok, out) = cli(&config, &["vesting", "status"]);
    assert!(ok, "{out}");
    assert!(out.contains("mode on (set by cli:tester"), "{out}");
    assert!(out.contains("off -> on by cli:tester"), "{out}");
    let (ok, out) = cli(&config, &["vesting", "history", "3", "--limit", "5"]);
    assert!(ok && out.lines().count() == 6, "{out}");
    let (_, metrics) = common::http_get(addr, "/metrics").await;
    assert!(
        metrics.contains("tenure_vesting_mode{mode=\"on\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tenure_vesting_miners 10"), "{metrics}");

    // Shadow epochs recorded multipliers, but what weights get from them is 1.0.
    let shadow_epoch: i64 =
        sqlx::query_scalar("SELECT min(epoch_block) FROM vesting_epochs WHERE mode = 'shadow'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let (status, body) = common::http_get(
        addr,
        &format!("/v1/vesting/miners?epoch_block={shadow_epoch}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let miners = serde_json::from_str::<Json>(&body).unwrap()["miners"].clone();
    let miners = miners.as_array().unwrap();
    assert!(
        miners
            .iter()
            .any(|m| m["multiplier"].as_f64().unwrap() > 1.0)
    );
    assert!(
        miners
            .iter()
            .all(|m| m["applied"] == 1.0 && m["mode"] == "shadow")
    );

    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let mut daemon = daemon;
    let _ = daemon.wait();
    let last = cursor(&pool).await;
    devnet.stop().await;

    // Every epoch's mode is the one in force when it was computed.
    let epochs: Vec<(u64, String, i32)> =
        sqlx::query("SELECT epoch_block, mode, miners FROM vesting_epochs ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.get::<i64, _>(0) as u64, r.get(1), r.get(2)))
            .collect();
    assert!(epochs.len() >= 15, "{} epochs", epochs.len());
    for (block, mode, miners) in &epochs {
        let mut allowed = vec!["on"];
        for s in &switches {
            if *block > s.after {
                allowed = vec![s.mode];
            } else if *block > s.before {
                allowed.push(s.mode);
            }
        }
        assert!(
            allowed.contains(&mode.as_str()),
            "epoch {block} computed in mode {mode}, expected one of {allowed:?}"
        );
        assert_eq!(
            *miners == 0,
            mode == "off",
            "epoch {block}: {miners} miners"
        );
    }
    for mode in ["on", "shadow", "off"] {
        assert!(
            epochs.iter().any(|e| e.1 == mode),
            "no epoch in mode {mode}"
        );
    }

    // The audit log: who, old, new, why.
    let audit: Vec<(Json, Json, String, Option<String>)> = sqlx::query(
        "SELECT old_value, new_value, actor, reason FROM settings_audit WHERE key = 'vesting.mode' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect();
    let s = |v: &str| Json::String(v.into());
    assert_eq!(
        audit,
        vec![
            (
                s("on"),
                s("shadow"),
                "cli:tester".into(),
                Some("trial run".into())
            ),
            (
                s("shadow"),
                s("off"),
                "api:ops".into(),
                Some("incident 42".into())
            ),
            (s("off"), s("on"), "cli:tester".into(), None),
        ]
    );

    let counts = compare_with_ledger(&pool, &ledger, false, last).await;
    assert!(
        counts.iter().all(|c| *c > 0),
        "partial, reset, capped, top days: {counts:?}"
    );
}

/// Every recorded multiplier equals the ledger's: same window sums, same holding, same
/// multiplier under the configured tiers. Returns how many rows were partial holdings, reset
/// ages, at the cap, and at the top duration tier.
async fn compare_with_ledger(
    pool: &PgPool,
    ledger: &Path,
    hotkey_scope: bool,
    last: u64,
) -> [usize; 4] {
    let lines = common::ledger::read(ledger);
    let epoch_blocks: Vec<u64> =
        sqlx::query_scalar::<_, i64>("SELECT epoch_block FROM vesting_epochs ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b as u64)
            .collect();
    let (want, aged_out) = expected(&lines, &epoch_blocks, hotkey_scope);
    assert!(aged_out > 0, "no emission ever left the window");
    let cfg = vesting_cfg();
    let rows = sqlx::query(
        "SELECT epoch_block, uid, coldkey, earned_rao, remaining_rao, holding_fraction, holding_days,
                multiplier, reason, hotkey FROM vesting_multipliers WHERE epoch_block <= $1 ORDER BY 1, 2",
    )
    .bind(last as i64)
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(rows.len() > 50, "{} rows", rows.len());
    let (mut partial, mut reset, mut capped, mut top_days) = (0, 0, 0, 0);
    for r in &rows {
        let block = r.get::<i64, _>(0) as u64;
        let uid = r.get::<i32, _>(1) as u64;
        let coldkey: String = r.get(2);
        let fraction: Option<f64> = r.get(5);
        let days: f64 = r.get(6);
        let m: f64 = r.get(7);
        let reason: String = r.get(8);
        let hotkey: String = r.get(9);
        let what = format!("epoch {block} uid {uid}: {reason}");
        if uid < VALIDATORS {
            assert_eq!(m, 1.0, "{what}");
            assert!(reason.contains("validator"), "{what}");
            continue;
        }
        let book = (coldkey, if hotkey_scope { hotkey } else { String::new() });
        let (earned, remaining, holding) = want[&block].get(&book).copied().unwrap_or((
            0,
            0,
            Holding {
                fraction: None,
                days: 0.0,
            },
        ));
        assert_eq!(r.get::<i64, _>(3) as u64, earned, "{what}");
        assert_eq!(r.get::<i64, _>(4) as u64, remaining, "{what}");
        assert_eq!(fraction, holding.fraction, "{what}");
        assert_eq!(days, holding.days, "{what}");
        assert_eq!(m, multiplier(&cfg, holding).multiplier, "{what}");
        if let Some(f) = fraction.filter(|f| *f < 1.0) {
            partial += 1;
            // Sold all but what this epoch just earned: the age starts over.
            reset += usize::from(days == 0.0 && f > 0.0);
        }
        capped += usize::from(m == cfg.max_multiplier);
        top_days += usize::from(days >= 4.0);
    }
    [partial, reset, capped, top_days]
}

/// `stake_scope = "hotkey"`: one book per (coldkey, hotkey); the same comparison.
#[sqlx::test(migrations = false)]
async fn hotkey_scope_multipliers_match_the_ledger(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, ledger) = start_devnet(dir.path(), 1).await;
    while devnet.node.chain().finalized < LAST {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let config = write_config(
        dir.path(),
        &devnet.url(),
        &common::url_of(&pool),
        common::free_port(),
        StakeScope::Hotkey,
    );
    let mut daemon = spawn(&config);
    wait_for(&pool, LAST).await;
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    devnet.stop().await;
    let [partial, _, capped, top_days] = compare_with_ledger(&pool, &ledger, true, LAST).await;
    assert!(
        partial > 0 && capped > 0 && top_days > 0,
        "partial {partial}, capped {capped}, top days {top_days}"
    );
}
