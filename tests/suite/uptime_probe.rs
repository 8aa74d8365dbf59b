//! End to end: the real `tenure run` binary probes the devnet's miners over real TCP — always up,
//! flapping every 100 blocks, down the first two hours of each day, dead, recovering after six
//! hours — every 10 blocks, and each sample must match the axon's state in the devnet's ledger
//! at that round's block; the rollups must count exactly the rounds and samples written.

use crate::common;
use tenure::config::{Config, UptimeSource};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tenure_devnet::{Devnet, DevnetArgs};

const BIN: &str = env!("CARGO_BIN_EXE_tenure");
const LAST: u64 = 700;

/// (round block, round id, uid, up, latency, error)
type SampleRow = (i64, i64, i32, bool, Option<i32>, Option<String>);

/// The axon state of each uid at each transition block, from the ledger.
fn transitions(ledger: &Path) -> BTreeMap<u64, Vec<(u64, bool)>> {
    let mut out: BTreeMap<u64, Vec<(u64, bool)>> = BTreeMap::new();
    for l in common::ledger::read(ledger) {
        if l["kind"] == "axon" {
            out.entry(l["uid"].as_u64().unwrap())
                .or_default()
                .push((l["block"].as_u64().unwrap(), l["up"].as_bool().unwrap()));
        }
    }
    out
}

/// Five miners with the axon profiles (and one validator), 15 ms blocks.
fn profiles() -> DevnetArgs {
    DevnetArgs {
        port: 0,
        block_ms: 15,
        finality_lag: 2,
        netuid: 2,
        miners: 5,
        validators: 1,
        axons: true,
        tempo: 99,
        ..DevnetArgs::default()
    }
}

/// A daemon that only ingests and probes every 10 blocks.
fn write_config(dir: &Path, devnet: &Devnet, pool: &PgPool, timeout_ms: u64) -> (PathBuf, Config) {
    let mut c = common::daemon::config(&devnet.url(), &common::url_of(pool), 2);
    c.http.enabled = false;
    c.weights.enabled = false;
    c.uptime.sources = vec![UptimeSource::Probe];
    c.uptime.probe_interval_blocks = 10;
    c.uptime.probe.timeout_ms = timeout_ms;
    (common::daemon::write(dir, "tenure", &c), c)
}

/// The UTC hour of a devnet block's timestamp.
fn utc_hour(block: u64) -> i64 {
    ((tenure_devnet::chain::GENESIS_TIMESTAMP_MS / 1000 + block * 12) / 3600) as i64
}

fn state(t: &[(u64, bool)], block: u64) -> bool {
    t.iter()
        .rev()
        .find(|(b, _)| *b <= block)
        .is_some_and(|(_, up)| *up)
}

#[sqlx::test(migrations = false)]
async fn probes_follow_the_axon_profiles(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        halt_at: LAST + 20,
        ledger: Some(ledger.clone()),
        ..profiles()
    })
    .await
    .unwrap();
    let config = write_config(dir.path(), &devnet, &pool, 500);
    let mut daemon = common::daemon::spawn(&config.0, &config.1);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let last: Option<i64> = sqlx::query_scalar("SELECT max(block) FROM uptime_rounds")
            .fetch_one(&pool)
            .await
            .ok()
            .flatten();
        if last.is_some_and(|b| b as u64 >= LAST - 10) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no probe round near block {LAST}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    devnet.stop().await;

    let t = transitions(&ledger);
    assert_eq!(t.len(), 6, "{t:?}");
    let rounds: Vec<(i64, i64, i32, i32)> = sqlx::query_as(
        "SELECT id, block, miners, up FROM uptime_rounds WHERE source = 'probe' ORDER BY block",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(rounds.len() >= 40, "{} rounds", rounds.len());
    // Never two rounds in one interval.
    for w in rounds.windows(2) {
        assert!(
            w[1].1 / 10 > w[0].1 / 10,
            "rounds at {} and {}",
            w[0].1,
            w[1].1
        );
    }
    let samples: Vec<SampleRow> = sqlx::query_as(
        "SELECT r.block, s.round_id, m.uid, s.up, s.latency_ms, s.error FROM uptime_samples s
           JOIN uptime_rounds r ON r.id = s.round_id JOIN miners m ON m.id = s.miner_id
          ORDER BY r.block, m.uid",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(samples.len(), rounds.len() * 6);
    let (mut checked, mut up_count, mut total) = (0, BTreeMap::new(), BTreeMap::new());
    for (block, _, uid, up, latency, error) in &samples {
        let (block, uid) = (*block as u64, *uid as u64);
        *total.entry(uid).or_insert(0) += 1;
        *up_count.entry(uid).or_insert(0) += usize::from(*up);
        assert_eq!(
            up.then_some(()),
            error.is_none().then_some(()),
            "uid {uid} at {block}"
        );
        assert!(latency.is_some());
        // The probe runs after the round's block: the round is dated by the ingested head,
        // which may trail the chain by up to the probe's catch-up slack (20 blocks here), and
        // the probes themselves take a few blocks of 15 ms on a loaded machine. Rounds whose
        // window meets a transition are skipped.
        let tr = &t[&uid];
        if state(tr, block) != state(tr, block + 40) {
            continue;
        }
        assert_eq!(*up, state(tr, block), "uid {uid} at block {block}");
        checked += 1;
    }
    assert!(
        checked > samples.len() * 3 / 4,
        "{checked} of {}",
        samples.len()
    );
    // Uptime over the run follows the profiles: up > flapping > down 2 h a day > dead = recovering.
    let ratio = |uid: u64| up_count[&uid] as f64 / total[&uid] as f64;
    assert_eq!(ratio(0), 1.0);
    assert_eq!(ratio(1), 1.0);
    assert!(ratio(2) > 0.3 && ratio(2) < 0.7, "flapping {}", ratio(2));
    assert!(ratio(3) > 0.0 && ratio(3) < ratio(2), "down2h {}", ratio(3));
    assert_eq!((ratio(4), ratio(5)), (0.0, 0.0));
    // The rollups count exactly the rounds and samples, in the UTC hour of each round's block
    // (the devnet's clock: 12 s blocks from its genesis time).
    let hourly: Vec<(i32, i64, i32, i32)> = sqlx::query_as(
        "SELECT m.uid, h.hour, h.rounds, h.up FROM uptime_hourly h JOIN miners m ON m.id = h.miner_id ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut want: BTreeMap<(i32, i64), (i32, i32)> = BTreeMap::new();
    for (block, _, uid, up, _, _) in &samples {
        let e = want
            .entry((*uid, utc_hour(*block as u64)))
            .or_insert((0, 0));
        e.0 += 1;
        e.1 += i32::from(*up);
    }
    let got: BTreeMap<(i32, i64), (i32, i32)> = hourly
        .into_iter()
        .map(|(u, h, r, up)| ((u, h), (r, up)))
        .collect();
    assert_eq!(got, want);
    // The last epoch's uptime: the ranking by current uptime follows the profiles, and so does
    // the reliability bonus (1.0 ⇒ +25 %, flapping and below ⇒ nothing); the validator gets 1.0.
    let last_epoch: i64 = sqlx::query_scalar("SELECT max(epoch_block) FROM uptime_multipliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(last_epoch >= 500, "last epoch {last_epoch}");
    let board: Vec<(i32, Option<f64>, f64, serde_json::Value)> = sqlx::query_as(
        "SELECT uid, current_uptime, multiplier, bonuses FROM uptime_multipliers
          WHERE epoch_block = $1 ORDER BY current_uptime DESC NULLS LAST, uid",
    )
    .bind(last_epoch)
    .fetch_all(&pool)
    .await
    .unwrap();
    let uids: Vec<i32> = board.iter().map(|r| r.0).collect();
    assert_eq!(&uids[..3], &[0, 1, 2], "{board:?}");
    assert_eq!(board[0].2, 1.0);
    assert!(board[0].3["reason"].as_str().unwrap().contains("validator"));
    // Earned bonuses are stored with their reason; every rule's metric is stored.
    let reliability = |row: &(i32, Option<f64>, f64, serde_json::Value)| {
        row.3["earned"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == "reliability")
            .map_or(0.0, |b| b["bonus"].as_f64().unwrap())
    };
    assert_eq!(board[1].1, Some(1.0));
    assert_eq!(reliability(&board[1]), 0.25);
    // The default `scaled` combination maps the raw value onto [1, 2.0] by the top raw value.
    let raw = board[1].3["raw"].as_f64().unwrap();
    let top = tenure::uptime::bonus::top_raw(&tenure::config::UptimeConfig::default());
    assert!(raw >= 1.25, "{:?}", board[1]);
    assert!(
        (board[1].2 - (1.0 + (raw - 1.0) / (top - 1.0))).abs() < 1e-9,
        "{:?}",
        board[1]
    );
    let flapping = board[2].1.unwrap();
    assert!(flapping > 0.3 && flapping < 0.75, "{flapping}");
    assert_eq!(reliability(&board[2]), 0.0);
    for row in &board[3..] {
        assert!(row.1.unwrap() < flapping, "{row:?}");
        assert_eq!(reliability(row), 0.0);
    }
    let dead = board.iter().find(|r| r.0 == 4).unwrap();
    assert_eq!((dead.1, dead.2), (Some(0.0), 1.0));
    // The same ranking from the CLI.
    let out = Command::new(BIN)
        .args([
            "--config",
            config.0.to_str().unwrap(),
            "uptime",
            "leaderboard",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let ranked: Vec<(String, String)> = text
        .lines()
        .skip(2)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    assert_eq!(ranked.len(), 6, "{text}");
    assert_eq!(
        &ranked[..3],
        &[
            ("1".into(), "0".into()),
            ("2".into(), "1".into()),
            ("3".into(), "2".into())
        ],
        "{text}"
    );

    let daily: i64 = sqlx::query_scalar("SELECT sum(rounds) FROM uptime_daily")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(daily as usize, samples.len());
}

/// tenure down for a while: the rounds it could not run are missing (unknown), not down — no
/// rounds are dated back into the outage while ingestion catches up, the always-up miner's
/// hours all stay fully up, and its current uptime stays 1.0.
#[sqlx::test]
async fn a_daemon_outage_is_unknown_not_down(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&profiles()).await.unwrap();
    let config = write_config(dir.path(), &devnet, &pool, 300);
    let last_round = || async {
        sqlx::query_scalar::<_, Option<i64>>("SELECT max(block) FROM uptime_rounds")
            .fetch_one(&pool)
            .await
            .unwrap()
            .unwrap_or(0) as u64
    };
    let wait_round = |at_least: u64| async move {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let b = last_round().await;
            if b >= at_least {
                return b;
            }
            assert!(Instant::now() < deadline, "no round at {at_least}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let mut daemon = common::daemon::spawn(&config.0, &config.1);
    let before = wait_round(250).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let before = before.max(last_round().await);
    // About 400 blocks (well over a chain hour) without tenure.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut daemon = common::daemon::spawn(&config.0, &config.1);
    wait_round(before + 900).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    devnet.stop().await;

    let blocks: Vec<i64> = sqlx::query_scalar("SELECT block FROM uptime_rounds ORDER BY block")
        .fetch_all(&pool)
        .await
        .unwrap();
    let (gap_from, gap_to) = blocks
        .windows(2)
        .map(|w| (w[0] as u64, w[1] as u64))
        .max_by_key(|(a, b)| b - a)
        .unwrap();
    assert_eq!(gap_from, before, "{blocks:?}");
    assert!(
        gap_to - gap_from >= 300,
        "the outage was filled in: {blocks:?}"
    );
    // The always-up miner (uid 1): every hour it was observed, it was up; the hours inside
    // the outage have no row at all.
    let hours: Vec<(i64, i32, i32)> = sqlx::query_as(
        "SELECT h.hour, h.rounds, h.up FROM uptime_hourly h JOIN miners m ON m.id = h.miner_id
          WHERE m.uid = 1 ORDER BY h.hour",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(hours.iter().all(|(_, r, u)| r == u), "{hours:?}");
    for (hour, ..) in &hours {
        let first = (*hour - utc_hour(0)) as u64 * 300;
        let (start, end) = (first, first + 300);
        assert!(
            !(start > gap_from && end <= gap_to),
            "hour {hour} lies inside the outage {gap_from}..{gap_to}"
        );
    }
    let current: Option<f64> = sqlx::query_scalar(
        "SELECT current_uptime FROM uptime_multipliers WHERE uid = 1 ORDER BY epoch_block DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(current, Some(1.0));
}
