//! The HTTP server: health (`/livez`, `/readyz`), Prometheus `/metrics`, and the JSON API under
//! `/v1/`. Bound to loopback by default.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use sqlx::PgPool;

use crate::db;
use crate::health::{CheckState, Health};
use crate::metrics::{Metrics, RouteLabels};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

/// How long `/readyz` waits for the database before calling it unreachable.
const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
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
