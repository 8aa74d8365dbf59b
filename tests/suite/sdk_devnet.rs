//! The devnet read by the real Bittensor SDK (11.3, from the package registry, in the virtual
//! environment `scripts/sdk-venv.sh` makes): what a validator's Python code sees of it must be
//! what the chain holds. The SDK decodes the devnet's metadata (V15, as it asks a node for) and
//! storage with its own code; the same items are read with subxt (V16) at the same block, and
//! the hotkeys are the devnet's own neurons. The SDK also sets weights with its own conversion,
//! signing and submission; the devnet stores exactly them, and tenure's conversion agrees.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use subxt::utils::AccountId32;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;

const HALT: u64 = 60;

/// The SDK's interpreter; the test command (`scripts/test.sh`) sets it after making the venv.
pub(crate) fn sdk_python() -> String {
    std::env::var("TENURE_SDK_PYTHON").expect(
        "TENURE_SDK_PYTHON is not set: run the suite through scripts/test.sh, which makes the \
         Bittensor SDK's virtual environment (scripts/sdk-venv.sh)",
    )
}

/// Runs `script` with the SDK's Python, without blocking the runtime (the devnet serves from
/// it). `home` becomes `$HOME`: the SDK caches metadata there by genesis and spec, so every run
/// reads afresh.
pub(crate) async fn run_python(
    script: &str,
    args: &[String],
    home: &std::path::Path,
) -> std::process::Output {
    // Output goes to files (no pipe to drain), so that the wait can be bounded: a hung SDK call
    // fails the test with what the script printed, instead of hanging the suite.
    let out = tempfile::tempfile().expect("a file for stdout");
    let err = tempfile::tempfile().expect("a file for stderr");
    let mut cmd = Command::new(sdk_python());
    cmd.arg(script)
        .args(args)
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("stdout file"))
        .stderr(err.try_clone().expect("stderr file"));
    let mut child = cmd.spawn().expect("run the SDK's Python");
    let deadline = std::time::Instant::now() + PYTHON_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the SDK's Python") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{script} did not finish within {} s; stderr: {}",
                PYTHON_BOUND.as_secs(),
                String::from_utf8_lossy(&read_all(err))
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    std::process::Output {
        status,
        stdout: read_all(out),
        stderr: read_all(err),
    }
}

/// The longest a Python script of the suite may run (each has its own 120 s deadlines inside).
const PYTHON_BOUND: std::time::Duration = std::time::Duration::from_secs(300);

fn read_all(mut f: std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    f.seek(std::io::SeekFrom::Start(0))
        .expect("rewind the output file");
    f.read_to_end(&mut bytes).expect("read the output file");
    bytes
}

/// An account as the SDK speaks it: SS58 (prefix 42).
fn ss58(a: &[u8; 32]) -> String {
    AccountId32(*a).to_string()
}

#[tokio::test]
async fn the_bittensor_sdk_reads_the_devnet_as_the_chain_holds_it() {
    sdk_reads(None).await;
}

#[tokio::test]
async fn the_bittensor_sdk_reads_the_devnet_serving_finney_metadata() {
    sdk_reads(Some(common::finney_metadata())).await;
}

async fn sdk_reads(metadata: Option<std::path::PathBuf>) {
    let args = DevnetArgs {
        metadata,
        port: 0,
        block_ms: 20,
        seed: 5,
        netuid: 1,
        miners: 8,
        validators: 2,
        tempo: 9,
        activity: 25,
        halt_at: HALT,
        ..DevnetArgs::default()
    };
    let devnet = Devnet::start(&args).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while devnet.node.chain().finalized < HALT {
        assert!(Instant::now() < deadline, "the devnet did not reach {HALT}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = usize::from(args.miners + args.validators);
    let home = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/read_devnet.py");
    // The last epoch block at or before the halt: (block + netuid + 1) % (tempo + 1) == 0.
    let epoch_block = (0..=HALT)
        .rev()
        .find(|b| (b + 2) % (u64::from(args.tempo) + 1) == 0)
        .unwrap();
    let argv = [
        devnet.url(),
        "1".into(),
        HALT.to_string(),
        n.to_string(),
        epoch_block.to_string(),
    ];
    let out = run_python(script, &argv, home.path()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK failed: {stderr}");
    let sdk: Json = serde_json::from_slice(&out.stdout).expect("JSON from the SDK script");

    // The same items with subxt at the same block.
    let api = common::subxt_client(&devnet.url()).await;
    let hash = devnet.node.chain().blocks[HALT as usize].hash;
    let at = api.at_block(hash).await.unwrap();
    let m = "SubtensorModule";
    let tempo: u16 = common::read(&at, m, "Tempo", (1u16,)).await;
    assert_eq!(sdk["tempo"], tempo);
    assert_eq!(tempo, args.tempo);
    let neurons: Vec<[u8; 32]> = devnet
        .node
        .chain()
        .neurons
        .iter()
        .map(|x| x.hotkey)
        .collect();
    assert_eq!(neurons.len(), n);
    for (uid, hotkey) in neurons.iter().enumerate() {
        assert_eq!(sdk["hotkeys"][uid], ss58(hotkey), "uid {uid}");
        let owner: AccountId32 = common::read(&at, m, "Owner", (AccountId32(*hotkey),)).await;
        assert_eq!(sdk["owners"][uid], ss58(&owner.0), "uid {uid}");
        let alpha: u64 =
            common::read(&at, m, "TotalHotkeyAlpha", (AccountId32(*hotkey), 1u16)).await;
        assert_eq!(sdk["alpha"][uid], alpha, "uid {uid}");
    }
    let emission: Vec<u64> = common::read(&at, m, "Emission", (1u16,)).await;
    assert!(
        emission.iter().any(|e| *e > 0),
        "an epoch ran: {emission:?}"
    );
    assert_eq!(sdk["emission"], serde_json::json!(emission));
    assert_eq!(sdk["token_symbol"], "\u{3b1}");
    // The epoch block's events as the SDK decodes them: the same events in the same order as
    // subxt reads them, the miners' emission among them equal to the stored vector.
    let epoch_hash = devnet.node.chain().blocks[epoch_block as usize].hash;
    let at = api.at_block(epoch_hash).await.unwrap();
    let names: Vec<Json> = at
        .events()
        .fetch()
        .await
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.unwrap();
            serde_json::json!([e.pallet_name(), e.event_name()])
        })
        .collect();
    let sdk_names: Vec<Json> = sdk["epoch_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::json!([e["pallet"], e["name"]]))
        .collect();
    assert!(!names.is_empty());
    assert_eq!(sdk_names, names);
    let emitted = sdk["epoch_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "IncentiveAlphaEmittedToMiners")
        .expect("the epoch's emission event");
    let stored: Vec<u64> = common::read(&at, m, "Emission", (1u16,)).await;
    assert_eq!(
        emitted["attributes"]["emissions"],
        serde_json::json!(stored)
    );
    assert_eq!(sdk["epoch_emission"], serde_json::json!(stored));
    devnet.stop().await;
}

/// The SDK sets weights on the devnet with its own conversion, signing and submission (as the
/// devnet's validator): the devnet accepts them and stores exactly the SDK's u16 vector, and
/// tenure's conversion of the same float weights (`tenure weights emit`) gives the same vector.
/// With the finney metadata: the SDK cannot encode the fee extension of the devnet's own
/// metadata (`ChargeTransactionPaymentWrapper`, newer runtimes' name).
#[tokio::test]
async fn the_bittensor_sdk_sets_weights_the_devnet_stores_as_tenure_would() {
    let home = tempfile::tempdir().unwrap();
    let ledger = home.path().join("ledger.jsonl");
    let args = DevnetArgs {
        port: 0,
        block_ms: 50,
        seed: 6,
        netuid: 1,
        miners: 10,
        validators: 2,
        tempo: 9,
        rate_limit: 5,
        min_allowed_weights: 3,
        wallet_path: Some(home.path().join(".bittensor/wallets")),
        ledger: Some(ledger.clone()),
        metadata: Some(common::finney_metadata()),
        ..DevnetArgs::default()
    };
    let devnet = Devnet::start(&args).await.unwrap();
    // Uneven scores, one of them 0 (dropped), one far below the others.
    let scores = serde_json::json!({
        "2": 0.9, "3": 0.35, "4": 0.35, "5": 0.0, "6": 1e-6, "7": 0.125, "8": 2.5, "9": 0.07
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/set_weights.py");
    let argv = [devnet.url(), "1".into(), scores.to_string()];
    let out = run_python(script, &argv, home.path()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK failed: {stderr}");
    let sdk: Json = serde_json::from_slice(&out.stdout).expect("JSON from the SDK script");
    assert_eq!(sdk["success"], true, "{sdk}");
    assert_eq!(sdk["uid"], 0);
    let u16s = |v: &Json| -> Vec<u16> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u16)
            .collect()
    };
    let (dests, weights) = (u16s(&sdk["dests"]), u16s(&sdk["weights"]));
    // 0 and 1e-6 (below half a u16 step of the largest) are dropped.
    assert_eq!(dests, vec![2, 3, 4, 7, 8, 9], "zeros dropped: {sdk}");

    // What the devnet stored (its ledger: the `Weights` row it wrote).
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let set: Vec<Json> = common::ledger::read(&ledger)
            .into_iter()
            .filter(|l| l["kind"] == "weights_set" && l["uid"] == 0)
            .collect();
        if let Some(l) = set.last() {
            break (u16s(&l["dests"]), u16s(&l["weights"]));
        }
        assert!(Instant::now() < deadline, "the devnet stored no weights");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stored, (dests.clone(), weights.clone()));

    // tenure's conversion of the same scores under the same limits.
    let request = serde_json::json!({
        "scores": scores,
        "min_allowed_weights": sdk["min_allowed_weights"],
        "max_weight_limit": sdk["max_weight_limit"],
    });
    let mut emit = Command::new(env!("CARGO_BIN_EXE_tenure"));
    emit.args(["weights", "emit"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = emit.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tenure: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(u16s(&tenure["dests"]), dests, "{tenure}");
    assert_eq!(u16s(&tenure["weights"]), weights, "{tenure}");
    devnet.stop().await;
}
