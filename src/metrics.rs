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
    pub ingest: IngestMetrics,
    pub chain: ChainMetrics,
    pub vesting: VestingMetrics,
    pub uptime: UptimeMetrics,
    pub weights: WeightsMetrics,
    pub lease: LeaseMetrics,
    pub network: NetworkMetrics,
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
    /// Finalized timelocked commits whose reveal epoch passed without the chain revealing them
    /// as committed (recorded `reveal_missed`).
    pub weights_reveal_missed: Counter,
    /// Finalized timelocked commits the chain revealed as committed (recorded `revealed`).
    pub weights_revealed: Counter,
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
            weights_reveal_missed: Counter::default(),
            weights_revealed: Counter::default(),
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
            "weights_reveal_missed",
            "Timelocked weight commits whose reveal epoch passed without the chain revealing them as committed",
            g.weights_reveal_missed.clone(),
        );
        registry.register(
            "weights_revealed",
            "Timelocked weight commits the chain revealed, storing exactly the committed weights",
            g.weights_revealed.clone(),
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

/// Registers `metric` under `name` and returns it.
fn add<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn histogram(start: f64) -> Histogram {
    Histogram::new(exponential_buckets(start, 2.0, 14))
}

/// Ingestion: the cursor and how far behind it is, block times, rows and failures.
pub struct IngestMetrics {
    /// Last block written by ingestion.
    pub cursor: Gauge,
    /// Finalized head minus the block being planned.
    pub behind: Gauge,
    pub block_seconds: Histogram,
    pub rows: Counter,
    pub errors: Counter,
    /// Age of the last ingested block by its chain timestamp (≈ head age when caught up).
    pub block_age_seconds: Gauge<f64, AtomicU64>,
    /// The block whose state no endpoint has (pruned) while that stops ingestion; 0 otherwise.
    pub state_pruned_block: Gauge,
    /// Reads of state the endpoints have pruned, served by `chain.archive_endpoints`.
    pub archive_reads: Gauge,
    /// Blocks the planner read from the node itself (not covered by the read-ahead).
    pub planner_reads: Gauge,
    /// How long the writer's last memory load took, and whether it was warm (the memory a
    /// graceful stop saved) or read from the tables.
    pub memory_load_seconds: Gauge<f64, AtomicU64>,
    pub memory_warm: Gauge,
}

impl IngestMetrics {
    fn register(r: &mut Registry) -> Self {
        IngestMetrics {
            state_pruned_block: add(
                r,
                "ingest_state_pruned_block",
                "The block whose state no endpoint has any more while that stops ingestion (0: none)",
                Gauge::default(),
            ),
            archive_reads: add(
                r,
                "chain_archive_reads",
                "Reads of pruned state served by chain.archive_endpoints (since start)",
                Gauge::default(),
            ),
            planner_reads: add(
                r,
                "ingest_planner_reads",
                "Blocks whose planner read from the node itself, not covered by the read-ahead (since start)",
                Gauge::default(),
            ),
            memory_load_seconds: add(
                r,
                "ingest_memory_load_seconds",
                "How long the ingest writer's last load of its memory (vesting sums, uptime rollups) took",
                Gauge::default(),
            ),
            memory_warm: add(
                r,
                "ingest_memory_warm",
                "1 when the last load took back the memory a graceful stop saved, 0 when it read the tables",
                Gauge::default(),
            ),
            cursor: add(
                r,
                "ingest_cursor_block",
                "Last block ingested",
                Gauge::default(),
            ),
            behind: add(
                r,
                "ingest_behind_blocks",
                "Finalized blocks not yet ingested",
                Gauge::default(),
            ),
            block_seconds: add(
                r,
                "ingest_block_seconds",
                "Time from planning a block to its commit",
                histogram(0.001),
            ),
            rows: add(
                r,
                "ingest_rows",
                "Rows written by ingestion",
                Counter::default(),
            ),
            errors: add(
                r,
                "ingest_errors",
                "Ingestion pipeline failures (each followed by a resume from the cursor)",
                Counter::default(),
            ),
            block_age_seconds: add(
                r,
                "ingest_block_age_seconds",
                "Age of the last ingested block by its chain timestamp",
                Gauge::default(),
            ),
        }
    }
}

/// The chain client: finalized head, reconnections, stalls, failed calls and call latencies.
pub struct ChainMetrics {
    pub head: Gauge,
    pub reconnects: Gauge,
    pub stalls: Gauge,
    pub rpc_errors: Gauge,
}

impl ChainMetrics {
    fn register(r: &mut Registry, chain: &crate::chain::client::Counters) -> Self {
        r.register(
            "chain_rpc_seconds",
            "Duration of chain calls",
            chain.rpc_seconds.clone(),
        );
        ChainMetrics {
            head: add(
                r,
                "chain_finalized_head",
                "Finalized head seen",
                Gauge::default(),
            ),
            reconnects: add(
                r,
                "chain_reconnects",
                "Chain reconnections",
                Gauge::default(),
            ),
            stalls: add(
                r,
                "chain_stalls",
                "Finalized streams rebuilt after the stall timeout",
                Gauge::default(),
            ),
            rpc_errors: add(
                r,
                "chain_rpc_errors",
                "Failed chain calls",
                Gauge::default(),
            ),
        }
    }
}

/// The vesting engine at its last epoch.
pub struct VestingMetrics {
    /// Epoch block of the last vesting computation.
    pub epoch_block: Gauge,
    /// 1 for the vesting mode in force at the last epoch.
    pub mode: Family<ModeLabels, Gauge>,
    pub seconds: Histogram,
    pub miners: Gauge,
    pub boosted: Gauge,
    pub window_tranches: Gauge,
}

impl VestingMetrics {
    fn register(r: &mut Registry) -> Self {
        VestingMetrics {
            epoch_block: add(
                r,
                "vesting_epoch_block",
                "Epoch block of the last vesting computation",
                Gauge::default(),
            ),
            mode: add(
                r,
                "vesting_mode",
                "Vesting mode in force at the last epoch (1 for the mode in force)",
                Family::default(),
            ),
            seconds: add(
                r,
                "vesting_seconds",
                "Time to compute and record an epoch's vesting multipliers",
                histogram(0.001),
            ),
            miners: add(
                r,
                "vesting_miners",
                "Miners given a vesting multiplier at the last epoch",
                Gauge::default(),
            ),
            boosted: add(
                r,
                "vesting_boosted_miners",
                "Miners whose vesting multiplier was above 1 at the last epoch",
                Gauge::default(),
            ),
            window_tranches: add(
                r,
                "vesting_window_tranches",
                "Emission tranches inside the lookback window, held in memory",
                Gauge::default(),
            ),
        }
    }
}

/// Uptime rounds and the probe.
pub struct UptimeMetrics {
    /// Uptime rounds recorded, by source.
    pub rounds: Family<SourceLabels, Counter>,
    pub round_seconds: Histogram,
    /// Miners up in the last probe round.
    pub miners_up: Gauge,
    /// Probe rounds skipped by an error.
    pub errors: Counter,
}

impl UptimeMetrics {
    fn register(r: &mut Registry) -> Self {
        let rounds: Family<SourceLabels, Counter> = add(
            r,
            "uptime_rounds",
            "Uptime rounds recorded, by source",
            Family::default(),
        );
        for source in ["probe", "api"] {
            rounds
                .get_or_create(&SourceLabels {
                    source: source.into(),
                })
                .inc_by(0);
        }
        UptimeMetrics {
            rounds,
            round_seconds: add(
                r,
                "uptime_round_seconds",
                "Duration of a probe round (probes and the database write)",
                histogram(0.01),
            ),
            miners_up: add(
                r,
                "uptime_miners_up",
                "Miners up in the last probe round",
                Gauge::default(),
            ),
            errors: add(
                r,
                "uptime_errors",
                "Probe rounds skipped by an error",
                Counter::default(),
            ),
        }
    }
}

/// Weight submissions.
pub struct WeightsMetrics {
    /// Head minus `LastUpdate` of our uid: blocks since the chain last accepted our weights.
    pub blocks_since_update: Gauge,
    /// Epoch index of the last submission planned.
    pub epoch: Gauge,
    /// Submissions that reached finality, confirmed on chain.
    pub finalized: Counter,
    /// Failed submission attempts, by reason (the chain's error name where it gave one).
    pub failures: Family<ReasonLabels, Counter>,
    /// Base scores fresh enough to use at the head.
    pub fresh_scores: Gauge,
}

impl WeightsMetrics {
    fn register(r: &mut Registry) -> Self {
        WeightsMetrics {
            blocks_since_update: add(
                r,
                "weights_blocks_since_update",
                "Blocks since the chain last accepted this validator's weights (head - LastUpdate)",
                Gauge::default(),
            ),
            epoch: add(
                r,
                "weights_epoch",
                "Epoch index of the last weight submission planned",
                Gauge::default(),
            ),
            finalized: add(
                r,
                "weights_finalized",
                "Weight submissions finalized and confirmed on chain",
                Counter::default(),
            ),
            failures: add(
                r,
                "weights_failures",
                "Failed weight submission attempts, by reason",
                Family::default(),
            ),
            fresh_scores: add(
                r,
                "weights_fresh_scores",
                "Base scores fresh enough to be used at the ingested head",
                Gauge::default(),
            ),
        }
    }
}

/// Network health at the last epoch (NaN while a figure is not known yet).
pub struct NetworkMetrics {
    pub mean_current_uptime: Gauge<f64, AtomicU64>,
    pub bonus_coverage: Gauge<f64, AtomicU64>,
    pub gini: Gauge<f64, AtomicU64>,
    pub weight_moved: Gauge<f64, AtomicU64>,
}

impl NetworkMetrics {
    fn register(r: &mut Registry) -> Self {
        let unknown = || {
            let g = Gauge::<f64, AtomicU64>::default();
            g.set(f64::NAN);
            g
        };
        NetworkMetrics {
            mean_current_uptime: add(
                r,
                "network_mean_current_uptime",
                "Mean current uptime of the subnet's miners at the last epoch",
                unknown(),
            ),
            bonus_coverage: add(
                r,
                "network_bonus_coverage",
                "Share of miners with an uptime multiplier above 1 at the last epoch",
                unknown(),
            ),
            gini: add(
                r,
                "network_weight_gini",
                "Gini coefficient of the miners' latest planned weights",
                unknown(),
            ),
            weight_moved: add(
                r,
                "network_weight_moved",
                "Total variation distance between base-only and final weight shares",
                unknown(),
            ),
        }
    }

    /// The figures of an epoch's snapshot.
    pub fn observe(&self, s: &crate::network::store::Snapshot) {
        let or_nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
        self.mean_current_uptime.set(or_nan(s.mean_current_uptime));
        self.bonus_coverage.set(or_nan(s.bonus_coverage));
        self.gini.set(or_nan(s.gini));
        self.weight_moved
            .set(or_nan(s.moved.map(|m| m.total_variation)));
    }
}

/// The leader lease (HA).
pub struct LeaseMetrics {
    /// 1 while this instance holds the leader lease and may submit, 0 in standby.
    pub leader: Gauge,
    /// Fencing token of the lease term this instance leads (0 in standby).
    pub token: Gauge,
    /// Times this instance became leader or lost the lease, by event.
    pub changes: Family<EventLabels, Counter>,
}

impl LeaseMetrics {
    fn register(r: &mut Registry) -> Self {
        let changes: Family<EventLabels, Counter> = add(
            r,
            "leader_changes",
            "Leadership changes of this instance (leading, lost, released)",
            Family::default(),
        );
        for event in ["leading", "lost", "released"] {
            let _ = changes.get_or_create(&EventLabels {
                event: event.into(),
            });
        }
        LeaseMetrics {
            leader: add(
                r,
                "leader",
                "1 while this instance holds the leader lease and submits weights, 0 in standby",
                Gauge::default(),
            ),
            token: add(
                r,
                "leader_token",
                "Fencing token of the lease term this instance leads, 0 in standby",
                Gauge::default(),
            ),
            changes,
        }
    }
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
        let ingest = IngestMetrics::register(&mut registry);
        let chain = ChainMetrics::register(&mut registry, chain);
        let vesting = VestingMetrics::register(&mut registry);
        let uptime = UptimeMetrics::register(&mut registry);
        let weights = WeightsMetrics::register(&mut registry);
        let lease = LeaseMetrics::register(&mut registry);
        let network = NetworkMetrics::register(&mut registry);
        let guards = Guards::register(&mut registry);
        Metrics {
            guards,
            registry,
            ingest,
            chain,
            vesting,
            uptime,
            weights,
            lease,
            network,
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
        self.chain
            .reconnects
            .set(c.reconnects.load(std::sync::atomic::Ordering::Relaxed) as i64);
        self.chain
            .stalls
            .set(c.stalls.load(std::sync::atomic::Ordering::Relaxed) as i64);
        self.chain
            .rpc_errors
            .set(c.rpc_errors.load(std::sync::atomic::Ordering::Relaxed) as i64);
    }
}
