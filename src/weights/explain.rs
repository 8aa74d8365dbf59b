//! Read-only views of the weights: what would be submitted now (preview), why a miner got its
//! weight in an epoch (explain), and the submissions with their state transitions (history).
//! Shared by the CLI and the HTTP API.

use serde::Serialize;
use sqlx::PgPool;
use sqlx::types::Json;

use super::explanation::Explanation;
use super::pipeline::{self, Params, Plan};
use super::submission::{self, Submission};
use super::{WeightsError, inputs};
use crate::vesting::store::MinerSel;

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] crate::vesting::store::StoreError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{0}")]
    NotFound(String),
}

/// One transition of a submission.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Transition {
    pub at: chrono::DateTime<chrono::Utc>,
    pub status: String,
    pub detail: String,
}

async fn transitions(pool: &PgPool, id: i64) -> Result<Vec<Transition>, sqlx::Error> {
    Ok(submission::log_of(pool, id)
        .await?
        .into_iter()
        .map(|(at, status, detail)| Transition { at, status, detail })
        .collect())
}

/// A submission with its transitions (`tenure weights history`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    #[serde(flatten)]
    pub submission: Submission,
    pub log: Vec<Transition>,
}

/// Submissions, newest first, each with its transitions.
pub async fn history(
    pool: &PgPool,
    netuid: u16,
    limit: i64,
) -> Result<Vec<HistoryEntry>, ExplainError> {
    let mut out = Vec::new();
    for s in submission::history(pool, netuid, limit).await? {
        out.push(HistoryEntry {
            log: transitions(pool, s.id).await?,
            submission: s,
        });
    }
    Ok(out)
}

/// One miner's weight in one submission, explained (`tenure weights explain`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MinerExplanation {
    pub uid: u16,
    pub hotkey: String,
    pub submission: Submission,
    pub log: Vec<Transition>,
    pub explain: Explanation,
}

/// One miner's entry in one submission (`epoch` = its epoch index; latest when `None`).
pub async fn explain(
    pool: &PgPool,
    netuid: u16,
    miner: &MinerSel,
    epoch: Option<u64>,
) -> Result<MinerExplanation, ExplainError> {
    let sub: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, epoch_index FROM weight_submissions s
          WHERE netuid = $1 AND ($2::bigint IS NULL OR epoch_index = $2)
            -- A missed epoch without a plan has nothing to explain.
            AND EXISTS (SELECT 1 FROM weight_entries e WHERE e.submission_id = s.id)
          ORDER BY epoch_index DESC, mechid LIMIT 1",
    )
    .bind(i32::from(netuid))
    .bind(epoch.map(|e| e as i64))
    .fetch_optional(pool)
    .await?;
    let Some((id, _)) = sub else {
        return Err(ExplainError::NotFound(match epoch {
            Some(e) => format!("no weights were planned for epoch {e}"),
            None => "no weights have been planned yet".into(),
        }));
    };
    let (by_uid, by_hotkey): (Option<i32>, Option<&str>) = match miner {
        MinerSel::Uid(u) => (Some(i32::from(*u)), None),
        MinerSel::Hotkey(h) => (None, Some(h.as_str())),
    };
    let row: Option<(i32, String, Json<Explanation>)> = sqlx::query_as(
        "SELECT uid, hotkey, explain FROM weight_entries
          WHERE submission_id = $1 AND ($2::int IS NULL OR uid = $2)
            AND ($3::text IS NULL OR hotkey = $3)",
    )
    .bind(id)
    .bind(by_uid)
    .bind(by_hotkey)
    .fetch_optional(pool)
    .await?;
    let sub = submission::by_id(pool, id).await?;
    let Some((uid, hotkey, explain)) = row else {
        return Err(ExplainError::NotFound(format!(
            "{} was not a registered uid when the weights of epoch {} were planned",
            miner.describe(),
            sub.epoch_index
        )));
    };
    Ok(MinerExplanation {
        uid: uid as u16,
        hotkey,
        submission: sub,
        log: transitions(pool, id).await?,
        explain: explain.0,
    })
}

/// What would be submitted if the epoch were now, from what the database has at `head`.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub head: u64,
    pub params: PreviewParams,
    pub blocked: Option<String>,
    pub dests: Vec<u16>,
    pub weights: Vec<u16>,
    pub padding: Option<String>,
    pub miners: Vec<PreviewMiner>,
}

/// The parameters a preview was computed with.
#[derive(Debug, Serialize)]
pub struct PreviewParams {
    pub max_total_multiplier: f64,
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
    pub vesting_epoch: Option<u64>,
    pub uptime_epoch: Option<u64>,
}

/// One uid of a preview and its explanation.
#[derive(Debug, Serialize)]
pub struct PreviewMiner {
    pub uid: u16,
    pub hotkey: String,
    #[serde(flatten)]
    pub explain: Explanation,
}

pub async fn preview(
    pool: &PgPool,
    s: &inputs::Settings,
    head: u64,
    params: Params,
) -> Result<(Preview, Plan), ExplainError> {
    let mut tx = pool.begin().await?;
    let loaded = inputs::load(&mut tx, s, head).await?;
    tx.commit().await?;
    let blocked = loaded.fresh.none_reason(s.source, head, s.max_age_blocks);
    let plan = pipeline::compute(&params, loaded.inputs)?;
    let miners = plan
        .entries
        .iter()
        .map(|e| PreviewMiner {
            uid: e.input.uid,
            hotkey: e.input.hotkey.clone(),
            explain: e.explain(params.max_total_multiplier),
        })
        .collect();
    Ok((
        Preview {
            head,
            params: PreviewParams {
                max_total_multiplier: params.max_total_multiplier,
                min_allowed_weights: params.min_allowed_weights,
                max_weights_limit: params.max_weights_limit,
                vesting_epoch: loaded.vesting_epoch,
                uptime_epoch: loaded.uptime_epoch,
            },
            blocked,
            dests: plan.uids().to_vec(),
            weights: plan.weights().to_vec(),
            padding: plan.emitted.padding.as_ref().map(|p| p.reason.clone()),
            miners,
        },
        plan,
    ))
}

/// The explanation of one entry as text for the terminal.
pub fn explain_text(v: &MinerExplanation) -> String {
    let (e, s) = (&v.explain, &v.submission);
    let dry_run = if s.dry_run { " (dry run)" } else { "" };
    let mut out = format!(
        "uid {} ({}) in epoch {} — {} via {}{dry_run}\n",
        v.uid,
        v.hotkey,
        s.epoch_index,
        s.status.name(),
        s.method
    );
    out += &format!("  base score         {}\n", e.base);
    if let Some(u) = &e.untouched {
        out += &format!("  untouched          {u}\n");
    }
    out += &format!(
        "  uptime             ×{}   {}\n",
        e.uptime.applied, e.uptime.why
    );
    out += &format!(
        "  vesting            ×{}   {}\n",
        e.vesting.applied, e.vesting.why
    );
    out += &format!(
        "  penalty            ×{}   {}\n",
        e.penalty.applied, e.penalty.why
    );
    out += &format!(
        "  product            {} (clamp {}: {})\n",
        e.product, e.clamp.max_total_multiplier, e.clamp.clamped
    );
    out += &format!("  total multiplier   {}\n", e.total_multiplier);
    out += &format!("  raw weight         {}\n", e.raw_weight);
    out += &format!("  normalized weight  {}\n", e.normalized_weight);
    out += &format!("  u16 submitted      {}\n", e.weight_u16);
    if let Some(err) = &s.error {
        out += &format!("  submission error   {err}\n");
    }
    out
}

/// One submission as a line for the terminal (`tenure weights history`).
pub fn history_line(h: &HistoryEntry) -> String {
    let s = &h.submission;
    let or_dash = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    format!(
        "epoch {:>8}  {:<13} {:<36} planned at {:>9}  in block {:<9}  {} weights  attempts {}{}{}{}",
        s.epoch_index,
        s.status.name(),
        s.method,
        s.planned_block,
        or_dash(s.in_block_number),
        s.uids.len(),
        s.attempts,
        s.revealed_block
            .map(|b| format!("  revealed in block {b}"))
            .unwrap_or_default(),
        if s.dry_run { "  (dry run)" } else { "" },
        s.error
            .as_ref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default(),
    )
}

/// A preview as a table for the terminal (`tenure weights preview`).
pub fn preview_text(p: &Preview) -> String {
    let mut out = format!(
        "preview at ingested block {} ({} uids)\n",
        p.head,
        p.miners.len()
    );
    if let Some(b) = &p.blocked {
        out += &format!("NOT SUBMITTED: {b}\n");
    }
    if let Some(pad) = &p.padding {
        out += &format!("padded (SDK 10): {pad}\n");
    }
    out += &format!(
        "{:>5}  {:>12}  {:>8}  {:>8}  {:>8}  {:>8}  {:>12}  {:>6}\n",
        "uid", "base", "uptime", "vesting", "penalty", "total", "normalized", "u16"
    );
    for m in &p.miners {
        let e = &m.explain;
        out += &format!(
            "{:>5}  {:>12.6}  {:>8.4}  {:>8.4}  {:>8.4}  {:>8.4}  {:>12.8}  {:>6}{}\n",
            m.uid,
            e.base.score(),
            e.uptime.applied,
            e.vesting.applied,
            e.penalty.applied,
            e.total_multiplier,
            e.normalized_weight,
            e.weight_u16,
            if e.clamp.clamped { "  clamped" } else { "" },
        );
    }
    out
}
