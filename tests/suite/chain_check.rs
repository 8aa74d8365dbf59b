//! `tenure chain check` against the real finney metadata file and a live devnet, and a
//! `set_weights` signed offline against finney's metadata with all of its transaction extensions
//! (our subxt Config), then verified and accepted by a devnet serving that metadata.

use std::process::Command;
use std::time::Duration;

use subxt::ext::scale_value::Value;
use tenure::chain::subxt_config::{self, Subtensor};
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;
use common::finney_metadata;

fn tenure() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tenure"))
}

/// Stdout of a run that must succeed (with both streams shown when it does not).
fn succeeded(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn chain_check_passes_on_the_finney_metadata_file() {
    let file = finney_metadata();
    let out = tenure()
        .args(["chain", "check", "--metadata"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = succeeded(&out);
    assert!(
        stdout.contains("ok    call SubtensorModule.commit_timelocked_weights"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn chain_check_refuses_what_is_not_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("junk.scale");
    std::fs::write(&file, b"not metadata").unwrap();
    let out = tenure()
        .args(["chain", "check", "--metadata"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.scale"));
}

#[tokio::test]
async fn chain_check_against_a_node() {
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 20,
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let url = devnet.url();
    let out = tokio::task::spawn_blocking(move || {
        tenure()
            .args(["chain", "check", "--url", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = succeeded(&out);
    assert!(stdout.contains("at block"), "{stdout}");
    devnet.stop().await;
    // Nobody listening: exit 2 with the reason.
    let out = tenure()
        .args(["chain", "check", "--url", "ws://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn set_weights_signed_offline_against_finney_is_accepted() {
    let file = finney_metadata();
    let bytes = std::fs::read(&file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 20,
        metadata: Some(file),
        ledger: Some(ledger.clone()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let (genesis, spec) = {
        let chain = devnet.node.chain();
        (chain.blocks[0].hash, chain.runtime().spec_version)
    };
    assert_eq!(spec, 393);
    let metadata = subxt::Metadata::decode_from(&bytes[..]).unwrap();
    let config = Subtensor::new(
        subxt::SubstrateConfig::builder()
            .set_genesis_hash(genesis)
            .set_metadata_for_spec_versions([(393, std::sync::Arc::new(metadata))])
            .set_spec_version_for_block_ranges([subxt::config::substrate::SpecVersionForRange {
                block_range: 0..u64::MAX,
                spec_version: 393,
                transaction_version: 1,
            }])
            .build(),
    );
    let offline = subxt::client::OfflineClient::new_with_config(config);
    let args = DevnetArgs::default();
    let call = subxt::dynamic::tx(
        "SubtensorModule",
        "set_weights",
        vec![
            Value::u128(args.netuid.into()),
            Value::unnamed_composite([Value::u128(3)]),
            Value::unnamed_composite([Value::u128(7)]),
            Value::u128(0),
        ],
    );
    let signer = subxt_signer::sr25519::Keypair::from_secret_key(
        tenure_devnet::chain::validator_secret(args.seed, 0),
    )
    .unwrap();
    let mut params = subxt_config::params(
        0,
        subxt::config::transaction_extensions::CheckMortalityParams::mortal(64),
    );
    subxt::config::transaction_extensions::Params::<Subtensor>::inject_block(
        &mut params,
        0,
        genesis,
    );
    let signed = offline
        .at_block(0u64)
        .unwrap()
        .tx()
        .create_signable_offline(&call, params)
        .unwrap()
        .sign(&signer)
        .expect("signs with every finney extension")
        .into_encoded();
    // The node rebuilds the signed payload from every extension finney declares and verifies it.
    let rpc = subxt::rpcs::RpcClient::from_url(&devnet.url())
        .await
        .unwrap();
    let hash: String = rpc
        .request(
            "author_submitExtrinsic",
            subxt::rpcs::rpc_params![format!("0x{}", hex::encode(&signed))],
        )
        .await
        .expect("accepted by the pool");
    assert!(hash.starts_with("0x"));
    // And it lands: the weights are applied.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        if text.contains("\"weights_set\"") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    devnet.stop().await;
}
