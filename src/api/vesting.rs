//! `/v1/vesting`: the mode in force and its changes, every miner's multiplier at an epoch, and
//! one miner's history.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult, AppState, authorize};
use crate::config::Mode;
use crate::settings;
use crate::vesting::store as vesting;

pub(super) async fn status(State(state): State<AppState>) -> ApiResult<vesting::Status> {
    let api = &state.api;
    Ok(Json(
        vesting::status(&state.pool, api.netuid, &api.vesting).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModeRequest {
    mode: Mode,
    #[serde(default)]
    reason: Option<String>,
    /// Who asks, for the audit log (recorded as `api:<actor>`).
    #[serde(default)]
    actor: Option<String>,
}

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

#[derive(Serialize)]
pub(super) struct EpochVesting {
    epoch: vesting::EpochRow,
    miners: Vec<vesting::Record>,
}

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

#[derive(Serialize)]
pub(super) struct History {
    miner: String,
    history: Vec<vesting::Record>,
}

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
