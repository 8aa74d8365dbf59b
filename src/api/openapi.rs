//! `GET /v1/openapi.json`: the API described as OpenAPI 3.1, generated from the handlers' own
//! annotations and response types (utoipa), so the description cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tenure",
        description = "The tenure daemon's HTTP API: health, metrics, and the JSON API under /v1 \
                       (reads need no token; writes need `Authorization: Bearer <http.api_token>`). \
                       Every error is `{\"error\": \"<reason>\"}`."
    ),
    paths(
        super::livez,
        super::readyz,
        super::metrics,
        openapi_json,
        super::miners,
        super::ingest_gaps,
        super::network::latest,
        super::network::history,
        super::vesting::status,
        super::vesting::set_mode,
        super::vesting::epoch,
        super::vesting::history,
        super::weights::post_scores,
        super::weights::submissions,
        super::weights::miner,
        super::uptime::observe,
        super::uptime::status,
        super::uptime::set_mode,
        super::uptime::grants,
        super::uptime::grant,
        super::uptime::revoke,
        super::uptime::leaderboard,
        super::uptime::achievements,
        super::uptime::miner,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

/// The bearer token of the write endpoints.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this description (OpenAPI 3.1)", body = Object)))]
pub(super) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
