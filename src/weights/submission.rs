//! The submission state machine, one row per (subnet, mechanism, epoch):
//! `planned → submitted → in_block → finalized | failed(reason, retryable)`, and `missed`
//! (with the reason) for an epoch whose submission window passed without our weights on chain.
//! On commit-reveal subnets a finalized commit goes on to `revealed` (the chain revealed it and
//! stored exactly its weights) or `reveal_missed` (its reveal epoch passed without that). The unique key
//! makes a second plan for an epoch impossible; a row is marked `submitted` (with the nonce it
//! is signed with) before the extrinsic leaves the process, so a restart knows a transaction
//! may be out there and reconciles with the chain before anything else is sent.

use sqlx::{PgConnection, PgPool, Row};

use super::pipeline::{Entry, Plan};
use crate::leader::{Fence, FenceError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = SubmissionStatus)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Planned,
    Submitted,
    InBlock,
    Finalized,
    Failed,
    /// The epoch ended without our weights on chain; never sent late.
    Missed,
    /// A finalized timelocked commit the chain revealed, storing exactly the committed weights.
    Revealed,
    /// A finalized timelocked commit whose reveal epoch passed without that.
    RevealMissed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Planned => "planned",
            Status::Submitted => "submitted",
            Status::InBlock => "in_block",
            Status::Finalized => "finalized",
            Status::Failed => "failed",
            Status::Missed => "missed",
            Status::Revealed => "revealed",
            Status::RevealMissed => "reveal_missed",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = crate::text_column::UnknownName;

    fn from_str(s: &str) -> Result<Status, Self::Err> {
        const ALL: [Status; 8] = [
            Status::Planned,
            Status::Submitted,
            Status::InBlock,
            Status::Finalized,
            Status::Failed,
            Status::Missed,
            Status::Revealed,
            Status::RevealMissed,
        ];
        ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            crate::text_column::UnknownName::new(
                "submission status",
                s,
                "planned, submitted, in_block, finalized, failed, missed, revealed, reveal_missed",
            )
        })
    }
}

crate::text_column!(Status);

/// A stored submission; serialized as the views show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Submission {
    #[serde(skip)]
    pub id: i64,
    pub epoch_index: u64,
    pub epoch_block: u64,
    pub planned_block: u64,
    pub status: Status,
    pub method: String,
    pub dry_run: bool,
    pub version_key: u64,
    #[serde(rename = "dests")]
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    pub reveal_round: Option<u64>,
    pub nonce: Option<u64>,
    #[serde(rename = "in_block")]
    pub in_block_number: Option<u64>,
    pub attempts: u32,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    /// The block the last attempt was signed at (its mortality counts from there).
    #[serde(skip)]
    pub submitted_block: Option<u64>,
    /// Fencing token of the lease term that last wrote it (None without a lease).
    #[serde(skip)]
    pub leader_token: Option<i64>,
    /// The block the chain revealed a timelocked commit in (commit-reveal subnets).
    pub revealed_block: Option<u64>,
}

const COLUMNS: &str = "id, epoch_index, epoch_block, planned_block, status, method, dry_run,
    version_key, uids, weights, reveal_round, nonce, in_block_number, attempts, error, retryable,
    submitted_block, leader_token, revealed_block";

fn of_row(r: &sqlx::postgres::PgRow) -> Result<Submission, sqlx::Error> {
    let u = |v: Option<i64>| v.map(|x| x.max(0) as u64);
    let v16 = |v: Vec<i32>| v.into_iter().map(|x| x as u16).collect();
    Ok(Submission {
        id: r.try_get(0)?,
        epoch_index: r.try_get::<i64, _>(1)? as u64,
        epoch_block: r.try_get::<i64, _>(2)? as u64,
        planned_block: r.try_get::<i64, _>(3)? as u64,
        status: r.try_get(4)?,
        method: r.try_get(5)?,
        dry_run: r.try_get(6)?,
        version_key: r.try_get::<i64, _>(7)? as u64,
        uids: v16(r.try_get(8)?),
        weights: v16(r.try_get(9)?),
        reveal_round: u(r.try_get(10)?),
        nonce: u(r.try_get(11)?),
        in_block_number: u(r.try_get(12)?),
        attempts: r.try_get::<i32, _>(13)? as u32,
        error: r.try_get(14)?,
        retryable: r.try_get(15)?,
        submitted_block: u(r.try_get(16)?),
        leader_token: r.try_get(17)?,
        revealed_block: u(r.try_get(18)?),
    })
}

pub async fn get(
    pool: &PgPool,
    netuid: u16,
    mechid: u8,
    epoch_index: u64,
) -> Result<Option<Submission>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM weight_submissions s
          WHERE netuid = $1 AND mechid = $2 AND epoch_index = $3"
    )))
    .bind(i32::from(netuid))
    .bind(i32::from(mechid))
    .bind(epoch_index as i64)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(of_row).transpose()
}

/// Submissions, newest epoch first.
pub async fn history(
    pool: &PgPool,
    netuid: u16,
    limit: i64,
) -> Result<Vec<Submission>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM weight_submissions s
          WHERE netuid = $1 ORDER BY epoch_index DESC, mechid LIMIT $2"
    )))
    .bind(i32::from(netuid))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(of_row).collect()
}

/// The latest non-dry-run submission that reached the chain.
pub async fn last_accepted(pool: &PgPool, netuid: u16) -> Result<Option<u64>, sqlx::Error> {
    let b: Option<i64> = sqlx::query_scalar(
        "SELECT max(in_block_number) FROM weight_submissions
          WHERE netuid = $1 AND status IN ('finalized', 'revealed', 'reveal_missed')
            AND NOT dry_run",
    )
    .bind(i32::from(netuid))
    .fetch_one(pool)
    .await?;
    Ok(b.map(|b| b as u64))
}

/// A plan about to be stored.
pub struct NewPlan<'a> {
    pub netuid: u16,
    pub mechid: u8,
    pub epoch_index: u64,
    pub epoch_block: u64,
    pub planned_block: u64,
    pub method: &'static str,
    pub dry_run: bool,
    pub version_key: u64,
    pub max_total_multiplier: f64,
    pub plan: &'a Plan,
    pub detail: String,
    /// The uptime epoch whose multipliers the plan applies (its milestone bonuses are used up
    /// by this submission when that epoch's mode was `on`).
    pub uptime_epoch: Option<u64>,
    /// The chain's `MinAllowedWeights` and `MaxWeightsLimit` the plan was converted under.
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
}

/// Stores the plan and every entry behind it in one transaction. `None`: the epoch already has
/// a submission (another process planned it first); nothing is written.
/// Stores a plan unless the epoch has one. With a `fence`, only while its lease term lasts.
pub async fn plan(
    pool: &PgPool,
    p: &NewPlan<'_>,
    fence: Option<&Fence>,
) -> Result<Option<i64>, FenceError> {
    let mut tx = pool.begin().await?;
    if let Some(f) = fence {
        f.check(&mut tx).await?;
    }
    let uids: Vec<i32> = p.plan.uids().iter().map(|u| i32::from(*u)).collect();
    let weights: Vec<i32> = p.plan.weights().iter().map(|w| i32::from(*w)).collect();
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO weight_submissions (netuid, mechid, epoch_index, epoch_block, planned_block,
             status, method, dry_run, version_key, uids, weights, leader_token,
             min_allowed_weights, max_weights_limit)
         VALUES ($1, $2, $3, $4, $5, 'planned', $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (netuid, mechid, epoch_index) DO NOTHING RETURNING id",
    )
    .bind(i32::from(p.netuid))
    .bind(i32::from(p.mechid))
    .bind(p.epoch_index as i64)
    .bind(p.epoch_block as i64)
    .bind(p.planned_block as i64)
    .bind(p.method)
    .bind(p.dry_run)
    .bind(p.version_key as i64)
    .bind(&uids)
    .bind(&weights)
    .bind(fence.map(|f| f.token))
    .bind(i32::from(p.min_allowed_weights))
    .bind(i32::from(p.max_weights_limit))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    insert_entries(&mut tx, id, &p.plan.entries, p.max_total_multiplier).await?;
    if let (Some(epoch), false) = (p.uptime_epoch, p.dry_run) {
        use_milestones(&mut tx, p.netuid, epoch).await?;
    }
    log(&mut tx, id, Status::Planned, &p.detail).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// A milestone's bonus applies to the next `milestones.bonus_epochs` submissions made while
/// the uptime mode is `on`: this one uses it up for every achievement the uptime record of
/// `epoch` applied (awarded by then, not yet used up), when that record's mode was `on`.
/// Shadow and off epochs, dry runs and epochs without a submission use nothing.
async fn use_milestones(tx: &mut PgConnection, netuid: u16, epoch: u64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE achievements a SET epochs_remaining = a.epochs_remaining - 1
          WHERE a.netuid = $1 AND a.epochs_remaining > 0 AND a.awarded_block <= $2
            AND EXISTS (SELECT 1 FROM uptime_epochs u
                         WHERE u.netuid = $1 AND u.epoch_block = $2 AND u.mode = 'on')",
    )
    .bind(i32::from(netuid))
    .bind(epoch as i64)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_entries(
    tx: &mut PgConnection,
    id: i64,
    entries: &[Entry],
    max_total: f64,
) -> Result<(), sqlx::Error> {
    let mut uid = Vec::with_capacity(entries.len());
    let mut miner = Vec::with_capacity(entries.len());
    let mut hotkey = Vec::with_capacity(entries.len());
    let mut exempt = Vec::with_capacity(entries.len());
    let mut base = Vec::with_capacity(entries.len());
    let (mut up, mut vest, mut pen, mut total) = (vec![], vec![], vec![], vec![]);
    let (mut clamped, mut raw, mut norm, mut value, mut explain) =
        (vec![], vec![], vec![], vec![], vec![]);
    for e in entries {
        uid.push(i32::from(e.input.uid));
        miner.push(e.input.miner_id);
        hotkey.push(e.input.hotkey.as_str());
        exempt.push(e.input.validator || e.input.exempt);
        base.push(e.input.base.as_ref().map_or(0.0, |b| b.score));
        up.push(e.uptime);
        vest.push(e.vesting);
        pen.push(e.penalty);
        total.push(e.total);
        clamped.push(e.clamped);
        raw.push(e.raw);
        norm.push(e.normalized);
        value.push(i32::from(e.value));
        let explained = serde_json::to_string(&e.explain(max_total))
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        explain.push(explained);
    }
    sqlx::query(
        "INSERT INTO weight_entries (submission_id, uid, miner_id, hotkey, exempt, base_score,
             uptime_multiplier, vesting_multiplier, penalty, total_multiplier, clamped,
             raw_weight, normalized_weight, weight_u16, explain)
         SELECT $1, * FROM UNNEST($2::int[], $3::bigint[], $4::text[], $5::bool[], $6::float8[],
             $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::bool[], $12::float8[],
             $13::float8[], $14::int[], $15::text[]::jsonb[])",
    )
    .bind(id)
    .bind(&uid)
    .bind(&miner)
    .bind(&hotkey)
    .bind(&exempt)
    .bind(&base)
    .bind(&up)
    .bind(&vest)
    .bind(&pen)
    .bind(&total)
    .bind(&clamped)
    .bind(&raw)
    .bind(&norm)
    .bind(&value)
    .bind(&explain)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn log(
    tx: &mut PgConnection,
    id: i64,
    status: Status,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO weight_submission_log (submission_id, status, detail) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(status.name())
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What a transition changes besides the status.
#[derive(Debug, Default, Clone)]
pub struct Change {
    pub nonce: Option<u64>,
    pub reveal_round: Option<u64>,
    pub commit: Option<Vec<u8>>,
    pub extrinsic_hash: Option<[u8; 32]>,
    pub in_block: Option<(u64, [u8; 32])>,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    /// A new attempt signed at this finalized head: `attempts` + 1, the previous error cleared.
    pub attempt: Option<u64>,
    pub revealed_block: Option<u64>,
}

/// Moves `id` to `to` if it is in one of `from` (else nothing changes and this returns false),
/// with a log row saying why.
/// Moves a row from one of `from` to `to`; false when it was in none of them. With a `fence`,
/// only while its lease term lasts (and the row then records the term's token).
pub async fn transition(
    pool: &PgPool,
    id: i64,
    from: &[Status],
    to: Status,
    change: Change,
    detail: &str,
    fence: Option<&Fence>,
) -> Result<bool, FenceError> {
    let mut tx = pool.begin().await?;
    if let Some(f) = fence {
        f.check(&mut tx).await?;
    }
    let from: Vec<&str> = from.iter().map(|s| s.name()).collect();
    let done = sqlx::query(
        "UPDATE weight_submissions SET status = $3,
             nonce = COALESCE($4, nonce),
             reveal_round = COALESCE($5, reveal_round),
             commit_bytes = COALESCE($6, commit_bytes),
             extrinsic_hash = COALESCE($7, extrinsic_hash),
             in_block_number = COALESCE($8, in_block_number),
             in_block_hash = COALESCE($9, in_block_hash),
             error = CASE WHEN $12 THEN NULL ELSE COALESCE($10, error) END,
             retryable = CASE WHEN $12 THEN NULL ELSE COALESCE($11, retryable) END,
             attempts = attempts + CASE WHEN $12 THEN 1 ELSE 0 END,
             submitted_block = COALESCE($13, submitted_block),
             leader_token = COALESCE($14, leader_token),
             revealed_block = COALESCE($15, revealed_block),
             updated_at = now()
          WHERE id = $1 AND status = ANY($2)",
    )
    .bind(id)
    .bind(&from)
    .bind(to.name())
    .bind(change.nonce.map(|n| n as i64))
    .bind(change.reveal_round.map(|n| n as i64))
    .bind(change.commit)
    .bind(change.extrinsic_hash.map(|h| h.to_vec()))
    .bind(change.in_block.map(|(n, _)| n as i64))
    .bind(change.in_block.map(|(_, h)| h.to_vec()))
    .bind(change.error)
    .bind(change.retryable)
    .bind(change.attempt.is_some())
    .bind(change.attempt.map(|b| b as i64))
    .bind(fence.map(|f| f.token))
    .bind(change.revealed_block.map(|b| b as i64))
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    log(&mut tx, id, to, detail).await?;
    tx.commit().await?;
    Ok(true)
}

/// Every transition of a submission, oldest first: (time, status, detail).
pub async fn log_of(
    pool: &PgPool,
    id: i64,
) -> Result<Vec<(chrono::DateTime<chrono::Utc>, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, status, detail FROM weight_submission_log WHERE submission_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

pub async fn by_id(pool: &PgPool, id: i64) -> Result<Submission, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM weight_submissions s WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(pool)
    .await?;
    of_row(&row)
}

/// Records every epoch after the newest row (of any epoch) and before `epoch_index` as
/// `missed` with `reason`: epochs that had no plan at all. Nothing before the first row (a new
/// database has no history to miss), at most [`MAX_MISSED_RECORDED`] epochs back. Returns the
/// epochs recorded.
pub async fn record_missed(
    pool: &PgPool,
    m: &Missed<'_>,
    fence: Option<&Fence>,
) -> Result<Vec<u64>, FenceError> {
    let mut tx = pool.begin().await?;
    if let Some(f) = fence {
        f.check(&mut tx).await?;
    }
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT max(epoch_index) FROM weight_submissions
          WHERE netuid = $1 AND mechid = $2 AND epoch_index < $3",
    )
    .bind(i32::from(m.netuid))
    .bind(i32::from(m.mechid))
    .bind(m.epoch_index as i64)
    .fetch_one(&mut *tx)
    .await?;
    let Some(newest) = newest else {
        return Ok(Vec::new());
    };
    let from = (newest + 1).max(m.epoch_index as i64 - MAX_MISSED_RECORDED);
    let ids: Vec<(i64, i64)> = sqlx::query_as(
        "INSERT INTO weight_submissions (netuid, mechid, epoch_index, epoch_block, planned_block,
             status, method, dry_run, version_key, uids, weights, error, retryable, leader_token)
         SELECT $1, $2, e, 0, $5, 'missed', $6, FALSE, $7, '{}', '{}', $8, FALSE, $9
           FROM generate_series($3::bigint, $4::bigint - 1) AS e
         ON CONFLICT (netuid, mechid, epoch_index) DO NOTHING RETURNING id, epoch_index",
    )
    .bind(i32::from(m.netuid))
    .bind(i32::from(m.mechid))
    .bind(from)
    .bind(m.epoch_index as i64)
    .bind(m.head as i64)
    .bind(m.method)
    .bind(m.version_key as i64)
    .bind(m.reason)
    .bind(fence.map(|f| f.token))
    .fetch_all(&mut *tx)
    .await?;
    for (id, _) in &ids {
        log(&mut tx, *id, Status::Missed, m.reason).await?;
    }
    tx.commit().await?;
    Ok(ids.into_iter().map(|(_, e)| e as u64).collect())
}

/// Epochs without a plan recorded as missed at most this far back (a long outage).
pub const MAX_MISSED_RECORDED: i64 = 1000;

/// Where and why epochs without a plan are recorded as missed.
pub struct Missed<'a> {
    pub netuid: u16,
    pub mechid: u8,
    /// The chain's current epoch: the ones before it had their chance.
    pub epoch_index: u64,
    pub head: u64,
    pub method: &'static str,
    pub version_key: u64,
    pub reason: &'a str,
}

/// Rows of epochs before `epoch_index` that never settled (finalized, or failed for good).
pub async fn unsettled(
    pool: &PgPool,
    netuid: u16,
    mechid: u8,
    epoch_index: u64,
) -> Result<Vec<Submission>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM weight_submissions s
          WHERE netuid = $1 AND mechid = $2 AND epoch_index < $3 AND NOT dry_run
            AND (status IN ('planned', 'submitted', 'in_block')
                 OR (status = 'failed' AND retryable IS TRUE))
          ORDER BY epoch_index"
    )))
    .bind(i32::from(netuid))
    .bind(i32::from(mechid))
    .bind(epoch_index as i64)
    .fetch_all(pool)
    .await?;
    rows.iter().map(of_row).collect()
}

/// Finalized timelocked commits whose reveal has not been settled yet, oldest first.
pub async fn awaiting_reveal(
    pool: &PgPool,
    netuid: u16,
    mechid: u8,
) -> Result<Vec<Submission>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM weight_submissions s
          WHERE netuid = $1 AND mechid = $2 AND status = 'finalized' AND NOT dry_run
            AND reveal_round IS NOT NULL AND in_block_number IS NOT NULL
          ORDER BY epoch_index"
    )))
    .bind(i32::from(netuid))
    .bind(i32::from(mechid))
    .fetch_all(pool)
    .await?;
    rows.iter().map(of_row).collect()
}

/// A `TimelockedWeightsRevealed` of one hotkey as ingestion recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reveal {
    pub block: u64,
    /// The chain's `Weights` row after the reveal (dests, values); `None` if it was not read.
    pub stored: Option<(Vec<u16>, Vec<u16>)>,
}

/// The first reveal of `hotkey` at `netuid_index` in blocks `from..=to`.
pub async fn reveal_in(
    pool: &PgPool,
    netuid: u16,
    netuid_index: u16,
    hotkey: &str,
    (from, to): (u64, u64),
) -> Result<Option<Reveal>, sqlx::Error> {
    type Row = (i64, Option<Vec<i32>>, Option<Vec<i32>>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT block, uids, weights FROM weight_reveals
          WHERE netuid = $1 AND netuid_index = $2 AND hotkey = $3 AND block BETWEEN $4 AND $5
          ORDER BY block LIMIT 1",
    )
    .bind(i32::from(netuid))
    .bind(i32::from(netuid_index))
    .bind(hotkey)
    .bind(from as i64)
    .bind(to as i64)
    .fetch_optional(pool)
    .await?;
    let v16 = |v: Vec<i32>| v.into_iter().map(|x| x as u16).collect();
    Ok(row.map(|(block, uids, weights)| Reveal {
        block: block as u64,
        stored: uids.zip(weights).map(|(u, w)| (v16(u), v16(w))),
    }))
}

/// The latest settled reveal: (epoch, `revealed` or `reveal_missed`, the reason of a miss).
pub async fn last_reveal(
    pool: &PgPool,
    netuid: u16,
    mechid: u8,
) -> Result<Option<(u64, Status, Option<String>)>, sqlx::Error> {
    let row: Option<(i64, Status, Option<String>)> = sqlx::query_as(
        "SELECT epoch_index, status, error FROM weight_submissions
          WHERE netuid = $1 AND mechid = $2 AND status IN ('revealed', 'reveal_missed')
          ORDER BY epoch_index DESC LIMIT 1",
    )
    .bind(i32::from(netuid))
    .bind(i32::from(mechid))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(e, s, r)| (e as u64, s, r)))
}
