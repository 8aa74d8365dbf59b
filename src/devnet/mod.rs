//! `tenure devnet`: a local simulated subtensor chain that speaks the real Substrate JSON-RPC
//! protocol over WebSocket, so the real subxt client can be run and tested against it.
//! The quickstart's default chain, the chain tests' bed, and the target of fault injection.

pub mod chain;
pub mod extrinsic;
pub mod ledger;
pub mod metadata;
pub mod pools;
pub mod rpc;
pub mod storage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use subxt::utils::H256;
use tokio::task::JoinHandle;

pub use chain::{Chain, Params};
pub use rpc::Node;

#[derive(Debug, Clone, Args)]
pub struct DevnetArgs {
    /// Port on 127.0.0.1 to serve WebSocket JSON-RPC on; 0 picks a free port (printed).
    #[arg(long, default_value_t = 9944)]
    pub port: u16,
    /// Milliseconds between blocks (the chain's own timestamps always advance 12 s a block).
    #[arg(long, default_value_t = 1000)]
    pub block_ms: u64,
    /// Blocks the finalized head trails the best block by.
    #[arg(long, default_value_t = 2)]
    pub finality_lag: u64,
    /// Seed of every account, stake and emission: the same seed gives the same chain.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 1)]
    pub netuid: u16,
    /// Miners on the subnet (up to 4096 in all with the validators).
    #[arg(long, default_value_t = 64)]
    pub miners: u16,
    /// Validators (uids 0..validators, with validator permits).
    #[arg(long, default_value_t = 4)]
    pub validators: u16,
    /// The subnet's tempo; epochs run where (block + netuid + 1) % (tempo + 1) == 0.
    #[arg(long, default_value_t = 99)]
    pub tempo: u16,
    /// Serve this runtime metadata (SCALE `RuntimeMetadataPrefixed`, e.g. the real finney file)
    /// instead of the devnet's own; storage and events are then encoded against its types.
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    #[arg(long, default_value_t = 393)]
    pub spec_version: u32,
    /// Percent of blocks (0–100) with a random stake operation (buy, partial or full sell,
    /// move), re-registration of a uid to a new hotkey, owner change or coldkey swap.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub activity: u8,
    /// WeightsSetRateLimit: blocks between two weight settings of one uid.
    #[arg(long, default_value_t = 100)]
    pub rate_limit: u64,
    /// WeightsVersionKey: submissions must carry at least this (0 = any).
    #[arg(long, default_value_t = 0)]
    pub version_key: u64,
    /// MinAllowedWeights.
    #[arg(long, default_value_t = 1)]
    pub min_allowed_weights: u16,
    /// CommitRevealWeightsEnabled: plain set_weights is then refused.
    #[arg(long)]
    pub commit_reveal: bool,
    /// Write the ground truth (emissions, stake changes, registrations, ownership changes) to
    /// this file as JSON lines.
    #[arg(long)]
    pub ledger: Option<PathBuf>,
}

/// A running devnet.
pub struct Devnet {
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    server: ServerHandle,
    producer: JoinHandle<()>,
}

impl Devnet {
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Builds the genesis state, starts the RPC server and the block producer.
    pub async fn start(args: &DevnetArgs) -> anyhow::Result<Devnet> {
        if u32::from(args.miners) + u32::from(args.validators) > 4096 {
            bail!("--miners + --validators must be at most 4096");
        }
        if args.tempo == 0 {
            bail!("--tempo must be at least 1");
        }
        let (bytes, source) = match &args.metadata {
            Some(path) => (
                std::fs::read(path)
                    .with_context(|| format!("cannot read --metadata {}", path.display()))?,
                path.display().to_string(),
            ),
            None => (metadata::build(), "the devnet's own metadata".to_string()),
        };
        if bytes.len() < 5 || &bytes[..4] != b"meta" {
            bail!("{source} is not SCALE RuntimeMetadataPrefixed (no `meta` magic)");
        }
        let version = u32::from(bytes[4]);
        let metadata = subxt::Metadata::decode_from(&bytes[..])
            .with_context(|| format!("cannot decode {source}"))?;
        let params = Params {
            seed: args.seed,
            netuid: args.netuid,
            miners: args.miners,
            validators: args.validators,
            tempo: args.tempo,
            finality_lag: args.finality_lag,
            spec_version: args.spec_version,
            activity: args.activity,
            hyper: chain::Hyper {
                rate_limit: args.rate_limit,
                version_key: args.version_key,
                min_allowed_weights: args.min_allowed_weights,
                commit_reveal: args.commit_reveal,
            },
        };
        let ledger = match &args.ledger {
            Some(path) => ledger::Ledger::to_file(path)
                .with_context(|| format!("cannot create --ledger {}", path.display()))?,
            None => ledger::Ledger::default(),
        };
        let chain = Chain::new(params, bytes, metadata, version, ledger)?;
        let node = Arc::new(Node::new(chain));
        // 4,096-uid storage pages and the 315 KB metadata (hex) exceed the 10 MiB default only
        // in the worst case; keep headroom.
        let config = ServerConfig::builder()
            .max_response_body_size(64 << 20)
            .build();
        let server = Server::builder()
            .set_config(config)
            .build(SocketAddr::from(([127, 0, 0, 1], args.port)))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        let addr = server.local_addr()?;
        let server = server.start(rpc::module(node.clone())?);
        let producer = tokio::spawn(produce(
            node.clone(),
            Duration::from_millis(args.block_ms.max(1)),
        ));
        Ok(Devnet {
            addr,
            node,
            server,
            producer,
        })
    }

    pub async fn stop(self) {
        self.producer.abort();
        let _ = self.server.stop();
        self.server.stopped().await;
    }
}

async fn produce(node: Arc<Node>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let produced = {
            let mut chain = node.chain();
            let before = chain.finalized;
            chain.produce().map(|b| {
                let block = &chain.blocks[b as usize];
                let txs: Vec<H256> = block
                    .extrinsics
                    .iter()
                    .map(|x| H256(sp_crypto_hashing::blake2_256(x)))
                    .collect();
                let best = (block.header.clone(), block.hash, txs);
                let finalized: Vec<_> = ((before + 1)..=chain.finalized)
                    .map(|n| chain.blocks[n as usize].header.clone())
                    .collect();
                (best, finalized, chain.finalized)
            })
        };
        match produced {
            Ok(((best, hash, txs), finalized, finalized_number)) => {
                node.notify_in_block(best.number, hash, txs);
                node.notify_finalized(finalized_number);
                // No subscribers is not an error.
                let _ = node.new_heads.send(best);
                for h in finalized {
                    let _ = node.finalized_heads.send(h);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "devnet cannot produce a block; stopping block production");
                return;
            }
        }
    }
}

/// `tenure devnet`: serves until SIGTERM/SIGINT.
pub async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    let devnet = Devnet::start(&args).await?;
    // The URL on stdout, alone on its line, for scripts and tests that start the devnet.
    println!("devnet listening on {}", devnet.url());
    tracing::info!(url = %devnet.url(), miners = args.miners, validators = args.validators, tempo = args.tempo, block_ms = args.block_ms, "devnet running");
    crate::daemon::shutdown_signal().await;
    devnet.stop().await;
    Ok(())
}
