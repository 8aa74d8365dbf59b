//! The connection to a subtensor node: endpoints tried in order, reconnection with exponential
//! backoff, a timeout on every call, and the reads and submissions the daemon needs, all at an
//! explicit block and in our own types.
//!
//! A transport failure drops the connection; the next call builds a new one (failing over to
//! the next endpoint). Callers decide whether to retry: [`ChainError::is_transient`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use subxt::OnlineClient;
use subxt::backend::LegacyBackend;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::rpcs::RpcClient;
use subxt::rpcs::methods::LegacyRpcMethods;
use subxt::utils::H256;

use super::subxt_config::{self, Subtensor};
use super::types::{AccountId, NetUid, Uid};

type Rpc = LegacyRpcMethods<subxt::config::RpcConfigFor<Subtensor>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    #[error("no endpoint reachable (last: {endpoint}: {reason})")]
    Unreachable { endpoint: String, reason: String },
    #[error("chain call `{what}` timed out after {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("chain call `{what}` failed: {reason}")]
    Rpc { what: String, reason: String },
    #[error("block {0} is not known to the node")]
    UnknownBlock(u64),
    /// The node no longer keeps the state of this block (a pruning, non-archive node), and no
    /// archive endpoint has it either.
    #[error(
        "the node no longer has the state of block {block} (it keeps only recent state): {reason}"
    )]
    StatePruned { block: u64, reason: String },
    /// The runtime does not have what we read, or it does not decode as expected: never
    /// silently zero.
    #[error("`{item}` does not decode at block {block}: {reason}")]
    Decode {
        item: String,
        block: u64,
        reason: String,
    },
    #[error("transaction refused by the pool: {message}")]
    Invalid {
        refusal: PoolRefusal,
        message: String,
    },
    /// A pallet's error, by name from the runtime's metadata.
    #[error("transaction failed in block {block}: {pallet}::{error}")]
    Module {
        pallet: String,
        error: String,
        block: u64,
    },
    /// Any other dispatch failure (or a module error the metadata cannot name).
    #[error("transaction failed in block: {0}")]
    Dispatch(String),
    #[error("cannot build the transaction: {0}")]
    Build(String),
}

/// Why the node's transaction pool refused a transaction, parsed from its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolRefusal {
    /// The nonce was used already (`Transaction is outdated`).
    Outdated,
    /// A transaction with the same sender and nonce is pending (`Priority is too low`, 1014).
    PriorityTooLow,
    /// The nonce is ahead of the account's (`will be valid in the future`).
    Future,
    /// The mortality checkpoint is too old (`ancient birth block`).
    AncientBirthBlock,
    /// A runtime extension's custom refusal (`Custom error: <name or code>`).
    Custom(String),
    Other,
}

impl PoolRefusal {
    /// Reads the node's message (`Invalid Transaction (1010)` and its data, or 1014).
    pub fn parse(message: &str) -> PoolRefusal {
        if let Some((_, rest)) = message.split_once("Custom error: ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            return PoolRefusal::Custom(name);
        }
        let m = message.to_ascii_lowercase();
        if m.contains("priority is too low") || m.contains("1014") {
            PoolRefusal::PriorityTooLow
        } else if m.contains("outdated") {
            PoolRefusal::Outdated
        } else if m.contains("in the future") {
            PoolRefusal::Future
        } else if m.contains("ancient birth block") {
            PoolRefusal::AncientBirthBlock
        } else {
            PoolRefusal::Other
        }
    }
}

impl ChainError {
    /// Whether a retry may succeed without anything changing but time (transport trouble).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Unreachable { .. } | ChainError::Timeout { .. } | ChainError::Rpc { .. }
        )
    }
}

/// Connection settings (from `[chain]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoints: Vec<String>,
    /// Archive nodes, read for state the endpoints have pruned.
    pub archive_endpoints: Vec<String>,
    pub rpc_timeout: Duration,
    pub stall_timeout: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
}

impl Settings {
    pub fn from_config(c: &crate::config::ChainConfig) -> Self {
        Settings {
            endpoints: c.endpoints.clone(),
            archive_endpoints: c.archive_endpoints.clone(),
            rpc_timeout: Duration::from_secs(c.rpc_timeout_secs),
            stall_timeout: Duration::from_secs(c.stall_timeout_secs),
            reconnect_initial: Duration::from_millis(c.reconnect_initial_delay_ms),
            reconnect_max: Duration::from_secs(c.reconnect_max_delay_secs),
        }
    }
}

/// Counters an operator watches (exported as metrics by the daemon).
#[derive(Debug)]
pub struct Counters {
    pub connects: AtomicU64,
    pub reconnects: AtomicU64,
    pub stalls: AtomicU64,
    pub rpc_errors: AtomicU64,
    /// Reads at a block the endpoints have pruned, served by an archive endpoint.
    pub archive_reads: AtomicU64,
    /// Blocks for which ingestion's planner read from the node itself, because what was read
    /// ahead did not cover them (a uid registered, a coldkey tracked inside the window).
    pub planner_reads: AtomicU64,
    /// Duration of every chain call, successful or not.
    pub rpc_seconds: prometheus_client::metrics::histogram::Histogram,
    /// The block loop's sign of life, for the systemd watchdog.
    pub block_loop: Arc<crate::pulse::Pulse>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            connects: AtomicU64::default(),
            reconnects: AtomicU64::default(),
            stalls: AtomicU64::default(),
            rpc_errors: AtomicU64::default(),
            archive_reads: AtomicU64::default(),
            planner_reads: AtomicU64::default(),
            block_loop: Arc::default(),
            rpc_seconds: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16),
            ),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Conn {
    /// Tells connections apart (a transport error drops only the connection it happened on).
    id: u64,
    pub api: OnlineClient<Subtensor>,
    pub rpc: Rpc,
    /// The raw client, for the calls subxt's legacy methods do not cover (lists of block
    /// numbers, `state_queryStorage` over a range).
    pub raw: RpcClient,
}

/// Opens a connection (each endpoint once) and puts the outcome in the slot. Runs as a task of
/// its own, so that it finishes whoever is waiting and whether they are polled.
async fn connect(shared: Arc<Shared>, settings: Settings, counters: Arc<Counters>) {
    let outcome = open_any(&shared, &settings, &counters).await;
    {
        let mut slot = shared.slot();
        slot.connecting = false;
        slot.attempts += 1;
        match outcome {
            Ok(c) => {
                slot.conn = Some(c);
                slot.failed = None;
            }
            Err(e) => slot.failed = Some(e),
        }
    }
    shared.changed.notify_waiters();
}

async fn open_any(
    shared: &Shared,
    settings: &Settings,
    counters: &Counters,
) -> Result<Conn, ChainError> {
    let n = settings.endpoints.len();
    let start = shared.next_endpoint.load(Ordering::Relaxed);
    let mut last = ChainError::Unreachable {
        endpoint: String::new(),
        reason: "no endpoints configured".into(),
    };
    for i in 0..n {
        let idx = (start + i) % n;
        let endpoint = &settings.endpoints[idx];
        match tokio::time::timeout(settings.rpc_timeout, open(endpoint)).await {
            Ok(Ok(mut c)) => {
                shared.next_endpoint.store(idx, Ordering::Relaxed);
                let connects = counters.connects.fetch_add(1, Ordering::Relaxed);
                if connects > 0 {
                    counters.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                c.id = connects;
                tracing::info!(endpoint = %endpoint, "connected to the chain");
                return Ok(c);
            }
            Ok(Err(reason)) => {
                tracing::warn!(endpoint = %endpoint, %reason, "chain endpoint unreachable");
                last = ChainError::Unreachable {
                    endpoint: endpoint.clone(),
                    reason,
                };
            }
            Err(_) => {
                last = ChainError::Unreachable {
                    endpoint: endpoint.clone(),
                    reason: "connection timed out".into(),
                };
            }
        }
    }
    Err(last)
}

/// A storage key tuple (e.g. `(netuid,)`, `(hotkey, netuid)`), unhashed.
pub trait StorageKey:
    subxt::ext::frame_decode::storage::IntoEncodableValues
    + subxt::ext::frame_decode::storage::IntoDecodableValues
    + Send
    + 'static
{
}

impl<T> StorageKey for T where
    T: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues
        + Send
        + 'static
{
}

/// One finalized block: its number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub number: u64,
    pub hash: [u8; 32],
}

pub struct ChainClient {
    pub settings: Settings,
    shared: Arc<Shared>,
    pub counters: Arc<Counters>,
    /// The client of `settings.archive_endpoints`, for state the endpoints have pruned.
    archive: Option<Arc<ChainClient>>,
    /// The highest block the endpoints answered "state discarded" for: state at or below it is
    /// read from the archive directly.
    pruned_upto: Arc<AtomicU64>,
    /// The node refused `state_queryStorage` (public nodes deny it as unsafe): owners are then
    /// read block by block.
    pub(crate) range_refused: Arc<std::sync::atomic::AtomicBool>,
    /// Clients at recent blocks, by connection and block hash: each costs the node a round trip
    /// (the runtime version) to make, and ingestion reads most blocks more than once.
    at_cache: std::sync::Mutex<std::collections::VecDeque<(u64, [u8; 32], At)>>,
}

/// Clients at blocks kept in [`ChainClient`]'s cache (a pipeline's worth).
const AT_CACHE: usize = 256;

/// The connection slot, shared with the task that (re)connects.
///
/// No async lock guards it: an async mutex was held here before, and a future that had been
/// granted it but was not being polled (a read queued in ingestion's `buffered` pipeline while
/// the pipeline's own task waited for the same lock) deadlocked back-fill for good. Now taking
/// the current connection is a synchronous look; connecting runs in a task of its own, so it
/// always makes progress, and waiters wait for it with a bound, holding nothing.
struct Shared {
    slot: std::sync::Mutex<Slot>,
    changed: tokio::sync::Notify,
    /// Index of the endpoint to try first.
    next_endpoint: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Slot {
    conn: Option<Conn>,
    connecting: bool,
    /// Connection attempts finished so far.
    attempts: u64,
    /// How the last attempt failed, if it did.
    failed: Option<ChainError>,
}

impl Shared {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChainClient {
    pub fn new(settings: Settings) -> Self {
        Self::with_counters(settings, Arc::default())
    }

    /// A client reporting into `counters` (shared with the daemon's metrics).
    pub fn with_counters(settings: Settings, counters: Arc<Counters>) -> Self {
        let archive = (!settings.archive_endpoints.is_empty()).then(|| {
            let s = Settings {
                endpoints: settings.archive_endpoints.clone(),
                archive_endpoints: Vec::new(),
                ..settings.clone()
            };
            Arc::new(ChainClient::with_counters(s, counters.clone()))
        });
        ChainClient {
            settings,
            shared: Arc::new(Shared {
                slot: std::sync::Mutex::new(Slot::default()),
                changed: tokio::sync::Notify::new(),
                next_endpoint: Default::default(),
            }),
            counters,
            archive,
            pruned_upto: Arc::default(),
            range_refused: Arc::default(),
            at_cache: Default::default(),
        }
    }

    /// Whether the node has refused `state_queryStorage` (owners are then read block by block).
    pub fn refuses_ranges(&self) -> bool {
        self.range_refused.load(Ordering::Relaxed)
    }

    /// How long a caller waits for a connection attempt: each endpoint once.
    fn connect_bound(&self) -> Duration {
        self.settings.rpc_timeout * (self.settings.endpoints.len().max(1) as u32)
            + Duration::from_secs(1)
    }

    /// The current connection, or a new one: each endpoint once, in order, starting with the
    /// one that worked last. Bounded by [`Self::connect_bound`].
    pub(crate) async fn conn(&self) -> Result<Conn, ChainError> {
        let deadline = tokio::time::Instant::now() + self.connect_bound();
        let mut seen: Option<u64> = None;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut slot = self.shared.slot();
                if let Some(c) = &slot.conn {
                    return Ok(c.clone());
                }
                // An attempt that finished since this call began, and failed: its error.
                if let (Some(first), Some(e)) = (seen, &slot.failed)
                    && slot.attempts > first
                {
                    return Err(e.clone());
                }
                seen.get_or_insert(slot.attempts);
                if !slot.connecting {
                    slot.connecting = true;
                    let shared = self.shared.clone();
                    let (settings, counters) = (self.settings.clone(), self.counters.clone());
                    tokio::spawn(connect(shared, settings, counters));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(ChainError::Unreachable {
                    endpoint: self.settings.endpoints.join(", "),
                    reason: format!("no connection within {} s", self.connect_bound().as_secs()),
                });
            }
        }
    }

    /// Forgets the connection (after a stall); the next call reconnects.
    pub async fn disconnect(&self) {
        self.shared.slot().conn.take();
    }

    /// Forgets `conn` if it is still the current connection (after a transport error on it):
    /// a newer connection made meanwhile by another caller is kept.
    fn drop_conn(&self, conn: &Conn) {
        let mut slot = self.shared.slot();
        if slot.conn.as_ref().is_some_and(|c| c.id == conn.id) {
            slot.conn = None;
        }
    }

    /// Runs `f` on the connection with the RPC timeout; a transport failure drops the connection.
    pub(crate) async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ChainError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
    {
        let conn = self.conn().await?;
        let secs = self.settings.rpc_timeout.as_secs();
        let started = std::time::Instant::now();
        let out = match tokio::time::timeout(self.settings.rpc_timeout, f(conn.clone())).await {
            Ok(r) => r,
            Err(_) => Err(ChainError::Timeout {
                what: what.into(),
                secs,
            }),
        };
        self.counters
            .rpc_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &out
            && e.is_transient()
        {
            self.counters.rpc_errors.fetch_add(1, Ordering::Relaxed);
            self.drop_conn(&conn);
        }
        out
    }

    /// Retries `op` on transient errors with exponential backoff until it succeeds, fails for
    /// good, or `cancel` fires (then the last error is returned).
    pub async fn retry<T, F, Fut>(
        &self,
        cancel: &tokio_util::sync::CancellationToken,
        mut op: F,
    ) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
    {
        let mut delay = self.settings.reconnect_initial;
        loop {
            match op().await {
                Err(e) if e.is_transient() && !cancel.is_cancelled() => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "chain call failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => return Err(e),
                    }
                    delay = (delay * 2).min(self.settings.reconnect_max);
                }
                other => return other,
            }
        }
    }

    /// The latest finalized block.
    pub async fn finalized_head(&self) -> Result<BlockRef, ChainError> {
        self.call("finalized head", |c| async move {
            let hash = c
                .rpc
                .chain_get_finalized_head()
                .await
                .map_err(rpc("chain_getFinalizedHead"))?;
            let header = c
                .rpc
                .chain_get_header(Some(hash))
                .await
                .map_err(rpc("chain_getHeader"))?
                .ok_or_else(|| ChainError::Rpc {
                    what: "chain_getHeader".into(),
                    reason: "no header for the finalized hash".into(),
                })?;
            Ok(BlockRef {
                number: header.number,
                hash: hash.0,
            })
        })
        .await
    }

    /// The network's name as the node calls it (`system_chain`).
    pub async fn chain_name(&self) -> Result<String, ChainError> {
        self.call("system_chain", |c| async move {
            c.rpc.system_chain().await.map_err(rpc("system_chain"))
        })
        .await
    }

    /// The hash of block `number` on the node's canonical chain.
    pub async fn block_hash(&self, number: u64) -> Result<BlockRef, ChainError> {
        self.call("block hash", |c| async move {
            let hash = c
                .rpc
                .chain_get_block_hash(Some(number.into()))
                .await
                .map_err(rpc("chain_getBlockHash"))?
                .ok_or(ChainError::UnknownBlock(number))?;
            Ok(BlockRef {
                number,
                hash: hash.0,
            })
        })
        .await
    }

    /// The hashes of blocks `from..=to` on the node's canonical chain, in one call (the node's
    /// `chain_getBlockHash` takes a list).
    pub async fn block_hashes(&self, from: u64, to: u64) -> Result<Vec<BlockRef>, ChainError> {
        if to < from {
            return Ok(Vec::new());
        }
        self.call("block hashes", |c| async move {
            let numbers: Vec<u64> = (from..=to).collect();
            let hashes: Vec<Option<H256>> = c
                .raw
                .request("chain_getBlockHash", subxt::rpcs::rpc_params![numbers])
                .await
                .map_err(rpc("chain_getBlockHash"))?;
            if hashes.len() != (to - from + 1) as usize {
                return Err(ChainError::Rpc {
                    what: "chain_getBlockHash".into(),
                    reason: format!(
                        "{} hashes for {} block numbers",
                        hashes.len(),
                        to - from + 1
                    ),
                });
            }
            hashes
                .into_iter()
                .zip(from..=to)
                .map(|(h, number)| {
                    h.map(|h| BlockRef { number, hash: h.0 })
                        .ok_or(ChainError::UnknownBlock(number))
                })
                .collect()
        })
        .await
    }

    /// A storage value at a block (the entry's default when absent).
    pub async fn fetch<K, V>(
        &self,
        block: BlockRef,
        pallet: &str,
        entry: &str,
        key: K,
    ) -> Result<V, ChainError>
    where
        K: StorageKey + Clone,
        V: DecodeAsType + Send + 'static,
    {
        let key = &key;
        self.at(
            block,
            |r| async move { r.get(pallet, entry, key.clone()).await },
        )
        .await
    }

    /// Runs `f` with a reader at `block`: several reads at one block share one `at_block`.
    /// State the endpoints have pruned is read from the archive endpoints, if any.
    pub(crate) async fn at<T, F, Fut>(&self, block: BlockRef, f: F) -> Result<T, ChainError>
    where
        F: Fn(Reader) -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
    {
        let Some(archive) = &self.archive else {
            return self.at_here(block, &f).await;
        };
        if block.number > self.pruned_upto.load(Ordering::Relaxed) {
            match self.at_here(block, &f).await {
                Err(ChainError::StatePruned { .. }) => {
                    self.pruned_upto.fetch_max(block.number, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        self.counters.archive_reads.fetch_add(1, Ordering::Relaxed);
        archive.at_here(block, &f).await
    }

    /// [`Self::at`] on this client's own endpoints.
    async fn at_here<T, F, Fut>(&self, block: BlockRef, f: &F) -> Result<T, ChainError>
    where
        F: Fn(Reader) -> Fut,
        Fut: Future<Output = Result<T, ChainError>>,
    {
        self.call("at_block", |c| async move {
            let at = self.client_at(&c, block).await?;
            f(Reader {
                at,
                rpc: c.rpc,
                block,
            })
            .await
            .map_err(|e| pruned(e, block.number))
        })
        .await
    }

    /// The client at `block` on connection `c`: cached, or made (one round trip).
    async fn client_at(&self, c: &Conn, block: BlockRef) -> Result<At, ChainError> {
        let cache = || self.at_cache.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache()
            .iter()
            .find(|(id, hash, _)| *id == c.id && *hash == block.hash)
            .map(|(.., at)| at.clone());
        if let Some(at) = hit {
            return Ok(at);
        }
        let at = c
            .api
            .at_block_hash_and_number(H256(block.hash), block.number)
            .await
            .map_err(rpc("at_block"))
            .map_err(|e| pruned(e, block.number))?;
        let mut cache = cache();
        if cache.len() >= AT_CACHE {
            cache.pop_front();
        }
        cache.push_back((c.id, block.hash, at.clone()));
        Ok(at)
    }

    /// Many values of one map at a block in a few round trips (`state_queryStorageAt` in
    /// chunks); absent keys read as the entry's default.
    pub async fn fetch_many<K, V>(
        &self,
        block: BlockRef,
        pallet: &str,
        entry: &str,
        keys: Vec<K>,
    ) -> Result<Vec<V>, ChainError>
    where
        K: StorageKey + Clone,
        V: DecodeAsType + Send + 'static,
    {
        let keys = &keys;
        self.at(block, |r| async move {
            r.many(pallet, entry, keys.clone()).await
        })
        .await
    }

    /// uid → hotkey of the subnet at a block (one paged iteration of `Keys`).
    pub async fn neurons(
        &self,
        block: BlockRef,
        netuid: NetUid,
    ) -> Result<Vec<(Uid, AccountId)>, ChainError> {
        let item = "SubtensorModule.Keys";
        self.at(block, |r| async move {
            let at = r.at;
            let addr = subxt::dynamic::storage::<(u16, u16), [u8; 32]>("SubtensorModule", "Keys");
            let mut iter = at
                .storage()
                .iter(addr, (netuid,))
                .await
                .map_err(|err| storage_error(item, block.number, err))?;
            let dec = |reason: String| ChainError::Decode {
                item: item.into(),
                block: block.number,
                reason,
            };
            let mut out = Vec::new();
            while let Some(kv) = iter.next().await {
                let kv = kv.map_err(|err| storage_error(item, block.number, err))?;
                let uid: u16 = kv
                    .key()
                    .map_err(|e| dec(e.to_string()))?
                    .part(1)
                    .ok_or_else(|| dec("no uid in key".into()))?
                    .decode_as::<u16>()
                    .map_err(|e| dec(e.to_string()))?
                    .ok_or_else(|| dec("uid key part is hashed".into()))?;
                let hotkey: [u8; 32] = kv.value().decode().map_err(|e| dec(e.to_string()))?;
                out.push((uid, AccountId(hotkey)));
            }
            out.sort_by_key(|(uid, _)| *uid);
            Ok(out)
        })
        .await
    }

    /// Checks the runtime at the finalized head against everything tenure uses.
    pub async fn check_runtime(&self) -> Result<(u64, Vec<super::check::Finding>), ChainError> {
        let head = self.finalized_head().await?;
        self.at(head, |r| async move {
            Ok((head.number, super::check::check(&r.at.metadata())))
        })
        .await
    }

    /// The signer's next nonce, counting its transactions in the pool.
    pub async fn next_nonce(&self, who: AccountId) -> Result<u64, ChainError> {
        self.call("system_accountNextIndex", |c| async move {
            c.rpc
                .system_account_next_index(&subxt::utils::AccountId32(who.0))
                .await
                .map_err(rpc("system_accountNextIndex"))
        })
        .await
    }

    /// Signs `call` fresh (nonce from the chain, short mortality), submits it and waits until it
    /// is finalized. Returns the block it landed in and the names of the pallet events it
    /// emitted (`Pallet.Event`).
    pub async fn submit(
        &self,
        signer: &subxt_signer::sr25519::Keypair,
        pallet: &str,
        call: &str,
        args: Vec<subxt::ext::scale_value::Value>,
        finalize_timeout: Duration,
    ) -> Result<Submitted, ChainError> {
        let who = AccountId(signer.public_key().0);
        let sending = Sending {
            nonce: self.next_nonce(who).await?,
            lifetime: Lifetime::Default,
            finalize_timeout,
        };
        self.submit_tracked(signer, pallet, call, args, sending, None)
            .await
    }

    /// Signs `call` as `sending` says (a caller that must never have two transactions land
    /// reuses the nonce of its earlier attempt: the chain accepts at most one per nonce),
    /// submits it, reports its progress on `progress`, and waits until it is finalized.
    pub async fn submit_tracked(
        &self,
        signer: &subxt_signer::sr25519::Keypair,
        pallet: &str,
        call: &str,
        args: Vec<subxt::ext::scale_value::Value>,
        sending: Sending,
        progress: Option<tokio::sync::mpsc::UnboundedSender<TxProgress>>,
    ) -> Result<Submitted, ChainError> {
        let Sending {
            nonce,
            lifetime,
            finalize_timeout,
        } = sending;
        use subxt::transactions::TransactionStatus as S;
        let conn = self.conn().await?;
        let payload = subxt::dynamic::tx(pallet.to_string(), call.to_string(), args);
        let what = format!("{pallet}.{call}");
        let report = |p: TxProgress| {
            if let Some(tx) = &progress {
                let _ = tx.send(p);
            }
        };
        let submitted = tokio::time::timeout(finalize_timeout, async {
            let mut tx = conn.api.tx().await.map_err(|e| ChainError::Rpc {
                what: what.clone(),
                reason: e.to_string(),
            })?;
            let mut watch = tx
                .sign_and_submit_then_watch(
                    &payload,
                    signer,
                    subxt_config::params(nonce, lifetime.mortality()),
                )
                .await
                .map_err(|e| classify_submit(&refusal(&e)))?;
            report(TxProgress::Pooled {
                extrinsic_hash: watch.extrinsic_hash().0,
            });
            let in_block = loop {
                let status = watch
                    .next()
                    .await
                    .ok_or_else(|| ChainError::Rpc {
                        what: what.clone(),
                        reason: "the transaction status stream ended".into(),
                    })?
                    .map_err(|e| classify_submit(&refusal(&e)))?;
                match status {
                    S::InBestBlock(b) => report(TxProgress::InBlock {
                        block_hash: b.block_hash().0,
                    }),
                    S::InFinalizedBlock(b) => break b,
                    S::Error { message } | S::Invalid { message } | S::Dropped { message } => {
                        return Err(classify_submit(&message));
                    }
                    _ => {}
                }
            };
            let block_hash = in_block.block_hash();
            let number = conn
                .api
                .at_block(block_hash)
                .await
                .map_err(rpc("at_block"))?
                .block_number();
            let block = BlockRef {
                number,
                hash: block_hash.0,
            };
            let events = in_block
                .wait_for_success()
                .await
                .map_err(|e| dispatch_error(e, number))?;
            let names = events
                .iter()
                .filter_map(|e| e.ok())
                .map(|e| format!("{}.{}", e.pallet_name(), e.event_name()))
                .collect::<Vec<_>>();
            Ok::<_, ChainError>(Submitted {
                block,
                events: names,
            })
        })
        .await
        .map_err(|_| ChainError::Timeout {
            what: what.clone(),
            secs: finalize_timeout.as_secs(),
        })?;
        if let Err(e) = &submitted
            && e.is_transient()
        {
            self.drop_conn(&conn);
        }
        submitted
    }
}

/// Mortality of our transactions, in blocks: a transaction not included by then never will be.
pub const MORTAL_BLOCKS: u64 = 32;

/// The shortest mortal era the chain knows (`Era::mortal` rounds every period up to a power of
/// two, at least 4).
pub const MIN_ERA_BLOCKS: u64 = 4;

/// The longest era whose phase is exact (longer ones are quantized).
pub const MAX_EXACT_ERA_BLOCKS: u64 = 4096;

/// How a transaction is signed and how long it is waited for.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    pub nonce: u64,
    pub lifetime: Lifetime,
    /// Inclusion plus finality, bounded.
    pub finalize_timeout: Duration,
}

/// In which blocks a transaction may be included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// [`MORTAL_BLOCKS`] from the block the client signs at.
    Default,
    /// The blocks `birth.number .. birth.number + blocks` (`blocks` a power of two of at least
    /// [`MIN_ERA_BLOCKS`]); `birth` must be a block the chain has.
    From { birth: BlockRef, blocks: u64 },
}

/// The era of a transaction signed at block `head` that must never be included from block
/// `deadline` on: `(birth, blocks)`, valid in `birth .. birth + blocks`, a range that covers
/// `head .. deadline` and ends exactly at `deadline` (the era is placed to end there, its birth at
/// or before `head`). `None` when `deadline` is not after `head`.
pub fn era_before(head: u64, deadline: u64) -> Option<(u64, u64)> {
    let room = deadline.checked_sub(head).filter(|r| *r > 0)?;
    let blocks = room.next_power_of_two().max(MIN_ERA_BLOCKS);
    if blocks <= MAX_EXACT_ERA_BLOCKS && blocks <= deadline {
        return Some((deadline - blocks, blocks));
    }
    // Too long for an exact phase, or the chain too young to be born that far back: the longest
    // era from `head` that still ends before the deadline.
    let blocks = 1u64 << (63 - room.min(MAX_EXACT_ERA_BLOCKS).leading_zeros());
    (blocks >= MIN_ERA_BLOCKS).then_some((head, blocks))
}

impl Lifetime {
    /// The last block the transaction may be included in, where known.
    pub fn last_block(&self) -> Option<u64> {
        match self {
            Lifetime::Default => None,
            Lifetime::From { birth, blocks } => Some(birth.number + blocks - 1),
        }
    }

    fn mortality(&self) -> subxt::config::transaction_extensions::CheckMortalityParams<Subtensor> {
        use subxt::config::transaction_extensions::CheckMortalityParams as M;
        match *self {
            Lifetime::Default => M::mortal(MORTAL_BLOCKS),
            Lifetime::From { birth, blocks } => {
                M::mortal_from_unchecked(blocks, birth.number, subxt::utils::H256(birth.hash))
            }
        }
    }
}

/// What a submitted transaction went through before finality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxProgress {
    Pooled { extrinsic_hash: [u8; 32] },
    InBlock { block_hash: [u8; 32] },
}

/// A finalized transaction.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub block: BlockRef,
    pub events: Vec<String>,
}

async fn open(endpoint: &str) -> Result<Conn, String> {
    let client = RpcClient::from_insecure_url(endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let backend = LegacyBackend::<Subtensor>::builder().build(client.clone());
    let api = OnlineClient::from_backend_with_config(Subtensor::default(), Arc::new(backend))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Conn {
        id: 0,
        api,
        rpc: LegacyRpcMethods::new(client.clone()),
        raw: client,
    })
}

/// A node's refusal to read state it has pruned ("State already discarded for 0x…", the text of
/// Substrate's `UnknownBlock` error), told apart from transport trouble: retrying the same node
/// cannot help.
fn pruned(e: ChainError, block: u64) -> ChainError {
    match e {
        ChainError::Rpc { reason, .. } if reason.contains("State already discarded") => {
            ChainError::StatePruned { block, reason }
        }
        other => other,
    }
}

fn rpc<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> ChainError + '_ {
    move |e| ChainError::Rpc {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

/// The client at one block.
pub(crate) type At =
    subxt::client::ClientAtBlock<Subtensor, subxt::client::OnlineClientAtBlockImpl<Subtensor>>;

/// Reads at one block, in our error type. Absent keys of a ValueQuery entry read as its
/// default (as the runtime's `get`); `*_opt` tell absent apart (the runtime's `try_get`).
pub(crate) struct Reader {
    pub at: At,
    pub rpc: Rpc,
    pub block: BlockRef,
}

/// Keys per `state_queryStorageAt`: a 4,096-uid snapshot of one map is 8 round trips.
const QUERY_CHUNK: usize = 512;

impl Reader {
    pub fn spec_version(&self) -> u32 {
        self.at.spec_version()
    }

    /// Whether the runtime at this block has the storage entry.
    pub fn has(&self, pallet: &str, entry: &str) -> bool {
        entry_value_type(&self.at.metadata(), pallet, entry).is_some()
    }

    fn decode_error(&self, item: &str, reason: String) -> ChainError {
        ChainError::Decode {
            item: item.into(),
            block: self.block.number,
            reason,
        }
    }

    pub async fn get<K: StorageKey, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        key: K,
    ) -> Result<V, ChainError> {
        read(&self.at, self.block, pallet, entry, key).await
    }

    pub async fn many<K: StorageKey, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        keys: Vec<K>,
    ) -> Result<Vec<V>, ChainError> {
        self.query(pallet, entry, keys, true)
            .await?
            .into_iter()
            .map(|v| {
                v.ok_or_else(|| {
                    self.decode_error(
                        &format!("{pallet}.{entry}"),
                        "absent and without a default".into(),
                    )
                })
            })
            .collect()
    }

    /// The raw storage key of `pallet.entry(key)` at this block's runtime.
    pub fn raw_key<K: StorageKey, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        key: K,
    ) -> Result<Vec<u8>, ChainError> {
        let item = format!("{pallet}.{entry}");
        let storage = self.at.storage();
        let handle = storage
            .entry(subxt::dynamic::storage::<K, V>(pallet, entry))
            .map_err(|err| storage_error(&item, self.block.number, err))?;
        handle
            .fetch_key(key)
            .map_err(|err| storage_error(&item, self.block.number, err))
    }

    /// The raw values of `keys` (of any entries) in one `state_queryStorageAt`.
    pub async fn raw_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, ChainError> {
        let sets = self
            .rpc
            .state_query_storage_at(keys.iter().map(|k| &k[..]), Some(H256(self.block.hash)))
            .await
            .map_err(rpc("state_queryStorageAt"))?;
        let mut found: std::collections::HashMap<Vec<u8>, Option<Vec<u8>>> = sets
            .into_iter()
            .flat_map(|s| s.changes)
            .map(|(k, v)| (k.0, v.map(|b| b.0)))
            .collect();
        Ok(keys.iter().map(|k| found.remove(k).flatten()).collect())
    }

    /// A raw value of `pallet.entry` decoded (the entry's default when absent).
    pub fn decode_raw<K: StorageKey, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        bytes: Option<Vec<u8>>,
    ) -> Result<V, ChainError> {
        let item = format!("{pallet}.{entry}");
        let md = self.at.metadata();
        let value_ty = entry_value_type(&md, pallet, entry)
            .ok_or_else(|| self.decode_error(&item, "not in the runtime metadata".into()))?;
        let bytes = match bytes {
            Some(b) => b,
            None => {
                let storage = self.at.storage();
                let handle = storage
                    .entry(subxt::dynamic::storage::<K, V>(pallet, entry))
                    .map_err(|err| storage_error(&item, self.block.number, err))?;
                handle
                    .default_value()
                    .map(|v| v.into_bytes())
                    .ok_or_else(|| {
                        self.decode_error(&item, "absent and without a default".into())
                    })?
            }
        };
        V::decode_as_type(&mut &bytes[..], value_ty, md.types())
            .map_err(|err| self.decode_error(&item, err.to_string()))
    }

    pub async fn many_opt<K: StorageKey, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        keys: Vec<K>,
    ) -> Result<Vec<Option<V>>, ChainError> {
        self.query(pallet, entry, keys, false).await
    }

    /// Values of `keys` in a few `state_queryStorageAt` round trips; `defaults` fills absent
    /// keys with the entry's default.
    async fn query<K: StorageKey, V: DecodeAsType>(
        &self,
        pallet: &str,
        entry: &str,
        keys: Vec<K>,
        defaults: bool,
    ) -> Result<Vec<Option<V>>, ChainError> {
        let item = format!("{pallet}.{entry}");
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let md = self.at.metadata();
        let value_ty = entry_value_type(&md, pallet, entry)
            .ok_or_else(|| self.decode_error(&item, "not in the runtime metadata".into()))?;
        let storage = self.at.storage();
        let handle = storage
            .entry(subxt::dynamic::storage::<K, V>(pallet, entry))
            .map_err(|err| storage_error(&item, self.block.number, err))?;
        let default = if defaults {
            handle.default_value().map(|v| v.into_bytes())
        } else {
            None
        };
        let raw_keys = keys
            .into_iter()
            .map(|k| handle.fetch_key(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| storage_error(&item, self.block.number, err))?;
        // The chunks are asked for at once: over a network their round trips overlap.
        let answers =
            futures::future::try_join_all(raw_keys.chunks(QUERY_CHUNK).map(|c| self.raw_many(c)))
                .await?;
        let mut out = Vec::with_capacity(raw_keys.len());
        for bytes in answers.into_iter().flatten() {
            let v = match bytes.or_else(|| default.clone()) {
                Some(bytes) => Some(
                    V::decode_as_type(&mut &bytes[..], value_ty, md.types())
                        .map_err(|err| self.decode_error(&item, err.to_string()))?,
                ),
                None => None,
            };
            out.push(v);
        }
        Ok(out)
    }
}

/// One storage value at `at` (the entry's default when absent).
pub(crate) async fn read<K: StorageKey, V: DecodeAsType>(
    at: &At,
    block: BlockRef,
    pallet: &str,
    entry: &str,
    key: K,
) -> Result<V, ChainError> {
    let item = format!("{pallet}.{entry}");
    let value = at
        .storage()
        .fetch(subxt::dynamic::storage::<K, V>(pallet, entry), key)
        .await
        .map_err(|err| storage_error(&item, block.number, err))?;
    value.decode().map_err(|err| ChainError::Decode {
        item,
        block: block.number,
        reason: err.to_string(),
    })
}

/// The value type of a storage entry, if the runtime has it.
pub(crate) fn entry_value_type(md: &subxt::Metadata, pallet: &str, entry: &str) -> Option<u32> {
    md.pallet_by_name(pallet)
        .and_then(|p| p.storage())
        .and_then(|s| s.entry_by_name(entry))
        .map(|e| e.value_ty())
}

/// Transport failures are retried; a missing item or a key/value that does not fit the
/// runtime's types is a loud, final `Decode` error.
fn storage_error(item: &str, block: u64, err: subxt::error::StorageError) -> ChainError {
    use subxt::error::StorageError as S;
    match err {
        S::CannotFetchValue(_) | S::CannotIterateValues(_) | S::StreamFailure(_) => {
            ChainError::Rpc {
                what: item.into(),
                reason: err.to_string(),
            }
        }
        other => ChainError::Decode {
            item: item.into(),
            block,
            reason: other.to_string(),
        },
    }
}

/// A submission's error as the node gave it: subxt shows a JSON-RPC error's message and code
/// ("Invalid Transaction (1010)"), but the node says why in its `data` ("Transaction has a bad
/// signature", "Custom error: 5"), which is added here.
fn refusal(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(u) = c.downcast_ref::<subxt::rpcs::UserError>() {
            if let Some(data) = &u.data {
                let why = serde_json::from_str::<String>(data.get())
                    .unwrap_or_else(|_| data.get().to_string());
                text = format!("{text}: {why}");
            }
            break;
        }
        cause = match c.downcast_ref::<subxt::error::ExtrinsicError>() {
            // This variant does not name its error as its source.
            Some(subxt::error::ExtrinsicError::ErrorSubmittingTransaction(b)) => Some(b),
            _ => c.source(),
        };
    }
    text
}

/// An answer of the node to a submission: a pool refusal, or a transport failure.
fn classify_submit(reason: &str) -> ChainError {
    if reason.contains("Invalid Transaction")
        || reason.contains("Priority is too low")
        || reason.contains("1010")
        || reason.contains("1014")
    {
        ChainError::Invalid {
            refusal: PoolRefusal::parse(reason),
            message: reason.to_string(),
        }
    } else if reason.contains("Module") || reason.contains("Dispatch") {
        ChainError::Dispatch(reason.to_string())
    } else {
        ChainError::Rpc {
            what: "submit".into(),
            reason: reason.to_string(),
        }
    }
}

/// A transaction that failed in block `block`: the pallet's error by name when the metadata
/// names it.
fn dispatch_error(e: subxt::error::TransactionEventsError, block: u64) -> ChainError {
    use subxt::error::{DispatchError, TransactionEventsError as E};
    if let E::ExtrinsicFailed(DispatchError::Module(m)) = &e
        && let Ok(d) = m.details()
    {
        return ChainError::Module {
            pallet: d.pallet.name().to_string(),
            error: d.variant.name.clone(),
            block,
        };
    }
    ChainError::Dispatch(format!("{e} (block {block})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(number: u64) -> BlockRef {
        BlockRef {
            number,
            hash: [7; 32],
        }
    }

    #[test]
    fn an_era_ends_exactly_at_its_deadline() {
        // Placed to end at the deadline, born at or before the head: it covers every block up to
        // the deadline and none after.
        for (head, deadline, era) in [
            (100, 101, (97, 4)),
            (100, 104, (100, 4)),
            (100, 105, (97, 8)),
            (100, 107, (99, 8)),
            (100, 108, (100, 8)),
            (100, 120, (88, 32)),
        ] {
            assert_eq!(era_before(head, deadline), Some(era), "{head} {deadline}");
        }
        for (head, deadline) in [
            (100, 101),
            (100, 107),
            (1000, 1360),
            (5, 9),
            (10_000, 20_000),
        ] {
            let (birth, blocks) = era_before(head, deadline).unwrap();
            assert!(blocks.is_power_of_two() && blocks >= MIN_ERA_BLOCKS);
            assert!(birth <= head, "born after the head: {head} {deadline}");
            assert!(
                birth + blocks <= deadline,
                "alive at the deadline: {head} {deadline}"
            );
        }
        // Exact ends where an exact era fits.
        assert_eq!(era_before(1000, 1360), Some((1360 - 512, 512)));
        // Born at block 0 at the earliest; a chain too young for that starts the era at the
        // head instead.
        assert_eq!(era_before(2, 8), Some((0, 8)));
        assert_eq!(era_before(2, 7), Some((2, 4)));
        // Longer than an exact phase allows: 4,096 blocks from the head.
        assert_eq!(era_before(10_000, 20_000), Some((10_000, 4096)));
        // No room, or fewer than four blocks from a head too young to be born earlier.
        assert_eq!(era_before(100, 100), None);
        assert_eq!(era_before(100, 90), None);
        assert_eq!(era_before(1, 3), None);
        assert_eq!(Lifetime::Default.last_block(), None);
        let l = Lifetime::From {
            birth: at(96),
            blocks: 8,
        };
        assert_eq!(l.last_block(), Some(103));
    }
}
