//! `tenure-devnet`: a local simulated subtensor chain that speaks the real Substrate JSON-RPC
//! protocol over WebSocket, so the real subxt client can be run and tested against it.
//! The quickstart's default chain, the chain tests' bed, and the target of fault injection.

pub mod axons;
pub mod beacon;
pub mod chain;
pub mod extrinsic;
pub mod latency;
pub mod ledger;
pub mod metadata;
pub mod metadata_versions;
pub mod pools;
pub mod rpc;
pub mod scenario;
pub mod schedule;
pub mod share_pool;
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
    /// Address to serve WebSocket JSON-RPC on (0.0.0.0 inside a container, so that another
    /// container reaches it).
    #[arg(long, default_value_t = std::net::IpAddr::from([127, 0, 0, 1]))]
    pub host: std::net::IpAddr,
    /// Port to serve WebSocket JSON-RPC on; 0 picks a free port (printed).
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
    /// The subnet's netuid (one subnet per devnet).
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
    /// The runtime's spec_version at genesis (393 is finney's in the shared metadata file).
    #[arg(long, default_value_t = 393)]
    pub spec_version: u32,
    /// Percent of blocks (0–100) with a random stake operation (buy, partial or full sell,
    /// move), re-registration of a uid to a new hotkey, hotkey swap, owner change or coldkey
    /// swap.
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
    /// CommitRevealWeightsEnabled: plain set_weights is then refused and weights are committed
    /// timelocked (v4). The devnet plays the drand beacon with its own test key (printed at
    /// start; `beacon::Beacon::from_seed(seed)`), on quicknet's clock against chain time.
    #[arg(long)]
    pub commit_reveal: bool,
    /// RevealPeriodEpochs: a commit is revealed this many epochs after the one it was made in.
    #[arg(long, default_value_t = 1)]
    pub reveal_period: u64,
    /// Prune state: state queries (storage, runtime version, metadata, runtime calls) at a block
    /// more than N blocks below the best block fail with the node's own error text ("State
    /// already discarded for …"); headers and blocks stay available, as on a pruning node.
    #[arg(long)]
    pub state_pruning: Option<u64>,
    /// With --state-pruning: also serve the same chain without pruning (an archive node) on this
    /// port (0: a free one, printed).
    #[arg(long)]
    pub archive_port: Option<u16>,
    /// Fault: the commits made in this epoch (legacy index, `(block + netuid + 1) / (tempo + 1)`)
    /// are never revealed, as if their drand pulse never reached the chain.
    #[arg(long)]
    pub drop_reveal_at: Option<u64>,
    /// Answer as a remote node: every RPC answer waits this many milliseconds (the round trip),
    /// every subscription message half of it (one way).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Refuse the RPC methods a public node refuses (`--rpc-methods safe`): `state_queryStorage`
    /// answers "RPC call is unsafe to be called externally".
    #[arg(long)]
    pub safe_rpc: bool,
    /// With --latency-ms: up to this many milliseconds more, drawn per answer.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Fault: close every connection every N blocks (0 = never); the server listens again at once.
    #[arg(long, default_value_t = 0)]
    pub drop_every: u64,
    /// Fault: at this block, close every connection and refuse new ones for --refuse-ms.
    #[arg(long, default_value_t = 0)]
    pub refuse_at: u64,
    /// How long connections are refused after --refuse-at, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub refuse_ms: u64,
    /// Fault: from this block, finalized-head subscriptions stay open but get nothing for
    /// --stall-blocks blocks (the headers of those blocks are never sent).
    #[arg(long, default_value_t = 0)]
    pub stall_at: u64,
    /// How many blocks a stall started by --stall-at lasts.
    #[arg(long, default_value_t = 10)]
    pub stall_blocks: u64,
    /// Fault: a runtime upgrade at this block: spec_version + 1 and, with the devnet's own
    /// metadata, the newer layout: dynamic tempo (`LastEpochBlock`, `SubnetEpochIndex`; epochs
    /// `tempo` blocks apart from then on) and v2 share maps (`AlphaV2`).
    #[arg(long, default_value_t = 0)]
    pub upgrade_at: u64,
    /// Serve every uid's axon as a real TCP listener on 127.0.0.1 (written to `Axons`), opened
    /// and closed to follow its uptime profile.
    #[arg(long)]
    pub axons: bool,
    /// Uptime profiles given to the miners in turn (validators are always up): up, flapping
    /// (100 blocks up, 100 down), down2h (down the first 2 chain hours of each day), dead,
    /// recovering (down the first 6 chain hours).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "up,flapping,down2h,dead,recovering"
    )]
    pub axon_profiles: Vec<axons::Profile>,
    /// Scripted behaviour: a file of JSON lines, each an action at a block, e.g.
    /// `{"block": 12, "action": "sell", "uid": 3, "alpha": 5000000000}` (amounts in RAO).
    /// Actions: buy (alpha), sell (alpha, or everything without it), move (to_uid, alpha),
    /// reregister, swap_hotkey, change_owner, swap_coldkey. Applied before --activity's.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Write validator uid 0's hotkey as a Bittensor wallet under this directory
    /// (`<dir>/devnet/hotkeys/validator`, plain JSON with `secretSeed`, mode 0600), so a
    /// daemon can sign as that validator.
    #[arg(long)]
    pub wallet_path: Option<PathBuf>,
    /// Stop producing after this block (0 = never) and finalize everything up to it, so runs
    /// against the same seed and scenario end in the same state.
    #[arg(long, default_value_t = 0)]
    pub halt_at: u64,
    /// Write the ground truth (emissions, stake changes, registrations, ownership changes,
    /// weights, axon transitions) to this file as JSON lines.
    #[arg(long)]
    pub ledger: Option<PathBuf>,
}

impl Default for DevnetArgs {
    /// The command line's defaults.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            args: DevnetArgs,
        }
        <Defaults as clap::Parser>::parse_from(["devnet"]).args
    }
}

/// A running devnet.
pub struct Devnet {
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    server: SharedServer,
    producer: JoinHandle<()>,
    /// `--archive-port`: the same chain served without state pruning.
    pub archive_addr: Option<SocketAddr>,
    archive: SharedServer,
}

impl Devnet {
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The archive endpoint (`--archive-port`), if any.
    pub fn archive_url(&self) -> Option<String> {
        self.archive_addr.map(|a| format!("ws://{a}"))
    }

    /// Builds the genesis state, starts the RPC server and the block producer.
    pub async fn start(args: &DevnetArgs) -> anyhow::Result<Devnet> {
        if u32::from(args.miners) + u32::from(args.validators) > 4096 {
            bail!("--miners + --validators must be at most 4096");
        }
        if args.tempo == 0 {
            bail!("--tempo must be at least 1");
        }
        let (bytes, source, metadata) = read_metadata(args)?;
        let params = params(args)?;
        let n = args.miners + args.validators;
        let (farm, ports) = if args.axons {
            axons::Farm::reserve(0..n)
                .await
                .context("cannot reserve axon ports")?
        } else {
            (axons::Farm::default(), Vec::new())
        };
        if args.axons && args.axon_profiles.is_empty() {
            bail!("--axon-profiles needs at least one profile");
        }
        let params = Params {
            axons: ports
                .iter()
                .enumerate()
                .map(|(uid, port)| {
                    let profile = if uid < usize::from(args.validators) {
                        axons::Profile::Up
                    } else {
                        args.axon_profiles
                            [(uid - usize::from(args.validators)) % args.axon_profiles.len()]
                    };
                    (*port, profile)
                })
                .collect(),
            ..params
        };
        let ledger = match &args.ledger {
            Some(path) => ledger::Ledger::to_file(path)
                .with_context(|| format!("cannot create --ledger {}", path.display()))?,
            None => ledger::Ledger::default(),
        };
        let seed = params.seed;
        let chain = Chain::new(params, bytes, metadata, ledger)
            .with_context(|| format!("cannot serve {source} in V14 and V15"))?;
        if let Some(dir) = &args.wallet_path {
            let file = write_wallet(dir, &chain::validator_secret(seed, 0))
                .with_context(|| format!("cannot write the wallet under {}", dir.display()))?;
            tracing::info!(file = %file.display(), "devnet validator hotkey written");
        }
        let node = Arc::new(Node {
            latency: Arc::new(latency::Latency::new(args.latency_ms, args.jitter_ms)),
            safe_rpc: args.safe_rpc.into(),
            ..Node::new(chain)
        });
        let server = Arc::new(tokio::sync::Mutex::new(None));
        let addr = serve(
            &node,
            SocketAddr::from((args.host, args.port)),
            &server,
            args.state_pruning,
        )
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let (archive, archive_addr) = serve_archive(&node, args).await?;
        let faults = Faults::from_args(args, args.metadata.is_none());
        let producer = tokio::spawn(produce(
            node.clone(),
            Duration::from_millis(args.block_ms.max(1)),
            faults,
            addr,
            server.clone(),
            farm,
        ));
        Ok(Devnet {
            addr,
            node,
            server,
            producer,
            archive_addr,
            archive,
        })
    }

    pub async fn stop(self) {
        self.producer.abort();
        stop_server(&self.server).await;
        stop_server(&self.archive).await;
    }
}

/// The metadata to serve (`--metadata`, or the devnet's own): its bytes, what it is called in
/// errors, and the decoded form.
fn read_metadata(args: &DevnetArgs) -> anyhow::Result<(Vec<u8>, String, subxt::Metadata)> {
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
    let metadata = subxt::Metadata::decode_from(&bytes[..])
        .with_context(|| format!("cannot decode {source}"))?;
    Ok((bytes, source, metadata))
}

/// The chain's parameters from the arguments (axons are added once their ports are reserved).
fn params(args: &DevnetArgs) -> anyhow::Result<Params> {
    Ok(Params {
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
            reveal_period: args.reveal_period,
            drop_reveal_at: args.drop_reveal_at,
        },
        axons: Vec::new(),
        scenario: match &args.scenario {
            Some(path) => scenario::load(path, args.miners + args.validators, args.validators)?,
            None => scenario::Scenario::new(),
        },
    })
}

type SharedServer = Arc<tokio::sync::Mutex<Option<ServerHandle>>>;

/// Starts the JSON-RPC server on `addr` (port 0: a free one); returns the bound address.
async fn serve(
    node: &Arc<Node>,
    addr: SocketAddr,
    slot: &SharedServer,
    pruning: Option<u64>,
) -> anyhow::Result<SocketAddr> {
    // 4,096-uid storage pages and the 315 KB metadata (hex) exceed the 10 MiB default only in
    // the worst case; keep headroom.
    let config = ServerConfig::builder()
        .max_response_body_size(64 << 20)
        .build();
    let latency = node.latency.clone();
    let middleware =
        jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().layer_fn(move |service| {
            latency::Delayed {
                service,
                latency: latency.clone(),
            }
        });
    let server = Server::builder()
        .set_config(config)
        .set_rpc_middleware(middleware)
        .build(addr)
        .await?;
    let bound = server.local_addr()?;
    *slot.lock().await = Some(server.start(rpc::module(node.clone(), pruning)?));
    Ok(bound)
}

/// `--archive-port`: the same chain served without state pruning (an archive node).
async fn serve_archive(
    node: &Arc<Node>,
    args: &DevnetArgs,
) -> anyhow::Result<(SharedServer, Option<SocketAddr>)> {
    let slot = Arc::new(tokio::sync::Mutex::new(None));
    let Some(port) = args.archive_port else {
        return Ok((slot, None));
    };
    let addr = serve(node, SocketAddr::from((args.host, port)), &slot, None)
        .await
        .with_context(|| format!("cannot listen on {}:{port}", args.host))?;
    Ok((slot, Some(addr)))
}

/// Stops the server, closing every connection.
async fn stop_server(slot: &SharedServer) {
    if let Some(handle) = slot.lock().await.take() {
        let _ = handle.stop();
        handle.stopped().await;
    }
}

/// Faults injected for tests, by block number.
#[derive(Debug, Clone, Default)]
struct Faults {
    drop_every: u64,
    refuse_at: u64,
    refuse_for: Duration,
    stall_at: u64,
    stall_blocks: u64,
    upgrade_at: u64,
    /// The upgrade changes the metadata (own metadata) or only the version (a served file).
    upgrade_metadata: bool,
    halt_at: u64,
    /// The primary server's `--state-pruning`, kept when it listens again.
    state_pruning: Option<u64>,
}

impl Faults {
    fn from_args(a: &DevnetArgs, own_metadata: bool) -> Self {
        Faults {
            drop_every: a.drop_every,
            refuse_at: a.refuse_at,
            refuse_for: Duration::from_millis(a.refuse_ms),
            stall_at: a.stall_at,
            stall_blocks: a.stall_blocks,
            upgrade_at: a.upgrade_at,
            upgrade_metadata: own_metadata,
            halt_at: a.halt_at,
            state_pruning: a.state_pruning,
        }
    }

    fn stalled(&self, b: u64) -> bool {
        self.stall_at > 0 && b >= self.stall_at && b < self.stall_at + self.stall_blocks
    }
}

async fn produce(
    node: Arc<Node>,
    every: Duration,
    faults: Faults,
    addr: SocketAddr,
    server: SharedServer,
    mut farm: axons::Farm,
) {
    apply_axon_changes(&node, &mut farm).await;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if faults.halt_at > 0 && node.chain().best() >= faults.halt_at {
            halt(&node);
            return;
        }
        let produced = next_block(&node, &faults);
        apply_axon_changes(&node, &mut farm).await;
        let b = match produced {
            Ok(p) => announce(&node, &faults, p),
            Err(e) => {
                tracing::error!(error = %e, "devnet cannot produce a block; stopping block production");
                return;
            }
        };
        connection_faults(&node, &faults, addr, &server, b).await;
    }
}

/// A produced block as the subscriptions announce it: the new best header, its hash and its
/// extrinsics' hashes, the headers finalized with it, and the finalized number.
type Produced = ((Header, H256, Vec<H256>), Vec<Header>, u64);
type Header = subxt::config::substrate::SubstrateHeader<H256>;

/// The axons whose profile changed since the last block, up or down in the farm.
async fn apply_axon_changes(node: &Node, farm: &mut axons::Farm) {
    let changes = std::mem::take(&mut node.chain().axon_changes);
    for (uid, up) in changes {
        farm.set(uid, up).await;
    }
}

/// `--halt-at`: finalizes everything produced, announces it, and produces no more.
fn halt(node: &Node) {
    let (finalized, head) = {
        let mut chain = node.chain();
        let before = chain.finalized;
        chain.finalized = chain.best();
        let headers: Vec<_> = ((before + 1)..=chain.finalized)
            .map(|n| chain.blocks[n as usize].header.clone())
            .collect();
        (headers, chain.finalized)
    };
    node.notify_finalized(head);
    for h in finalized {
        let _ = node.finalized_heads.send(h);
    }
    tracing::info!(block = head, "devnet halted: no more blocks");
}

/// Produces the next block (after the runtime upgrade, when it is due).
fn next_block(node: &Node, faults: &Faults) -> Result<Produced, storage::StorageError> {
    let mut chain = node.chain();
    if faults.upgrade_at > 0 && chain.best() + 1 == faults.upgrade_at {
        let metadata = faults.upgrade_metadata.then(metadata::build_upgraded);
        match chain.upgrade(metadata) {
            Ok(spec) => tracing::info!(
                spec_version = spec,
                block = faults.upgrade_at,
                "devnet runtime upgrade"
            ),
            Err(e) => tracing::error!(error = %e, "devnet runtime upgrade failed"),
        }
    }
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
}

/// Tells the subscriptions about a produced block; returns its number.
fn announce(node: &Node, faults: &Faults, produced: Produced) -> u64 {
    let ((best, hash, txs), finalized, finalized_number) = produced;
    let b = best.number;
    node.notify_in_block(b, hash, txs);
    node.notify_finalized(finalized_number);
    // No subscribers is not an error.
    let _ = node.new_heads.send(best);
    // A stalled subscription stays open but hears nothing (a half-dead socket).
    if !faults.stalled(b) {
        for h in finalized {
            let _ = node.finalized_heads.send(h);
        }
    }
    b
}

/// `--drop-every` and `--refuse-at`: drops every connection after block `b`, and listens again
/// at once or, when refusing, after `refuse_for` while blocks go on.
async fn connection_faults(
    node: &Arc<Node>,
    faults: &Faults,
    addr: SocketAddr,
    server: &SharedServer,
    b: u64,
) {
    let drop_now = faults.drop_every > 0 && b.is_multiple_of(faults.drop_every);
    let refuse_now = faults.refuse_at > 0 && b == faults.refuse_at;
    if !(drop_now || refuse_now) {
        return;
    }
    stop_server(server).await;
    if refuse_now {
        tracing::info!(
            block = b,
            for_ms = faults.refuse_for.as_millis() as u64,
            "devnet refusing connections"
        );
        // Blocks go on being produced while nobody can connect.
        let (node, server) = (node.clone(), server.clone());
        let (wait, pruning) = (faults.refuse_for, faults.state_pruning);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Err(e) = serve(&node, addr, &server, pruning).await {
                tracing::error!(error = %e, "devnet cannot listen again");
            }
        });
    } else if let Err(e) = serve(node, addr, server, faults.state_pruning).await {
        tracing::error!(error = %e, "devnet cannot listen again after dropping connections");
    }
}

/// Wallet name and hotkey name of the devnet's validator hotkey file.
pub const WALLET_NAME: &str = "devnet";
pub const WALLET_HOTKEY: &str = "validator";

/// Writes `<dir>/devnet/hotkeys/validator` (and `validatorpub.txt`) in the Bittensor keyfile
/// format; returns the hotkey file's path.
pub fn write_wallet(dir: &std::path::Path, secret: &[u8; 32]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let public = chain::sr25519_public(secret);
    let account = format!("0x{}", hex::encode(public));
    let ss58 = ledger::ss58(&public);
    let hotkeys = dir.join(WALLET_NAME).join("hotkeys");
    std::fs::create_dir_all(&hotkeys)?;
    let key = serde_json::json!({
        "accountId": account,
        "publicKey": account,
        "secretPhrase": null,
        "secretSeed": format!("0x{}", hex::encode(secret)),
        "ss58Address": ss58,
    });
    let path = hotkeys.join(WALLET_HOTKEY);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(key.to_string().as_bytes())?;
    let public_file =
        serde_json::json!({ "accountId": account, "publicKey": account, "ss58Address": ss58 });
    std::fs::write(
        hotkeys.join(format!("{WALLET_HOTKEY}pub.txt")),
        public_file.to_string(),
    )?;
    Ok(path)
}

/// `tenure-devnet`: serves until SIGTERM/SIGINT.
pub async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    let devnet = Devnet::start(&args).await?;
    // The URL on stdout, alone on its line, for scripts and tests that start the devnet.
    println!("devnet listening on {}", devnet.url());
    if let Some(url) = devnet.archive_url() {
        println!("devnet archive (no state pruning) on {url}");
    }
    if args.commit_reveal {
        let key = beacon::Beacon::from_seed(args.seed).public_key_hex();
        println!("devnet drand public key {key}");
    }
    tracing::info!(url = %devnet.url(), miners = args.miners, validators = args.validators, tempo = args.tempo, block_ms = args.block_ms, "devnet running");
    shutdown_signal().await;
    devnet.stop().await;
    Ok(())
}

/// Waits for SIGTERM or SIGINT (either ends the devnet the same way).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for signals: the devnet runs until it is killed");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
