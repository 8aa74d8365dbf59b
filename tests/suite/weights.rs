//! The weights pipeline end to end: the daemon binary against the devnet over real WebSockets
//! and a real PostgreSQL, for several epochs, compared with what the devnet itself stored
//! (its ledger and its `Weights` storage): one accepted submission per epoch, equal to what
//! `tenure weights explain` says; timelocked commits on a commit-reveal subnet that the devnet
//! reveals; a daemon killed mid-submission that does not submit twice; stale scores that stop
//! submission with the reason on `/readyz`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use sqlx::PgPool;
use tenure::config::{Config, ScoresSource};
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_tenure");

const TOKEN: &str = "weights-test-token-0123456789";
const TEMPO: u16 = 20;
const NETUID: u16 = 1;

struct Setup {
    devnet: Devnet,
    dir: tempfile::TempDir,
    ledger: PathBuf,
    config: PathBuf,
    cfg: Config,
    addr: SocketAddr,
}

async fn setup(pool: &PgPool, args: DevnetArgs, daemon: impl FnOnce(&mut Config)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        netuid: NETUID,
        tempo: TEMPO,
        miners: 12,
        validators: 2,
        rate_limit: 10,
        min_allowed_weights: 4,
        wallet_path: Some(dir.path().to_path_buf()),
        ledger: Some(ledger.clone()),
        ..args
    })
    .await
    .unwrap();
    let port = common::free_port();
    let mut cfg = common::daemon::config(&devnet.url(), &common::url_of(pool), NETUID);
    common::daemon::devnet_wallet(&mut cfg, dir.path());
    common::daemon::http(&mut cfg, port, Some(TOKEN));
    cfg.ha.lease_check_ms = 200;
    cfg.ha.takeover_delay_ms = 500;
    daemon(&mut cfg);
    let config = common::daemon::write(dir.path(), "tenure", &cfg);
    Setup {
        devnet,
        dir,
        ledger,
        config,
        cfg,
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
    }
}

fn cli(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .args(args)
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

/// Runs a command whose stdout is JSON (logs go to stderr), without blocking the test's
/// runtime: the devnet serves from it.
async fn cli_json(config: &Path, args: &[&str]) -> Json {
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", config.to_str().unwrap()])
        .args(args)
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run tenure");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The devnet's stored weight vectors, by block: what its `Weights` storage received.
fn weights_set(ledger: &Path) -> Vec<(u64, bool, Vec<u16>, Vec<u16>)> {
    common::ledger::read(ledger)
        .into_iter()
        .filter(|l| l["kind"] == "weights_set")
        .map(|l| {
            let list = |k: &str| -> Vec<u16> {
                l[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u16)
                    .collect()
            };
            (
                l["block"].as_u64().unwrap(),
                l["revealed"].as_bool().unwrap(),
                list("dests"),
                list("weights"),
            )
        })
        .collect()
}

fn failures(ledger: &Path) -> Vec<Json> {
    common::ledger::read(ledger)
        .into_iter()
        .filter(|l| l["kind"] == "extrinsic_failed")
        .collect()
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    epoch_index: i64,
    status: String,
    method: String,
    uids: Vec<i32>,
    weights: Vec<i32>,
    in_block_number: Option<i64>,
    planned_block: i64,
}

async fn rows(pool: &PgPool) -> Vec<Row> {
    sqlx::query_as(
        "SELECT epoch_index, status, method, uids, weights, in_block_number, planned_block
           FROM weight_submissions ORDER BY epoch_index",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn wait_finalized(pool: &PgPool, n: usize, secs: u64) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = rows(pool).await;
        if r.iter().filter(|r| r.status == "finalized").count() >= n {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} finalized submissions within {secs} s: {r:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the daemon does not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(addr: SocketAddr, token: Option<&str>, body: &Json) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    common::http_request(
        addr,
        "POST",
        "/v1/scores",
        &headers,
        Some(&body.to_string()),
    )
    .await
}

/// Waits until the daemon has ingested something, then posts a score for every miner uid
/// (validators get none): uid u scores u + 1.
async fn post_all_scores(pool: &PgPool, addr: SocketAddr) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let miners: Vec<(i32, String)> = loop {
        let m: Vec<(i32, String)> = sqlx::query_as(
            "SELECT uid, hotkey FROM miners WHERE deregistered_at_block IS NULL ORDER BY uid",
        )
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        if m.len() >= 14 {
            break m;
        }
        assert!(Instant::now() < deadline, "nothing ingested");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let scores: BTreeMap<String, f64> = miners
        .iter()
        .filter(|(uid, _)| *uid >= 2)
        .map(|(uid, h)| (h.clone(), f64::from(*uid + 1)))
        .collect();
    let (status, body) = post(addr, Some(TOKEN), &json!({ "scores": scores })).await;
    assert_eq!(status, 200, "{body}");
    scores
}

#[sqlx::test]
async fn one_submission_per_epoch_equal_to_explain(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let s = setup(
        &pool,
        DevnetArgs {
            block_ms: 100,
            ..DevnetArgs::default()
        },
        |c: &mut Config| {
            c.scores.source = ScoresSource::Api;
            c.scores.max_age_blocks = 100_000;
            c.weights.lead_blocks = 10;
        },
    )
    .await;
    let daemon = common::daemon::spawn(&s.config, &s.cfg);

    // Refused batches store nothing.
    wait_listening(s.addr).await;
    for (token, body, want) in [
        (None, json!({"scores": {}}), 401),
        (Some(TOKEN), json!({"scores": {"5Nobody": 1.0}}), 422),
        (Some(TOKEN), json!({"scores": {"x": -1.0}}), 400),
        (Some(TOKEN), json!({"scores": []}), 400),
        (Some(TOKEN), json!({"oops": {}}), 400),
    ] {
        // Wait for a head so that refusals are about the body, not about ingestion.
        let (status, text) = loop {
            let r = post(s.addr, token, &body).await;
            if r.0 != 503 {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status, want, "{body}: {text}");
        assert!(text.contains("error"), "{text}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM base_scores")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);

    let scores = post_all_scores(&pool, s.addr).await;
    let r = wait_finalized(&pool, 6, 180).await;

    let set = weights_set(&s.ledger);
    // Exactly one accepted submission per epoch, none refused by the rate limit.
    let mut per_epoch: BTreeMap<u64, usize> = BTreeMap::new();
    for (b, revealed, _, _) in &set {
        assert!(!revealed);
        *per_epoch
            .entry(common::epoch_of(NETUID, TEMPO, *b))
            .or_default() += 1;
    }
    assert!(per_epoch.values().all(|n| *n == 1), "{per_epoch:?}");
    assert!(failures(&s.ledger).is_empty(), "{:?}", failures(&s.ledger));

    let finalized: Vec<&Row> = r.iter().filter(|r| r.status == "finalized").collect();
    assert!(finalized.len() >= 6);
    let by_block: BTreeMap<u64, (&Vec<u16>, &Vec<u16>)> =
        set.iter().map(|(b, _, d, w)| (*b, (d, w))).collect();
    for row in &finalized {
        assert_eq!(row.method, "set_weights");
        let b = row.in_block_number.unwrap() as u64;
        let (dests, weights) = by_block[&b];
        let ours: Vec<u16> = row.uids.iter().map(|u| *u as u16).collect();
        let vals: Vec<u16> = row.weights.iter().map(|w| *w as u16).collect();
        assert_eq!(
            (&ours, &vals),
            (dests, weights),
            "epoch {}",
            row.epoch_index
        );
        // Landed in the epoch it was planned for.
        assert_eq!(
            common::epoch_of(NETUID, TEMPO, b),
            common::epoch_of(NETUID, TEMPO, row.planned_block as u64)
        );
        // Validators (uids 0, 1) have no score; miners weigh (uid + 1) × multipliers.
        assert!(ours.iter().all(|u| *u >= 2), "{ours:?}");
        assert_eq!(ours.len(), scores.len());
    }
    let epochs: BTreeSet<i64> = finalized.iter().map(|r| r.epoch_index).collect();
    assert_eq!(epochs.len(), finalized.len());

    // `weights explain` for every uid of the last epoch equals what the devnet stored.
    let last = finalized.last().unwrap();
    let (dests, weights) = by_block[&(last.in_block_number.unwrap() as u64)];
    let stored: BTreeMap<u16, u16> = dests.iter().copied().zip(weights.iter().copied()).collect();
    for uid in 0..14u16 {
        let (ok, out) = cli(
            &s.config,
            &[
                "weights",
                "explain",
                &uid.to_string(),
                "--epoch",
                &last.epoch_index.to_string(),
                "--json",
            ],
        );
        assert!(ok, "{out}");
        let v: Json = serde_json::from_str(&out).unwrap();
        let e = &v["explain"];
        assert_eq!(
            e["weight_u16"].as_u64().unwrap() as u16,
            stored.get(&uid).copied().unwrap_or(0),
            "uid {uid}: {e}"
        );
        let base = e["base"]["score"].as_f64().unwrap();
        let total = e["total_multiplier"].as_f64().unwrap();
        assert_eq!(e["raw_weight"].as_f64().unwrap(), base * total, "{e}");
        if uid < 2 {
            assert!(e["untouched"].is_string(), "{e}");
        }
    }
    // The same explanation over the API, and the submissions view.
    let (status, body) = common::http_get(s.addr, "/v1/weights/miners/5").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("weight_u16"), "{body}");
    let (status, body) = common::http_get(s.addr, "/v1/weights/submissions?limit=2").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"finalized\""), "{body}");
    let (status, _) = common::http_get(s.addr, "/v1/weights/submissions?limit=0").await;
    assert_eq!(status, 400);
    // The preview: every uid, the vectors the pipeline gives now, the chain's limits.
    let v = cli_json(&s.config, &["weights", "preview", "--json"]).await;
    assert_eq!(v["miners"].as_array().unwrap().len(), 14, "{v}");
    assert_eq!(v["params"]["min_allowed_weights"], 4, "{v}");
    assert!(v["blocked"].is_null(), "{v}");
    assert_eq!(v["dests"].as_array().unwrap().len(), scores.len());
    let (ok, text) = cli(&s.config, &["weights", "explain", "3"]);
    assert!(ok && text.contains("u16 submitted"), "{text}");
    let (ok, text) = cli(&s.config, &["weights", "history", "--limit", "3"]);
    assert!(ok && text.contains("finalized"), "{text}");
    let (ok, text) = cli(&s.config, &["weights", "explain", "3", "--epoch", "999999"]);
    assert!(
        !ok && text.contains("no weights were planned for epoch 999999"),
        "{text}"
    );
    // Network health: one row per uptime epoch, written in the epoch's transaction; once
    // weights were planned, the rows carry their skew.
    let (uptime_epochs, network_epochs, with_weights): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM uptime_epochs), (SELECT count(*) FROM network_epochs),
                (SELECT count(*) FROM network_epochs WHERE weights_epoch IS NOT NULL
                    AND gini IS NOT NULL AND total_variation IS NOT NULL)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(network_epochs, uptime_epochs);
    assert!(with_weights > 0, "{network_epochs} rows, none with weights");
    let (status, body) = common::http_get(s.addr, "/v1/network/history?limit=2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Vec<Json>>(&body).unwrap().len(), 2);
    let (status, body) = common::http_get(s.addr, "/v1/miners").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Json>(&body).unwrap()["miners"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    kill(daemon);
    miners_agree_with_the_chain(&pool, &s).await;
    s.devnet.stop().await;
    drop(s.dir);
}

/// `tenure miners`: every registered miner once, with its owner, and the weight share of the
/// latest submission; the shares are what the devnet stored for that submission (u16 over
/// their sum, to the u16 rounding).
async fn miners_agree_with_the_chain(pool: &PgPool, s: &Setup) {
    let m = cli_json(&s.config, &["miners", "--json"]).await;
    let miners = m["miners"].as_array().unwrap();
    let uids: Vec<u64> = miners.iter().map(|x| x["uid"].as_u64().unwrap()).collect();
    assert_eq!(uids, (0..14).collect::<Vec<u64>>(), "{m}");
    assert!(miners.iter().all(|x| x["coldkey"].is_string()), "{m}");
    let epoch = m["weights_epoch"].as_i64().unwrap();
    let (block,): (i64,) =
        sqlx::query_as("SELECT in_block_number FROM weight_submissions WHERE epoch_index = $1")
            .bind(epoch)
            .fetch_one(pool)
            .await
            .unwrap();
    let stored = weights_set(&s.ledger)
        .into_iter()
        .find(|w| w.0 == block as u64)
        .expect("the devnet stored the latest submission");
    let sum: f64 = stored.3.iter().map(|w| f64::from(*w)).sum();
    for x in miners {
        let uid = x["uid"].as_u64().unwrap() as u16;
        let on_chain = stored
            .2
            .iter()
            .position(|d| *d == uid)
            .map_or(0.0, |i| f64::from(stored.3[i]) / sum);
        let share = x["weight_share"].as_f64().unwrap();
        assert!(
            (share - on_chain).abs() < 1e-4,
            "uid {uid}: {share} vs {on_chain}"
        );
        assert!(x["uptime_multiplier"].as_f64().unwrap() >= 1.0, "{x}");
        assert!(x["vesting_multiplier"].as_f64().unwrap() >= 1.0, "{x}");
    }
    let (ok, text) = cli(&s.config, &["miners"]);
    assert!(ok && text.starts_with("14 miners on netuid 1"), "{text}");
}

/// The reveal epoch the devnet skips (`--drop-reveal-at`): about 17 s into the run at 100 ms
/// a block, after the daemon's first commits.
const DROPPED_EPOCH: u64 = 8;

#[derive(Debug, sqlx::FromRow)]
struct Reveal {
    epoch_index: i64,
    status: String,
    uids: Vec<i32>,
    weights: Vec<i32>,
    in_block_number: Option<i64>,
    revealed_block: Option<i64>,
    error: Option<String>,
}

async fn reveals(pool: &PgPool) -> Vec<Reveal> {
    sqlx::query_as(
        "SELECT epoch_index, status, uids, weights, in_block_number, revealed_block, error
           FROM weight_submissions WHERE method = 'commit_timelocked_weights' ORDER BY epoch_index",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn commit_reveal_subnets_get_timelocked_commits_the_devnet_reveals(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let seed = 7;
    let key = tenure_devnet::beacon::Beacon::from_seed(seed).public_key_hex();
    let s = setup(
        &pool,
        DevnetArgs {
            block_ms: 100,
            seed,
            commit_reveal: true,
            reveal_period: 1,
            drop_reveal_at: Some(DROPPED_EPOCH),
            ..DevnetArgs::default()
        },
        |c: &mut Config| {
            c.scores.source = ScoresSource::Uniform;
            c.weights.lead_blocks = 8;
            c.weights.drand.public_key = key;
        },
    )
    .await;
    let daemon = common::daemon::spawn(&s.config, &s.cfg);
    // Until the dropped epoch's commit is settled and three later ones are revealed; /readyz
    // is watched meanwhile (it fails from the miss until the next reveal).
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut readyz_said = None;
    let r = loop {
        let r = reveals(&pool).await;
        let missed = r.iter().position(|x| x.status == "reveal_missed");
        let later = missed.map_or(0, |m| {
            r[m..].iter().filter(|x| x.status == "revealed").count()
        });
        if later >= 3 && readyz_said.is_some() {
            break r;
        }
        if missed.is_some() && readyz_said.is_none() {
            let (status, body) = common::http_get(s.addr, "/readyz").await;
            let check = &serde_json::from_str::<Json>(&body).unwrap()["checks"]["reveals"];
            if status == 503 && check["ok"] == false {
                readyz_said = check["reason"].as_str().map(String::from);
            }
        }
        assert!(
            Instant::now() < deadline,
            "reveals not settled: {r:#?} {readyz_said:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, metrics) = common::http_get(s.addr, "/metrics").await;
    let (_, readyz) = common::http_get(s.addr, "/readyz").await;
    kill(daemon);
    assert!(failures(&s.ledger).is_empty(), "{:?}", failures(&s.ledger));
    let tempo_epoch = |b: i64| common::epoch_of(NETUID, TEMPO, b as u64);
    // The devnet's ledger is the oracle: what its `Weights` storage received at each reveal.
    let stored: BTreeMap<u64, (Vec<u16>, Vec<u16>)> = weights_set(&s.ledger)
        .into_iter()
        .filter(|w| w.1)
        .map(|(b, _, d, w)| (b, (d, w)))
        .collect();
    // Every epoch from the first commit on is committed: a reveal moving `LastUpdate` into an
    // epoch does not pass for that epoch's own commit.
    let first = r.iter().position(|x| x.in_block_number.is_some()).unwrap();
    let missed: Vec<i64> = r[first..]
        .iter()
        .filter(|x| x.status == "missed")
        .map(|x| x.epoch_index)
        .collect();
    assert!(missed.is_empty(), "epochs missed: {missed:?}");
    let mut settled = 0;
    for row in &r[first..] {
        let committed = tempo_epoch(row.in_block_number.expect("committed in a block"));
        match row.status.as_str() {
            "revealed" => {
                assert_ne!(committed, DROPPED_EPOCH, "{row:?}");
                let at = row.revealed_block.expect("revealed in a block") as u64;
                assert_eq!(
                    common::epoch_of(NETUID, TEMPO, at),
                    committed + 1,
                    "{row:?}"
                );
                let ours: Vec<u16> = row.uids.iter().map(|u| *u as u16).collect();
                let vals: Vec<u16> = row.weights.iter().map(|w| *w as u16).collect();
                assert_eq!(stored.get(&at), Some(&(ours, vals)), "{row:?}");
                settled += 1;
            }
            "reveal_missed" => {
                assert_eq!(committed, DROPPED_EPOCH, "{row:?}");
                assert!(row.revealed_block.is_none(), "{row:?}");
                let why = row.error.as_deref().unwrap_or_default();
                assert!(why.contains("no TimelockedWeightsRevealed"), "{why}");
                // The devnet revealed nothing of ours in that epoch.
                assert!(
                    stored
                        .keys()
                        .all(|b| common::epoch_of(NETUID, TEMPO, *b) != DROPPED_EPOCH + 1),
                    "{stored:?}"
                );
                settled += 1;
            }
            // Commits whose reveal epoch has not come yet.
            "finalized" => assert!(row.epoch_index >= r.last().unwrap().epoch_index - 2),
            other => panic!("unexpected status {other}: {row:?}"),
        }
    }
    assert_eq!(
        r.iter().filter(|x| x.status == "reveal_missed").count(),
        1,
        "{r:#?}"
    );
    assert!(settled >= 4, "{r:#?}");
    assert!(
        metrics.contains("tenure_weights_reveal_missed_total 1\n"),
        "{metrics}"
    );
    let revealed = r.iter().filter(|x| x.status == "revealed").count();
    assert!(
        metrics.contains(&format!("tenure_weights_revealed_total {revealed}\n")),
        "{revealed}: {metrics}"
    );
    let said = readyz_said.unwrap();
    let missed = r.iter().find(|x| x.status == "reveal_missed").unwrap();
    assert!(
        said.contains(&format!(
            "the commit of epoch {} was not revealed",
            missed.epoch_index
        )),
        "{said}"
    );
    // A later reveal clears the check.
    let readyz: Json = serde_json::from_str(&readyz).unwrap();
    assert_eq!(readyz["checks"]["reveals"]["ok"], true, "{readyz}");
    // `tenure weights history` shows both states.
    let (ok, history) = cli(&s.config, &["weights", "history"]);
    assert!(ok, "{history}");
    assert!(
        history.contains("reveal_missed") && history.contains("revealed"),
        "{history}"
    );
    s.devnet.stop().await;
}

#[sqlx::test]
async fn killed_during_a_submission_it_does_not_submit_twice(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let s = setup(
        &pool,
        DevnetArgs {
            block_ms: 250,
            finality_lag: 3,
            ..DevnetArgs::default()
        },
        |c: &mut Config| {
            c.scores.source = ScoresSource::Uniform;
            c.weights.lead_blocks = 15;
        },
    )
    .await;
    let daemon = common::daemon::spawn(&s.config, &s.cfg);
    // Kill the moment a transaction is out and not yet finalized.
    let deadline = Instant::now() + Duration::from_secs(120);
    let killed_epoch = loop {
        let r: Option<(i64, String)> = sqlx::query_as(
            "SELECT epoch_index, status FROM weight_submissions
              WHERE status IN ('submitted', 'in_block') LIMIT 1",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some((epoch, _)) = r {
            break epoch;
        }
        assert!(Instant::now() < deadline, "no submission seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    kill(daemon);
    let daemon = common::daemon::spawn(&s.config, &s.cfg);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r = rows(&pool).await;
        if r.iter()
            .filter(|x| x.status == "finalized" && x.epoch_index > killed_epoch)
            .count()
            >= 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "{r:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill(daemon);
    let r = rows(&pool).await;
    let killed = r.iter().find(|x| x.epoch_index == killed_epoch).unwrap();
    assert_eq!(killed.status, "finalized", "{killed:?}");
    // The restarted daemon settled it with the chain: confirmed by LastUpdate (the first
    // transaction landed), or re-sent with the same nonce (it had never left).
    let log: Vec<String> = sqlx::query_scalar(
        "SELECT l.status || ': ' || l.detail FROM weight_submission_log l
           JOIN weight_submissions s ON s.id = l.submission_id
          WHERE s.epoch_index = $1 ORDER BY l.id",
    )
    .bind(killed_epoch)
    .fetch_all(&pool)
    .await
    .unwrap();
    eprintln!("killed epoch {killed_epoch}: {log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("confirmed by LastUpdate") || l.contains("attempt 2")),
        "{log:#?}"
    );
    let mut per_epoch: BTreeMap<u64, usize> = BTreeMap::new();
    for (b, ..) in weights_set(&s.ledger) {
        *per_epoch
            .entry(common::epoch_of(NETUID, TEMPO, b))
            .or_default() += 1;
    }
    assert!(per_epoch.values().all(|n| *n == 1), "{per_epoch:?}");
    let landed = killed.in_block_number.unwrap() as u64;
    assert_eq!(
        per_epoch.get(&common::epoch_of(NETUID, TEMPO, landed)),
        Some(&1)
    );
    assert!(failures(&s.ledger).is_empty(), "{:?}", failures(&s.ledger));
    s.devnet.stop().await;
}

#[sqlx::test]
async fn stale_scores_stop_submission_and_readyz_says_why(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let s = setup(
        &pool,
        DevnetArgs {
            block_ms: 100,
            ..DevnetArgs::default()
        },
        |c: &mut Config| {
            c.scores.source = ScoresSource::Api;
            c.scores.max_age_blocks = 30;
            c.weights.lead_blocks = 8;
        },
    )
    .await;
    let daemon = common::daemon::spawn(&s.config, &s.cfg);
    wait_listening(s.addr).await;
    // No score at all: not ready, and the reason says so.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = common::http_get(s.addr, "/readyz").await;
        if status == 503 && body.contains("no base score yet") {
            break;
        }
        assert!(Instant::now() < deadline, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    post_all_scores(&pool, s.addr).await;
    wait_finalized(&pool, 1, 60).await;
    // 30 blocks later the scores are stale: readiness fails with their age, nothing more is
    // planned.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = common::http_get(s.addr, "/readyz").await;
        if status == 503 && body.contains("no fresh base score") {
            assert!(body.contains("scores.max_age_blocks = 30"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let planned = |r: Vec<Row>| r.into_iter().filter(|r| r.status != "missed").count();
    let before = planned(rows(&pool).await);
    tokio::time::sleep(Duration::from_secs(6)).await; // ≥ 2 epochs of 2.1 s
    assert_eq!(planned(rows(&pool).await), before);
    // The epochs without a plan are recorded as missed, with the reason.
    let missed: Vec<(i64, String)> = sqlx::query_as(
        "SELECT epoch_index, error FROM weight_submissions WHERE status = 'missed' ORDER BY epoch_index",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(missed.len() >= 2, "{missed:?}");
    assert!(
        missed
            .iter()
            .all(|(_, e)| e.contains("no fresh base score")),
        "{missed:?}"
    );
    let (_, metrics) = common::http_get(s.addr, "/metrics").await;
    assert!(
        metrics.contains("tenure_weights_fresh_scores 0"),
        "{metrics}"
    );
    // Fresh scores again: submissions resume.
    post_all_scores(&pool, s.addr).await;
    wait_finalized(&pool, 2, 60).await;
    kill(daemon);
    s.devnet.stop().await;
}

/// `weights.dry_run`: planned and explained every epoch, nothing sent.
#[sqlx::test]
async fn dry_run_plans_without_sending(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let s = setup(
        &pool,
        DevnetArgs {
            block_ms: 100,
            ..DevnetArgs::default()
        },
        |c: &mut Config| {
            c.scores.source = ScoresSource::Uniform;
            c.weights.lead_blocks = 8;
            c.weights.dry_run = true;
        },
    )
    .await;
    let daemon = common::daemon::spawn(&s.config, &s.cfg);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM weight_submissions WHERE dry_run")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no dry-run plans");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill(daemon);
    let r = rows(&pool).await;
    assert!(
        r.iter()
            .all(|x| x.status == "planned" && x.in_block_number.is_none()),
        "{r:#?}"
    );
    assert!(weights_set(&s.ledger).is_empty());
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM weight_entries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(entries, 14 * r.len() as i64);
    s.devnet.stop().await;
}

/// A configured version key below the chain's would fail every epoch: the daemon stops and says
/// why.
#[sqlx::test]
async fn a_version_key_below_the_chains_stops_the_daemon(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let s = setup(
        &pool,
        DevnetArgs {
            block_ms: 100,
            version_key: 7,
            ..DevnetArgs::default()
        },
        |c: &mut Config| {
            c.scores.source = ScoresSource::Uniform;
            c.weights.version_key = Some(3);
        },
    )
    .await;
    let mut cmd = Command::new(BIN);
    cmd.args(["--config", s.config.to_str().unwrap(), "run"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .expect("the daemon did not stop")
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("weights.version_key = 3 is below the chain's WeightsVersionKey 7"),
        "{err}"
    );
    assert!(weights_set(&s.ledger).is_empty());
    s.devnet.stop().await;
}
