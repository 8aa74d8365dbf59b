//! `GET /v1/network`: network health at the latest recorded epochs (`tenure network` as JSON).

use axum::Json;
use axum::extract::State;

use super::{ApiResult, AppState};
use crate::network::store::{Snapshot, snapshot};

pub(super) async fn latest(State(state): State<AppState>) -> ApiResult<Snapshot> {
    let blocks_per_day = 86_400 / state.api.block_time_secs.max(1);
    Ok(Json(
        snapshot(&state.pool, state.api.netuid, blocks_per_day).await?,
    ))
}
