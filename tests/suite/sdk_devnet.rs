//! The devnet read by the real Bittensor SDK (11.3, from the package registry, in the virtual
//! environment `scripts/sdk-venv.sh` makes): what a validator's Python code sees of it must be
//! what the chain holds. The SDK decodes the devnet's metadata (V15, as it asks a node for) and
//! storage with its own code; the same items are read with subxt (V16) at the same block, and
//! the hotkeys are the devnet's own neurons.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use subxt::utils::AccountId32;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;

const HALT: u64 = 60;

/// The SDK's interpreter; the test command (`scripts/test.sh`) sets it after making the venv.
fn sdk_python() -> String {
    std::env::var("TENURE_SDK_PYTHON").expect(
        "TENURE_SDK_PYTHON is not set: run the suite through scripts/test.sh, which makes the \
         Bittensor SDK's virtual environment (scripts/sdk-venv.sh)",
    )
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
    let mut cmd = Command::new(sdk_python());
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/read_devnet.py"
    ))
    .args([devnet.url(), "1".into(), HALT.to_string(), n.to_string()])
    // The SDK caches metadata under $HOME by genesis and spec: every run reads afresh.
    .env("HOME", home.path())
    .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run the SDK's Python");
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
    devnet.stop().await;
}
