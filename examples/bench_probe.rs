//! Probe-round benchmark (see BENCHMARKS.md): one round of probes over every axon of a devnet
//! with `<uids>` uids serving real TCP listeners (profiles: up, flapping, down 2 h a day, dead,
//! recovering), addresses read from chain, default probe settings (TCP connect, 3 s timeout,
//! 256 at a time).
//!
//! `cargo run --release --example bench_probe -- <miners> [http_path]`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenure::chain::AccountId;
use tenure::chain::client::{ChainClient, Settings};
use tenure::config::ProbeConfig;
use tenure::uptime::probe::{address, probe_all};
use tenure_devnet::{Devnet, DevnetArgs};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let miners: u16 = args.get(1).map_or(Ok(4088), |s| s.parse())?;
    let http_path = args.get(2).cloned().unwrap_or_default();
    let devnet = Devnet::start(&DevnetArgs {
        port: 0,
        block_ms: 50,
        miners,
        validators: 8,
        netuid: 1,
        axons: true,
        halt_at: 20,
        ..DevnetArgs::default()
    })
    .await?;
    while devnet.node.chain().finalized < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = Arc::new(ChainClient::new(Settings {
        endpoints: vec![devnet.url()],
        archive_endpoints: Vec::new(),
        rpc_timeout: Duration::from_secs(30),
        stall_timeout: Duration::from_secs(30),
        reconnect_initial: Duration::from_millis(50),
        reconnect_max: Duration::from_secs(1),
    }));
    let hotkeys: Vec<AccountId> = devnet
        .node
        .chain()
        .neurons
        .iter()
        .map(|n| AccountId(n.hotkey))
        .collect();
    let at = client.block_hash(10).await?;
    let axons = client.axons(at, 1, hotkeys).await?;
    let addrs: Vec<Option<SocketAddr>> = axons
        .iter()
        .map(|a| a.as_ref().and_then(|a| address(a.ip, a.port)))
        .collect();
    let cfg = ProbeConfig {
        http_path,
        ..ProbeConfig::default()
    };
    let mut secs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = probe_all(addrs.clone(), &cfg).await;
        secs.push(t.elapsed().as_secs_f64());
        let up = out.iter().filter(|p| p.up).count();
        println!(
            "round axons={} up={up} seconds={:.3}",
            out.len(),
            secs.last().unwrap()
        );
    }
    secs.sort_by(f64::total_cmp);
    println!("probe_round median_s={:.3}", secs[secs.len() / 2]);
    // Worst case: a tenth of the axons accept but never answer the HTTP probe, so each of those
    // probes waits for its whole timeout (what a hung miner, or a blackholed address, costs).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_addr = silent.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let mixed: Vec<Option<SocketAddr>> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| if i % 10 == 0 { Some(silent_addr) } else { *a })
        .collect();
    let http = ProbeConfig {
        http_path: "/health".into(),
        ..ProbeConfig::default()
    };
    let t = Instant::now();
    let out = probe_all(mixed, &http).await;
    let timeouts = out
        .iter()
        .filter(|p| p.error.as_deref().is_some_and(|e| e.starts_with("timeout")))
        .count();
    println!(
        "probe_round_http_with_hung seconds={:.3} timeouts={timeouts}",
        t.elapsed().as_secs_f64()
    );
    devnet.stop().await;
    Ok(())
}
