//! Per-block ingestion of finalized blocks: miners, owners, held stake, emissions and the vesting
//! tranche book, written in one database transaction per block together with the cursor, so
//! that re-processing a block changes nothing and a restart resumes where it stopped.
//!
//! The pipeline: [`crate::chain::follow`] yields every finalized block number once, in order;
//! the block's own data (header, events, epoch snapshot) is read up to `pipeline_depth` blocks
//! ahead; the [`plan::Planner`] turns it into rows against what tenure knows (reading owners and
//! stake as needed); a writer task commits block after block while the next ones are planned.
//! Any failure — chain, database, or a block that does not fit — stops the pipeline, waits with
//! backoff, reloads what the database has, and resumes from its cursor: nothing is skipped and
//! nothing is counted twice.
//!
//! On a database without a cursor ingestion starts at `ingest.start_block` (default: the
//! finalized head) with a full snapshot; the stake held then becomes manual tranches, because
//! what happened before is unknown.

pub mod plan;
pub mod prefetch;
pub mod reanchor;
pub mod store;
pub mod warm_start;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::chain::client::{BlockRef, ChainClient, ChainError};
use crate::chain::follow::follow;
use crate::config::{Config, Mode, StakeScope};
use crate::health::Health;
use crate::metrics::{Metrics, ModeLabels};
use crate::units::NetUid;
use crate::vesting::store::{EpochSettings, Recorded};
use plan::{PlanError, Planner};
use store::{StoreError, Written};

/// Readiness check: passes while blocks are being written.
pub const CHECK_INGEST: &str = "ingest";

#[derive(Debug, Clone)]
pub struct Settings {
    pub netuid: NetUid,
    pub scope: StakeScope,
    pub exempt: BTreeSet<u16>,
    pub start_block: Option<u64>,
    pub pipeline_depth: usize,
    /// The vesting engine, run in the transaction of every epoch block.
    pub vesting: EpochSettings,
    /// The uptime engine, likewise.
    pub uptime: crate::uptime::epoch::EpochSettings,
    /// The validator's hotkey (when weights are submitted): its reveals are recorded with the
    /// weights the chain stored.
    pub validator: Option<crate::chain::AccountId>,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        Settings {
            netuid: c.chain.netuid,
            scope: c.vesting.stake_scope,
            exempt: c.weights.exempt_uids.iter().copied().collect(),
            start_block: c.ingest.start_block,
            pipeline_depth: c.ingest.pipeline_depth.max(1),
            vesting: EpochSettings {
                netuid: c.chain.netuid,
                cfg: c.vesting.clone(),
                block_time_secs: c.chain.block_time_secs,
                exempt: c.weights.exempt_uids.iter().copied().collect(),
            },
            uptime: crate::uptime::epoch::EpochSettings {
                netuid: c.chain.netuid,
                cfg: c.uptime.clone(),
                periods: crate::uptime::store::Periods::new(c.chain.block_time_secs),
                exempt: c.weights.exempt_uids.iter().copied().collect(),
            },
            validator: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer stopped")]
    WriterGone,
    #[error("no progress for {secs} s waiting on {what}; restarting from the cursor")]
    Stuck { what: String, secs: u64 },
}

impl IngestError {
    /// The block whose state no endpoint has any more, when that stopped ingestion.
    fn pruned_block(&self) -> Option<u64> {
        match self {
            IngestError::Chain(ChainError::StatePruned { block, .. })
            | IngestError::Plan(PlanError::Chain(ChainError::StatePruned { block, .. })) => {
                Some(*block)
            }
            _ => None,
        }
    }
}

/// What an operator can do when the node has pruned the state ingestion needs next.
fn pruned_advice(block: u64, archive: bool) -> String {
    let what = if archive {
        "neither chain.endpoints nor chain.archive_endpoints have"
    } else {
        "the node (chain.endpoints) no longer has"
    };
    format!(
        "ingestion cannot read block {block}: {what} its state (non-archive nodes keep only recent state). Nothing is written until one of: set chain.archive_endpoints to an archive node of this chain (ingestion then back-fills everything), or run `tenure ingest reanchor --reason …` to continue from the finalized head, recording blocks {block}.. as a gap (uptime unknown there, the stake held then becomes manual tranches)"
    )
}

/// One block's database write (its epoch step included) may take at most this long; the
/// pipeline then starts over from the cursor (the transaction was rolled back).
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Ingests until `cancel` fires. Failures are logged, retried with backoff and resumed from the
/// database's cursor; this returns only on cancellation.
pub async fn run(
    client: Arc<ChainClient>,
    pool: PgPool,
    settings: Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let initial = client.settings.reconnect_initial;
    let mut delay = initial;
    loop {
        let started = Instant::now();
        let result = run_once(&client, &pool, &settings, &metrics, &health, &cancel).await;
        if cancel.is_cancelled() {
            return Ok(());
        }
        client.counters.block_loop.beat();
        if let Err(e) = result {
            metrics.ingest.errors.inc();
            let reason = match e.pruned_block() {
                Some(block) => {
                    metrics.ingest.state_pruned_block.set(block as i64);
                    pruned_advice(block, !client.settings.archive_endpoints.is_empty())
                }
                None => e.to_string(),
            };
            health.fail(CHECK_INGEST, reason.clone());
            tracing::error!(error = %reason, retry_in_ms = delay.as_millis() as u64, "ingestion stopped; resuming from the database cursor");
        }
        // A pipeline that ran a while before failing starts its backoff over.
        if started.elapsed() > Duration::from_secs(60) {
            delay = initial;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Ok(()),
        }
        delay = (delay * 2).min(client.settings.reconnect_max);
    }
}

async fn run_once(
    client: &Arc<ChainClient>,
    pool: &PgPool,
    s: &Settings,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
    cancel: &CancellationToken,
) -> Result<(), IngestError> {
    let planner = Planner::of(s);
    let mut state = store::load(pool, s.netuid).await?;
    let mut mem = load_memory(pool, s, metrics, state.cursor.map(|(n, _)| n)).await?;
    let from = match state.cursor {
        Some((n, _)) => n + 1,
        None => {
            let first = First {
                client,
                pool,
                s,
                metrics,
                health,
                cancel,
            };
            first.snapshot(&planner, &mut state, &mut mem).await? + 1
        }
    };
    tracing::info!(from, "ingesting finalized blocks");

    let stop = cancel.child_token();
    let _stop_on_exit = stop.clone().drop_guard();
    let (blocks_tx, blocks_rx) = mpsc::channel::<BlockRef>(s.pipeline_depth * 2);
    tokio::spawn(follow(client.clone(), from, blocks_tx, stop.clone()));

    let (writes_tx, writes_rx) = mpsc::channel::<(plan::BlockWrite, Instant)>(s.pipeline_depth);
    let writer = tokio::spawn(write_blocks(
        pool.clone(),
        s.clone(),
        mem,
        metrics.clone(),
        health.clone(),
        client.counters.clone(),
        writes_rx,
    ));

    let hint = prefetch::SharedHint::new(&state);
    let reads = read_ahead(client, s, tokio_stream_of(blocks_rx), &hint, &stop);
    tokio::pin!(reads);
    let mut last_head_check = Instant::now() - Duration::from_secs(60);
    // The next block may take the node's stall timeout to come (the stream is then rebuilt),
    // plus a reconnection; past that the pipeline is stuck and starts over from the cursor.
    let read_bound = client.settings.stall_timeout * 2 + client.settings.rpc_timeout;
    let pulse = client.counters.block_loop.clone();
    let outcome: Result<(), IngestError> = async {
        while let Some(data) = tokio::select! {
            d = tokio::time::timeout(read_bound, reads.next()) => d.map_err(|_| IngestError::Stuck {
                what: "the next block's data from the node".into(),
                secs: read_bound.as_secs(),
            })?,
            _ = cancel.cancelled() => None,
        } {
            let data = data?;
            let started = Instant::now();
            pulse.stage(
                "planner",
                format!(
                    "planning block {} (owners and stake from the node)",
                    data.data.number
                ),
            );
            let w = planner.block(client, &mut state, &data).await?;
            if changes_hint(&w) {
                hint.renew(&state);
            }
            observe_age(metrics, data.data.timestamp_ms);
            pulse.stage(
                "planner",
                format!("the writer taking block {}", data.data.number),
            );
            hand_over(&writes_tx, w, started).await?;
            if last_head_check.elapsed() > Duration::from_secs(2) {
                last_head_check = Instant::now();
                observe_head(client, metrics, data.data.number).await;
            }
        }
        Ok(())
    }
    .await;
    // Let the writer finish what was planned before anything is reloaded.
    drop(writes_tx);
    let written = writer.await.map_err(|_| IngestError::WriterGone)?;
    outcome?;
    let mem = written?;
    if cancel.is_cancelled() {
        // A graceful stop: the memory is the database's at its cursor, every planned block
        // written. Saved, the next start need not aggregate it from the tables again.
        warm_start::save_at_stop(pool, s, &mem).await;
    }
    Ok(())
}

/// The writer's memory at `cursor` (warm when a graceful stop saved it), its load timed on
/// the metrics.
async fn load_memory(
    pool: &PgPool,
    s: &Settings,
    metrics: &Metrics,
    cursor: Option<u64>,
) -> Result<store::Memory, StoreError> {
    let loading = Instant::now();
    let mem = store::Memory::load(pool, s, cursor).await?;
    let m = &metrics.ingest;
    m.memory_load_seconds.set(loading.elapsed().as_secs_f64());
    m.memory_warm.set(i64::from(mem.warm));
    Ok(mem)
}

/// Blocks whose owners are read together in one range query while catching up.
const SEGMENT: usize = 64;

/// The blocks' data read ahead of the planner: owners over segments of consecutive blocks (two
/// segments in flight), then up to `pipeline_depth` blocks at once, each against the hint the
/// planner left when its read began. Every read is retried on transient errors until `stop`.
fn read_ahead<'a>(
    client: &'a Arc<ChainClient>,
    s: &Settings,
    blocks: impl futures::Stream<Item = BlockRef> + Send + 'a,
    hint: &'a prefetch::SharedHint,
    stop: &'a CancellationToken,
) -> impl futures::Stream<Item = Result<prefetch::ReadBlock, ChainError>> + Send + 'a {
    let netuid = s.netuid;
    blocks
        .ready_chunks(SEGMENT)
        .map(move |blocks| {
            let hint = hint.get();
            async move {
                client
                    .retry(stop, || prefetch::segment(client, blocks.clone(), &hint))
                    .await
            }
        })
        .buffered(2)
        .flat_map(|segment| {
            let items: Vec<Result<_, ChainError>> = match segment {
                Ok(blocks) => blocks.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        })
        .map(move |item| {
            let hint = hint.get();
            async move {
                let (block, owners) = item?;
                client
                    .retry(stop, || {
                        prefetch::block(client, netuid, block, owners.clone(), &hint)
                    })
                    .await
            }
        })
        .buffered(s.pipeline_depth)
}

/// Whether a planned block changed what the hint says (the miners, owners, tracked coldkeys or
/// the pairs they hold).
fn changes_hint(w: &plan::BlockWrite) -> bool {
    !(w.registered.is_empty()
        && w.deregistered.is_empty()
        && w.hotkey_swaps.is_empty()
        && w.coldkey_swaps.is_empty()
        && w.owner_changes.is_empty()
        && w.stake.is_empty())
}

/// Age of the block just planned by its chain timestamp.
fn observe_age(metrics: &Metrics, timestamp_ms: u64) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let age = now_ms.saturating_sub(timestamp_ms) as f64 / 1000.0;
    metrics.ingest.block_age_seconds.set(age);
}

/// How far ingestion trails the finalized head, and the chain client's counters.
async fn observe_head(client: &ChainClient, metrics: &Metrics, planned: u64) {
    if let Ok(head) = client.finalized_head().await {
        metrics.chain.head.set(head.number as i64);
        let behind = head.number.saturating_sub(planned);
        metrics.ingest.behind.set(behind as i64);
    }
    metrics.observe_chain(&client.counters);
}

/// Hands a planned block to the writer, bounded: a writer that takes nothing for
/// `WRITE_TIMEOUT` is stuck and the pipeline starts over from the cursor.
async fn hand_over(
    writes_tx: &mpsc::Sender<(plan::BlockWrite, Instant)>,
    w: plan::BlockWrite,
    started: Instant,
) -> Result<(), IngestError> {
    let number = w.number;
    match tokio::time::timeout(WRITE_TIMEOUT, writes_tx.send((w, started))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(IngestError::WriterGone),
        Err(_) => Err(IngestError::Stuck {
            what: format!("the writer taking block {number}"),
            secs: WRITE_TIMEOUT.as_secs(),
        }),
    }
}

/// What the first start of ingestion needs.
struct First<'a> {
    client: &'a Arc<ChainClient>,
    pool: &'a PgPool,
    s: &'a Settings,
    metrics: &'a Arc<Metrics>,
    health: &'a Arc<Health>,
    cancel: &'a CancellationToken,
}

impl First<'_> {
    /// Takes a snapshot at the start block (the configured one, or the finalized head):
    /// history before it is unknown. Returns the block.
    async fn snapshot(
        &self,
        planner: &Planner,
        state: &mut plan::State,
        mem: &mut store::Memory,
    ) -> Result<u64, IngestError> {
        let (client, s, cancel) = (self.client, self.s, self.cancel);
        let start = match s.start_block {
            Some(b) => b,
            None => {
                client
                    .retry(cancel, || client.finalized_head())
                    .await?
                    .number
            }
        };
        let block = client.retry(cancel, || client.block_hash(start)).await?;
        let data = client
            .retry(cancel, || client.block_data(block, s.netuid))
            .await?;
        let w = planner.snapshot(client, state, &data).await?;
        store::write(self.pool, s, mem, &w).await?;
        client.counters.block_loop.processed(start);
        self.health.pass(CHECK_INGEST);
        self.metrics.ingest.cursor.set(start as i64);
        tracing::info!(
            block = start,
            miners = state.miners.len(),
            coldkeys = state.tracked.len(),
            "first start: snapshot taken; history before this block is unknown"
        );
        Ok(start)
    }
}

/// The writer task: one transaction per planned block, in order, each bounded.
async fn write_blocks(
    pool: PgPool,
    settings: Settings,
    mut mem: store::Memory,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    counters: Arc<crate::chain::client::Counters>,
    mut writes_rx: mpsc::Receiver<(plan::BlockWrite, Instant)>,
) -> Result<store::Memory, StoreError> {
    while let Some((w, started)) = writes_rx.recv().await {
        counters
            .block_loop
            .stage("writer", format!("the database writing block {}", w.number));
        let written =
            tokio::time::timeout(WRITE_TIMEOUT, store::write(&pool, &settings, &mut mem, &w))
                .await
                .map_err(|_| StoreError::Timeout {
                    block: w.number,
                    secs: WRITE_TIMEOUT.as_secs(),
                })??;
        match written {
            Written::Rows(rows, epoch) => {
                metrics.ingest.rows.inc_by(rows);
                metrics
                    .ingest
                    .block_seconds
                    .observe(started.elapsed().as_secs_f64());
                if let Some(e) = epoch {
                    let (v, u) = (&e.vesting, &e.uptime);
                    observe_vesting(&metrics, w.number, v, mem.tally.len());
                    metrics.network.observe(&e.network);
                    tracing::info!(
                        epoch_block = w.number,
                        mode = u.mode.name(),
                        miners = u.miners,
                        boosted = u.boosted,
                        new_achievements = u.new_achievements,
                        ms = (u.seconds * 1000.0).round() as u64,
                        "uptime recorded"
                    );
                }
            }
            Written::AlreadyIngested => {
                tracing::debug!(block = w.number, "block already ingested");
            }
        }
        metrics.ingest.cursor.set(w.number as i64);
        metrics.ingest.state_pruned_block.set(0);
        metrics.ingest.archive_reads.set(
            counters
                .archive_reads
                .load(std::sync::atomic::Ordering::Relaxed) as i64,
        );
        metrics.ingest.planner_reads.set(
            counters
                .planner_reads
                .load(std::sync::atomic::Ordering::Relaxed) as i64,
        );
        counters.block_loop.processed(w.number);
        health.pass(CHECK_INGEST);
    }
    Ok(mem)
}

fn observe_vesting(metrics: &Metrics, block: u64, v: &Recorded, tranches: u64) {
    metrics.vesting.epoch_block.set(block as i64);
    metrics.vesting.seconds.observe(v.seconds);
    metrics.vesting.miners.set(v.miners as i64);
    metrics.vesting.boosted.set(v.boosted as i64);
    metrics.vesting.window_tranches.set(tranches as i64);
    for mode in [Mode::On, Mode::Shadow, Mode::Off] {
        metrics
            .vesting
            .mode
            .get_or_create(&ModeLabels {
                mode: mode.name().to_string(),
            })
            .set(i64::from(mode == v.mode));
    }
    tracing::info!(
        epoch_block = block,
        mode = v.mode.name(),
        miners = v.miners,
        boosted = v.boosted,
        ms = (v.seconds * 1000.0).round() as u64,
        "vesting recorded"
    );
}

/// A receiver as a stream (what `tokio-stream`'s wrapper does, without the dependency).
fn tokio_stream_of<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
