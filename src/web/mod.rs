//! The public web pages, rendered on the server (no JavaScript, no build step): the
//! leaderboard, a page per miner with SVG charts, network health, and the daemon's status. Read-only and without
//! a token; `[web]` disables them or serves them on their own address.

pub mod html;
mod leaderboard;
mod miner;
mod network;
mod status;
pub mod svg;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;

use crate::config::Mode;
use crate::health::Health;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct WebState {
    pub pool: PgPool,
    pub netuid: u16,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// The configured modes (the database's run-time setting wins, as everywhere).
    pub vesting_mode: Mode,
    pub uptime_mode: Mode,
    pub block_time_secs: u64,
    pub network: crate::config::NetworkConfig,
}

impl WebState {
    pub fn from_config(
        c: &crate::config::Config,
        pool: PgPool,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
    ) -> Self {
        WebState {
            pool,
            netuid: c.chain.netuid,
            health,
            metrics,
            vesting_mode: c.vesting.mode,
            uptime_mode: c.uptime.mode,
            block_time_secs: c.chain.block_time_secs,
            network: c.network.clone(),
        }
    }
}

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(leaderboard::handler))
        .route("/leaderboard", get(leaderboard::handler))
        .route("/miners/{miner}", get(miner::handler))
        .route("/network", get(network::handler))
        .route("/status", get(status::handler))
        .with_state(state)
}

/// A rendered page, or an error page with its status.
pub(crate) struct Html(pub StatusCode, pub String);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        (
            self.0,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            self.1,
        )
            .into_response()
    }
}

pub(crate) fn error_page(status: StatusCode, netuid: u16, message: &str) -> Html {
    Html(
        status,
        html::page(
            status.canonical_reason().unwrap_or("Error"),
            netuid,
            &format!("<p>{}</p>", html::esc(message)),
        ),
    )
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError(e.to_string())
    }
}

/// A database failure while building a page (a 503 page says so; nothing is half-rendered).
pub(crate) struct PageError(pub String);

impl PageError {
    pub fn page(&self, netuid: u16) -> Html {
        tracing::warn!(error = %self.0, "web page failed");
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            netuid,
            &format!("The database did not answer: {}", self.0),
        )
    }
}
