//! The HTTP server: health (`/livez`, `/readyz`), Prometheus `/metrics`, and the JSON API under
//! `/v1/`. Bound to loopback by default.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod body;
mod network;
pub mod openapi;
mod uptime;
mod vesting;
mod weights;

pub use body::Strict;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::config::{ScoresConfig, Secret, UptimeConfig, VestingConfig};
use crate::db;
use crate::health::{CheckState, Health};
use crate::metrics::{Metrics, RouteLabels};
use crate::settings;
use crate::units::NetUid;

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
    pub block_time_secs: u64,
    pub vesting: VestingConfig,
    pub uptime: UptimeConfig,
    pub scores: ScoresConfig,
    pub network: crate::config::NetworkConfig,
    /// Bearer token of the write endpoints; `None` refuses every write.
    pub token: Option<Secret>,
}

impl ApiConfig {
    pub fn from_config(c: &crate::config::Config, token: Option<Secret>) -> Self {
        ApiConfig {
            netuid: c.chain.netuid,
            block_time_secs: c.chain.block_time_secs,
            vesting: c.vesting.clone(),
            uptime: c.uptime.clone(),
            scores: c.scores.clone(),
            network: c.network.clone(),
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

    fn unsupported(reason: impl Into<String>) -> Self {
        ApiError(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason.into())
    }

    /// An extractor's rejection (status and text from axum: 400, 413, 415, 422).
    fn rejected(status: StatusCode, reason: String) -> Self {
        ApiError(status, reason)
    }

    fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "api: database error");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}"))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::unavailable(e)
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Why, in words.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<crate::vesting::store::StoreError> for ApiError {
    fn from(e: crate::vesting::store::StoreError) -> Self {
        ApiError::unavailable(e)
    }
}

impl From<settings::SettingsError> for ApiError {
    fn from(e: settings::SettingsError) -> Self {
        ApiError::unavailable(e)
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
        .route("/v1/vesting", get(vesting::status))
        .route("/v1/vesting/mode", put(vesting::set_mode))
        .route("/v1/vesting/miners", get(vesting::epoch))
        .route("/v1/vesting/miners/{miner}", get(vesting::history))
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/v1/ingest/gaps", get(ingest_gaps))
        .route("/v1/miners", get(miners))
        .route("/v1/network", get(network::latest))
        .route("/v1/network/history", get(network::history))
        .route("/v1/scores", post(weights::post_scores))
        .route("/v1/weights/submissions", get(weights::submissions))
        .route("/v1/weights/miners/{miner}", get(weights::miner))
        .route("/v1/uptime", post(uptime::observe).get(uptime::status))
        .route("/v1/uptime/mode", put(uptime::set_mode))
        .route("/v1/uptime/leaderboard", get(uptime::leaderboard))
        .route("/v1/uptime/achievements", get(uptime::achievements))
        .route("/v1/uptime/miners/{miner}", get(uptime::miner))
        .route("/v1/uptime/grants", get(uptime::grants).post(uptime::grant))
        .route(
            "/v1/uptime/grants/{id}",
            axum::routing::delete(uptime::revoke),
        )
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

/// `GET /v1/miners`: every registered miner on one line (`tenure miners --json`).
#[utoipa::path(get, path = "/v1/miners", tag = "miners",
    responses((status = 200, description = "every registered miner", body = crate::miners::Miners), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
async fn miners(State(state): State<AppState>) -> ApiResult<crate::miners::Miners> {
    Ok(Json(
        crate::miners::list(&state.pool, state.api.netuid).await?,
    ))
}

/// `GET /v1/ingest/gaps`: the blocks the history skips (`tenure ingest reanchor`), oldest first.
#[utoipa::path(get, path = "/v1/ingest/gaps", tag = "ingest",
    responses((status = 200, description = "blocks the history skips", body = Vec<crate::ingest::reanchor::GapRow>), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
async fn ingest_gaps(
    State(state): State<AppState>,
) -> ApiResult<Vec<crate::ingest::reanchor::GapRow>> {
    Ok(Json(
        crate::ingest::reanchor::gaps(&state.pool, state.api.netuid).await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Live {
    status: &'static str,
    version: &'static str,
}

#[utoipa::path(get, path = "/livez", tag = "health",
    responses((status = 200, description = "the process answers", body = Live)))]
async fn livez() -> Json<Live> {
    Json(Live {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
struct Ready {
    ready: bool,
    checks: BTreeMap<String, CheckState>,
    /// HA: this instance's role and who leads (absent when weights are not submitted here).
    #[serde(skip_serializing_if = "Option::is_none")]
    leader: Option<crate::health::LeaderState>,
}

#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "every check passes", body = Ready),
               (status = 503, description = "a check fails; each says why", body = Ready)))]
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
    (
        status,
        Json(Ready {
            ready,
            checks,
            leader: state.health.leader(),
        }),
    )
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text", body = String)))]
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
