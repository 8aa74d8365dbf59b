//! Read-only views of the weights: what would be submitted now (preview), why a miner got its
//! weight in an epoch (explain), and the submissions with their state transitions (history).
//! Shared by the CLI and the HTTP API.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;

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

/// A submission as the views show it.
pub fn submission_json(s: &Submission) -> Value {
    json!({
        "epoch_index": s.epoch_index,
        "epoch_block": s.epoch_block,
        "planned_block": s.planned_block,
        "status": s.status.name(),
        "method": s.method,
        "dry_run": s.dry_run,
        "version_key": s.version_key,
        "reveal_round": s.reveal_round,
        "nonce": s.nonce,
        "in_block": s.in_block_number,
        "attempts": s.attempts,
        "error": s.error,
        "retryable": s.retryable,
        "dests": s.uids,
        "weights": s.weights,
    })
}

/// Submissions, newest first, each with its transitions.
pub async fn history(pool: &PgPool, netuid: u16, limit: i64) -> Result<Value, ExplainError> {
    let mut out = Vec::new();
    for s in submission::history(pool, netuid, limit).await? {
        let log: Vec<Value> = submission::log_of(pool, s.id)
            .await?
            .into_iter()
            .map(|(at, status, detail)| json!({ "at": at, "status": status, "detail": detail }))
            .collect();
        let mut j = submission_json(&s);
        j["log"] = Value::Array(log);
        out.push(j);
    }
    Ok(Value::Array(out))
}

/// One miner's entry in one submission (`epoch` = its epoch index; latest when `None`).
pub async fn explain(
    pool: &PgPool,
    netuid: u16,
    miner: &MinerSel,
    epoch: Option<u64>,
) -> Result<Value, ExplainError> {
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
    let row: Option<(i32, String, String)> = sqlx::query_as(
        "SELECT uid, hotkey, explain::text FROM weight_entries
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
    let log: Vec<Value> = submission::log_of(pool, id)
        .await?
        .into_iter()
        .map(|(at, status, detail)| json!({ "at": at, "status": status, "detail": detail }))
        .collect();
    Ok(json!({
        "uid": uid,
        "hotkey": hotkey,
        "submission": submission_json(&sub),
        "log": log,
        "explain": serde_json::from_str::<Value>(&explain).unwrap_or(Value::Null),
    }))
}

/// What would be submitted if the epoch were now, from what the database has at `head`.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub head: u64,
    pub params: Value,
    pub blocked: Option<String>,
    pub dests: Vec<u16>,
    pub weights: Vec<u16>,
    pub padding: Option<String>,
    pub miners: Vec<Value>,
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
        .map(|e| {
            let mut j = e.explain(params.max_total_multiplier);
            j["uid"] = json!(e.input.uid);
            j["hotkey"] = json!(e.input.hotkey);
            j
        })
        .collect();
    Ok((
        Preview {
            head,
            params: json!({
                "max_total_multiplier": params.max_total_multiplier,
                "min_allowed_weights": params.min_allowed_weights,
                "max_weights_limit": params.max_weights_limit,
                "vesting_epoch": loaded.vesting_epoch,
                "uptime_epoch": loaded.uptime_epoch,
            }),
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
pub fn explain_text(v: &Value) -> String {
    let e = &v["explain"];
    let s = &v["submission"];
    let mut out = format!(
        "uid {} ({}) in epoch {} — {} via {}{}\n",
        v["uid"],
        v["hotkey"].as_str().unwrap_or(""),
        s["epoch_index"],
        s["status"].as_str().unwrap_or(""),
        s["method"].as_str().unwrap_or(""),
        if s["dry_run"] == json!(true) {
            " (dry run)"
        } else {
            ""
        }
    );
    out += &format!("  base score         {}\n", e["base"]);
    if let Some(u) = e["untouched"].as_str() {
        out += &format!("  untouched          {u}\n");
    }
    for k in ["uptime", "vesting", "penalty"] {
        out += &format!("  {k:<18} ×{}   {}\n", e[k]["applied"], e[k]["why"]);
    }
    out += &format!(
        "  product            {} (clamp {}: {})\n",
        e["product"], e["clamp"]["max_total_multiplier"], e["clamp"]["clamped"]
    );
    out += &format!("  total multiplier   {}\n", e["total_multiplier"]);
    out += &format!("  raw weight         {}\n", e["raw_weight"]);
    out += &format!("  normalized weight  {}\n", e["normalized_weight"]);
    out += &format!("  u16 submitted      {}\n", e["weight_u16"]);
    if let Some(err) = s["error"].as_str() {
        out += &format!("  submission error   {err}\n");
    }
    out
}
