//! `GET /v1/network`: network health at the latest recorded epochs (`tenure network` as JSON);
//! `GET /v1/network/history`: one row per recorded epoch.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::ErrorBody;
use super::{ApiError, ApiResult, AppState};
use crate::network::store::{EpochRow, Health, health, history as recorded};

#[utoipa::path(get, path = "/v1/network", tag = "network",
    responses((status = 200, description = "network health at the latest recorded epochs, with the success criteria", body = Health), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn latest(State(state): State<AppState>) -> ApiResult<Health> {
    let blocks_per_day = 86_400 / state.api.block_time_secs.max(1);
    let a = &state.api;
    Ok(Json(
        health(&state.pool, a.netuid, blocks_per_day, &a.network).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    limit: Option<i64>,
}

/// `GET /v1/network/history[?limit=N]`: the recorded epochs, newest first (default 100).
#[utoipa::path(get, path = "/v1/network/history", tag = "network",
    params(("limit" = Option<i64>, Query, description = "rows, 1 to 10000 (default 100)")),
    responses((status = 200, description = "one row per recorded epoch, newest first", body = Vec<EpochRow>), (status = 400, description = "a bad query", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<Vec<EpochRow>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request("limit: between 1 and 10000"));
    }
    Ok(Json(recorded(&state.pool, state.api.netuid, limit).await?))
}
