//! `tenure ingest reanchor`: when the node can no longer serve the state of the blocks after the
//! cursor (a pruning node, no archive endpoint), continue from the finalized head and record the
//! skipped blocks as a gap. Explicit and audited, never automatic: it is refused while the next
//! block can still be read, so it never skips what could be back-filled.

use sqlx::PgPool;

use super::Settings;
use super::plan::{Gap, PlanError, Planner};
use super::store::{self, StoreError, Written};
use crate::chain::client::{ChainClient, ChainError};

#[derive(Debug, thiserror::Error)]
pub enum ReanchorError {
    #[error("nothing was ingested yet on netuid {0}: the first start takes a snapshot itself")]
    Empty(u16),
    #[error(
        "the node still serves block {next} (the next after the cursor): the daemon back-fills it; reanchor only skips blocks whose state is gone"
    )]
    StillReadable { next: u64 },
    #[error("nothing to skip: the cursor is at block {cursor} and the finalized head at {head}")]
    NothingToSkip { cursor: u64, head: u64 },
    #[error(
        "the cursor moved while reanchoring (another instance wrote a block); nothing was written, run it again"
    )]
    Moved,
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a reanchor did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reanchored {
    pub gap: Gap,
    /// The block the history continues from (read whole, as a snapshot).
    pub anchor: u64,
    pub rows: u64,
}

/// Skips from the cursor to the finalized head: the head is read whole and written as the
/// block after the cursor, with the blocks between recorded as a gap (by `actor`, for `reason`).
pub async fn reanchor(
    client: &ChainClient,
    pool: &PgPool,
    s: &Settings,
    actor: &str,
    reason: &str,
) -> Result<Reanchored, ReanchorError> {
    let mut state = store::load(pool, s.netuid).await?;
    let Some((cursor, _)) = state.cursor else {
        return Err(ReanchorError::Empty(s.netuid));
    };
    let head = client.finalized_head().await?;
    if head.number <= cursor + 1 {
        return Err(ReanchorError::NothingToSkip {
            cursor,
            head: head.number,
        });
    }
    let next = client.block_hash(cursor + 1).await?;
    match client.block_data(next, s.netuid).await {
        Err(ChainError::StatePruned { .. }) => {}
        Err(e) => return Err(e.into()),
        Ok(_) => return Err(ReanchorError::StillReadable { next: cursor + 1 }),
    }
    let data = client.block_data(head, s.netuid).await?;
    let planner = Planner::of(s);
    let gap = Gap {
        from: cursor + 1,
        to: head.number - 1,
        actor: actor.to_string(),
        reason: reason.to_string(),
    };
    let w = planner
        .reanchor(client, &mut state, &data, gap.clone())
        .await?;
    let mut mem = store::Memory::load(pool, s, Some(cursor)).await?;
    match store::write(pool, s, &mut mem, &w).await {
        Ok(Written::Rows(rows, _)) => Ok(Reanchored {
            gap,
            anchor: head.number,
            rows,
        }),
        Ok(Written::AlreadyIngested) | Err(StoreError::Gap { .. }) => Err(ReanchorError::Moved),
        Err(e) => Err(e.into()),
    }
}

/// A recorded gap, as the API and the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GapRow {
    pub from_block: u64,
    pub to_block: u64,
    /// The block the history continues from.
    pub anchor_block: u64,
    pub actor: String,
    pub reason: String,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// Every gap of the subnet's history, oldest first.
pub async fn gaps(pool: &PgPool, netuid: u16) -> Result<Vec<GapRow>, sqlx::Error> {
    type Row = (i64, i64, String, String, chrono::DateTime<chrono::Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT from_block, to_block, actor, reason, recorded_at FROM ingest_gaps
          WHERE netuid = $1 ORDER BY from_block",
    )
    .bind(i32::from(netuid))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(from, to, actor, reason, recorded_at)| GapRow {
            from_block: from as u64,
            to_block: to as u64,
            anchor_block: to as u64 + 1,
            actor,
            reason,
            recorded_at,
        })
        .collect())
}
