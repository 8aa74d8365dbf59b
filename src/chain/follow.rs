//! Finalized blocks, every one exactly once and in order, whatever the connection does: the
//! finalized-heads subscription only says how far finality has come; every number up to there
//! is fetched by number (back-fill), so blocks finalized together, or while we were
//! disconnected, are not skipped. A subscription silent for longer than the stall timeout is
//! treated as dead and the connection rebuilt.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{BlockRef, ChainClient, ChainError};

/// Streams finalized blocks from `from` on into `out` until `cancel` fires or the receiver is
/// dropped. Transport failures are retried with backoff forever: the chain being away is a
/// state to wait out, not an error to exit on.
pub async fn follow(
    client: Arc<ChainClient>,
    from: u64,
    out: mpsc::Sender<BlockRef>,
    cancel: CancellationToken,
) {
    let mut next = from;
    let mut delay = client.settings.reconnect_initial;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        client.counters.block_loop.beat();
        match follow_once(&client, &mut next, &out, &cancel).await {
            Ok(Stop::Done) => return,
            Ok(Stop::Progressed) => delay = client.settings.reconnect_initial,
            Ok(Stop::Quiet) => {}
            Err(e) => {
                tracing::warn!(error = %e, next_block = next, "finalized stream interrupted; reconnecting")
            }
        }
        client.disconnect().await;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return,
        }
        delay = (delay * 2).min(client.settings.reconnect_max);
    }
}

enum Stop {
    /// Cancelled, or nobody listens any more.
    Done,
    /// The stream broke after delivering blocks (reset the backoff).
    Progressed,
    /// The stream broke before delivering anything.
    Quiet,
}

async fn follow_once(
    client: &ChainClient,
    next: &mut u64,
    out: &mpsc::Sender<BlockRef>,
    cancel: &CancellationToken,
) -> Result<Stop, ChainError> {
    client.counters.block_loop.stage(
        "follow",
        "a connection to the node and the finalized-heads subscription",
    );
    let conn = client.conn().await?;
    let mut sub = tokio::time::timeout(
        client.settings.rpc_timeout,
        conn.rpc.chain_subscribe_finalized_heads(),
    )
    .await
    .map_err(|_| ChainError::Timeout {
        what: "chain_subscribeFinalizedHeads".into(),
        secs: client.settings.rpc_timeout.as_secs(),
    })?
    .map_err(|e| ChainError::Rpc {
        what: "chain_subscribeFinalizedHeads".into(),
        reason: e.to_string(),
    })?;
    let start = *next;
    // What was finalized while we were away.
    let head = client.finalized_head().await?;
    if !deliver(client, next, head.number, out).await? {
        return Ok(Stop::Done);
    }
    loop {
        client.counters.block_loop.stage(
            "follow",
            format!("the node's next finalized head (after block {})", *next - 1),
        );
        let item = tokio::select! {
            _ = cancel.cancelled() => return Ok(Stop::Done),
            item = tokio::time::timeout(client.settings.stall_timeout, sub.next()) => item,
        };
        // Waiting on the chain is being alive only when every block handed on was processed:
        // blocks queued in the read-ahead are not progress (a stuck writer must show).
        let pulse = &client.counters.block_loop;
        if pulse.last_block() + 1 >= *next {
            pulse.beat();
        }
        let progressed = if *next > start {
            Stop::Progressed
        } else {
            Stop::Quiet
        };
        match item {
            Err(_) => {
                client.counters.stalls.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    secs = client.settings.stall_timeout.as_secs(),
                    next_block = *next,
                    "no finalized block for the stall timeout; rebuilding the connection"
                );
                return Ok(progressed);
            }
            Ok(None) => {
                tracing::warn!(next_block = *next, "finalized-heads subscription ended");
                return Ok(progressed);
            }
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, next_block = *next, "finalized-heads subscription failed");
                return Ok(progressed);
            }
            Ok(Some(Ok(header))) => {
                if !deliver(client, next, header.number, out).await? {
                    return Ok(Stop::Done);
                }
            }
        }
    }
}

/// Block hashes asked for in one call while back-filling.
const HASH_BATCH: u64 = 256;

/// Sends blocks `*next..=upto` by number; false when the receiver is gone. Hashes are read in
/// batches, so that back-fill over a network costs one round trip per batch, not per block.
async fn deliver(
    client: &ChainClient,
    next: &mut u64,
    upto: u64,
    out: &mpsc::Sender<BlockRef>,
) -> Result<bool, ChainError> {
    while *next <= upto {
        let last = upto.min(*next + HASH_BATCH - 1);
        for block in client.block_hashes(*next, last).await? {
            client.counters.block_loop.stage(
                "follow",
                format!("a pipeline slot for block {}", block.number),
            );
            // Bounded: a pipeline that takes no block for the stall timeout is stuck; the
            // stream is rebuilt from `next` (nothing is skipped), and the watchdog has said so
            // meanwhile.
            match tokio::time::timeout(client.settings.stall_timeout, out.send(block)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ok(false),
                Err(_) => {
                    return Err(ChainError::Timeout {
                        what: format!("ingestion taking block {}", block.number),
                        secs: client.settings.stall_timeout.as_secs(),
                    });
                }
            }
            *next += 1;
        }
    }
    Ok(true)
}
