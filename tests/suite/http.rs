//! The HTTP server over real TCP, backed by a real database (or an unreachable one).

use crate::common;

use std::sync::Arc;

use sqlx::PgPool;
use tenure::api;
use tenure::config::{DatabaseConfig, DatabaseUrl};
use tenure::health::Health;

async fn serve(pool: PgPool) -> (std::net::SocketAddr, Arc<Health>) {
    let config = api::ApiConfig {
        netuid: 7,
        ..Default::default()
    };
    common::serve_api(pool, config).await
}

#[sqlx::test]
async fn livez_readyz_metrics_answer(pool: PgPool) {
    let (addr, health) = serve(pool).await;

    let (status, body) = common::http_get(addr, "/livez").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let (status, body) = common::http_get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ready\":true"), "{body}");
    assert!(body.contains("\"database\":{\"ok\":true}"), "{body}");

    // A component reporting a problem makes the daemon unready, with its reason.
    health.fail("chain", "no finalized block for 90 s");
    let (status, body) = common::http_get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("no finalized block for 90 s"), "{body}");
    health.pass("chain");
    assert_eq!(common::http_get(addr, "/readyz").await.0, 200);

    let (status, body) = common::http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("tenure_build_info{"), "{body}");
    assert!(body.contains("netuid=\"7\""), "{body}");
    assert!(body.contains("tenure_database_up 1"), "{body}");
    assert!(
        body.contains("tenure_ready_check{check=\"chain\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("tenure_http_requests_total{route=\"/readyz\",status=\"503\"} 1"),
        "{body}"
    );

    assert_eq!(common::http_get(addr, "/nope").await.0, 404);
}

#[tokio::test]
async fn readyz_reports_an_unreachable_database() {
    // Nothing listens on port 1 of loopback.
    let cfg = DatabaseConfig {
        url: DatabaseUrl::new("postgres://tenure:secret-pw@127.0.0.1:1/tenure"),
        connect_timeout_secs: 1,
        ..DatabaseConfig::default()
    };
    let pool = tenure::db::lazy_pool(&cfg).unwrap();
    let (addr, _) = serve(pool).await;
    let (status, body) = common::http_get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"database\":{\"ok\":false"), "{body}");
    assert!(!body.contains("secret-pw"), "the password leaked: {body}");
    let (_, metrics) = common::http_get(addr, "/metrics").await;
    assert!(metrics.contains("tenure_database_up 0"), "{metrics}");
}

#[sqlx::test]
async fn writes_are_refused_without_a_configured_token(pool: PgPool) {
    let (addr, _) = serve(pool.clone()).await;
    let (status, body) = common::http_request(
        addr,
        "PUT",
        "/v1/vesting/mode",
        &[("Authorization", "Bearer anything-at-all-1234")],
        Some(r#"{"mode": "off"}"#),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("http.api_token"), "{body}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM settings")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    // Reads need no token; nothing computed yet is a clear 404.
    let (status, body) = common::http_get(addr, "/v1/vesting").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"source\":\"config\""), "{body}");
    let (status, body) = common::http_get(addr, "/v1/vesting/miners").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no epoch computed yet"), "{body}");
}
