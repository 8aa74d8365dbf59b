//! The devnet driven by subxt's own `OnlineClient` over a real WebSocket (not our chain code),
//! serving the real finney runtime metadata: finalized blocks, storage reads at past blocks,
//! map iteration and events decode exactly as against a subtensor node.

use std::path::PathBuf;
use std::sync::Arc;

use subxt::backend::LegacyBackend;
use subxt::dynamic::Value;
use subxt::{OnlineClient, SubstrateConfig};
use tenure::chain::schedule;
use tenure::devnet::{Devnet, DevnetArgs};

fn finney_metadata() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/chain/finney-metadata-spec393.scale");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "{} is missing: CI must have ../shared beside the checkout",
        path.display()
    );
    eprintln!(
        "skipping: {} not found (no ../shared beside this checkout)",
        path.display()
    );
    None
}

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
        spec_version: 393,
    }
}

async fn client(url: &str) -> OnlineClient<SubstrateConfig> {
    let rpc = subxt::rpcs::RpcClient::from_url(url)
        .await
        .expect("connect");
    let backend = LegacyBackend::<SubstrateConfig>::builder().build(rpc);
    OnlineClient::from_backend(Arc::new(backend))
        .await
        .expect("client")
}

#[tokio::test]
async fn subxt_reads_the_devnet_with_its_own_metadata() {
    follow_and_read(args(None)).await;
}

#[tokio::test]
async fn subxt_reads_the_devnet_serving_finney_metadata() {
    let Some(metadata) = finney_metadata() else {
        return;
    };
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
        assert_eq!(owner, x.coldkey);
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
