//! tenure's chain client against the devnet over real WebSockets: the finalized stream survives
//! dropped connections and a stalled subscription without losing or repeating a block; reads
//! equal the devnet's ground truth; weights are accepted, plainly and through commit-reveal.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use subxt::ext::scale_value::Value;
use tenure::chain::AccountId;
use tenure::chain::client::{ChainClient, ChainError, Lifetime, Sending, Settings, era_before};
use tenure::chain::follow::follow;
use tenure_devnet::{Devnet, DevnetArgs};
use tokio_util::sync::CancellationToken;

use crate::common;
use common::finney_metadata;

fn settings(url: &str) -> Settings {
    Settings {
        endpoints: vec![url.to_string()],
        archive_endpoints: Vec::new(),
        rpc_timeout: Duration::from_secs(5),
        stall_timeout: Duration::from_millis(600),
        reconnect_initial: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
    }
}

fn args(metadata: Option<PathBuf>) -> DevnetArgs {
    DevnetArgs {
        port: 0,
        block_ms: 15,
        finality_lag: 2,
        seed: 21,
        netuid: 4,
        miners: 16,
        validators: 2,
        tempo: 9,
        metadata,
        ..DevnetArgs::default()
    }
}

/// `set_weights` arguments: `dests` with `weights`, version key 0.
fn set_weights(netuid: u16, dests: &[u16], weights: &[u16]) -> Vec<Value> {
    let u16s = |v: &[u16]| Value::unnamed_composite(v.iter().map(|x| Value::u128((*x).into())));
    vec![
        Value::u128(netuid.into()),
        u16s(dests),
        u16s(weights),
        Value::u128(0),
    ]
}

/// The devnet's first validator, the signer of the tests' transactions.
fn validator(a: &DevnetArgs) -> subxt_signer::sr25519::Keypair {
    subxt_signer::sr25519::Keypair::from_secret_key(tenure_devnet::chain::validator_secret(
        a.seed, 0,
    ))
    .unwrap()
}

#[tokio::test]
async fn two_hundred_blocks_exactly_once_through_drops_and_a_stall() {
    let devnet = Devnet::start(&DevnetArgs {
        drop_every: 60,
        // Drops at 60, 120, 180; a stall from 125 to 180 that outlasts the stall timeout.
        stall_at: 125,
        stall_blocks: 55,
        ..args(None)
    })
    .await
    .unwrap();
    // A dead endpoint first: the client fails over to the devnet.
    let mut s = settings(&devnet.url());
    s.endpoints.insert(0, "ws://127.0.0.1:9".into());
    let client = Arc::new(ChainClient::new(s));
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(follow(client.clone(), 1, tx, cancel.clone()));
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 200 {
        let block = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("200 blocks within a minute")
            .expect("stream open");
        seen.push(block);
    }
    cancel.cancel();
    task.await.unwrap();
    let numbers: Vec<u64> = seen.iter().map(|b| b.number).collect();
    assert_eq!(numbers, (1..=200).collect::<Vec<_>>());
    // Every hash is the devnet's hash of that number.
    {
        let chain = devnet.node.chain();
        for b in &seen {
            assert_eq!(
                b.hash, chain.blocks[b.number as usize].hash.0,
                "block {}",
                b.number
            );
        }
    }
    let c = &client.counters;
    assert!(
        c.reconnects.load(Ordering::Relaxed) >= 3,
        "reconnects: {}",
        c.reconnects.load(Ordering::Relaxed)
    );
    assert!(
        c.stalls.load(Ordering::Relaxed) >= 1,
        "the stall was detected"
    );
    devnet.stop().await;
}

/// uid → hotkey, hotkey → owner and the last epoch's emissions at block `n`, replayed from the
/// devnet's ledger.
struct Truth {
    hotkeys: std::collections::BTreeMap<u64, String>,
    owners: std::collections::BTreeMap<String, String>,
    emission: std::collections::BTreeMap<u64, u64>,
    last_epoch: u64,
}

fn truth_at(lines: &[serde_json::Value], n: u64) -> Truth {
    let mut t = Truth {
        hotkeys: Default::default(),
        owners: Default::default(),
        emission: Default::default(),
        last_epoch: 0,
    };
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    for l in lines.iter().filter(|l| l["block"].as_u64().unwrap() <= n) {
        let b = l["block"].as_u64().unwrap();
        match l["kind"].as_str().unwrap() {
            "registered" => {
                t.hotkeys
                    .insert(l["uid"].as_u64().unwrap(), s(&l["hotkey"]));
                t.owners.insert(s(&l["hotkey"]), s(&l["coldkey"]));
            }
            "hotkey_swapped" => {
                t.hotkeys.insert(l["uid"].as_u64().unwrap(), s(&l["to"]));
                t.owners.insert(s(&l["to"]), s(&l["coldkey"]));
            }
            "owner_changed" => {
                t.owners.insert(s(&l["hotkey"]), s(&l["to"]));
            }
            "coldkey_swapped" => {
                for owner in t.owners.values_mut() {
                    if *owner == s(&l["from"]) {
                        *owner = s(&l["to"]);
                    }
                }
            }
            "emission" => {
                if b != t.last_epoch {
                    t.emission.clear();
                    t.last_epoch = b;
                }
                t.emission
                    .insert(l["uid"].as_u64().unwrap(), l["amount"].as_u64().unwrap());
            }
            _ => {}
        }
    }
    t
}

async fn reads_equal_the_ledger(metadata: Option<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let a = DevnetArgs {
        activity: 60,
        ledger: Some(ledger.clone()),
        ..args(metadata)
    };
    let devnet = Devnet::start(&a).await.unwrap();
    let client = ChainClient::new(settings(&devnet.url()));
    while client.finalized_head().await.unwrap().number < 60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let head = client.finalized_head().await.unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&ledger)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let changes = lines
        .iter()
        .filter(|l| {
            ["hotkey_swapped", "owner_changed", "coldkey_swapped"]
                .contains(&l["kind"].as_str().unwrap())
        })
        .count();
    assert!(changes > 0, "no ownership changes to check");
    for n in [head.number / 3, 2 * head.number / 3, head.number] {
        let truth = truth_at(&lines, n);
        let block = client.block_hash(n).await.unwrap();
        let neurons = client.neurons(block, a.netuid).await.unwrap();
        assert_eq!(neurons.len(), usize::from(a.miners + a.validators));
        let hotkeys: Vec<AccountId> = neurons.iter().map(|(_, h)| *h).collect();
        let owners: Vec<[u8; 32]> = client
            .fetch_many(
                block,
                "SubtensorModule",
                "Owner",
                hotkeys.iter().map(|h| (h.0,)).collect(),
            )
            .await
            .unwrap();
        for (i, (uid, hotkey)) in neurons.iter().enumerate() {
            assert_eq!(*uid as usize, i);
            assert_eq!(
                hotkey.to_ss58(),
                truth.hotkeys[&u64::from(*uid)],
                "uid {uid} at {n}"
            );
            assert_eq!(
                AccountId(owners[i]).to_ss58(),
                truth.owners[&hotkey.to_ss58()],
                "owner of uid {uid} at {n}"
            );
        }
        // Emission is rewritten at each epoch block: read it there.
        let epoch_block = client.block_hash(truth.last_epoch).await.unwrap();
        let emission: Vec<u64> = client
            .fetch(epoch_block, "SubtensorModule", "Emission", (a.netuid,))
            .await
            .unwrap();
        let expected: Vec<u64> = truth.emission.values().copied().collect();
        assert_eq!(emission, expected, "emission at {}", truth.last_epoch);
        let step: u64 = client
            .fetch(
                epoch_block,
                "SubtensorModule",
                "LastMechansimStepBlock",
                (a.netuid,),
            )
            .await
            .unwrap();
        assert_eq!(step, truth.last_epoch);
    }
    // A storage item the runtime does not have is a loud error, never a zero.
    let err = client
        .fetch::<_, u64>(head, "SubtensorModule", "NoSuchItem", (a.netuid,))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("NoSuchItem"), "{err}");
    devnet.stop().await;
}

#[tokio::test]
async fn reads_with_own_metadata() {
    reads_equal_the_ledger(None).await;
}

#[tokio::test]
async fn reads_with_finney_metadata() {
    let m = finney_metadata();
    reads_equal_the_ledger(Some(m)).await;
}

#[tokio::test]
async fn set_weights_through_the_client() {
    // Own metadata (the wrapper fee extension), then finney's (the plain one) when present.
    for metadata in [None, Some(finney_metadata())] {
        let a = DevnetArgs {
            rate_limit: 1000,
            ..args(metadata)
        };
        let devnet = Devnet::start(&a).await.unwrap();
        let client = ChainClient::new(settings(&devnet.url()));
        let signer = validator(&a);
        let call = |dests: Vec<u16>, weights: Vec<u16>| set_weights(a.netuid, &dests, &weights);
        let done = client
            .submit(
                &signer,
                "SubtensorModule",
                "set_weights",
                call(vec![2, 3], vec![1, 2]),
                Duration::from_secs(20),
            )
            .await
            .expect("accepted");
        assert!(
            done.events
                .iter()
                .any(|e| e == "SubtensorModule.WeightsSet"),
            "{:?}",
            done.events
        );
        let stored: Vec<(u16, u16)> = client
            .fetch(done.block, "SubtensorModule", "Weights", (a.netuid, 0u16))
            .await
            .unwrap();
        assert_eq!(stored, vec![(2, 32767), (3, 65535)]);
        let err = client
            .submit(
                &signer,
                "SubtensorModule",
                "set_weights",
                call(vec![2], vec![1]),
                Duration::from_secs(20),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("SettingWeightsTooFast"), "{err}");
        assert!(!err.is_transient());
        devnet.stop().await;
    }
}

/// A transaction signed to die before a deadline is refused by the node once the block being
/// built is past its lifetime (the devnet validates eras as substrate does, against best + 1),
/// leaves its nonce unused and never lands; one signed with room lands inside its lifetime.
#[tokio::test]
async fn a_transaction_past_its_lifetime_is_refused_and_never_lands() {
    let a = DevnetArgs {
        block_ms: 60,
        ..args(None)
    };
    let devnet = Devnet::start(&a).await.unwrap();
    let client = ChainClient::new(settings(&devnet.url()));
    let signer = validator(&a);
    let who = AccountId(signer.public_key().0);
    // Weights 1:2 or 2:1 on uids 2 and 3: which of the two landed shows in storage.
    let call = |first: u16| set_weights(a.netuid, &[2, 3], &[first, 3 - first]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let head = loop {
        let head = client.finalized_head().await.unwrap();
        if head.number >= 20 {
            break head;
        }
        assert!(tokio::time::Instant::now() < deadline, "no block 20");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let nonce = client.next_nonce(who).await.unwrap();
    // Born 12 blocks before the finalized head, it may land only up to 4 blocks later.
    let birth = client.block_hash(head.number - 12).await.unwrap();
    let stale = Lifetime::From { birth, blocks: 4 };
    let send = |lifetime: Lifetime, first: u16| {
        client.submit_tracked(
            &signer,
            "SubtensorModule",
            "set_weights",
            call(first),
            Sending {
                nonce,
                lifetime,
                finalize_timeout: Duration::from_secs(20),
            },
            None,
        )
    };
    let err = send(stale, 1).await.unwrap_err();
    // The node's reason is kept (JSON-RPC `data`), not only "Invalid Transaction (1010)".
    assert!(
        matches!(&err, ChainError::Invalid { .. })
            && !err.is_transient()
            && (err.to_string().contains("bad signature")
                || err.to_string().contains("ancient birth block")),
        "{err}"
    );
    assert_eq!(
        client.next_nonce(who).await.unwrap(),
        nonce,
        "the nonce is unused"
    );
    // The same nonce with room: an era ending at block head + 30, born before the head (32
    // blocks, a power of two). It lands, inside its lifetime.
    let (born, blocks) = era_before(head.number, head.number + 30).unwrap();
    assert_eq!((born, blocks), (head.number - 2, 32));
    let fresh = Lifetime::From {
        birth: client.block_hash(born).await.unwrap(),
        blocks,
    };
    let done = send(fresh, 2).await.expect("lands");
    assert!(
        done.block.number <= fresh.last_block().unwrap(),
        "landed in block {} after its lifetime {fresh:?}",
        done.block.number
    );
    // Exactly one set reached the chain, and it is the fresh one.
    let stored: Vec<(u16, u16)> = client
        .fetch(done.block, "SubtensorModule", "Weights", (a.netuid, 0u16))
        .await
        .unwrap();
    assert_eq!(stored, vec![(2, 65535), (3, 32767)]);
    assert_eq!(client.next_nonce(who).await.unwrap(), nonce + 1);
    devnet.stop().await;
}

#[tokio::test]
async fn commit_reveal_through_the_client() {
    let a = DevnetArgs {
        block_ms: 25,
        tempo: 29,
        rate_limit: 10,
        commit_reveal: true,
        ..args(None)
    };
    let devnet = Devnet::start(&a).await.unwrap();
    let client = ChainClient::new(settings(&devnet.url()));
    let signer = validator(&a);
    let head = client.finalized_head().await.unwrap();
    let h = client.hyperparams(head, a.netuid).await.unwrap();
    assert!(h.commit_reveal);
    assert_eq!(
        (h.tempo, h.rate_limit, h.commit_reveal_version),
        (29, 10, 4)
    );
    let beacon = common::devnet_beacon(a.seed);
    let req = tenure::chain::submit::WeightsRequest {
        netuid: a.netuid,
        mechid: 0,
        uids: vec![1, 5, 9],
        weights: vec![10, 20, 40],
        version_key: 0,
    };
    let pushed = client
        .push_weights(&signer, &beacon, &req, 12.0, Duration::from_secs(20))
        .await
        .expect("commit accepted");
    let tenure::chain::submit::Pushed::Committed { submitted, .. } = pushed else {
        panic!("a commit-reveal subnet got plain weights")
    };
    assert!(
        submitted
            .events
            .iter()
            .any(|e| e == "SubtensorModule.TimelockedWeightsCommitted")
    );
    // At the reveal epoch the devnet decrypts the commit into the same weights.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let head = client.finalized_head().await.unwrap();
        let w: Vec<(u16, u16)> = client
            .fetch(head, "SubtensorModule", "Weights", (a.netuid, 0u16))
            .await
            .unwrap();
        if !w.is_empty() {
            assert_eq!(w, vec![(1, 16383), (5, 32767), (9, 65535)]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never revealed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    devnet.stop().await;
}
