//! tenure from Python, as a validator uses it: `examples/python/validator.py` reads the devnet
//! with the Bittensor SDK, scores the miners, posts the scores through `tenure-client` and waits
//! for the weights tenure submits with them (the devnet's ledger says what was stored); then
//! `clients/python/tests/test_client.py` checks the client's models against the daemon's OpenAPI
//! description and both clients (sync and async) end to end, refusals included.

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sqlx::PgPool;
use tenure::config::ScoresSource;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;
use crate::sdk_devnet::run_python;

const TOKEN: &str = "python-client-token-0123456789";

/// Runs a script with the SDK's Python and a fresh `$HOME`: (success, stdout, stderr).
async fn python(script: &str, args: Vec<String>) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = run_python(script, &args, home.path()).await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[sqlx::test]
async fn a_python_validator_and_the_client_against_a_running_daemon(pool: PgPool) {
    let _serial = common::SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 100,
        netuid: 1,
        tempo: 20,
        miners: 12,
        validators: 2,
        rate_limit: 10,
        min_allowed_weights: 4,
        wallet_path: Some(dir.path().to_path_buf()),
        ledger: Some(ledger.clone()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let port = common::free_port();
    let mut cfg = common::daemon::config(&devnet.url(), &common::url_of(&pool), 1);
    common::daemon::devnet_wallet(&mut cfg, dir.path());
    common::daemon::http(&mut cfg, port, Some(TOKEN));
    cfg.scores.source = ScoresSource::Api;
    cfg.scores.max_age_blocks = 100_000;
    cfg.weights.lead_blocks = 10;
    let (_, mut daemon) = common::daemon::start(dir.path(), "tenure", &cfg);
    let base = format!("http://127.0.0.1:{port}");
    // Serving, and the subnet ingested.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM miners WHERE deregistered_at_block IS NULL")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
        let up = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok();
        if n >= 14 && up {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python/validator.py");
    let args = vec![devnet.url(), base.clone(), TOKEN.into(), "1".into()];
    let (ok, out, err) = python(example, args).await;
    assert!(ok, "validator.py failed: {err}");
    let seen: Json = serde_json::from_str(out.trim()).expect("JSON from validator.py");
    assert_eq!(seen["scored"], 12, "{seen}");
    let dests: Vec<u64> = seen["dests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert_eq!(dests, (2..14).collect::<Vec<u64>>(), "{seen}");
    // The devnet stored exactly what the example says tenure submitted.
    let block = seen["in_block"].as_u64().unwrap();
    let stored = common::ledger::read(&ledger)
        .into_iter()
        .find(|l| l["kind"] == "weights_set" && l["block"] == block)
        .expect("the devnet stored the submission");
    assert_eq!(stored["dests"], seen["dests"]);
    assert_eq!(stored["weights"], seen["weights"]);

    let test = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/clients/python/tests/test_client.py"
    );
    let (ok, out, err) = python(test, vec![base, TOKEN.into(), "2".into()]).await;
    assert!(ok, "test_client.py failed: {out}{err}");
    assert!(
        out.contains("models match the OpenAPI description"),
        "{out}"
    );
    common::sigterm(&daemon);
    common::wait_exit(&mut daemon, 30).await;
    devnet.stop().await;
}
