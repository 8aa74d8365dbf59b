//! `GET /v1/openapi.json`: the OpenAPI 3.1 description generated from the handlers. Every route
//! the router serves is described with its methods; every status the API answers to a range of
//! good and bad requests (no token, a wrong token, bad bodies, bad queries, unknown miners) is
//! among the responses described for that operation; no schema reference dangles.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use serde_json::Value as Json;
use sqlx::PgPool;
use tenure::api::ApiConfig;
use tenure::config::{ScoresConfig, ScoresSource, Secret, UptimeConfig, UptimeSource};

use crate::common;

const TOKEN: &str = "openapi-test-token-0123";

async fn serve(pool: PgPool) -> SocketAddr {
    let config = ApiConfig {
        netuid: 3,
        block_time_secs: 12,
        uptime: UptimeConfig {
            sources: vec![UptimeSource::Api],
            ..UptimeConfig::default()
        },
        scores: ScoresConfig {
            source: ScoresSource::Api,
            ..ScoresConfig::default()
        },
        token: Some(Secret::new(TOKEN)),
        ..Default::default()
    };
    common::serve_api(pool, config).await.0
}

/// (method, path) of every route in the router's source (`src/api/mod.rs`).
fn routes() -> BTreeSet<(String, String)> {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/mod.rs")).unwrap();
    let body = &src[src.find("pub fn router(").unwrap()..];
    let body = &body[..body.find(".layer(").unwrap()];
    let mut out = BTreeSet::new();
    for chunk in body.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap().to_string();
        let handlers = chunk.split_once(',').unwrap().1;
        for m in ["get", "post", "put", "delete"] {
            if handlers.contains(&format!("{m}(")) {
                out.insert((m.to_string(), path.clone()));
            }
        }
    }
    out
}

/// Every `$ref` in `v`.
fn refs(v: &Json, out: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Json::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(x, out),
                }
            }
        }
        Json::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[sqlx::test]
async fn the_openapi_description_covers_every_route_and_status(pool: PgPool) {
    let addr = serve(pool).await;
    let (status, body) = common::http_get(addr, "/v1/openapi.json").await;
    assert_eq!(status, 200, "{body}");
    let doc: Json = serde_json::from_str(&body).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    // Every route, every method.
    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let served = routes();
    assert!(served.len() >= 24, "{served:?}");
    assert_eq!(served, described);

    // No dangling schema reference; errors are the one ErrorBody.
    let mut used = BTreeSet::new();
    refs(&doc, &mut used);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for r in &used {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(schemas.contains_key(name), "{r} is not described");
    }
    assert!(schemas.contains_key("ErrorBody"));
    // Types of the same name in different modules are described apart.
    let body_of = |path: &str, method: &str| {
        let r = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/")
            .to_string();
        schemas[&r]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(body_of("/v1/scores", "post"), vec!["scores"]);
    assert_eq!(body_of("/v1/uptime", "post"), vec!["observations"]);

    // What the API answers is among what the description says, per operation.
    let auth = format!("Bearer {TOKEN}");
    let bearer: Vec<(&str, &str)> = vec![("Authorization", auth.as_str())];
    let wrong: Vec<(&str, &str)> = vec![("Authorization", "Bearer nope-nope-nope-nope")];
    let none: Vec<(&str, &str)> = Vec::new();
    // (method, described path, request URI, headers, body)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a Vec<(&'a str, &'a str)>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        ("get", "/livez", "/livez", &none, None),
        ("get", "/readyz", "/readyz", &none, None),
        ("get", "/metrics", "/metrics", &none, None),
        ("get", "/v1/miners", "/v1/miners", &none, None),
        ("get", "/v1/ingest/gaps", "/v1/ingest/gaps", &none, None),
        ("get", "/v1/network", "/v1/network", &none, None),
        (
            "get",
            "/v1/network/history",
            "/v1/network/history?limit=0",
            &none,
            None,
        ),
        (
            "get",
            "/v1/network/history",
            "/v1/network/history",
            &none,
            None,
        ),
        ("get", "/v1/vesting", "/v1/vesting", &none, None),
        (
            "get",
            "/v1/vesting/miners",
            "/v1/vesting/miners",
            &none,
            None,
        ),
        (
            "get",
            "/v1/vesting/miners",
            "/v1/vesting/miners?epoch_block=x",
            &none,
            None,
        ),
        (
            "get",
            "/v1/vesting/miners/{miner}",
            "/v1/vesting/miners/nobody",
            &none,
            None,
        ),
        (
            "get",
            "/v1/vesting/miners/{miner}",
            "/v1/vesting/miners/1?limit=0",
            &none,
            None,
        ),
        (
            "put",
            "/v1/vesting/mode",
            "/v1/vesting/mode",
            &none,
            Some(r#"{"mode":"on"}"#),
        ),
        (
            "put",
            "/v1/vesting/mode",
            "/v1/vesting/mode",
            &wrong,
            Some(r#"{"mode":"on"}"#),
        ),
        (
            "put",
            "/v1/vesting/mode",
            "/v1/vesting/mode",
            &bearer,
            Some(r#"{"mode":"sideways"}"#),
        ),
        (
            "put",
            "/v1/vesting/mode",
            "/v1/vesting/mode",
            &bearer,
            Some(r#"{"mode":"shadow"}"#),
        ),
        (
            "post",
            "/v1/scores",
            "/v1/scores",
            &none,
            Some(r#"{"scores":{}}"#),
        ),
        (
            "post",
            "/v1/scores",
            "/v1/scores",
            &bearer,
            Some(r#"{"scores":[]}"#),
        ),
        (
            "post",
            "/v1/scores",
            "/v1/scores",
            &bearer,
            Some(r#"{"scores":{"5Nobody":1.0}}"#),
        ),
        (
            "get",
            "/v1/weights/submissions",
            "/v1/weights/submissions",
            &none,
            None,
        ),
        (
            "get",
            "/v1/weights/submissions",
            "/v1/weights/submissions?limit=0",
            &none,
            None,
        ),
        (
            "get",
            "/v1/weights/miners/{miner}",
            "/v1/weights/miners/7",
            &none,
            None,
        ),
        (
            "get",
            "/v1/weights/miners/{miner}",
            "/v1/weights/miners/7?epoch=x",
            &none,
            None,
        ),
        (
            "post",
            "/v1/uptime",
            "/v1/uptime",
            &none,
            Some(r#"{"observations":[]}"#),
        ),
        (
            "post",
            "/v1/uptime",
            "/v1/uptime",
            &bearer,
            Some(r#"{"observations":[]}"#),
        ),
        (
            "post",
            "/v1/uptime",
            "/v1/uptime",
            &bearer,
            Some(r#"{"oops":1}"#),
        ),
        ("get", "/v1/uptime", "/v1/uptime", &none, None),
        (
            "put",
            "/v1/uptime/mode",
            "/v1/uptime/mode",
            &bearer,
            Some(r#"{"mode":"off"}"#),
        ),
        (
            "get",
            "/v1/uptime/leaderboard",
            "/v1/uptime/leaderboard",
            &none,
            None,
        ),
        (
            "get",
            "/v1/uptime/leaderboard",
            "/v1/uptime/leaderboard?epoch_block=x",
            &none,
            None,
        ),
        (
            "get",
            "/v1/uptime/achievements",
            "/v1/uptime/achievements",
            &none,
            None,
        ),
        (
            "get",
            "/v1/uptime/miners/{miner}",
            "/v1/uptime/miners/nobody",
            &none,
            None,
        ),
        (
            "get",
            "/v1/uptime/miners/{miner}",
            "/v1/uptime/miners/1?limit=0",
            &none,
            None,
        ),
        ("get", "/v1/uptime/grants", "/v1/uptime/grants", &none, None),
        (
            "get",
            "/v1/uptime/grants",
            "/v1/uptime/grants?all=maybe",
            &none,
            None,
        ),
        (
            "post",
            "/v1/uptime/grants",
            "/v1/uptime/grants",
            &none,
            Some(r#"{}"#),
        ),
        (
            "post",
            "/v1/uptime/grants",
            "/v1/uptime/grants",
            &bearer,
            Some(r#"{"hotkey":"x","reason":"r"}"#),
        ),
        (
            "post",
            "/v1/uptime/grants",
            "/v1/uptime/grants",
            &bearer,
            Some(r#"{"hotkey":"5Nobody","reason":"r","days":3}"#),
        ),
        (
            "delete",
            "/v1/uptime/grants/{id}",
            "/v1/uptime/grants/12",
            &bearer,
            None,
        ),
        (
            "delete",
            "/v1/uptime/grants/{id}",
            "/v1/uptime/grants/12",
            &none,
            None,
        ),
        (
            "delete",
            "/v1/uptime/grants/{id}",
            "/v1/uptime/grants/x",
            &bearer,
            None,
        ),
        ("get", "/v1/openapi.json", "/v1/openapi.json", &none, None),
    ];
    let mut seen: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    for (method, template, uri, headers, body) in cases {
        let (status, text) =
            common::http_request(addr, &method.to_uppercase(), uri, headers, body).await;
        let op = &doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not described");
        let documented = op["responses"]
            .as_object()
            .unwrap()
            .contains_key(&status.to_string());
        assert!(
            documented,
            "{method} {uri} answered {status} ({text}), which {template} does not describe: {}",
            op["responses"]
        );
        seen.entry((method.into(), template.into()))
            .or_default()
            .insert(status);
    }
    // Every operation was asked at least once.
    for op in &served {
        assert!(
            seen.contains_key(&(op.0.clone(), op.1.clone())),
            "{op:?} never asked"
        );
    }
}
