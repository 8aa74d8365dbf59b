//! Commit-reveal v4 on the devnet, driven by subxt's own client: a weight vector timelocked to
//! the devnet's test drand beacon is committed, refused forms are refused with the chain's
//! errors, and at the reveal epoch the devnet decrypts the commit and stores the same weights;
//! the Bittensor SDK's own timelock code opens tenure's commit with the pulse the devnet stored.

use std::path::PathBuf;
use std::time::Duration;

use subxt::dynamic::Value;
use subxt::{OnlineClient, SubstrateConfig};
use tenure::drand::{self, WeightsPayload};
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;
use common::{finney_metadata, read, subxt_client};

/// Extension parameters; the devnet's own metadata has newer runtimes' fee-extension name.
fn params(own: bool) -> subxt::config::DefaultExtrinsicParams<SubstrateConfig> {
    let params = subxt::config::DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new().mortal(32);
    if own {
        params
            .custom_extension("ChargeTransactionPaymentWrapper", 0u64)
            .build()
    } else {
        params.build()
    }
}

/// Signs, submits and waits for finalization; the extrinsic's events and its block's number.
async fn submit(
    api: &OnlineClient<SubstrateConfig>,
    signer: &subxt_signer::sr25519::Keypair,
    own: bool,
    call: impl subxt::transactions::Payload,
) -> Result<(subxt::extrinsics::ExtrinsicEvents<SubstrateConfig>, u64), String> {
    let mut tx = api.tx().await.map_err(|e| e.to_string())?;
    let in_block = tx
        .sign_and_submit_then_watch(&call, signer, params(own))
        .await
        .map_err(|e| e.to_string())?
        .wait_for_finalized()
        .await
        .map_err(|e| e.to_string())?;
    let number = api
        .at_block(in_block.block_hash())
        .await
        .map_err(|e| e.to_string())?
        .block_number();
    let events = in_block
        .wait_for_success()
        .await
        .map_err(|e| e.to_string())?;
    Ok((events, number))
}

fn commit_call(netuid: u16, commit: Vec<u8>, round: u64) -> impl subxt::transactions::Payload {
    subxt::dynamic::tx(
        "SubtensorModule",
        "commit_timelocked_weights",
        vec![
            Value::u128(netuid.into()),
            Value::from_bytes(commit),
            Value::u128(round.into()),
            Value::u128(4),
        ],
    )
}

async fn commit_reveal(metadata: Option<PathBuf>) {
    let own = metadata.is_none();
    let args = DevnetArgs {
        port: 0,
        block_ms: 25,
        finality_lag: 2,
        seed: 11,
        netuid: 3,
        miners: 10,
        validators: 2,
        tempo: 29,
        rate_limit: 25,
        commit_reveal: true,
        reveal_period: 1,
        metadata,
        ..DevnetArgs::default()
    };
    let devnet = Devnet::start(&args).await.unwrap();
    let api = subxt_client(&devnet.url()).await;
    let netuid = args.netuid;
    let beacon = common::devnet_beacon(args.seed);
    let validator = subxt_signer::sr25519::Keypair::from_secret_key(
        tenure_devnet::chain::validator_secret(args.seed, 0),
    )
    .unwrap();
    let other = subxt_signer::sr25519::Keypair::from_secret_key(
        tenure_devnet::chain::validator_secret(args.seed, 1),
    )
    .unwrap();

    // The hyperparameters are on chain where a client reads them.
    let at = api.at_current_block().await.unwrap();
    let enabled: bool = read(
        &at,
        "SubtensorModule",
        "CommitRevealWeightsEnabled",
        (netuid,),
    )
    .await;
    let version: u16 = read(&at, "SubtensorModule", "CommitRevealWeightsVersion", ()).await;
    let period: u64 = read(&at, "SubtensorModule", "RevealPeriodEpochs", (netuid,)).await;
    assert_eq!((enabled, version, period), (true, 4, 1));

    // Plain set_weights is refused on a commit-reveal subnet.
    let plain = subxt::dynamic::tx(
        "SubtensorModule",
        "set_weights",
        (netuid, vec![2u16], vec![1u16], 0u64),
    );
    let err = submit(&api, &validator, own, plain)
        .await
        .map(|(_, block)| block)
        .unwrap_err();
    assert!(err.contains("CommitRevealEnabled"), "{err}");

    // A reveal round the beacon has passed is refused by the pool.
    let at = api.at_current_block().await.unwrap();
    let last_round: u64 = read(&at, "Drand", "LastStoredRound", ()).await;
    assert!(last_round > 0);
    let stale = beacon.encrypt(last_round - 1, b"x").unwrap();
    let bytes = api
        .tx()
        .await
        .unwrap()
        .create_signed(
            &commit_call(netuid, stale, last_round - 1),
            &other,
            params(own),
        )
        .await
        .unwrap()
        .into_encoded();
    let rpc = subxt::rpcs::RpcClient::from_url(&devnet.url())
        .await
        .unwrap();
    let err = rpc
        .request::<serde_json::Value>(
            "author_submitExtrinsic",
            subxt::rpcs::rpc_params![format!("0x{}", hex::encode(bytes))],
        )
        .await
        .unwrap_err();
    // Nodes put the pool's reason in the error's `data`.
    let subxt::rpcs::Error::User(err) = err else {
        panic!("{err}")
    };
    assert_eq!(err.code, 1010);
    let reason = err.data.map(|d| d.get().to_string()).unwrap_or_default();
    assert!(reason.contains("InvalidRevealRound"), "{reason}");

    // The real commit, early in an epoch (its reveal round must stay ahead of the beacon while
    // the other submissions below take their blocks), its round computed as the SDK does from
    // the block's own time.
    let at = loop {
        let at = api.at_current_block().await.unwrap();
        if (at.block_number() + u64::from(netuid) + 1) % (u64::from(args.tempo) + 1) < 4 {
            break at;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let block = at.block_number();
    let now_ms: u64 = read(&at, "Timestamp", "Now", ()).await;
    let round = drand::reveal_round(&beacon, block, netuid, args.tempo, 1, now_ms / 1000, 12.0);
    let payload = WeightsPayload {
        hotkey: validator.public_key().0.to_vec(),
        uids: vec![2, 4, 6],
        values: vec![100, 200, 400],
        version_key: 0,
    };
    let commit = beacon
        .encrypt(round, &subxt::ext::codec::Encode::encode(&payload))
        .unwrap();
    let sealed = commit.clone();
    let (events, committed_in) = submit(&api, &validator, own, commit_call(netuid, commit, round))
        .await
        .expect("commit accepted");
    assert!(
        events
            .iter()
            .any(|e| e.is_ok_and(|e| e.event_name() == "TimelockedWeightsCommitted"))
    );
    // Validator 1 committing validator 0's payload: accepted, but never revealed.
    let forged = beacon
        .encrypt(round, &subxt::ext::codec::Encode::encode(&payload))
        .unwrap();
    submit(&api, &other, own, commit_call(netuid, forged, round))
        .await
        .expect("a well-formed commit is accepted");
    // Inside the rate limit a second commit is refused.
    let again = beacon.encrypt(round, b"again").unwrap();
    let err = submit(&api, &validator, own, commit_call(netuid, again, round))
        .await
        .map(|(_, block)| block)
        .unwrap_err();
    assert!(err.contains("CommittingWeightsTooFast"), "{err}");

    // Nothing is visible before the reveal epoch; then the devnet decrypts and stores it.
    let at = api.at_current_block().await.unwrap();
    let before: Vec<(u16, u16)> = read(&at, "SubtensorModule", "Weights", (netuid, 0u16)).await;
    assert!(
        before.is_empty(),
        "weights visible before the reveal: {before:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let at = api.at_current_block().await.unwrap();
        let w: Vec<(u16, u16)> = read(&at, "SubtensorModule", "Weights", (netuid, 0u16)).await;
        if !w.is_empty() {
            break (w, at.block_number());
        }
        assert!(tokio::time::Instant::now() < deadline, "never revealed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stored.0, vec![(2, 16383), (4, 32767), (6, 65535)]);
    let epoch = |b: u64| (b + u64::from(netuid) + 1) / (u64::from(args.tempo) + 1);
    assert_eq!(
        epoch(stored.1),
        epoch(committed_in) + 1,
        "revealed in the epoch after the commit"
    );
    // The pulse the devnet used is the beacon's signature of the round.
    let at = api.at_current_block().await.unwrap();
    let pulse: (u64, Vec<u8>, Vec<u8>) = read(&at, "Drand", "Pulses", (round,)).await;
    assert_eq!(pulse.0, round);
    assert_eq!(
        pulse.2,
        tenure_devnet::beacon::Beacon::from_seed(args.seed).signature(round)
    );
    // The Bittensor SDK's own timelock code opens tenure's commit with the stored pulse.
    // The SDK's helper takes its own envelope around the chain's commit bytes: the SCALE
    // `(ciphertext, reveal round)` its encrypt functions return.
    let envelope = subxt::ext::codec::Encode::encode(&(sealed, round));
    let home = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/decrypt_commit.py");
    let argv = [hex::encode(&envelope), hex::encode(&pulse.2)];
    let out = crate::sdk_devnet::run_python(script, &argv, home.path()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened = hex::decode(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(opened, subxt::ext::codec::Encode::encode(&payload));
    // The forged commit (validator 1 claiming validator 0's hotkey) stored nothing.
    let w1: Vec<(u16, u16)> = read(&at, "SubtensorModule", "Weights", (netuid, 1u16)).await;
    assert!(w1.is_empty(), "{w1:?}");
    devnet.stop().await;
}

#[tokio::test]
async fn commit_reveal_with_own_metadata() {
    commit_reveal(None).await;
}

#[tokio::test]
async fn commit_reveal_with_finney_metadata() {
    let m = finney_metadata();
    commit_reveal(Some(m)).await;
}
