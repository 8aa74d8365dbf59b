//! `/v1/vesting`: the mode in force and its changes, every miner's multiplier at an epoch, and
//! one miner's history.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::ErrorBody;
use super::{ApiError, ApiResult, AppState, authorize};
use crate::config::Mode;
use crate::settings;
use crate::vesting::store as vesting;

#[utoipa::path(get, path = "/v1/vesting", tag = "vesting",
    responses((status = 200, description = "the mode, the tiers, the last epoch", body = vesting::Status), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn status(State(state): State<AppState>) -> ApiResult<vesting::Status> {
    let api = &state.api;
    Ok(Json(
        vesting::status(&state.pool, api.netuid, &api.vesting).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ModeRequest {
    mode: Mode,
    #[serde(default)]
    reason: Option<String>,
    /// Who asks, for the audit log (recorded as `api:<actor>`).
    #[serde(default)]
    actor: Option<String>,
}

#[utoipa::path(put, path = "/v1/vesting/mode", tag = "vesting", request_body = ModeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "the mode before and after", body = settings::Change), (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 403, description = "writes are disabled (no token configured) or this source is not enabled", body = ErrorBody), (status = 400, description = "a malformed body, unknown fields, a bad value", body = ErrorBody), (status = 413, description = "the body is too large", body = ErrorBody), (status = 415, description = "not application/json", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn set_mode(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<super::Strict<ModeRequest>, ApiError>,
) -> ApiResult<settings::Change> {
    let default = state.api.vesting.mode;
    change_mode(&state, &headers, body, settings::VESTING_MODE, default).await
}

/// `PUT /v1/<family>/mode`: authorized, checked, stored with an audit row.
pub(super) async fn change_mode(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<super::Strict<ModeRequest>, ApiError>,
    key: &str,
    default: Mode,
) -> ApiResult<settings::Change> {
    authorize(&state.api, headers)?;
    let super::Strict(req) = body?;
    let actor = match req.actor.as_deref().map(str::trim) {
        Some(a) if a.len() > 64 || a.chars().any(char::is_control) => {
            return Err(ApiError::bad_request(
                "actor: at most 64 printable characters",
            ));
        }
        Some(a) if !a.is_empty() => format!("api:{a}"),
        _ => "api".to_string(),
    };
    if req.reason.as_ref().is_some_and(|r| r.len() > 1_000) {
        return Err(ApiError::bad_request("reason: at most 1000 characters"));
    }
    let change = settings::set_mode(
        &state.pool,
        state.api.netuid,
        key,
        default,
        req.mode,
        &actor,
        req.reason.as_deref(),
    )
    .await?;
    if change.changed {
        tracing::info!(
            setting = key,
            old = change.old.name(),
            new = change.new.name(),
            %actor,
            "mode changed; applies from the next epoch"
        );
    }
    Ok(Json(change))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EpochQuery {
    epoch_block: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct EpochVesting {
    epoch: vesting::EpochRow,
    miners: Vec<vesting::Record>,
}

#[utoipa::path(get, path = "/v1/vesting/miners", tag = "vesting",
    params(("epoch_block" = Option<u64>, Query, description = "an epoch block (default: the last)")),
    responses((status = 200, description = "every miner's vesting at the epoch", body = EpochVesting), (status = 400, description = "a bad query", body = ErrorBody), (status = 404, description = "no vesting recorded at that epoch", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn epoch(
    State(state): State<AppState>,
    query: Result<Query<EpochQuery>, QueryRejection>,
) -> ApiResult<EpochVesting> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    match vesting::at_epoch(&state.pool, state.api.netuid, q.epoch_block).await? {
        Some((epoch, miners)) => Ok(Json(EpochVesting { epoch, miners })),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            match q.epoch_block {
                Some(b) => format!("no vesting recorded at epoch block {b}"),
                None => "no epoch computed yet".into(),
            },
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    limit: Option<i64>,
    /// Only epochs before this block (paging).
    before: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct History {
    miner: String,
    history: Vec<vesting::Record>,
}

#[utoipa::path(get, path = "/v1/vesting/miners/{miner}", tag = "vesting",
    params(("miner" = String, Path, description = "a uid (its current registration) or a hotkey (all its registrations)"),
           ("limit" = Option<i64>, Query, description = "epochs, 1 to 10000"),
           ("before" = Option<u64>, Query, description = "only epochs before this block")),
    responses((status = 200, description = "the miner's vesting, newest first", body = History), (status = 400, description = "a bad query", body = ErrorBody), (status = 404, description = "no such miner", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn history(
    State(state): State<AppState>,
    Path(miner): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> ApiResult<History> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request("limit: between 1 and 10000"));
    }
    let sel = vesting::MinerSel::parse(&miner);
    match vesting::history(&state.pool, state.api.netuid, &sel, q.before, limit).await? {
        Some(history) => Ok(Json(History { miner, history })),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no miner {miner} on netuid {}", state.api.netuid),
        )),
    }
}
