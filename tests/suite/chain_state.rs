//! tenure's reads of subnet state against the devnet's ground truth (its ledger), over real
//! WebSockets: decoded events, epochs and emissions, neurons and owners, and held stake computed
//! with the runtime's share-pool arithmetic — across a runtime upgrade that switches the storage
//! layout from v1 (`Alpha`, U64F64) to v2 (`AlphaV2`, SafeFloat), and on finney's real metadata.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;
use tenure::chain::AccountId;
use tenure::chain::client::{ChainClient, Settings};
use tenure::chain::events::ChainEvent;
use tenure_devnet::{Devnet, DevnetArgs};

use crate::common;
use common::finney_metadata;

fn client(url: &str) -> ChainClient {
    ChainClient::new(Settings {
        endpoints: vec![url.to_string()],
        archive_endpoints: Vec::new(),
        rpc_timeout: Duration::from_secs(10),
        stall_timeout: Duration::from_secs(5),
        reconnect_initial: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
    })
}

fn ledger(path: &std::path::Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn acct(v: &Json) -> AccountId {
    v.as_str().unwrap().parse().unwrap()
}

async fn check_against_ledger(metadata: Option<PathBuf>, upgrade_at: u64) {
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.jsonl");
    let netuid = 3;
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 10,
        finality_lag: 1,
        seed: 5,
        netuid,
        miners: 12,
        validators: 2,
        tempo: 7,
        activity: 70,
        upgrade_at,
        metadata,
        ledger: Some(ledger_path.clone()),
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    let last = 64u64;
    while devnet.node.chain().finalized < last {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lines = ledger(&ledger_path);
    let c = client(&devnet.url());

    // Ledger state as of each block: alpha per (coldkey, hotkey).
    let mut held: BTreeMap<(AccountId, AccountId), u64> = BTreeMap::new();
    let mut stake_events = 0;
    let mut epochs = 0;
    let mut epoch_blocks: Vec<(u64, u64)> = Vec::new();
    for n in 1..=last {
        let block = c.block_hash(n).await.unwrap();
        let data = c.block_data(block, netuid).await.unwrap();
        let here: Vec<&Json> = lines.iter().filter(|l| l["block"] == n).collect();
        let kind = |k: &'static str| here.iter().filter(move |l| l["kind"] == k).copied();
        for l in kind("stake") {
            held.insert(
                (acct(&l["coldkey"]), acct(&l["hotkey"])),
                l["alpha"].as_u64().unwrap(),
            );
        }
        assert_eq!(data.number, n);
        if upgrade_at > 0 {
            let expected = if n >= upgrade_at { 394 } else { 393 };
            assert_eq!(data.spec_version, expected, "block {n}");
        }
        assert_eq!(data.timestamp_ms, 1_767_225_600_000 + n * 12_000);
        // Every stake operation of the ledger is an event with the same accounts and amount.
        for l in kind("stake_added") {
            stake_events += 1;
            let want = ChainEvent::StakeAdded {
                coldkey: acct(&l["coldkey"]),
                hotkey: acct(&l["hotkey"]),
                netuid,
                alpha: l["alpha"].as_u64().unwrap(),
            };
            assert!(
                data.events.contains(&want),
                "block {n}: {want:?} in {:?}",
                data.events
            );
        }
        for l in kind("stake_removed") {
            stake_events += 1;
            let want = ChainEvent::StakeRemoved {
                coldkey: acct(&l["coldkey"]),
                hotkey: acct(&l["hotkey"]),
                netuid,
                alpha: l["alpha"].as_u64().unwrap(),
            };
            assert!(data.events.contains(&want), "block {n}: {want:?}");
        }
        for l in kind("stake_moved") {
            stake_events += 1;
            let want = ChainEvent::StakeMoved {
                coldkey: acct(&l["coldkey"]),
                from_hotkey: acct(&l["from"]),
                from_netuid: netuid,
                to_hotkey: acct(&l["to"]),
                to_netuid: netuid,
            };
            assert!(data.events.contains(&want), "block {n}: {want:?}");
        }
        for l in kind("coldkey_swapped") {
            let want = ChainEvent::ColdkeySwapped {
                old_coldkey: acct(&l["from"]),
                new_coldkey: acct(&l["to"]),
            };
            assert!(data.events.contains(&want), "block {n}: {want:?}");
        }
        for l in kind("registered") {
            let want = ChainEvent::NeuronRegistered {
                netuid,
                uid: l["uid"].as_u64().unwrap() as u16,
                hotkey: acct(&l["hotkey"]),
            };
            assert!(data.events.contains(&want), "block {n}: {want:?}");
        }
        // Epochs: exactly the blocks with emissions, with the same amounts by uid.
        let emitted: Vec<u64> = kind("emission")
            .map(|l| l["amount"].as_u64().unwrap())
            .collect();
        match &data.epoch {
            Some(e) => {
                epochs += 1;
                assert_eq!(e.emissions, emitted, "block {n}");
                assert_eq!(e.tempo, 7);
                // Legacy index before a dynamic-tempo upgrade; SubnetEpochIndex after; +1 each.
                if upgrade_at == 0 || n < upgrade_at {
                    assert_eq!(e.index, (n + u64::from(netuid) + 1) / 8);
                }
                if let Some((_, prev)) = epoch_blocks.last() {
                    assert_eq!(e.index, prev + 1, "block {n}");
                }
                epoch_blocks.push((n, e.index));
                assert_eq!(e.neurons.len(), 14);
                assert!(e.neurons[0].validator_permit && !e.neurons[5].validator_permit);
                assert!(data.events.iter().any(|ev| matches!(ev,
                    ChainEvent::IncentiveAlphaEmittedToMiners { emissions, .. } if *emissions == emitted)));
            }
            None => assert!(emitted.is_empty(), "block {n} has emissions but no epoch"),
        }
        // Held stake of every pair the ledger knows equals what the client computes.
        if n % 8 == 0 || n == upgrade_at || n == last {
            let pairs: Vec<(AccountId, AccountId)> = held.keys().copied().collect();
            let got = c
                .holdings(block, netuid, vec![], pairs.clone())
                .await
                .unwrap();
            for h in &got {
                assert_eq!(
                    Some(&h.alpha),
                    held.get(&(h.coldkey, h.hotkey)),
                    "block {n}: {} on {}",
                    h.coldkey,
                    h.hotkey
                );
            }
            assert_eq!(got.len(), pairs.len());
        }
    }
    assert!(
        stake_events >= 5,
        "the run exercised too few stake operations"
    );
    assert!(epochs >= 7);

    // Neurons and owners at the head equal the devnet's own state.
    let head = c.block_hash(last).await.unwrap();
    let neurons = c.neuron_snapshot(head, netuid).await.unwrap();
    let owners = c
        .owners(head, neurons.iter().map(|x| x.hotkey).collect())
        .await
        .unwrap();
    // The ledger's story up to `last`: uid -> (hotkey, registered at), hotkey -> owner.
    let mut slots: BTreeMap<u64, (AccountId, u64)> = BTreeMap::new();
    let mut owner_of: BTreeMap<AccountId, AccountId> = BTreeMap::new();
    for l in lines
        .iter()
        .filter(|l| l["block"].as_u64().unwrap() <= last)
    {
        let b = l["block"].as_u64().unwrap();
        match l["kind"].as_str().unwrap() {
            "registered" => {
                slots.insert(l["uid"].as_u64().unwrap(), (acct(&l["hotkey"]), b));
                owner_of.insert(acct(&l["hotkey"]), acct(&l["coldkey"]));
            }
            "hotkey_swapped" => {
                let slot = slots.get_mut(&l["uid"].as_u64().unwrap()).unwrap();
                slot.0 = acct(&l["to"]);
                owner_of.insert(acct(&l["to"]), acct(&l["coldkey"]));
            }
            "owner_changed" => {
                owner_of.insert(acct(&l["hotkey"]), acct(&l["to"]));
            }
            "coldkey_swapped" => {
                let (from, to) = (acct(&l["from"]), acct(&l["to"]));
                owner_of
                    .values_mut()
                    .filter(|c| **c == from)
                    .for_each(|c| *c = to);
            }
            _ => {}
        }
    }
    assert_eq!(neurons.len(), slots.len());
    for (x, owner) in neurons.iter().zip(&owners) {
        let (hotkey, registered_at) = slots[&u64::from(x.uid)];
        assert_eq!(
            (x.hotkey, x.registered_at),
            (hotkey, registered_at),
            "uid {}",
            x.uid
        );
        assert_eq!(*owner, owner_of[&hotkey], "owner of uid {}", x.uid);
    }
    // A coldkey's holdings through StakingHotkeys alone cover every pair it holds.
    let (coldkey, _) = *held.iter().find(|(_, a)| **a > 0).unwrap().0;
    let got = c
        .holdings(head, netuid, vec![coldkey], vec![])
        .await
        .unwrap();
    for ((cold, hot), alpha) in held.iter().filter(|((c, _), a)| *c == coldkey && **a > 0) {
        assert!(
            got.iter()
                .any(|h| h.coldkey == *cold && h.hotkey == *hot && h.alpha == *alpha),
            "{cold} on {hot}: {alpha} not in {got:?}"
        );
    }
    devnet.stop().await;
}

#[tokio::test]
async fn reads_equal_the_ledger_across_a_layout_upgrade() {
    check_against_ledger(None, 30).await;
}

#[tokio::test]
async fn reads_equal_the_ledger_on_finney_metadata() {
    let finney = finney_metadata();
    check_against_ledger(Some(finney), 0).await;
}

#[tokio::test]
async fn axons_and_permits_read_as_served() {
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 10,
        netuid: 2,
        miners: 6,
        validators: 2,
        axons: true,
        ..DevnetArgs::default()
    })
    .await
    .unwrap();
    while devnet.node.chain().finalized < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = client(&devnet.url());
    let head = c.block_hash(3).await.unwrap();
    let neurons = c.neuron_snapshot(head, 2).await.unwrap();
    let permits: Vec<bool> = neurons.iter().map(|n| n.validator_permit).collect();
    assert_eq!(
        permits,
        [true, true, false, false, false, false, false, false]
    );
    let mut hotkeys: Vec<AccountId> = neurons.iter().map(|n| n.hotkey).collect();
    hotkeys.push(AccountId([9; 32])); // never served
    let axons = c.axons(head, 2, hotkeys).await.unwrap();
    assert_eq!(axons.last(), Some(&None));
    let ports: Vec<u16> = devnet
        .node
        .chain()
        .params
        .axons
        .iter()
        .map(|a| a.0)
        .collect();
    for (uid, axon) in axons[..8].iter().enumerate() {
        let axon = axon.expect("every uid serves an axon");
        assert_eq!(axon.ip, std::net::IpAddr::from([127, 0, 0, 1]));
        assert_eq!(axon.port, ports[uid]);
    }
    devnet.stop().await;
}
