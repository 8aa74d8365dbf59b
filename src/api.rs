//! The HTTP server: health (`/livez`, `/readyz`), Prometheus `/metrics`, and the JSON API under
//! `/v1/`. Bound to loopback by default.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::chain::NetUid;
use crate::config::{Mode, Secret, VestingConfig};
use crate::db;
use crate::health::{CheckState, Health};
use crate::metrics::{Metrics, RouteLabels};
use crate::settings;
use crate::vesting::store as vesting;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub api: Arc<ApiConfig>,
}

/// What the API needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    pub netuid: NetUid,
    pub vesting: VestingConfig,
    /// Bearer token of the write endpoints; `None` refuses every write.
    pub token: Option<Secret>,
}

impl ApiConfig {
    pub fn from_config(c: &crate::config::Config, token: Option<Secret>) -> Self {
        ApiConfig {
            netuid: c.chain.netuid,
            vesting: c.vesting.clone(),
            token,
        }
    }
}

/// An error answer: a status and a reason, as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_request(reason: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, reason.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (self.0, Json(Body { error: self.1 })).into_response()
    }
}

impl From<vesting::StoreError> for ApiError {
    fn from(e: vesting::StoreError) -> Self {
        tracing::warn!(error = %e, "api: database error");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl From<settings::SettingsError> for ApiError {
    fn from(e: settings::SettingsError) -> Self {
        vesting::StoreError::from(e).into()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// How long `/readyz` waits for the database before calling it unreachable.
const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/vesting", get(vesting_status))
        .route("/v1/vesting/mode", put(set_vesting_mode))
        .route("/v1/vesting/miners", get(vesting_epoch))
        .route("/v1/vesting/miners/{miner}", get(vesting_history))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The matched route, not the raw path, so that label cardinality stays bounded.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(req).await;
    state
        .metrics
        .http_requests
        .get_or_create(&RouteLabels {
            route,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

#[derive(Serialize)]
struct Live {
    status: &'static str,
    version: &'static str,
}

async fn livez() -> Json<Live> {
    Json(Live {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize)]
struct Ready {
    ready: bool,
    checks: BTreeMap<String, CheckState>,
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Ready>) {
    let mut checks = state.health.snapshot();
    let database = match db::ping(&state.pool, DB_PING_TIMEOUT).await {
        Ok(()) => CheckState {
            ok: true,
            reason: None,
        },
        Err(e) => CheckState {
            ok: false,
            reason: Some(e.to_string()),
        },
    };
    state.metrics.database_up.set(i64::from(database.ok));
    checks.insert("database".to_string(), database);
    let ready = checks.values().all(|c| c.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Ready { ready, checks }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Checks `Authorization: Bearer <token>`; the comparison takes the same time whatever differs.
fn authorize(api: &ApiConfig, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = api.token.as_ref().filter(|t| !t.is_empty()) else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "writes are disabled: set http.api_token or http.api_token_file".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "missing Authorization: Bearer <token>".into(),
            )
        })?;
    let (a, b) = (
        Sha256::digest(given.trim().as_bytes()),
        Sha256::digest(token.expose().as_bytes()),
    );
    if a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        != 0
    {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "invalid token".into()));
    }
    Ok(())
}

async fn vesting_status(State(state): State<AppState>) -> ApiResult<vesting::Status> {
    let api = &state.api;
    Ok(Json(
        vesting::status(&state.pool, api.netuid, &api.vesting).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeRequest {
    mode: Mode,
    #[serde(default)]
    reason: Option<String>,
    /// Who asks, for the audit log (recorded as `api:<actor>`).
    #[serde(default)]
    actor: Option<String>,
}

async fn set_vesting_mode(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ModeRequest>, JsonRejection>,
) -> ApiResult<settings::Change> {
    authorize(&state.api, &headers)?;
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
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
        settings::VESTING_MODE,
        state.api.vesting.mode,
        req.mode,
        &actor,
        req.reason.as_deref(),
    )
    .await?;
    if change.changed {
        tracing::info!(
            old = vesting::mode_name(change.old),
            new = vesting::mode_name(change.new),
            %actor,
            "vesting mode changed; applies from the next epoch"
        );
    }
    Ok(Json(change))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochQuery {
    epoch_block: Option<u64>,
}

#[derive(Serialize)]
struct EpochVesting {
    epoch: vesting::EpochRow,
    miners: Vec<vesting::Record>,
}

async fn vesting_epoch(
    State(state): State<AppState>,
    query: Result<Query<EpochQuery>, axum::extract::rejection::QueryRejection>,
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
struct HistoryQuery {
    limit: Option<i64>,
    /// Only epochs before this block (paging).
    before: Option<u64>,
}

#[derive(Serialize)]
struct History {
    miner: String,
    history: Vec<vesting::Record>,
}

async fn vesting_history(
    State(state): State<AppState>,
    Path(miner): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
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
