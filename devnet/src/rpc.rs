//! The legacy Substrate JSON-RPC methods subxt's `OnlineClient` uses, served over WebSocket.
//! Only the legacy set is advertised: subxt then never tries chainHead/archive RPCs (whose
//! absence would make its finalized stream silently yield nothing).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule};
use serde_json::{Value as Json, json};
use subxt::config::substrate::SubstrateHeader;
use subxt::ext::codec::{Decode, Encode};
use subxt::utils::H256;
use tokio::sync::{broadcast, mpsc};

use super::chain::Chain;
use super::extrinsic::Invalid;

pub struct Node {
    pub chain: Mutex<Chain>,
    pub new_heads: broadcast::Sender<SubstrateHeader<H256>>,
    pub finalized_heads: broadcast::Sender<SubstrateHeader<H256>>,
    /// Watched transactions: where to send their status updates.
    pub watchers: Mutex<HashMap<H256, mpsc::UnboundedSender<Json>>>,
    /// Watched transactions included in a block that is not final yet, by block number.
    pub awaiting_finality: Mutex<BTreeMap<u64, Vec<(H256, H256)>>>,
    /// `--latency-ms` / `--jitter-ms`: what every answer and subscription message waits.
    pub latency: Arc<super::latency::Latency>,
    /// `--safe-rpc`: the unsafe methods are refused, as a public node refuses them (settable
    /// while serving).
    pub safe_rpc: std::sync::atomic::AtomicBool,
}

impl Node {
    pub fn new(chain: Chain) -> Self {
        Node {
            chain: Mutex::new(chain),
            new_heads: broadcast::channel(1024).0,
            finalized_heads: broadcast::channel(1024).0,
            watchers: Mutex::new(HashMap::new()),
            awaiting_finality: Mutex::new(BTreeMap::new()),
            latency: Arc::default(),
            safe_rpc: Default::default(),
        }
    }

    pub fn chain(&self) -> MutexGuard<'_, Chain> {
        // A panic while holding the lock leaves a consistent chain (blocks are appended last).
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells watchers that block `number` (hash `block`) includes their transactions.
    pub fn notify_in_block(&self, number: u64, block: H256, txs: Vec<H256>) {
        let watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        let mut watched = Vec::new();
        for tx in txs {
            if let Some(w) = watchers.get(&tx) {
                let _ = w.send(json!({ "inBlock": block }));
                watched.push((tx, block));
            }
        }
        if !watched.is_empty() {
            self.awaiting_finality
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(number, watched);
        }
    }

    /// Tells watchers whose block is now final, and forgets them.
    pub fn notify_finalized(&self, finalized: u64) {
        let done: Vec<(H256, H256)> = {
            let mut awaiting = self
                .awaiting_finality
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let later = awaiting.split_off(&(finalized + 1));
            std::mem::replace(&mut *awaiting, later)
                .into_values()
                .flatten()
                .collect()
        };
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        for (tx, block) in done {
            if let Some(w) = watchers.remove(&tx) {
                let _ = w.send(json!({ "finalized": block }));
            }
        }
    }
}

/// The JSON-RPC error a node returns for a transaction its pool refuses.
fn invalid_tx(e: &Invalid) -> ErrorObjectOwned {
    match e {
        Invalid::PriorityTooLow => ErrorObjectOwned::owned(1014, "Priority is too low", None::<()>),
        other => ErrorObjectOwned::owned(1010, "Invalid Transaction", Some(other.to_string())),
    }
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

fn invalid(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, msg.into(), None::<()>)
}

fn unknown_block(h: &H256) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(4003, format!("unknown block {h:?}"), None::<()>)
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn unhex(s: &str) -> RpcResult<Vec<u8>> {
    hex::decode(s.trim_start_matches("0x")).map_err(|e| invalid(format!("bad hex {s:?}: {e}")))
}

/// Positional parameters as JSON values (absent and null both read as `None`).
fn args(params: &Params<'_>) -> RpcResult<Vec<Json>> {
    if params.is_object() {
        return Err(invalid("positional parameters expected"));
    }
    Ok(params.parse::<Option<Vec<Json>>>()?.unwrap_or_default())
}

fn arg<T: serde::de::DeserializeOwned>(a: &[Json], i: usize) -> RpcResult<Option<T>> {
    match a.get(i) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| invalid(format!("parameter {i}: {e}"))),
    }
}

/// The block a call is "at": the given hash, or the best block.
fn at(chain: &Chain, hash: Option<H256>) -> RpcResult<u64> {
    match hash {
        None => Ok(chain.best()),
        Some(h) => chain
            .block_number_of(Some(h))
            .ok_or_else(|| unknown_block(&h)),
    }
}

/// The block a state call is "at", refused as a pruning node refuses it when its state is more
/// than `pruning` blocks below the best block (the text real nodes answer).
fn state_at(chain: &Chain, hash: Option<H256>, pruning: Option<u64>) -> RpcResult<u64> {
    let n = at(chain, hash)?;
    match (hash, pruning) {
        (Some(h), Some(keep)) if n + keep < chain.best() => Err(ErrorObjectOwned::owned(
            4003,
            format!("Client error: UnknownBlock: State already discarded for {h:?}"),
            None::<()>,
        )),
        _ => Ok(n),
    }
}

fn block_number_param(v: &Json) -> RpcResult<u64> {
    match v {
        Json::Number(n) => n
            .as_u64()
            .ok_or_else(|| invalid("block number out of range")),
        Json::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16)
            .map_err(|e| invalid(format!("block number {s:?}: {e}"))),
        _ => Err(invalid("block number expected")),
    }
}

pub const METHODS: &[&str] = &[
    "rpc_methods",
    "chain_getBlockHash",
    "chain_getHeader",
    "chain_getBlock",
    "chain_getFinalizedHead",
    "chain_subscribeFinalizedHeads",
    "chain_unsubscribeFinalizedHeads",
    "chain_subscribeNewHeads",
    "chain_unsubscribeNewHeads",
    "state_getRuntimeVersion",
    "state_getMetadata",
    "state_call",
    "state_getStorage",
    "state_getKeysPaged",
    "state_queryStorageAt",
    "state_queryStorage",
    "system_accountNextIndex",
    "system_chain",
    "system_name",
    "system_version",
    "system_properties",
    "system_health",
    "author_submitExtrinsic",
    "author_submitAndWatchExtrinsic",
    "author_unwatchExtrinsic",
];

/// The node's RPC methods; with `pruning`, state older than that many blocks below the best is
/// refused (blocks and headers are kept, as on a pruning node).
pub fn module(
    node: Arc<Node>,
    pruning: Option<u64>,
) -> Result<RpcModule<Node>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::from_arc(node);
    system(&mut m)?;
    author(&mut m)?;
    chain(&mut m)?;
    state(&mut m, pruning)?;
    subscriptions(&mut m)?;
    for (alias, method) in ALIASES {
        m.register_alias(alias, method)?;
    }
    Ok(m)
}

/// The other names a Substrate node answers to (clients such as the Python SDK use them).
pub const ALIASES: &[(&str, &str)] = &[
    ("chain_getHead", "chain_getBlockHash"),
    ("account_nextIndex", "system_accountNextIndex"),
    ("chain_getFinalisedHead", "chain_getFinalizedHead"),
    ("chain_getRuntimeVersion", "state_getRuntimeVersion"),
    ("state_getStorageAt", "state_getStorage"),
    ("state_getKeysPagedAt", "state_getKeysPaged"),
    ("state_callAt", "state_call"),
    (
        "chain_subscribeFinalisedHeads",
        "chain_subscribeFinalizedHeads",
    ),
    (
        "chain_unsubscribeFinalisedHeads",
        "chain_unsubscribeFinalizedHeads",
    ),
];

type Registered = Result<(), jsonrpsee::core::RegisterMethodError>;

/// `system_*`: the node's identity, health and account nonces.
fn system(m: &mut RpcModule<Node>) -> Registered {
    m.register_method(
        "rpc_methods",
        |_, _, _| json!({ "version": 1, "methods": METHODS }),
    )?;
    m.register_method("system_chain", |_, _, _| "tenure devnet")?;
    m.register_method("system_name", |_, _, _| "tenure-devnet")?;
    m.register_method("system_version", |_, _, _| env!("CARGO_PKG_VERSION"))?;
    m.register_method(
        "system_properties",
        |_, _, _| json!({ "ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO" }),
    )?;
    m.register_method(
        "system_health",
        |_, _, _| json!({ "peers": 0, "isSyncing": false, "shouldHavePeers": false }),
    )?;
    m.register_method("system_accountNextIndex", |p, node, _| -> RpcResult<u32> {
        let a = args(&p)?;
        let who: String = arg(&a, 0)?.ok_or_else(|| invalid("account expected"))?;
        let who: subxt::utils::AccountId32 = who.parse().map_err(|e| invalid(format!("{e}")))?;
        Ok(node.chain().next_nonce(&who.0))
    })?;
    Ok(())
}

/// `author_*`: submitted extrinsics, with or without their status.
fn author(m: &mut RpcModule<Node>) -> Registered {
    m.register_method("author_submitExtrinsic", |p, node, _| -> RpcResult<H256> {
        let a = args(&p)?;
        let bytes = unhex(&arg::<String>(&a, 0)?.ok_or_else(|| invalid("extrinsic expected"))?)?;
        node.chain().submit(bytes).map_err(|e| invalid_tx(&e))
    })?;
    m.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |p, pending, node, _| async move {
            let submitted = args(&p).and_then(|a| {
                let hex = arg::<String>(&a, 0)?.ok_or_else(|| invalid("extrinsic expected"))?;
                let bytes = unhex(&hex)?;
                let (tx, rx) = mpsc::unbounded_channel();
                // Register before submitting so the inBlock notice cannot be missed.
                let mut chain = node.chain();
                let hash = chain.submit(bytes).map_err(|e| invalid_tx(&e))?;
                node.watchers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(hash, tx);
                Ok(rx)
            });
            let mut rx = match submitted {
                Ok(rx) => rx,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            let sink = pending.accept().await?;
            sink.send(serde_json::value::to_raw_value(&json!("ready"))?)
                .await?;
            loop {
                tokio::select! {
                    _ = sink.closed() => return Ok(()),
                    update = rx.recv() => match update {
                        Some(u) => {
                            let last = u.get("finalized").is_some();
                            sink.send(serde_json::value::to_raw_value(&u)?).await?;
                            if last {
                                return Ok(());
                            }
                        }
                        None => return Ok(()),
                    },
                }
            }
        },
    )?;
    Ok(())
}

/// `chain_*`: blocks, headers and hashes by number.
fn chain(m: &mut RpcModule<Node>) -> Registered {
    m.register_method("chain_getBlockHash", |p, node, _| -> RpcResult<Json> {
        let a = args(&p)?;
        let chain = node.chain();
        let lookup = |v: &Json| -> RpcResult<Json> {
            let n = block_number_param(v)?;
            Ok(chain
                .blocks
                .get(n as usize)
                .map_or(Json::Null, |b| json!(b.hash)))
        };
        match a.first() {
            None | Some(Json::Null) => Ok(json!(chain.blocks[chain.best() as usize].hash)),
            Some(Json::Array(list)) => Ok(Json::Array(
                list.iter().map(lookup).collect::<RpcResult<_>>()?,
            )),
            Some(v) => lookup(v),
        }
    })?;

    m.register_method("chain_getFinalizedHead", |_, node, _| {
        let chain = node.chain();
        json!(chain.blocks[chain.finalized as usize].hash)
    })?;

    m.register_method("chain_getHeader", |p, node, _| -> RpcResult<Json> {
        let a = args(&p)?;
        let chain = node.chain();
        let hash: Option<H256> = arg(&a, 0)?;
        Ok(match chain.block_number_of(hash) {
            Some(n) => json!(chain.blocks[n as usize].header),
            None => Json::Null,
        })
    })?;

    m.register_method("chain_getBlock", |p, node, _| -> RpcResult<Json> {
        let a = args(&p)?;
        let chain = node.chain();
        let hash: Option<H256> = arg(&a, 0)?;
        Ok(match chain.block_number_of(hash) {
            Some(n) => json!({
                "block": {
                    "header": chain.blocks[n as usize].header,
                    "extrinsics": chain.blocks[n as usize].extrinsics.iter().map(|x| hex0x(x)).collect::<Vec<_>>(),
                },
                "justifications": null,
            }),
            None => Json::Null,
        })
    })?;
    Ok(())
}

/// A runtime API call (`state_call`) at block `n`: the ones clients make of a node.
fn runtime_call(chain: &Chain, n: u64, name: &str, data: &[u8]) -> RpcResult<Vec<u8>> {
    let runtime = chain.runtime_at(n);
    Ok(match name {
        "Core_version" => chain.runtime_version(n),
        "Metadata_metadata_versions" => runtime
            .metadata
            .keys()
            .copied()
            .collect::<Vec<u32>>()
            .encode(),
        "Metadata_metadata_at_version" => {
            let wanted =
                u32::decode(&mut &data[..]).map_err(|e| invalid(format!("version: {e}")))?;
            runtime.metadata.get(&wanted).cloned().encode()
        }
        "Metadata_metadata" => runtime.default_metadata().to_vec().encode(),
        "AccountNonceApi_account_nonce" => {
            let who =
                <[u8; 32]>::decode(&mut &data[..]).map_err(|e| invalid(format!("account: {e}")))?;
            chain.nonce(&who).encode()
        }
        other => {
            return Err(ErrorObjectOwned::owned(
                4002,
                format!("runtime API {other} is not served by the devnet"),
                None::<()>,
            ));
        }
    })
}

/// `state_*`: runtime version, metadata, runtime calls and storage at any block.
fn state(m: &mut RpcModule<Node>, pruning: Option<u64>) -> Registered {
    m.register_method(
        "state_getRuntimeVersion",
        move |p, node, _| -> RpcResult<Json> {
            let a = args(&p)?;
            let chain = node.chain();
            let n = state_at(&chain, arg(&a, 0)?, pruning)?;
            Ok(json!({
                "specName": super::chain::SPEC_NAME,
                "implName": super::chain::SPEC_NAME,
                "authoringVersion": 1,
                "specVersion": chain.runtime_at(n).spec_version,
                "implVersion": 1,
                "apis": [],
                "transactionVersion": 1,
                "systemVersion": 1,
            }))
        },
    )?;

    m.register_method(
        "state_getMetadata",
        move |p, node, _| -> RpcResult<String> {
            let a = args(&p)?;
            let chain = node.chain();
            let n = state_at(&chain, arg(&a, 0)?, pruning)?;
            Ok(hex0x(chain.runtime_at(n).default_metadata()))
        },
    )?;

    m.register_method("state_call", move |p, node, _| -> RpcResult<String> {
        let a = args(&p)?;
        let name: String = arg(&a, 0)?.ok_or_else(|| invalid("runtime API name expected"))?;
        let data = unhex(&arg::<String>(&a, 1)?.unwrap_or_default())?;
        let chain = node.chain();
        let n = state_at(&chain, arg(&a, 2)?, pruning)?;
        Ok(hex0x(&runtime_call(&chain, n, &name, &data)?))
    })?;

    m.register_method(
        "state_getStorage",
        move |p, node, _| -> RpcResult<Option<String>> {
            let a = args(&p)?;
            let key =
                unhex(&arg::<String>(&a, 0)?.ok_or_else(|| invalid("storage key expected"))?)?;
            let chain = node.chain();
            let n = state_at(&chain, arg(&a, 1)?, pruning)?;
            Ok(chain.storage.get(&key, n).map(hex0x))
        },
    )?;

    m.register_method(
        "state_getKeysPaged",
        move |p, node, _| -> RpcResult<Vec<String>> {
            let a = args(&p)?;
            let prefix = unhex(&arg::<String>(&a, 0)?.unwrap_or_default())?;
            let count: usize = arg(&a, 1)?.ok_or_else(|| invalid("count expected"))?;
            let start = arg::<String>(&a, 2)?.map(|s| unhex(&s)).transpose()?;
            let chain = node.chain();
            let n = state_at(&chain, arg(&a, 3)?, pruning)?;
            Ok(chain
                .storage
                .keys_paged(&prefix, count.min(1000), start.as_deref(), n)
                .iter()
                .map(|k| hex0x(k))
                .collect())
        },
    )?;

    storage_queries(m, pruning)
}

/// `state_queryStorage` (a range's changes) and `state_queryStorageAt` (many keys at a block).
fn storage_queries(m: &mut RpcModule<Node>, pruning: Option<u64>) -> Registered {
    m.register_method("state_queryStorage", move |p, node, _| -> RpcResult<Json> {
        if node.safe_rpc.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ErrorObjectOwned::owned(
                -32601,
                "RPC call is unsafe to be called externally",
                None::<()>,
            ));
        }
        let a = args(&p)?;
        let keys: Vec<String> = arg(&a, 0)?.unwrap_or_default();
        let from: H256 = arg(&a, 1)?.ok_or_else(|| invalid("fromBlock expected"))?;
        let chain = node.chain();
        let first = state_at(&chain, Some(from), pruning)?;
        let last = at(&chain, arg(&a, 2)?)?;
        if last < first {
            return Err(invalid("toBlock is before fromBlock"));
        }
        Ok(Json::Array(changes_between(&chain, &keys, first, last)?))
    })?;

    m.register_method(
        "state_queryStorageAt",
        move |p, node, _| -> RpcResult<Json> {
            let a = args(&p)?;
            let keys: Vec<String> = arg(&a, 0)?.unwrap_or_default();
            let chain = node.chain();
            let n = state_at(&chain, arg(&a, 1)?, pruning)?;
            let changes = keys
                .iter()
                .map(|k| Ok(json!([k, chain.storage.get(&unhex(k)?, n).map(hex0x)])))
                .collect::<RpcResult<Vec<Json>>>()?;
            Ok(json!([{ "block": chain.blocks[n as usize].hash, "changes": changes }]))
        },
    )?;
    Ok(())
}

/// `state_queryStorage`: per block of `first..=last`, the keys whose value changed in it (the
/// first block lists every key), blocks without a change left out — a node's answer.
fn changes_between(chain: &Chain, keys: &[String], first: u64, last: u64) -> RpcResult<Vec<Json>> {
    let mut by_block: BTreeMap<u64, Vec<Json>> = BTreeMap::new();
    for k in keys {
        for (b, v) in chain.storage.changes(&unhex(k)?, first, last) {
            by_block
                .entry(b)
                .or_default()
                .push(json!([k, v.map(hex0x)]));
        }
    }
    Ok(by_block
        .into_iter()
        .map(|(b, changes)| json!({ "block": chain.blocks[b as usize].hash, "changes": changes }))
        .collect())
}

/// The head subscriptions (finalized and best).
fn subscriptions(m: &mut RpcModule<Node>) -> Registered {
    m.register_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        |_, pending, node, _| async move {
            let latency = node.latency.clone();
            forward(pending, node.finalized_heads.subscribe(), latency).await
        },
    )?;
    m.register_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        |_, pending, node, _| async move {
            let latency = node.latency.clone();
            forward(pending, node.new_heads.subscribe(), latency).await
        },
    )?;
    Ok(())
}

async fn forward(
    pending: PendingSubscriptionSink,
    mut rx: broadcast::Receiver<SubstrateHeader<H256>>,
    latency: Arc<super::latency::Latency>,
) -> SubscriptionResult {
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            next = rx.recv() => match next {
                Ok(header) => {
                    // One way to the client; headers that come faster than that queue up.
                    let wait = latency.one_way();
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    sink.send(serde_json::value::to_raw_value(&header)?).await?
                }
                // A slow subscriber misses headers; clients fill such gaps by number.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}
