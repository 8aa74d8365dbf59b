//! The devnet's fault injection, observed from real WebSocket clients: connections dropped,
//! connections refused for a while, a finalized subscription that stalls without closing, and a
//! runtime upgrade with a metadata change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use subxt::backend::LegacyBackend;
use subxt::rpcs::{RpcClient, rpc_params};
use subxt::{OnlineClient, SubstrateConfig};
use tenure_devnet::{Devnet, DevnetArgs};

fn args() -> DevnetArgs {
    DevnetArgs {
        port: 0,
        block_ms: 20,
        finality_lag: 2,
        seed: 3,
        netuid: 2,
        miners: 6,
        validators: 1,
        tempo: 4,
        metadata: None,
        ..DevnetArgs::default()
    }
}

fn number(header: &Json) -> u64 {
    let n = header["number"].as_str().expect("number");
    u64::from_str_radix(n.trim_start_matches("0x"), 16).unwrap()
}

/// A finalized-heads subscription, with the client that must outlive it.
async fn finalized_subscription(
    url: &str,
) -> (RpcClient, subxt::rpcs::client::RpcSubscription<Json>) {
    let rpc = RpcClient::from_url(url).await.expect("connect");
    let sub = rpc
        .subscribe(
            "chain_subscribeFinalizedHeads",
            rpc_params![],
            "chain_unsubscribeFinalizedHeads",
        )
        .await
        .expect("subscribe");
    (rpc, sub)
}

#[tokio::test]
async fn dropped_connections_end_subscriptions_and_reconnects_work() {
    let devnet = Devnet::start(&DevnetArgs {
        drop_every: 15,
        ..args()
    })
    .await
    .unwrap();
    let (_rpc, mut sub) = finalized_subscription(&devnet.url()).await;
    let started = Instant::now();
    let mut last = 0;
    let mut received = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
            Ok(Some(Ok(h))) => {
                last = number(&h);
                received += 1;
            }
            Ok(Some(Err(_)) | None) => break,
            Err(_) => panic!("the connection was never dropped"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        received > 0 && last < 16,
        "ended after {received} headers, last {last}"
    );
    // The server listens again at once, and the chain went on.
    let (_rpc2, mut sub) = finalized_subscription(&devnet.url()).await;
    let h = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(number(&h) > last, "{} after {last}", number(&h));
    devnet.stop().await;
}

#[tokio::test]
async fn connections_are_refused_for_a_while() {
    let devnet = Devnet::start(&DevnetArgs {
        refuse_at: 10,
        refuse_ms: 700,
        ..args()
    })
    .await
    .unwrap();
    while devnet.node.chain().best() < 11 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        RpcClient::from_url(devnet.url()).await.is_err(),
        "connected while refusing"
    );
    let refused_at = devnet.node.chain().best();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let rpc = RpcClient::from_url(devnet.url())
        .await
        .expect("listening again");
    let head: Json = rpc.request("chain_getHeader", rpc_params![]).await.unwrap();
    assert!(
        number(&head) > refused_at + 5,
        "blocks are produced while refusing"
    );
    devnet.stop().await;
}

#[tokio::test]
async fn a_stalled_subscription_stays_open_and_skips_blocks() {
    let devnet = Devnet::start(&DevnetArgs {
        stall_at: 10,
        stall_blocks: 15,
        ..args()
    })
    .await
    .unwrap();
    let (_rpc, mut sub) = finalized_subscription(&devnet.url()).await;
    let mut seen = Vec::new();
    while seen.last().is_none_or(|n| *n < 35) {
        let h = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("the subscription resumes")
            .expect("still open")
            .expect("a header");
        seen.push(number(&h));
    }
    // Blocks 10..25 finalized blocks 8..23, whose headers were never sent.
    assert!(seen.contains(&7) || seen[0] > 7, "{seen:?}");
    assert!(!seen.iter().any(|n| (8..23).contains(n)), "{seen:?}");
    assert!(seen.contains(&23), "{seen:?}");
    devnet.stop().await;
}

#[tokio::test]
async fn a_runtime_upgrade_changes_spec_version_and_layout() {
    let devnet = Devnet::start(&DevnetArgs {
        upgrade_at: 12,
        ..args()
    })
    .await
    .unwrap();
    while devnet.node.chain().finalized < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rpc = RpcClient::from_url(devnet.url()).await.unwrap();
    let backend = LegacyBackend::<SubstrateConfig>::builder().build(rpc);
    let api = OnlineClient::<SubstrateConfig>::from_backend(Arc::new(backend))
        .await
        .unwrap();
    let before = api.at_block(11u64).await.unwrap();
    let after = api.at_block(12u64).await.unwrap();
    assert_eq!(before.spec_version(), 393);
    assert_eq!(after.spec_version(), 394);
    let has = |m: &subxt::Metadata| {
        m.pallet_by_name("SubtensorModule")
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name("LastEpochBlock"))
            .is_some()
    };
    assert!(!has(&before.metadata()));
    assert!(has(&after.metadata()));
    // After the upgrade epochs run `tempo` (4) blocks apart and record LastEpochBlock: the
    // last legacy epoch was 7 ((b + 3) % 5 == 0), so 12 runs (12 - 7 >= 4), then 16, 20.
    let epoch = 20u64;
    let at = api.at_block(epoch).await.unwrap();
    let last_epoch: u64 = at
        .storage()
        .fetch(
            subxt::dynamic::storage::<(u16,), u64>("SubtensorModule", "LastEpochBlock"),
            (2u16,),
        )
        .await
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(last_epoch, epoch);
    devnet.stop().await;
}
