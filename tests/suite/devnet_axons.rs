//! Miners' axons are real TCP listeners on 127.0.0.1, served on chain in `Axons`, open or
//! closed as each miner's uptime profile says at the current block.

use std::sync::Arc;
use std::time::Duration;

use subxt::backend::LegacyBackend;
use subxt::ext::scale_value::At;
use subxt::{OnlineClient, SubstrateConfig};
use tenure_devnet::{Devnet, DevnetArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn reachable(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

async fn wait_for_block(devnet: &Devnet, b: u64) -> u64 {
    loop {
        let best = devnet.node.chain().best();
        if best >= b {
            return best;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn axons_follow_their_profiles_over_real_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let args = DevnetArgs {
        port: 0,
        block_ms: 5,
        miners: 5,
        validators: 1,
        netuid: 4,
        axons: true,
        ledger: Some(ledger.clone()),
        ..DevnetArgs::default()
    };
    let devnet = Devnet::start(&args).await.unwrap();
    wait_for_block(&devnet, 10).await;

    // Every uid serves an axon on 127.0.0.1, read from chain.
    let rpc = subxt::rpcs::RpcClient::from_url(devnet.url())
        .await
        .unwrap();
    let backend = LegacyBackend::<SubstrateConfig>::builder().build(rpc);
    let api = OnlineClient::<SubstrateConfig>::from_backend(Arc::new(backend))
        .await
        .unwrap();
    let at = api.at_block(5u64).await.unwrap();
    let hotkeys: Vec<[u8; 32]> = devnet
        .node
        .chain()
        .neurons
        .iter()
        .map(|x| x.hotkey)
        .collect();
    let mut ports = Vec::new();
    for hotkey in &hotkeys {
        let axon: subxt::dynamic::Value = at
            .storage()
            .fetch(
                subxt::dynamic::storage::<(u16, [u8; 32]), subxt::dynamic::Value>(
                    "SubtensorModule",
                    "Axons",
                ),
                (4u16, *hotkey),
            )
            .await
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(
            axon.at("ip").and_then(|v| v.as_u128()),
            Some(0x7f00_0001),
            "{axon}"
        );
        assert_eq!(axon.at("ip_type").and_then(|v| v.as_u128()), Some(4));
        ports.push(axon.at("port").and_then(|v| v.as_u128()).unwrap() as u16);
    }

    // uid 0 validator (up), then miners: up, flapping, down2h, dead, recovering.
    let best = wait_for_block(&devnet, 10).await;
    assert!(best < 90, "too slow to observe the first flapping phase");
    let expected = [true, true, true, false, false, false];
    for (uid, (port, up)) in ports.iter().zip(expected).enumerate() {
        assert_eq!(reachable(*port).await, up, "uid {uid} at block ~{best}");
    }

    // An open axon answers HTTP with 200.
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", ports[1]))
        .await
        .unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // Block 100: the flapping miner goes down; the others keep their state.
    let best = wait_for_block(&devnet, 110).await;
    assert!(best < 190, "too slow to observe the second flapping phase");
    assert!(
        !reachable(ports[2]).await,
        "flapping axon still open at block ~{best}"
    );
    assert!(reachable(ports[1]).await);

    // The ledger has every transition with its profile.
    let text = std::fs::read_to_string(&ledger).unwrap();
    let axon_lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["kind"] == "axon")
        .collect();
    assert!(
        axon_lines
            .iter()
            .any(|l| l["uid"] == 2 && l["up"] == false && l["block"] == 100),
        "{axon_lines:?}"
    );
    assert_eq!(axon_lines.iter().filter(|l| l["block"] == 0).count(), 6);

    let port = ports[1];
    devnet.stop().await;
    // A stopped devnet leaves no listener behind.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!reachable(port).await);
}
