//! Prometheus metrics. One registry per daemon; every series is registered at start so that
//! `increase()` alerts see 0 → N rather than a missing series.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub netuid: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    pub check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModeLabels {
    pub mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

pub struct Metrics {
    registry: Registry,
    pub build_info: Family<BuildLabels, Gauge>,
    pub start_time_seconds: Gauge<f64, AtomicU64>,
    /// 1 when the named readiness check passes, 0 when it fails.
    pub ready_check: Family<CheckLabels, Gauge>,
    pub database_up: Gauge,
    pub http_requests: Family<RouteLabels, Counter>,
    /// Last block written by ingestion.
    pub ingest_cursor: Gauge,
    /// Finalized head minus the block being planned.
    pub ingest_behind: Gauge,
    pub ingest_block_seconds: Histogram,
    pub ingest_rows: Counter,
    pub ingest_errors: Counter,
    pub chain_head: Gauge,
    pub chain_reconnects: Gauge,
    pub chain_stalls: Gauge,
    pub chain_rpc_errors: Gauge,
    /// Age of the last ingested block by its chain timestamp (≈ head age when caught up).
    pub ingest_block_age_seconds: Gauge<f64, AtomicU64>,
    /// Epoch block of the last vesting computation.
    pub vesting_epoch_block: Gauge,
    /// 1 for the vesting mode in force at the last epoch.
    pub vesting_mode: Family<ModeLabels, Gauge>,
    pub vesting_seconds: Histogram,
    pub vesting_miners: Gauge,
    pub vesting_boosted: Gauge,
    pub vesting_window_tranches: Gauge,
    /// Uptime rounds recorded, by source.
    pub uptime_rounds: Family<SourceLabels, Counter>,
    pub uptime_round_seconds: Histogram,
    /// Miners up in the last probe round.
    pub uptime_miners_up: Gauge,
    /// Probe rounds skipped by an error.
    pub uptime_errors: Counter,
    /// Head minus `LastUpdate` of our uid: blocks since the chain last accepted our weights.
    pub weights_blocks_since_update: Gauge,
    /// Epoch index of the last submission planned.
    pub weights_epoch: Gauge,
    /// Submissions that reached finality, confirmed on chain.
    pub weights_finalized: Counter,
    /// Failed submission attempts, by reason (the chain's error name where it gave one).
    pub weights_failures: Family<ReasonLabels, Counter>,
    /// Base scores fresh enough to use at the head.
    pub weights_fresh_scores: Gauge,
    /// 1 while this instance holds the leader lease and may submit, 0 in standby.
    pub leader: Gauge,
    /// Fencing token of the lease term this instance leads (0 in standby).
    pub leader_token: Gauge,
    /// Times this instance became leader or lost the lease, by event.
    pub leader_changes: Family<EventLabels, Counter>,
    pub guards: Guards,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EdgeLabels {
    pub listener: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    pub listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub task: String,
}

/// The series of the hardening work: the listeners' edge, stalled tasks, missed epochs and
/// probes that could not be made.
pub struct Guards {
    /// Connections closed at accept by a cap (or a failed accept), by listener and reason.
    pub http_connections_refused: Family<EdgeLabels, Counter>,
    /// Connections open now, by listener.
    pub http_connections_open: Family<ListenerLabels, Gauge>,
    /// 1 while the named task has made no progress for longer than its bound.
    pub task_stalled: Family<TaskLabels, Gauge>,
    /// Epochs whose submission window passed without weights from us (recorded `missed`).
    pub weights_missed: Counter,
    /// Consecutive weights steps that failed (0 after a good one).
    pub weights_step_failures: Gauge,
    /// Probes that could not be made for a local reason (no descriptor, no port): recorded as
    /// unknown, never as down.
    pub uptime_probes_unknown: Counter,
}

impl Guards {
    fn register(registry: &mut Registry) -> Self {
        let g = Guards {
            http_connections_refused: Family::default(),
            http_connections_open: Family::default(),
            task_stalled: Family::default(),
            weights_missed: Counter::default(),
            weights_step_failures: Gauge::default(),
            uptime_probes_unknown: Counter::default(),
        };
        registry.register(
            "http_connections_refused",
            "Connections closed at accept by a cap or a failed accept, by listener and reason",
            g.http_connections_refused.clone(),
        );
        registry.register(
            "http_connections_open",
            "Open HTTP connections, by listener",
            g.http_connections_open.clone(),
        );
        registry.register(
            "task_stalled",
            "1 while the named task has made no progress for longer than its bound",
            g.task_stalled.clone(),
        );
        registry.register(
            "weights_missed",
            "Epochs whose submission window passed without weights from this validator",
            g.weights_missed.clone(),
        );
        registry.register(
            "weights_step_failures",
            "Consecutive failed weights steps (0 after a successful one)",
            g.weights_step_failures.clone(),
        );
        registry.register(
            "uptime_probes_unknown",
            "Probes that could not be made for a local reason, recorded as unknown",
            g.uptime_probes_unknown.clone(),
        );
        for listener in ["http", "web"] {
            for reason in [
                "max_connections",
                "max_connections_per_client",
                "accept_error",
            ] {
                let _ = g.http_connections_refused.get_or_create(&EdgeLabels {
                    listener: listener.into(),
                    reason: reason.into(),
                });
            }
        }
        for task in crate::progress::TASKS {
            g.task_stalled
                .get_or_create(&TaskLabels {
                    task: (*task).into(),
                })
                .set(0);
        }
        g
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

impl Metrics {
    pub fn new(netuid: u16) -> Self {
        Self::with_chain(netuid, &crate::chain::client::Counters::default())
    }

    /// Metrics that include the chain client's call latencies from `chain`.
    pub fn with_chain(netuid: u16, chain: &crate::chain::client::Counters) -> Self {
        let mut registry = Registry::with_prefix("tenure");
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "Version of the running daemon and the subnet it serves",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                netuid: netuid.to_string(),
            })
            .set(1);
        let start_time_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "start_time_seconds",
            "Unix time the daemon started",
            start_time_seconds.clone(),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        start_time_seconds.set(now);
        let ready_check = Family::<CheckLabels, Gauge>::default();
        registry.register(
            "ready_check",
            "Readiness checks: 1 passing, 0 failing",
            ready_check.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "database_up",
            "1 when the last database health check succeeded",
            database_up.clone(),
        );
        let http_requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests served, by route and status",
            http_requests.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let ingest_cursor = gauge(&mut registry, "ingest_cursor_block", "Last block ingested");
        let ingest_behind = gauge(
            &mut registry,
            "ingest_behind_blocks",
            "Finalized blocks not yet ingested",
        );
        let ingest_block_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "ingest_block_seconds",
            "Time from planning a block to its commit",
            ingest_block_seconds.clone(),
        );
        let ingest_rows = counter(&mut registry, "ingest_rows", "Rows written by ingestion");
        let ingest_errors = counter(
            &mut registry,
            "ingest_errors",
            "Ingestion pipeline failures (each followed by a resume from the cursor)",
        );
        let chain_head = gauge(&mut registry, "chain_finalized_head", "Finalized head seen");
        let chain_reconnects = gauge(&mut registry, "chain_reconnects", "Chain reconnections");
        let chain_stalls = gauge(
            &mut registry,
            "chain_stalls",
            "Finalized streams rebuilt after the stall timeout",
        );
        let chain_rpc_errors = gauge(&mut registry, "chain_rpc_errors", "Failed chain calls");
        registry.register(
            "chain_rpc_seconds",
            "Duration of chain calls",
            chain.rpc_seconds.clone(),
        );
        let ingest_block_age_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "ingest_block_age_seconds",
            "Age of the last ingested block by its chain timestamp",
            ingest_block_age_seconds.clone(),
        );
        let vesting_epoch_block = gauge(
            &mut registry,
            "vesting_epoch_block",
            "Epoch block of the last vesting computation",
        );
        let vesting_mode = Family::<ModeLabels, Gauge>::default();
        registry.register(
            "vesting_mode",
            "Vesting mode in force at the last epoch (1 for the mode in force)",
            vesting_mode.clone(),
        );
        let vesting_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "vesting_seconds",
            "Time to compute and record an epoch's vesting multipliers",
            vesting_seconds.clone(),
        );
        let vesting_miners = gauge(
            &mut registry,
            "vesting_miners",
            "Miners given a vesting multiplier at the last epoch",
        );
        let vesting_boosted = gauge(
            &mut registry,
            "vesting_boosted_miners",
            "Miners whose vesting multiplier was above 1 at the last epoch",
        );
        let vesting_window_tranches = gauge(
            &mut registry,
            "vesting_window_tranches",
            "Emission tranches inside the lookback window, held in memory",
        );
        let uptime_rounds = Family::<SourceLabels, Counter>::default();
        registry.register(
            "uptime_rounds",
            "Uptime rounds recorded, by source",
            uptime_rounds.clone(),
        );
        for source in ["probe", "api"] {
            uptime_rounds
                .get_or_create(&SourceLabels {
                    source: source.into(),
                })
                .inc_by(0);
        }
        let uptime_round_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "uptime_round_seconds",
            "Duration of a probe round (probes and the database write)",
            uptime_round_seconds.clone(),
        );
        let uptime_miners_up = gauge(
            &mut registry,
            "uptime_miners_up",
            "Miners up in the last probe round",
        );
        let uptime_errors = counter(
            &mut registry,
            "uptime_errors",
            "Probe rounds skipped by an error",
        );
        let weights_blocks_since_update = gauge(
            &mut registry,
            "weights_blocks_since_update",
            "Blocks since the chain last accepted this validator's weights (head - LastUpdate)",
        );
        let weights_epoch = gauge(
            &mut registry,
            "weights_epoch",
            "Epoch index of the last weight submission planned",
        );
        let weights_finalized = counter(
            &mut registry,
            "weights_finalized",
            "Weight submissions finalized and confirmed on chain",
        );
        let weights_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "weights_failures",
            "Failed weight submission attempts, by reason",
            weights_failures.clone(),
        );
        let weights_fresh_scores = gauge(
            &mut registry,
            "weights_fresh_scores",
            "Base scores fresh enough to be used at the ingested head",
        );
        let leader = gauge(
            &mut registry,
            "leader",
            "1 while this instance holds the leader lease and submits weights, 0 in standby",
        );
        let leader_token = gauge(
            &mut registry,
            "leader_token",
            "Fencing token of the lease term this instance leads, 0 in standby",
        );
        let leader_changes = Family::<EventLabels, Counter>::default();
        registry.register(
            "leader_changes",
            "Leadership changes of this instance (leading, lost, released)",
            leader_changes.clone(),
        );
        for event in ["leading", "lost", "released"] {
            let _ = leader_changes.get_or_create(&EventLabels {
                event: event.into(),
            });
        }
        let guards = Guards::register(&mut registry);
        Metrics {
            guards,
            registry,
            leader,
            leader_token,
            leader_changes,
            weights_blocks_since_update,
            weights_epoch,
            weights_finalized,
            weights_failures,
            weights_fresh_scores,
            uptime_rounds,
            uptime_round_seconds,
            uptime_miners_up,
            uptime_errors,
            vesting_epoch_block,
            vesting_mode,
            vesting_seconds,
            vesting_miners,
            vesting_boosted,
            vesting_window_tranches,
            ingest_cursor,
            ingest_behind,
            ingest_block_seconds,
            ingest_rows,
            ingest_errors,
            chain_head,
            chain_reconnects,
            chain_stalls,
            chain_rpc_errors,
            ingest_block_age_seconds,
            build_info,
            start_time_seconds,
            ready_check,
            database_up,
            http_requests,
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoding error would be a bug in a metric type.
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

impl Metrics {
    /// Mirrors the chain client's counters.
    pub fn observe_chain(&self, c: &crate::chain::client::Counters) {
        self.chain_reconnects
            .set(c.reconnects.load(std::sync::atomic::Ordering::Relaxed) as i64);
        self.chain_stalls
            .set(c.stalls.load(std::sync::atomic::Ordering::Relaxed) as i64);
        self.chain_rpc_errors
            .set(c.rpc_errors.load(std::sync::atomic::Ordering::Relaxed) as i64);
    }
}
