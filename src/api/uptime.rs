//! `POST /v1/uptime`: the validator's own observations, one batch = one round of the `api`
//! source. The whole batch is checked before anything is written; a rejected batch stores
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ErrorBody;
use super::{ApiError, ApiResult, AppState, authorize};
use crate::config::UptimeSource;
use crate::uptime::store::{self, Round, Sample, Source};

/// How far ahead of the wall clock a timestamp may be (clock skew).
const MAX_FUTURE: Duration = Duration::seconds(60);
/// Blocks beyond the ingested head an observation may name (finality lag of the caller's node).
const MAX_AHEAD_BLOCKS: u64 = 5;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = UptimeBatch)]
#[serde(deny_unknown_fields)]
pub(super) struct Batch {
    observations: Vec<Observation>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Observation {
    hotkey: String,
    up: bool,
    #[serde(default)]
    compute_score: Option<f64>,
    #[serde(default)]
    block: Option<u64>,
    #[serde(default)]
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Accepted {
    round_id: i64,
    block: u64,
    /// Registered miners at that block: every one got a sample.
    miners: usize,
    up: usize,
    /// Registered miners the batch did not mention: recorded as down.
    unreported: usize,
}

fn unprocessable(reason: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, reason.into())
}

/// When an observation was made: at a block, or at a time (placed on the chain by its block).
#[derive(Debug, Clone, Copy)]
enum When {
    Block(u64),
    Time(DateTime<Utc>),
}

/// An observation that passed every check that needs no database.
#[derive(Debug)]
struct Checked {
    hotkey: String,
    up: bool,
    compute_score: Option<f64>,
    when: When,
}

/// The batch's own checks: size, scores, exactly one of block and timestamp, no hotkey twice.
fn checked(batch: Batch, max_batch: usize) -> Result<Vec<Checked>, ApiError> {
    let obs = batch.observations;
    if obs.is_empty() {
        return Err(ApiError::bad_request("observations: empty batch"));
    }
    if obs.len() > max_batch {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} observations: more than uptime.api.max_batch = {max_batch}",
                obs.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(obs.len());
    for (i, o) in obs.into_iter().enumerate() {
        if let Some(s) = o.compute_score
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(ApiError::bad_request(format!(
                "observations[{i}].compute_score: {s} is not a finite number >= 0"
            )));
        }
        let when = match (o.block, o.timestamp) {
            (Some(b), None) => When::Block(b),
            (None, Some(t)) => When::Time(t),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "observations[{i}]: give exactly one of block and timestamp"
                )));
            }
        };
        if !seen.insert(o.hotkey.clone()) {
            return Err(ApiError::bad_request(format!(
                "observations[{i}]: hotkey {} appears twice",
                o.hotkey
            )));
        }
        out.push(Checked {
            hotkey: o.hotkey,
            up: o.up,
            compute_score: o.compute_score,
            when,
        });
    }
    Ok(out)
}

#[utoipa::path(post, path = "/v1/uptime", tag = "uptime", request_body = Batch,
    security(("bearer" = [])),
    responses((status = 200, description = "the batch recorded as one round", body = Accepted),
              (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 403, description = "writes are disabled (no token configured) or this source is not enabled", body = ErrorBody), (status = 400, description = "a malformed body, unknown fields, a bad value", body = ErrorBody), (status = 413, description = "the body is too large", body = ErrorBody), (status = 415, description = "not application/json", body = ErrorBody), (status = 422, description = "a hotkey not registered at that block, or a block or time out of range", body = ErrorBody), (status = 503, description = "nothing ingested yet, or the database is unreachable", body = ErrorBody)))]
pub(super) async fn observe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<super::Strict<Batch>, ApiError>,
) -> ApiResult<Accepted> {
    authorize(&state.api, &headers)?;
    let cfg = &state.api.uptime;
    if !cfg.sources.contains(&UptimeSource::Api) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "the api source is not enabled: add \"api\" to uptime.sources".into(),
        ));
    }
    let super::Strict(batch) = body?;
    let obs = checked(batch, cfg.api.max_batch)?;
    let netuid = state.api.netuid;
    let Some((head, _)) = store::chain_now(&state.pool, netuid).await? else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no block ingested yet: observations cannot be placed on the chain".into(),
        ));
    };
    let now = Utc::now();
    let block = round_block(&state, &obs, head, now).await?;
    let observed_at = store::time_of(&state.pool, netuid, block)
        .await?
        .unwrap_or(now);

    let mut tx = state.pool.begin().await?;
    let registered = store::registered_at(&mut tx, netuid, block).await?;
    let samples = samples(&registered, &obs, netuid, block)?;
    let round = Round {
        source: Source::Api,
        block,
        observed_at,
        duration_ms: None,
    };
    let round_id = store::record_round(&mut tx, netuid, &round, &samples).await?;
    tx.commit().await?;
    state
        .metrics
        .uptime
        .rounds
        .get_or_create(&crate::metrics::SourceLabels {
            source: Source::Api.name().into(),
        })
        .inc();
    let up = samples.iter().filter(|s| s.up).count();
    tracing::debug!(
        round_id,
        block,
        miners = samples.len(),
        up,
        "uptime batch accepted"
    );
    Ok(Json(Accepted {
        round_id,
        block,
        miners: samples.len(),
        up,
        unreported: samples.len() - obs.len(),
    }))
}

/// Where the round sits on chain: the latest block named, or the block of the latest time;
/// every observation must fall inside the current window and not ahead of the head.
async fn round_block(
    state: &AppState,
    obs: &[Checked],
    head: u64,
    now: DateTime<Utc>,
) -> Result<u64, ApiError> {
    let (netuid, window) = (state.api.netuid, state.api.uptime.current_window_blocks);
    let mut block = None::<u64>;
    for (i, o) in obs.iter().enumerate() {
        let b = match o.when {
            When::Block(b) => b,
            When::Time(t) => {
                if t > now + MAX_FUTURE {
                    return Err(unprocessable(format!(
                        "observations[{i}].timestamp {} is in the future",
                        t.to_rfc3339()
                    )));
                }
                store::block_at(&state.pool, netuid, t)
                    .await?
                    .ok_or_else(|| {
                        unprocessable(format!(
                            "observations[{i}].timestamp {}: before the first ingested block",
                            t.to_rfc3339()
                        ))
                    })?
            }
        };
        if b > head + MAX_AHEAD_BLOCKS {
            return Err(unprocessable(format!(
                "observations[{i}].block {b} is ahead of the ingested head {head}"
            )));
        }
        if b + window < head {
            return Err(unprocessable(format!(
                "observations[{i}].block {b} is older than the current window ({window} blocks before {head})"
            )));
        }
        block = Some(block.map_or(b, |x: u64| x.max(b)));
    }
    Ok(block.unwrap_or(head).min(head))
}

/// One sample per miner registered at `block`: reported ones as reported, the others down
/// ("not in the batch"). A hotkey not registered there refuses the whole batch.
fn samples(
    registered: &[store::Registered],
    obs: &[Checked],
    netuid: u16,
    block: u64,
) -> Result<Vec<Sample>, ApiError> {
    let by_hotkey: BTreeSet<&str> = registered.iter().map(|r| r.hotkey.as_str()).collect();
    let unknown: Vec<&str> = obs
        .iter()
        .map(|o| o.hotkey.as_str())
        .filter(|h| !by_hotkey.contains(h))
        .collect();
    if !unknown.is_empty() {
        return Err(unprocessable(format!(
            "{} hotkey(s) not registered on netuid {netuid} at block {block}: {}{}",
            unknown.len(),
            unknown[..unknown.len().min(10)].join(", "),
            if unknown.len() > 10 { ", …" } else { "" }
        )));
    }
    let reported: BTreeMap<&str, &Checked> = obs.iter().map(|o| (o.hotkey.as_str(), o)).collect();
    Ok(registered
        .iter()
        .map(|r| match reported.get(r.hotkey.as_str()) {
            Some(o) => Sample {
                miner_id: r.miner_id,
                up: o.up,
                reported: true,
                latency_ms: None,
                compute_score: o.compute_score,
                error: None,
            },
            None => Sample {
                miner_id: r.miner_id,
                up: false,
                reported: false,
                latency_ms: None,
                compute_score: None,
                error: Some("not in the batch".into()),
            },
        })
        .collect())
}

#[utoipa::path(put, path = "/v1/uptime/mode", tag = "uptime", request_body = super::vesting::ModeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "the mode before and after", body = crate::settings::Change), (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 403, description = "writes are disabled (no token configured) or this source is not enabled", body = ErrorBody), (status = 400, description = "a malformed body, unknown fields, a bad value", body = ErrorBody), (status = 413, description = "the body is too large", body = ErrorBody), (status = 415, description = "not application/json", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn set_mode(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<super::Strict<super::vesting::ModeRequest>, ApiError>,
) -> ApiResult<crate::settings::Change> {
    let default = state.api.uptime.mode;
    super::vesting::change_mode(
        &state,
        &headers,
        body,
        crate::settings::UPTIME_MODE,
        default,
    )
    .await
}

/// `GET /v1/uptime`: the mode in force, the sources, and the latest round of each source.
#[utoipa::path(get, path = "/v1/uptime", tag = "uptime",
    responses((status = 200, description = "the mode, the sources, the latest round of each", body = UptimeStatus), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn status(State(state): State<AppState>) -> ApiResult<UptimeStatus> {
    let api = &state.api;
    let mode = crate::settings::mode(
        &state.pool,
        api.netuid,
        crate::settings::UPTIME_MODE,
        api.uptime.mode,
    )
    .await?;
    let last_rounds: Vec<LastRound> = sqlx::query_as(
        "SELECT DISTINCT ON (source) source, block, miners, up, observed_at FROM uptime_rounds
          WHERE netuid = $1 ORDER BY source, block DESC",
    )
    .bind(i32::from(api.netuid))
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(UptimeStatus {
        netuid: api.netuid,
        mode,
        sources: api.uptime.sources.clone(),
        probe_interval_blocks: api.uptime.probe_interval_blocks,
        last_rounds,
    }))
}

/// `GET /v1/uptime`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UptimeStatus {
    pub netuid: u16,
    pub mode: crate::settings::ModeSetting,
    pub sources: Vec<crate::config::UptimeSource>,
    pub probe_interval_blocks: u64,
    pub last_rounds: Vec<LastRound>,
}

/// The latest round of one source.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LastRound {
    pub source: String,
    pub block: i64,
    pub miners: i32,
    pub up: i32,
    pub observed_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantRequest {
    hotkey: String,
    reason: String,
    /// Defaults to `uptime.contribution.grant_bonus`.
    #[serde(default)]
    bonus: Option<f64>,
    /// Expiry as a number of days from now, or an RFC 3339 time.
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    actor: Option<String>,
}

/// The longest grant, in days (ten years): a grant is reviewed, not forever.
const MAX_GRANT_DAYS: u32 = 3650;

fn grant_error(e: crate::uptime::grants::GrantError) -> ApiError {
    use crate::uptime::grants::GrantError;
    match e {
        GrantError::Db(e) => ApiError::unavailable(e),
        GrantError::UnknownHotkey(_) => unprocessable(e.to_string()),
        GrantError::Invalid(reason) => ApiError::bad_request(reason),
    }
}

#[utoipa::path(post, path = "/v1/uptime/grants", tag = "uptime", request_body = GrantRequest,
    security(("bearer" = [])),
    responses((status = 201, description = "the grant made", body = Granted), (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 403, description = "writes are disabled (no token configured) or this source is not enabled", body = ErrorBody), (status = 400, description = "a malformed body, unknown fields, a bad value", body = ErrorBody), (status = 413, description = "the body is too large", body = ErrorBody), (status = 415, description = "not application/json", body = ErrorBody), (status = 422, description = "a hotkey that was never a miner", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn grant(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<super::Strict<GrantRequest>, ApiError>,
) -> Result<(StatusCode, Json<Granted>), ApiError> {
    authorize(&state.api, &headers)?;
    let super::Strict(req) = body?;
    let expires_at = match (req.days, req.expires_at) {
        (Some(d), None) if (1..=MAX_GRANT_DAYS).contains(&d) => Duration::try_days(i64::from(d))
            .and_then(|d| Utc::now().checked_add_signed(d))
            .ok_or_else(|| ApiError::bad_request(format!("days {d}: out of range")))?,
        (Some(d), None) => {
            return Err(ApiError::bad_request(format!(
                "days {d}: must be between 1 and {MAX_GRANT_DAYS}"
            )));
        }
        (None, Some(t)) => t,
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of days (> 0) and expires_at",
            ));
        }
    };
    let by = match req.actor.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() && a.len() <= 64 && !a.chars().any(char::is_control) => {
            format!("api:{a}")
        }
        Some(a) if !a.is_empty() => {
            return Err(ApiError::bad_request(
                "actor: at most 64 printable characters",
            ));
        }
        _ => "api".into(),
    };
    let bonus = req
        .bonus
        .unwrap_or(state.api.uptime.contribution.grant_bonus);
    let id = crate::uptime::grants::grant(
        &state.pool,
        state.api.netuid,
        &req.hotkey,
        bonus,
        &req.reason,
        &by,
        expires_at,
    )
    .await
    .map_err(grant_error)?;
    Ok((
        StatusCode::CREATED,
        Json(Granted {
            id,
            hotkey: req.hotkey,
            bonus,
            expires_at,
        }),
    ))
}

/// A grant made (`POST /v1/uptime/grants`, 201).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Granted {
    pub id: i64,
    pub hotkey: String,
    pub bonus: f64,
    pub expires_at: DateTime<Utc>,
}

/// A grant revoked (`DELETE /v1/uptime/grants/{id}`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Revoked {
    pub id: i64,
    pub revoked: bool,
}

#[utoipa::path(delete, path = "/v1/uptime/grants/{id}", tag = "uptime",
    params(("id" = i64, Path, description = "the grant's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "revoked (kept on record)", body = Revoked), (status = 401, description = "no or a wrong bearer token", body = ErrorBody), (status = 403, description = "writes are disabled (no token configured) or this source is not enabled", body = ErrorBody), (status = 400, description = "a bad id", body = ErrorBody), (status = 404, description = "no such active grant", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> ApiResult<Revoked> {
    authorize(&state.api, &headers)?;
    if crate::uptime::grants::revoke(&state.pool, state.api.netuid, id, "api")
        .await
        .map_err(grant_error)?
    {
        Ok(Json(Revoked { id, revoked: true }))
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no active grant {id}"),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantsQuery {
    #[serde(default)]
    all: bool,
}

#[utoipa::path(get, path = "/v1/uptime/grants", tag = "uptime",
    params(("all" = Option<bool>, Query, description = "revoked and expired grants too")),
    responses((status = 200, description = "grants, newest first", body = Vec<crate::uptime::grants::GrantRow>), (status = 400, description = "a bad query", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn grants(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<GrantsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Vec<crate::uptime::grants::GrantRow>> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(
        crate::uptime::grants::list(&state.pool, state.api.netuid, !q.all)
            .await
            .map_err(grant_error)?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BoardQuery {
    epoch_block: Option<u64>,
}

/// `GET /v1/uptime/leaderboard[?epoch_block=N]`.
#[utoipa::path(get, path = "/v1/uptime/leaderboard", tag = "uptime",
    params(("epoch_block" = Option<u64>, Query, description = "an epoch block (default: the last)")),
    responses((status = 200, description = "miners ranked by current uptime, then longevity", body = crate::uptime::leaderboard::Board), (status = 400, description = "a bad query", body = ErrorBody), (status = 404, description = "no uptime recorded for that epoch", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn leaderboard(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<crate::uptime::leaderboard::Board> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    match crate::uptime::leaderboard::leaderboard(&state.pool, state.api.netuid, q.epoch_block)
        .await?
    {
        Some((epoch_block, miners)) => Ok(Json(crate::uptime::leaderboard::Board {
            epoch_block,
            miners,
        })),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            "no uptime recorded for that epoch yet".into(),
        )),
    }
}

/// `GET /v1/uptime/achievements`.
#[utoipa::path(get, path = "/v1/uptime/achievements", tag = "uptime",
    responses((status = 200, description = "milestones awarded, newest first", body = Vec<crate::uptime::leaderboard::Badge>), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn achievements(
    State(state): State<AppState>,
) -> ApiResult<Vec<crate::uptime::leaderboard::Badge>> {
    Ok(Json(
        crate::uptime::leaderboard::achievements(&state.pool, state.api.netuid).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MinerQuery {
    limit: Option<i64>,
}

/// `GET /v1/uptime/miners/{uid or hotkey}[?limit=N]`: the miner's bonus history.
#[utoipa::path(get, path = "/v1/uptime/miners/{miner}", tag = "uptime",
    params(("miner" = String, Path, description = "a uid or a hotkey"),
           ("limit" = Option<i64>, Query, description = "epochs, 1 to 10000 (default 100)")),
    responses((status = 200, description = "the miner's uptime and bonuses, newest first", body = crate::uptime::leaderboard::MinerHistory), (status = 400, description = "a bad query", body = ErrorBody), (status = 404, description = "no such miner", body = ErrorBody), (status = 503, description = "the database is unreachable", body = ErrorBody)))]
pub(super) async fn miner(
    State(state): State<AppState>,
    axum::extract::Path(miner): axum::extract::Path<String>,
    query: Result<axum::extract::Query<MinerQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<crate::uptime::leaderboard::MinerHistory> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request("limit: between 1 and 10000"));
    }
    let sel = crate::vesting::store::MinerSel::parse(&miner);
    match crate::uptime::leaderboard::history(&state.pool, state.api.netuid, &sel, limit).await? {
        Some(rows) => Ok(Json(crate::uptime::leaderboard::MinerHistory::new(
            &miner, rows,
        ))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no miner {miner} on netuid {}", state.api.netuid),
        )),
    }
}
