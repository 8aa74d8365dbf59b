//! `POST /v1/uptime`: the validator's own observations, one batch = one round of the `api`
//! source. The whole batch is checked before anything is written; a rejected batch stores
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult, AppState, authorize};
use crate::config::UptimeSource;
use crate::uptime::store::{self, Periods, Round, Sample, Source};

/// How far ahead of the wall clock a timestamp may be (clock skew).
const MAX_FUTURE: Duration = Duration::seconds(60);
/// Blocks beyond the ingested head an observation may name (finality lag of the caller's node).
const MAX_AHEAD_BLOCKS: u64 = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Batch {
    observations: Vec<Observation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Observation {
    hotkey: String,
    up: bool,
    #[serde(default)]
    compute_score: Option<f64>,
    #[serde(default)]
    block: Option<u64>,
    #[serde(default)]
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub(super) struct Accepted {
    round_id: i64,
    block: u64,
    /// Registered miners at that block: every one got a sample.
    miners: usize,
    up: usize,
    /// Registered miners the batch did not mention: recorded as down.
    unreported: usize,
}

fn unprocessable(reason: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, reason.into())
}

pub(super) async fn observe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<Batch>, JsonRejection>,
) -> ApiResult<Accepted> {
    authorize(&state.api, &headers)?;
    let cfg = &state.api.uptime;
    if !cfg.sources.contains(&UptimeSource::Api) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "the api source is not enabled: add \"api\" to uptime.sources".into(),
        ));
    }
    let Json(batch) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let obs = batch.observations;
    if obs.is_empty() {
        return Err(ApiError::bad_request("observations: empty batch"));
    }
    if obs.len() > cfg.api.max_batch {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} observations: more than uptime.api.max_batch = {}",
                obs.len(),
                cfg.api.max_batch
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, o) in obs.iter().enumerate() {
        if let Some(s) = o.compute_score
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(ApiError::bad_request(format!(
                "observations[{i}].compute_score: {s} is not a finite number >= 0"
            )));
        }
        if o.block.is_some() == o.timestamp.is_some() {
            return Err(ApiError::bad_request(format!(
                "observations[{i}]: give exactly one of block and timestamp"
            )));
        }
        if !seen.insert(o.hotkey.as_str()) {
            return Err(ApiError::bad_request(format!(
                "observations[{i}]: hotkey {} appears twice",
                o.hotkey
            )));
        }
    }

    let netuid = state.api.netuid;
    let Some((head, _)) = store::chain_now(&state.pool, netuid).await? else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no block ingested yet: observations cannot be placed on the chain".into(),
        ));
    };
    let now = Utc::now();
    // Where the round sits on chain: the latest block named, or the block of the latest time.
    let mut block = None::<u64>;
    for (i, o) in obs.iter().enumerate() {
        let b = match (o.block, o.timestamp) {
            (Some(b), _) => b,
            (None, Some(t)) => {
                if t > now + MAX_FUTURE {
                    return Err(unprocessable(format!(
                        "observations[{i}].timestamp {} is in the future",
                        t.to_rfc3339()
                    )));
                }
                store::block_at(&state.pool, netuid, t)
                    .await?
                    .ok_or_else(|| {
                        unprocessable(format!(
                            "observations[{i}].timestamp {}: before the first ingested block",
                            t.to_rfc3339()
                        ))
                    })?
            }
            (None, None) => unreachable!("checked above"),
        };
        if b > head + MAX_AHEAD_BLOCKS {
            return Err(unprocessable(format!(
                "observations[{i}].block {b} is ahead of the ingested head {head}"
            )));
        }
        if b + cfg.current_window_blocks < head {
            return Err(unprocessable(format!(
                "observations[{i}].block {b} is older than the current window ({} blocks before {head})",
                cfg.current_window_blocks
            )));
        }
        block = Some(block.map_or(b, |x: u64| x.max(b)));
    }
    let block = block.unwrap_or(head).min(head);
    let observed_at = store::time_of(&state.pool, netuid, block)
        .await?
        .unwrap_or(now);

    let mut tx = state.pool.begin().await?;
    let registered = store::registered_at(&mut tx, netuid, block).await?;
    let by_hotkey: BTreeMap<&str, i64> = registered
        .iter()
        .map(|r| (r.hotkey.as_str(), r.miner_id))
        .collect();
    let unknown: Vec<&str> = obs
        .iter()
        .map(|o| o.hotkey.as_str())
        .filter(|h| !by_hotkey.contains_key(h))
        .collect();
    if !unknown.is_empty() {
        return Err(unprocessable(format!(
            "{} hotkey(s) not registered on netuid {netuid} at block {block}: {}{}",
            unknown.len(),
            unknown[..unknown.len().min(10)].join(", "),
            if unknown.len() > 10 { ", …" } else { "" }
        )));
    }
    let reported: BTreeMap<&str, &Observation> =
        obs.iter().map(|o| (o.hotkey.as_str(), o)).collect();
    let samples: Vec<Sample> = registered
        .iter()
        .map(|r| match reported.get(r.hotkey.as_str()) {
            Some(o) => Sample {
                miner_id: r.miner_id,
                up: o.up,
                reported: true,
                latency_ms: None,
                compute_score: o.compute_score,
                error: None,
            },
            None => Sample {
                miner_id: r.miner_id,
                up: false,
                reported: false,
                latency_ms: None,
                compute_score: None,
                error: Some("not in the batch".into()),
            },
        })
        .collect();
    let round = Round {
        source: Source::Api,
        block,
        observed_at,
        duration_ms: None,
    };
    let periods = Periods::new(state.api.block_time_secs);
    let round_id = store::record_round(&mut tx, netuid, periods, &round, &samples).await?;
    tx.commit().await?;
    let up = samples.iter().filter(|s| s.up).count();
    tracing::debug!(
        round_id,
        block,
        miners = samples.len(),
        up,
        "uptime batch accepted"
    );
    Ok(Json(Accepted {
        round_id,
        block,
        miners: samples.len(),
        up,
        unreported: samples.len() - obs.len(),
    }))
}
