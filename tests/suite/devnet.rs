//! The devnet driven by subxt's own `OnlineClient` over a real WebSocket (not our chain code),
//! serving the real finney runtime metadata: finalized blocks, storage reads at past blocks,
//! map iteration and events decode exactly as against a subtensor node.

use std::path::PathBuf;

use subxt::dynamic::Value;
use subxt::{OnlineClient, SubstrateConfig};
use tenure::chain::schedule;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;
use common::{At, finney_metadata, read, subxt_client as client};

fn args(metadata: Option<PathBuf>) -> DevnetArgs {
    DevnetArgs {
        port: 0,
        block_ms: 20,
        finality_lag: 2,
        seed: 7,
        netuid: 3,
        miners: 12,
        validators: 2,
        tempo: 9,
        metadata,
        ..DevnetArgs::default()
    }
}

#[tokio::test]
async fn subxt_reads_the_devnet_with_its_own_metadata() {
    follow_and_read(args(None)).await;
}

#[tokio::test]
async fn subxt_reads_the_devnet_serving_finney_metadata() {
    let metadata = finney_metadata();
    follow_and_read(args(Some(metadata))).await;
}

async fn follow_and_read(args: DevnetArgs) {
    let devnet = Devnet::start(&args).await.unwrap();
    let api = client(&devnet.url()).await;

    // 50 finalized blocks, each exactly once, in order.
    let mut blocks = api.stream_blocks().await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 50 {
        let block = blocks.next().await.expect("stream ended").expect("block");
        seen.push(block.number());
    }
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "gaps or repeats: {seen:?}"
    );
    let last = *seen.last().unwrap();
    {
        let chain = devnet.node.chain();
        assert!(chain.finalized >= last && chain.best() >= chain.finalized + args.finality_lag);
    }

    let netuid = args.netuid;
    let neurons = devnet.node.chain().neurons.clone();
    assert_eq!(neurons.len(), 14);

    // Identity at a past block.
    let at = api.at_block(last).await.unwrap();
    let n = at
        .storage()
        .fetch(
            subxt::dynamic::storage::<(u16,), u16>("SubtensorModule", "SubnetworkN"),
            (netuid,),
        )
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(n, 14);
    for x in neurons.iter().take(4) {
        let hotkey = at
            .storage()
            .fetch(
                subxt::dynamic::storage::<(u16, u16), [u8; 32]>("SubtensorModule", "Keys"),
                (netuid, x.uid),
            )
            .await
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(hotkey, x.hotkey);
        let owner = at
            .storage()
            .fetch(
                subxt::dynamic::storage::<([u8; 32],), [u8; 32]>("SubtensorModule", "Owner"),
                (x.hotkey,),
            )
            .await
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(owner, devnet.node.chain().owner(&x.hotkey));
    }
    // Iterating the Keys map of the subnet finds every uid.
    let mut entries = at
        .storage()
        .iter(
            subxt::dynamic::storage::<(u16, u16), [u8; 32]>("SubtensorModule", "Keys"),
            (netuid,),
        )
        .await
        .unwrap();
    let mut count = 0;
    while let Some(entry) = entries.next().await {
        let entry = entry.unwrap();
        let hotkey = entry.value().decode().unwrap();
        assert!(neurons.iter().any(|x| x.hotkey == hotkey));
        count += 1;
    }
    assert_eq!(count, 14);

    // An epoch block: Emission, LastMechansimStepBlock, the stake it credited, and the event.
    let epoch = (1..last)
        .rev()
        .find(|&b| schedule::epoch_runs_at(b, netuid, args.tempo))
        .expect("an epoch ran within 50 blocks at tempo 9");
    let at_epoch = api.at_block(epoch).await.unwrap();
    let step = at_epoch
        .storage()
        .fetch(
            subxt::dynamic::storage::<(u16,), u64>("SubtensorModule", "LastMechansimStepBlock"),
            (netuid,),
        )
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(step, epoch);
    let emission: Vec<u64> = at_epoch
        .storage()
        .fetch(
            subxt::dynamic::storage::<(u16,), Vec<u64>>("SubtensorModule", "Emission"),
            (netuid,),
        )
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(emission.len(), 14);
    for x in &neurons {
        let grew = total_alpha(&api, epoch, x.hotkey, netuid).await
            - total_alpha(&api, epoch - 1, x.hotkey, netuid).await;
        assert_eq!(grew, emission[x.uid as usize], "uid {}", x.uid);
    }
    let events = at_epoch.events().fetch().await.unwrap();
    let mut found = false;
    for ev in events.iter() {
        let ev = ev.unwrap();
        if ev.pallet_name() == "SubtensorModule"
            && ev.event_name() == "IncentiveAlphaEmittedToMiners"
        {
            let fields = ev.decode_fields_unchecked_as::<Value>().unwrap();
            let text = fields.to_string();
            assert!(text.contains(&emission[0].to_string()), "{text}");
            found = true;
        }
    }
    assert!(
        found,
        "IncentiveAlphaEmittedToMiners not found at epoch block {epoch}"
    );

    // Timestamps advance 12 s a block, whatever the real block interval.
    let ts = |b: u64| {
        let api = api.clone();
        async move {
            api.at_block(b)
                .await
                .unwrap()
                .storage()
                .fetch(subxt::dynamic::storage::<(), u64>("Timestamp", "Now"), ())
                .await
                .unwrap()
                .decode()
                .unwrap()
        }
    };
    assert_eq!(ts(last).await - ts(last - 1).await, 12_000);

    devnet.stop().await;
}

async fn total_alpha(
    api: &OnlineClient<SubstrateConfig>,
    block: u64,
    hotkey: [u8; 32],
    netuid: u16,
) -> u64 {
    api.at_block(block)
        .await
        .unwrap()
        .storage()
        .fetch(
            subxt::dynamic::storage::<([u8; 32], u16), u64>("SubtensorModule", "TotalHotkeyAlpha"),
            (hotkey, netuid),
        )
        .await
        .unwrap()
        .decode()
        .unwrap()
}

fn acc(v: &serde_json::Value) -> [u8; 32] {
    v.as_str()
        .expect("ss58 string")
        .parse::<tenure::chain::AccountId>()
        .expect("ss58")
        .0
}

async fn fetch<K, V>(at: &At, entry: &str, key: K) -> V
where
    K: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues,
    V: subxt::ext::scale_decode::DecodeAsType,
{
    read(at, "SubtensorModule", entry, key).await
}

#[tokio::test]
async fn the_ledger_is_what_the_chain_says() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let args = DevnetArgs {
        activity: 70,
        tempo: 4,
        ledger: Some(ledger.clone()),
        ..args(None)
    };
    let devnet = Devnet::start(&args).await.unwrap();
    while devnet.node.chain().best() < 150 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let api = client(&devnet.url()).await;
    let netuid = args.netuid;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&ledger)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds = |k: &str| lines.iter().filter(|l| l["kind"] == k).count();
    for k in [
        "registered",
        "emission",
        "stake",
        "stake_added",
        "stake_removed",
        "stake_moved",
        "owner_changed",
        "coldkey_swapped",
        "hotkey_swapped",
    ] {
        assert!(
            kinds(k) > 0,
            "no {k} in 150 blocks of activity 70: {:?}",
            lines.iter().map(|l| l["kind"].clone()).collect::<Vec<_>>()
        );
    }

    let checked = verify_ledger(&api, &lines, netuid).await;
    assert!(checked > 100, "only {checked} ledger lines checked");
    devnet.stop().await;
}

/// Checks every ledger line after genesis against what subxt reads at its block; returns how
/// many lines were checked.
async fn verify_ledger(
    api: &OnlineClient<SubstrateConfig>,
    lines: &[serde_json::Value],
    netuid: u16,
) -> usize {
    let mut checked = 0;
    for line in lines.iter().filter(|l| l["block"].as_u64().unwrap() > 0) {
        let b = line["block"].as_u64().unwrap();
        let at = api.at_block(b).await.unwrap();
        match line["kind"].as_str().unwrap() {
            "stake" => {
                // The share-pool formula over the chain's own storage gives the ledger's alpha.
                let (c, h) = (acc(&line["coldkey"]), acc(&line["hotkey"]));
                let total: u64 = fetch(&at, "TotalHotkeyAlpha", (h, netuid)).await;
                let shares: u128 = fetch(&at, "TotalHotkeyShares", (h, netuid)).await;
                let share: u128 = fetch(&at, "Alpha", (h, c, netuid)).await;
                // The devnet keeps whole shares (U64F64 with no fractional bits), so the formula
                // can be evaluated on whole shares without 192-bit arithmetic.
                assert_eq!(
                    (share & u128::from(u64::MAX), shares & u128::from(u64::MAX)),
                    (0, 0)
                );
                let (share, shares) = (share >> 64, shares >> 64);
                let alpha = (u128::from(total) * share)
                    .checked_div(shares)
                    .map_or(0, |a| a as u64);
                assert_eq!(alpha, line["alpha"].as_u64().unwrap(), "{line}");
            }
            "registered" => {
                let uid = line["uid"].as_u64().unwrap() as u16;
                let hotkey: [u8; 32] = fetch(&at, "Keys", (netuid, uid)).await;
                assert_eq!(hotkey, acc(&line["hotkey"]), "{line}");
                let registered: u64 = fetch(&at, "BlockAtRegistration", (netuid, uid)).await;
                assert_eq!(registered, b);
                let owner: [u8; 32] = fetch(&at, "Owner", (hotkey,)).await;
                assert_eq!(owner, acc(&line["coldkey"]));
                assert!(has_event(&at, "NeuronRegistered").await, "{line}");
            }
            "owner_changed" => {
                let owner: [u8; 32] = fetch(&at, "Owner", (acc(&line["hotkey"]),)).await;
                assert_eq!(owner, acc(&line["to"]), "{line}");
            }
            "coldkey_swapped" => assert!(has_event(&at, "ColdkeySwapped").await, "{line}"),
            "hotkey_swapped" => {
                assert!(has_event(&at, "HotkeySwapped").await, "{line}");
                let uid = line["uid"].as_u64().unwrap() as u16;
                let hotkey: [u8; 32] = fetch(&at, "Keys", (netuid, uid)).await;
                assert_eq!(hotkey, acc(&line["to"]), "{line}");
                let left: u64 = fetch(&at, "TotalHotkeyAlpha", (acc(&line["from"]), netuid)).await;
                assert_eq!(left, 0, "stake stayed on the old hotkey: {line}");
            }
            "stake_added" => assert!(has_event(&at, "StakeAdded").await, "{line}"),
            "stake_removed" => assert!(has_event(&at, "StakeRemoved").await, "{line}"),
            "stake_moved" => assert!(has_event(&at, "StakeMoved").await, "{line}"),
            "emission" => {
                let emission: Vec<u64> = fetch(&at, "Emission", (netuid,)).await;
                let uid = line["uid"].as_u64().unwrap() as usize;
                assert_eq!(emission[uid], line["amount"].as_u64().unwrap(), "{line}");
            }
            other => panic!("unexpected ledger kind {other}"),
        }
        checked += 1;
    }
    checked
}

async fn has_event(at: &At, name: &str) -> bool {
    let events = at.events().fetch().await.unwrap();
    events
        .iter()
        .any(|e| e.is_ok_and(|e| e.pallet_name() == "SubtensorModule" && e.event_name() == name))
}

/// Signs and submits `set_weights` through subxt; returns the finalized block's events or the
/// error text.
async fn submit_weights(
    api: &OnlineClient<SubstrateConfig>,
    signer: &subxt_signer::sr25519::Keypair,
    own_metadata: bool,
    netuid: u16,
    dests: Vec<u16>,
    weights: Vec<u16>,
) -> Result<subxt::extrinsics::ExtrinsicEvents<SubstrateConfig>, String> {
    let call = subxt::dynamic::tx(
        "SubtensorModule",
        "set_weights",
        (netuid, dests, weights, 0u64),
    );
    let mut params =
        subxt::config::DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new().mortal(32);
    if own_metadata {
        // The newer runtimes' layout: the tip goes to ChargeTransactionPaymentWrapper.
        params = params.custom_extension("ChargeTransactionPaymentWrapper", 0u64);
    }
    let mut tx = api.tx().await.map_err(|e| e.to_string())?;
    let progress = tx
        .sign_and_submit_then_watch(&call, signer, params.build())
        .await
        .map_err(|e| e.to_string())?;
    progress
        .wait_for_finalized_success()
        .await
        .map_err(|e| e.to_string())
}

async fn weights_round_trip(metadata: Option<PathBuf>) {
    let own = metadata.is_none();
    let args = DevnetArgs {
        rate_limit: 1_000,
        ..args(metadata)
    };
    let devnet = Devnet::start(&args).await.unwrap();
    let url = devnet.url();
    let api = client(&url).await;
    let netuid = args.netuid;
    let secret = tenure_devnet::chain::validator_secret(args.seed, 0);
    let signer = subxt_signer::sr25519::Keypair::from_secret_key(secret).unwrap();
    assert_eq!(signer.public_key().0, devnet.node.chain().neurons[0].hotkey);

    // Accepted: WeightsSet in the finalized block, Weights and LastUpdate stored (max-upscaled).
    let events = submit_weights(
        &api,
        &signer,
        own,
        netuid,
        vec![3, 5, 7],
        vec![100, 200, 400],
    )
    .await
    .expect("set_weights accepted");
    assert!(
        events
            .iter()
            .any(|e| e.is_ok_and(|e| e.event_name() == "WeightsSet"))
    );
    let at = api.at_current_block().await.unwrap();
    let stored: Vec<(u16, u16)> = fetch(&at, "Weights", (netuid, 0u16)).await;
    assert_eq!(stored, vec![(3, 16383), (5, 32767), (7, 65535)]);
    let last_update: Vec<u64> = fetch(&at, "LastUpdate", (netuid,)).await;
    assert!(last_update[0] > 0 && last_update[0] <= at.block_number());

    // Inside the rate limit: the chain's error, by name.
    let err = submit_weights(&api, &signer, own, netuid, vec![1], vec![1])
        .await
        .unwrap_err();
    assert!(err.contains("SettingWeightsTooFast"), "{err}");

    // A miner without a validator permit.
    let miner = subxt_signer::sr25519::Keypair::from_secret_key([9; 32]).unwrap();
    let err = submit_weights(&api, &miner, own, netuid, vec![1], vec![1])
        .await
        .unwrap_err();
    assert!(err.contains("HotKeyNotRegisteredInSubNet"), "{err}");

    // A bad signature and a stale nonce are refused by the pool.
    let rpc = subxt::rpcs::RpcClient::from_url(&url).await.unwrap();
    let call = subxt::dynamic::tx(
        "SubtensorModule",
        "set_weights",
        (netuid, vec![1u16], vec![1u16], 0u64),
    );
    let make = |nonce: u64| {
        let mut p = subxt::config::DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new()
            .mortal(32)
            .nonce(nonce);
        if own {
            p = p.custom_extension("ChargeTransactionPaymentWrapper", 0u64);
        }
        p.build()
    };
    let submit_raw = |bytes: Vec<u8>| {
        let rpc = rpc.clone();
        async move {
            rpc.request::<serde_json::Value>(
                "author_submitExtrinsic",
                subxt::rpcs::rpc_params![format!("0x{}", hex::encode(bytes))],
            )
            .await
            .map_err(|e| match e {
                // Nodes put the pool's reason in the error's `data`.
                subxt::rpcs::Error::User(u) => format!(
                    "{} ({}): {}",
                    u.message,
                    u.code,
                    u.data.map(|d| d.get().to_string()).unwrap_or_default()
                ),
                other => other.to_string(),
            })
        }
    };
    let mut tx = api.tx().await.unwrap();
    let mut bytes = tx
        .create_signed(&call, &signer, make(1))
        .await
        .unwrap()
        .into_encoded();
    // Flip a bit of the signature (after the 1-byte length prefix, 1 version byte and the
    // 33-byte address comes the 1-byte signature variant, then 64 signature bytes).
    let prefix = if bytes.len() > 64 { 2 } else { 1 };
    bytes[prefix + 1 + 33 + 1 + 10] ^= 0x01;
    let err = submit_raw(bytes).await.unwrap_err();
    assert!(err.contains("bad signature"), "{err}");
    let stale = tx
        .create_signed(&call, &signer, make(0))
        .await
        .unwrap()
        .into_encoded();
    let err = submit_raw(stale).await.unwrap_err();
    assert!(err.contains("outdated"), "{err}");
    // Two transactions with one nonce: the second one is refused while the first waits.
    let who = tenure::chain::AccountId(signer.public_key().0).to_ss58();
    let next: u64 = rpc
        .request("system_accountNextIndex", subxt::rpcs::rpc_params![who])
        .await
        .unwrap();
    assert_eq!(
        next, 2,
        "the accepted and the rate-limited extrinsic each used a nonce"
    );
    let first = tx
        .create_signed(&call, &signer, make(next))
        .await
        .unwrap()
        .into_encoded();
    let again = tx
        .create_signed(&call, &signer, make(next))
        .await
        .unwrap()
        .into_encoded();
    submit_raw(first).await.expect("the next nonce is accepted");
    let err = submit_raw(again).await.unwrap_err();
    assert!(err.contains("Priority is too low"), "{err}");
    devnet.stop().await;
}

#[tokio::test]
async fn signed_set_weights_with_own_metadata() {
    weights_round_trip(None).await;
}

#[tokio::test]
async fn signed_set_weights_with_finney_metadata() {
    let metadata = finney_metadata();
    weights_round_trip(Some(metadata)).await;
}

#[tokio::test]
async fn the_devnet_writes_its_validator_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&DevnetArgs {
        wallet_path: Some(dir.path().to_path_buf()),
        ..args(None)
    })
    .await
    .unwrap();
    let file = dir.path().join("devnet/hotkeys/validator");
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let seed: [u8; 32] = hex::decode(key["secretSeed"].as_str().unwrap().trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap();
    // The seed signs as validator uid 0, exactly as subxt-signer derives the key.
    let pair = subxt_signer::sr25519::Keypair::from_secret_key(seed).unwrap();
    let hotkey = devnet.node.chain().neurons[0].hotkey;
    assert_eq!(pair.public_key().0, hotkey);
    assert_eq!(
        key["ss58Address"],
        tenure::chain::AccountId(hotkey).to_ss58()
    );
    assert!(dir.path().join("devnet/hotkeys/validatorpub.txt").is_file());
    devnet.stop().await;
}

#[tokio::test]
async fn a_scenario_plays_its_actions_at_their_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, ledger) = (
        dir.path().join("scenario.jsonl"),
        dir.path().join("ledger.jsonl"),
    );
    // tempo 9, netuid 3: epochs at blocks 6, 16, 26, ...
    std::fs::write(
        &scenario,
        [
            r#"{"block": 3, "action": "buy", "uid": 4, "alpha": 5000000000}"#,
            r#"{"block": 4, "action": "sell", "uid": 4, "alpha": 1000000000}"#,
            r#"{"block": 5, "action": "move", "uid": 4, "to_uid": 5, "alpha": 2000000000}"#,
            r#"{"block": 7, "action": "sell", "uid": 6}"#,
            r#"{"block": 8, "action": "reregister", "uid": 7}"#,
            r#"{"block": 9, "action": "swap_hotkey", "uid": 8}"#,
            r#"{"block": 10, "action": "change_owner", "uid": 9}"#,
            r#"{"block": 11, "action": "swap_coldkey", "uid": 10}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let args = DevnetArgs {
        scenario: Some(scenario),
        ledger: Some(ledger.clone()),
        ..args(None)
    };
    let devnet = Devnet::start(&args).await.unwrap();
    while devnet.node.chain().best() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&ledger)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = |kind: &str| -> Vec<u64> {
        lines
            .iter()
            .filter(|l| l["kind"] == kind)
            .map(|l| l["block"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(at("stake_added"), vec![3]);
    assert_eq!(at("stake_removed"), vec![4, 7]);
    assert_eq!(at("stake_moved"), vec![5]);
    assert_eq!(
        at("registered")
            .into_iter()
            .filter(|b| *b > 0)
            .collect::<Vec<_>>(),
        vec![8]
    );
    assert_eq!(at("hotkey_swapped"), vec![9]);
    assert_eq!(at("owner_changed"), vec![10]);
    assert_eq!(at("coldkey_swapped"), vec![11]);
    // Exact amounts: the buy adds 5 alpha to uid 4's owner; the move takes 2 of them away.
    let added = lines.iter().find(|l| l["kind"] == "stake_added").unwrap();
    assert_eq!(added["alpha"], 5_000_000_000u64);
    // A full sell leaves the owner with nothing on that hotkey.
    let owner6 = {
        let chain = devnet.node.chain();
        tenure::chain::AccountId(chain.owner(&chain.neurons[6].hotkey)).to_ss58()
    };
    let last6 = lines
        .iter()
        .rev()
        .find(|l| {
            l["kind"] == "stake"
                && l["coldkey"] == owner6.as_str()
                && l["block"].as_u64().unwrap() <= 7
        })
        .unwrap();
    assert_eq!(last6["alpha"], 0, "{last6}");
    // And every line agrees with the chain.
    let api = client(&devnet.url()).await;
    assert!(verify_ledger(&api, &lines, args.netuid).await > 20);
    devnet.stop().await;
}

/// The `tenure-devnet` binary itself (what the quickstart and the compose profile run): it
/// prints where it listens, serves subxt there, writes the validator's wallet, and stops with
/// exit 0 on SIGTERM. `scripts/test.sh` builds it beside the `tenure` binary.
#[tokio::test]
async fn the_devnet_binary_serves_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tenure")).with_file_name("tenure-devnet");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests through scripts/test.sh, which builds it",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(&bin)
        .args(["--port", "0", "--block-ms", "50", "--wallet-path"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tenure-devnet");
    let stdout = child.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("devnet listening on ").map(str::to_string))
    })
    .await
    .unwrap()
    .expect("the devnet prints where it listens");
    let api = client(&url).await;
    let at = api.at_current_block().await.expect("a block");
    assert!(at.block_number() < 1_000);
    assert!(dir.path().join("devnet/hotkeys/validator").is_file());
    common::sigterm(&child);
    let status = common::wait_exit(&mut child, 10).await;
    assert!(status.success(), "exit {status}");
}

/// Pallets, storage entries (with their key counts), calls and events as subxt reads them from
/// metadata bytes of any version.
fn surface(bytes: &[u8]) -> Vec<String> {
    let md = subxt::Metadata::decode_from(bytes).expect("subxt reads the metadata");
    let mut out = Vec::new();
    for p in md.pallets() {
        for e in p.storage().map(|s| s.entries()).unwrap_or_default() {
            out.push(format!(
                "{}.{} keys {}",
                p.name(),
                e.name(),
                e.keys().count()
            ));
        }
        for c in p.call_variants().unwrap_or_default() {
            out.push(format!(
                "{} call {} {} {}",
                p.name(),
                c.index,
                c.name,
                c.fields.len()
            ));
        }
        for e in p.event_variants().unwrap_or_default() {
            out.push(format!(
                "{} event {} {} {}",
                p.name(),
                e.index,
                e.name,
                e.fields.len()
            ));
        }
    }
    out
}

/// Like a node: `Metadata_metadata_versions` is [14, 15, 16], every version is served by
/// `Metadata_metadata_at_version` and describes the same runtime, `state_getMetadata` and
/// `Metadata_metadata` answer V14, an unknown version is `None`; the aliases clients such as
/// the Python SDK call (`chain_getHead`, `state_getStorageAt`, …) answer as their methods do.
/// Both with the devnet's own metadata and with the real finney file.
#[tokio::test]
async fn metadata_is_served_in_v14_v15_and_v16_like_a_node() {
    use subxt::ext::codec::{Decode, Encode};
    use subxt::rpcs::{RpcClient, rpc_params};
    for metadata in [None, Some(finney_metadata())] {
        let devnet = Devnet::start(&args(metadata.clone())).await.unwrap();
        let rpc = RpcClient::from_url(&devnet.url()).await.unwrap();
        let call = |name: &'static str, data: Vec<u8>| {
            let rpc = rpc.clone();
            async move {
                let out: String = rpc
                    .request(
                        "state_call",
                        rpc_params![name, format!("0x{}", hex::encode(data))],
                    )
                    .await
                    .unwrap();
                hex::decode(out.trim_start_matches("0x")).unwrap()
            }
        };
        let versions =
            Vec::<u32>::decode(&mut &call("Metadata_metadata_versions", vec![]).await[..]).unwrap();
        assert_eq!(versions, vec![14, 15, 16], "{metadata:?}");
        let mut served = Vec::new();
        for v in &versions {
            let answer = call("Metadata_metadata_at_version", v.encode()).await;
            let bytes = Option::<Vec<u8>>::decode(&mut &answer[..])
                .unwrap()
                .unwrap();
            assert_eq!(&bytes[..4], b"meta");
            assert_eq!(u32::from(bytes[4]), *v);
            served.push(surface(&bytes));
        }
        assert!(
            served[2]
                .iter()
                .any(|s| s.starts_with("SubtensorModule.Weights keys 2"))
        );
        assert_eq!(served[0], served[2], "V14 describes the V16 runtime");
        assert_eq!(served[1], served[2], "V15 describes the V16 runtime");
        let none = call("Metadata_metadata_at_version", 17u32.encode()).await;
        assert_eq!(Option::<Vec<u8>>::decode(&mut &none[..]).unwrap(), None);
        let state: String = rpc
            .request("state_getMetadata", rpc_params![])
            .await
            .unwrap();
        let state = hex::decode(state.trim_start_matches("0x")).unwrap();
        assert_eq!(state[4], 14, "state_getMetadata is V14");
        let opaque = call("Metadata_metadata", vec![]).await;
        assert_eq!(Vec::<u8>::decode(&mut &opaque[..]).unwrap(), state);
        // subxt (and so tenure) reads the newest.
        let api = client(&devnet.url()).await;
        let at = api.at_current_block().await.unwrap();
        assert!(at.metadata().pallet_by_name("SubtensorModule").is_some());
        // Aliases.
        let head: String = rpc.request("chain_getHead", rpc_params![]).await.unwrap();
        assert!(head.starts_with("0x") && head.len() == 66, "{head}");
        let finalised: String = rpc
            .request("chain_getFinalisedHead", rpc_params![])
            .await
            .unwrap();
        let finalized: String = rpc
            .request("chain_getFinalizedHead", rpc_params![])
            .await
            .unwrap();
        assert_eq!(finalised.len(), finalized.len());
        // Timestamp.Now at the best block, through both names.
        let key = "0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb";
        let now: Option<String> = rpc
            .request("state_getStorageAt", rpc_params![key, &head])
            .await
            .unwrap();
        let again: Option<String> = rpc
            .request("state_getStorage", rpc_params![key, &head])
            .await
            .unwrap();
        assert!(now.is_some());
        assert_eq!(now, again);
        devnet.stop().await;
    }
}
