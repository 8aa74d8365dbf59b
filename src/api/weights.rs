//! `POST /v1/scores` (the validator's base scores, bearer token) and the read-only views of
//! the weights: submissions with their transitions, and a miner's explanation per epoch.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::ErrorBody;
use super::{ApiError, ApiResult, AppState, authorize};
use crate::config::ScoresSource;
use crate::weights::explain::{self, ExplainError};
use crate::weights::scores::{self, Batch, BatchError};

impl From<ExplainError> for ApiError {
    fn from(e: ExplainError) -> Self {
        match e {
            ExplainError::NotFound(r) => ApiError(StatusCode::NOT_FOUND, r),
            other => ApiError::unavailable(other),
        }
    }
}

#[utoipa::path(post, path = "/v1/scores", tag = "weights", request_body = Batch,
    security(("bearer" = [])),
    responses((status = 200, description = "the scores stored, dated at the ingested head", body = ScoresAccepted),
              (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 403, description = "writes are disabled (no token configured) or this source is not enabled", body = ErrorBody), (status = 400, description = "a malformed body, unknown fields, a bad value", body = ErrorBody), (status = 413, description = "the body is too large", body = ErrorBody), (status = 415, description = "not application/json", body = ErrorBody), (status = 422, description = "a hotkey that is not registered", body = ErrorBody), (status = 503, description = "nothing ingested yet, or the database is unreachable", body = ErrorBody)))]
pub(super) async fn post_scores(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<super::Strict<Batch>, ApiError>,
) -> ApiResult<ScoresAccepted> {
    authorize(&state.api, &headers)?;
    if state.api.scores.source != ScoresSource::Api {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "scores.source is {}: base scores are not taken from the API",
                state.api.scores.source.name()
            ),
        ));
    }
    let super::Strict(batch) = body?;
    let netuid = state.api.netuid;
    let Some(head) = crate::weights::run::cursor(&state.pool, netuid).await? else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no block ingested yet: scores cannot be dated".into(),
        ));
    };
    let registered: HashSet<String> = sqlx::query_scalar(
        "SELECT hotkey FROM miners WHERE netuid = $1 AND deregistered_at_block IS NULL",
    )
    .bind(i32::from(netuid))
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .collect();
    scores::validate(&batch, &registered).map_err(|e| {
        let status = match e {
            BatchError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BatchError::Unknown(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.to_string())
    })?;
    let stored = scores::store(&state.pool, netuid, head.number, &batch.scores.0).await?;
    Ok(Json(ScoresAccepted {
        accepted: stored,
        block: head.number,
    }))
}

/// What `POST /v1/scores` stored: how many scores, dated at which ingested block.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScoresAccepted {
    pub accepted: u64,
    pub block: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    limit: Option<i64>,
}

/// `GET /v1/weights/submissions[?limit=N]`: submissions, newest first, with their transitions.
#[utoipa::path(get, path = "/v1/weights/submissions", tag = "weights",
    params(("limit" = Option<i64>, Query, description = "submissions, 1 to 1000 (default 10)")),
    responses((status = 200, description = "submissions, newest first, with every transition", body = Vec<explain::HistoryEntry>), (status = 400, description = "a bad query", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn submissions(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<Vec<explain::HistoryEntry>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: between 1 and 1000"));
    }
    Ok(Json(
        explain::history(&state.pool, state.api.netuid, limit).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExplainQuery {
    epoch: Option<u64>,
}

/// `GET /v1/weights/miners/{uid or hotkey}[?epoch=N]`: `tenure weights explain` as JSON.
#[utoipa::path(get, path = "/v1/weights/miners/{miner}", tag = "weights",
    params(("miner" = String, Path, description = "a uid or a hotkey"),
           ("epoch" = Option<u64>, Query, description = "a chain epoch (default: the last planned)")),
    responses((status = 200, description = "the miner's weight explained", body = explain::MinerExplanation), (status = 400, description = "a bad query", body = ErrorBody), (status = 404, description = "no such miner or epoch", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn miner(
    State(state): State<AppState>,
    Path(miner): Path<String>,
    query: Result<Query<ExplainQuery>, QueryRejection>,
) -> ApiResult<explain::MinerExplanation> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let sel = crate::vesting::store::MinerSel::parse(&miner);
    Ok(Json(
        explain::explain(&state.pool, state.api.netuid, &sel, q.epoch).await?,
    ))
}
