//! `tenure run`: starts the components, supervises them, and shuts down gracefully.
//!
//! Supervision follows one rule: a task that ends while the daemon is not shutting down is a
//! failure, whatever it returned, and ends the process with a non-zero code so that systemd or
//! Docker restarts it from a clean state. All state lives in PostgreSQL, so a restart resumes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::{Config, Loaded};
use crate::db;
use crate::health::Health;
use crate::metrics::Metrics;

/// Readiness check set by start-up until the schema is ready.
pub const CHECK_STARTUP: &str = "startup";

/// How often the database health task pings PostgreSQL.
const DB_HEALTH_INTERVAL: Duration = Duration::from_secs(10);

type TaskResult = anyhow::Result<()>;

/// What the daemon's tasks share.
struct Shared {
    pool: sqlx::PgPool,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    cancel: CancellationToken,
    chain_counters: Arc<crate::chain::client::Counters>,
}

/// Runs the daemon until SIGTERM/SIGINT (Ok) or a component fails (Err).
pub async fn run(loaded: Loaded) -> anyhow::Result<()> {
    let cfg = &loaded.config;
    let chain_counters = Arc::new(crate::chain::client::Counters::default());
    let metrics = Arc::new(Metrics::with_chain(cfg.chain.netuid, &chain_counters));
    let health = Arc::new(Health::new(metrics.clone()));
    health.fail(CHECK_STARTUP, "connecting to the database");
    let sh = Shared {
        pool: db::lazy_pool(&cfg.database)?,
        metrics,
        health,
        cancel: CancellationToken::new(),
        chain_counters,
    };
    let token = cfg
        .http
        .token()
        .map_err(|e| anyhow!("http.api_token_file: {e}"))?;

    let mut tasks = Tasks::default();
    // One signal listener for the whole run, so a signal between two phases is not lost.
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    spawn_notify(&sh, &mut tasks);

    // HTTP first, so that a slow database or chain start is visible on /readyz and /metrics.
    let state = AppState {
        pool: sh.pool.clone(),
        metrics: sh.metrics.clone(),
        health: sh.health.clone(),
        api: Arc::new(api::ApiConfig::from_config(cfg, token)),
    };
    listen(cfg, &mut tasks, state, &sh.cancel).await?;

    // The database: wait for it (bounded), then bring the schema up to date.
    let startup = async {
        db::wait_until_reachable(&sh.pool, &cfg.database, &sh.cancel).await?;
        sh.health.fail(CHECK_STARTUP, "applying migrations");
        let applied = db::migrate(&sh.pool).await?;
        tracing::info!(?applied, "database schema up to date");
        // Before any task reads or writes chain data: is the node's chain the database's?
        sh.health.fail(
            CHECK_STARTUP,
            "asking the node for its genesis (is it the database's chain?)",
        );
        let client = crate::chain::client::ChainClient::with_counters(
            crate::chain::client::Settings::from_config(&cfg.chain),
            sh.chain_counters.clone(),
        );
        let identity = crate::chain::identity::check(&sh.pool, &client, &sh.cancel).await?;
        tracing::info!(?identity, "the node serves the database's chain");
        anyhow::Ok(())
    };
    tokio::select! {
        started = startup => started?,
        _ = &mut shutdown => {
            tracing::info!("shutdown requested during start-up");
            sh.cancel.cancel();
            return drain(tasks, cfg.daemon.shutdown_deadline_secs).await;
        }
    }
    sh.health.pass(CHECK_STARTUP);
    spawn_tasks(cfg, &sh, &mut tasks);
    tracing::info!(netuid = cfg.chain.netuid, config = %loaded.file.display(), "tenure running");

    tokio::select! {
        _ = &mut shutdown => {
            tracing::info!("shutdown requested");
            sh.cancel.cancel();
            drain(tasks, cfg.daemon.shutdown_deadline_secs).await
        }
        Some(joined) = tasks.set.join_next_with_id() => {
            sh.cancel.cancel();
            let failure = tasks.failure(joined);
            tracing::error!(error = format!("{failure:#}"), "stopping: a component failed");
            // Give the others a chance to finish their current transaction.
            let _ = drain(tasks, cfg.daemon.shutdown_deadline_secs).await;
            Err(failure)
        }
    }
}

/// systemd: READY once a block was processed (after migrations and the chain connection), the
/// watchdog fed by the block loop's pulse.
fn spawn_notify(sh: &Shared, tasks: &mut Tasks) {
    let (pulse, m, h, stop) = (
        sh.chain_counters.block_loop.clone(),
        sh.metrics.clone(),
        sh.health.clone(),
        sh.cancel.clone(),
    );
    let ready_health = sh.health.clone();
    tasks.spawn("systemd-notify", async move {
        let ready = move || {
            ready_health
                .snapshot()
                .get(crate::ingest::CHECK_INGEST)
                .is_some_and(|c| c.ok)
        };
        crate::notify::run(pulse, m, h, ready, stop).await
    });
}

/// The daemon's work once the schema is up to date: database health, ingestion, retention,
/// weights, the probe, and the progress watchdog over the ones that beat a pulse.
fn spawn_tasks(cfg: &Config, sh: &Shared, tasks: &mut Tasks) {
    {
        let (pool, metrics, stop) = (sh.pool.clone(), sh.metrics.clone(), sh.cancel.clone());
        tasks.spawn("database-health", async move {
            database_health(pool, metrics, stop).await
        });
    }
    let progress_bound = Duration::from_secs(cfg.daemon.progress_timeout_secs);
    let mut watched = vec![crate::progress::Watched {
        name: "ingest",
        pulse: sh.chain_counters.block_loop.clone(),
        bound: progress_bound,
    }];
    let client = Arc::new(crate::chain::client::ChainClient::with_counters(
        crate::chain::client::Settings::from_config(&cfg.chain),
        sh.chain_counters.clone(),
    ));
    let mut settings = crate::ingest::Settings::from_config(cfg);
    if cfg.weights.enabled {
        settings.validator = spawn_weights(cfg, sh, tasks, &mut watched, client.clone());
    }
    sh.health
        .fail(crate::ingest::CHECK_INGEST, "no block ingested yet");
    let (c, p, m, h, stop) = (
        client.clone(),
        sh.pool.clone(),
        sh.metrics.clone(),
        sh.health.clone(),
        sh.cancel.clone(),
    );
    tasks.spawn("ingest", async move {
        crate::ingest::run(c, p, settings, m, h, stop).await
    });
    spawn_retention(cfg, sh, tasks);
    if cfg
        .uptime
        .sources
        .contains(&crate::config::UptimeSource::Probe)
    {
        spawn_probe(cfg, sh, tasks, &mut watched, client);
    }
    let (h, m, stop) = (sh.health.clone(), sh.metrics.clone(), sh.cancel.clone());
    tasks.spawn("progress", async move {
        crate::progress::watch(watched, h, m, stop).await
    });
}

fn spawn_retention(cfg: &Config, sh: &Shared, tasks: &mut Tasks) {
    let (pool, stop, u) = (sh.pool.clone(), sh.cancel.clone(), &cfg.uptime);
    let periods = crate::uptime::store::Periods::new(cfg.chain.block_time_secs);
    let (netuid, raw, rollup) = (
        cfg.chain.netuid,
        u.raw_retention_days,
        u.rollup_retention_days,
    );
    tasks.spawn("uptime-retention", async move {
        crate::uptime::store::retention(pool, netuid, periods, raw, rollup, stop).await
    });
}

/// The weights task and the leader lease it submits under; a runner that cannot be built
/// (no hotkey, a bad beacon) fails readiness and leaves ingestion running. Returns the
/// validator's hotkey.
fn spawn_weights(
    cfg: &Config,
    sh: &Shared,
    tasks: &mut Tasks,
    watched: &mut Vec<crate::progress::Watched>,
    client: Arc<crate::chain::client::ChainClient>,
) -> Option<crate::chain::AccountId> {
    let runner = match weights_runner(cfg, client, &sh.pool, &sh.metrics, &sh.health) {
        Ok(runner) => runner,
        Err(e) => {
            let reason = format!("{e:#}: weights are not submitted");
            tracing::error!(error = %reason, "weights disabled");
            sh.health.fail(crate::weights::run::CHECK_WEIGHTS, reason);
            return None;
        }
    };
    let who = runner.who();
    // Only the lease's holder submits; every instance contends for it.
    let lease = crate::leader::Settings::from_config(cfg);
    let (role_tx, role_rx) =
        tokio::sync::watch::channel(crate::leader::Role::Standby { leader: None });
    let runner = runner.with_lease(role_rx, lease.scope());
    tracing::info!(instance = %lease.instance, scope = %lease.scope(), "contending for the leader lease");
    let obs = crate::leader::Observers {
        metrics: sh.metrics.clone(),
        health: sh.health.clone(),
    };
    let (p, stop) = (sh.pool.clone(), sh.cancel.clone());
    tasks.spawn("leader-lease", async move {
        crate::leader::run(p, lease, role_tx, obs, stop).await
    });
    let pulse = Arc::new(crate::pulse::Pulse::default());
    let s = crate::weights::run::Settings::from_config(cfg);
    watched.push(crate::progress::Watched {
        name: "weights",
        pulse: pulse.clone(),
        // A step may wait for its submission's finality.
        bound: Duration::from_secs(cfg.daemon.progress_timeout_secs)
            .max(s.finalize_timeout + 2 * Duration::from_secs(cfg.chain.rpc_timeout_secs)),
    });
    let runner = runner.with_pulse(pulse);
    let stop = sh.cancel.clone();
    tasks.spawn("weights", async move { runner.run(stop).await });
    Some(who)
}

fn spawn_probe(
    cfg: &Config,
    sh: &Shared,
    tasks: &mut Tasks,
    watched: &mut Vec<crate::progress::Watched>,
    client: Arc<crate::chain::client::ChainClient>,
) {
    let settings = crate::uptime::probe::Settings::from_config(cfg);
    let pulse = Arc::new(crate::pulse::Pulse::default());
    watched.push(crate::progress::Watched {
        name: "uptime-probe",
        pulse: pulse.clone(),
        bound: Duration::from_secs(cfg.daemon.progress_timeout_secs),
    });
    let (pool, metrics, health, stop) = (
        sh.pool.clone(),
        sh.metrics.clone(),
        sh.health.clone(),
        sh.cancel.clone(),
    );
    tasks.spawn("uptime-probe", async move {
        crate::uptime::probe::run(client, pool, settings, metrics, health, pulse, stop).await
    });
}

/// The HTTP listeners behind the edge's limits: the API on `http.listen` (with the pages unless
/// they have their own `web.listen`), and the pages on theirs. Checks the descriptor budget first.
async fn listen(
    cfg: &crate::config::Config,
    tasks: &mut Tasks,
    state: AppState,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let descriptors = crate::edge::descriptor_budget(cfg)?;
    tracing::debug!(descriptors, "descriptor limit");
    if cfg.http.allow_public_without_token
        && !cfg.http.listen.ip().is_loopback()
        && state.api.token.is_none()
    {
        tracing::warn!(listen = %cfg.http.listen, "the API listens beyond loopback without a token (http.allow_public_without_token = true): anyone who reaches it reads everything it serves; writes stay refused");
    }
    let limits = crate::edge::Limits::from_config(&cfg.http);
    let web_pages = || {
        crate::web::router(crate::web::WebState::from_config(
            cfg,
            state.pool.clone(),
            state.health.clone(),
            state.metrics.clone(),
        ))
    };
    let edge = (limits, state.metrics.clone());
    if cfg.http.enabled {
        let listener = TcpListener::bind(cfg.http.listen)
            .await
            .with_context(|| format!("cannot listen on http.listen = {}", cfg.http.listen))?;
        tracing::info!(addr = %listener.local_addr()?, "http server listening");
        let mut app = api::router(state.clone());
        if cfg.web.enabled && cfg.web.listen.is_none() {
            app = app.merge(web_pages());
        }
        serve(tasks, "http", listener, app, edge.clone(), cancel);
    }
    if let (true, Some(addr)) = (cfg.web.enabled, cfg.web.listen) {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on web.listen = {addr}"))?;
        tracing::info!(addr = %listener.local_addr()?, "web pages listening");
        serve(tasks, "web", listener, web_pages(), edge, cancel);
    } else if cfg.web.enabled && !cfg.http.enabled {
        tracing::warn!("web pages are not served: http.enabled = false and no web.listen");
    }
    Ok(())
}

/// Serves `app` on `listener` as the task `name` until `cancel`, behind the edge's limits.
fn serve(
    tasks: &mut Tasks,
    name: &'static str,
    listener: TcpListener,
    app: axum::Router,
    edge: (crate::edge::Limits, Arc<Metrics>),
    cancel: &CancellationToken,
) {
    let stop = cancel.clone();
    let (limits, metrics) = edge;
    let app = crate::edge::guard(app, limits);
    tasks.spawn(name, async move {
        crate::edge::serve(name, listener, app, limits, metrics, stop)
            .await
            .with_context(|| format!("{name} server failed"))
    });
}

/// The daemon's tasks, each with its name, so that a failure and a shutdown say which one.
#[derive(Default)]
struct Tasks {
    set: JoinSet<(&'static str, TaskResult)>,
    running: std::collections::BTreeMap<tokio::task::Id, &'static str>,
}

impl Tasks {
    fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = TaskResult> + Send + 'static,
    ) {
        let handle = self.set.spawn(async move { (name, task.await) });
        self.running.insert(handle.id(), name);
    }

    /// What a task that ended on its own (a component failing) means for the daemon.
    fn failure(
        &mut self,
        joined: Result<(tokio::task::Id, (&'static str, TaskResult)), tokio::task::JoinError>,
    ) -> anyhow::Error {
        match joined {
            Ok((id, (name, result))) => {
                self.running.remove(&id);
                match result {
                    Ok(()) => anyhow!("task {name} ended unexpectedly"),
                    Err(e) => e.context(format!("task {name} failed")),
                }
            }
            Err(e) => {
                let name = self.running.remove(&e.id()).unwrap_or("unknown");
                anyhow!("task {name} panicked or was aborted: {e}")
            }
        }
    }
}

/// Waits for every task to finish after cancellation, at most `deadline_secs`; past it, names
/// the tasks it abandons.
async fn drain(mut tasks: Tasks, deadline_secs: u64) -> anyhow::Result<()> {
    let deadline = Duration::from_secs(deadline_secs);
    let running = &mut tasks.running;
    let set = &mut tasks.set;
    let all = async {
        while let Some(joined) = set.join_next_with_id().await {
            match joined {
                Ok((id, (name, result))) => {
                    running.remove(&id);
                    match result {
                        Err(e) => tracing::warn!(
                            task = name,
                            error = format!("{e:#}"),
                            "task ended with an error during shutdown"
                        ),
                        Ok(()) => tracing::debug!(task = name, "task stopped"),
                    }
                }
                Err(e) => {
                    running.remove(&e.id());
                    tracing::warn!(error = %e, "task panicked during shutdown");
                }
            }
        }
    };
    match tokio::time::timeout(deadline, all).await {
        Ok(()) => {
            tracing::info!("shutdown complete");
            Ok(())
        }
        Err(_) => {
            let names: Vec<&str> = tasks.running.values().copied().collect();
            Err(anyhow!(
                "shutdown deadline of {deadline_secs} s (daemon.shutdown_deadline_secs) passed; abandoned: {}",
                names.join(", ")
            ))
        }
    }
}

async fn database_health(
    pool: sqlx::PgPool,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> TaskResult {
    let mut tick = tokio::time::interval(DB_HEALTH_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return Ok(()),
        }
        match db::ping(&pool, Duration::from_secs(5)).await {
            Ok(()) => {
                metrics.database_up.set(1);
            }
            Err(e) => {
                metrics.database_up.set(0);
                tracing::warn!(error = %e, "database health check failed");
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the daemon");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The weights task, with the validator hotkey and the drand beacon the configuration names.
fn weights_runner(
    cfg: &crate::config::Config,
    client: Arc<crate::chain::client::ChainClient>,
    pool: &sqlx::PgPool,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
) -> anyhow::Result<crate::weights::run::Runner> {
    let hotkey = crate::wallet::load(&cfg.wallet).with_context(|| {
        format!(
            "cannot load the validator hotkey (wallet.path/name/hotkey = {})",
            crate::wallet::keyfile_path(&cfg.wallet).display()
        )
    })?;
    let d = &cfg.weights.drand;
    let beacon = crate::drand::Beacon::new(&d.public_key, d.genesis_time, d.period_secs)
        .context("weights.drand.public_key")?;
    tracing::info!(hotkey = %hotkey.account.to_ss58(), dry_run = cfg.weights.dry_run, "weights: validator hotkey loaded");
    health.fail(
        crate::weights::run::CHECK_WEIGHTS,
        "no block considered yet",
    );
    Ok(crate::weights::run::Runner::new(
        client,
        pool.clone(),
        crate::weights::run::Settings::from_config(cfg),
        hotkey.keypair,
        beacon,
        metrics.clone(),
        health.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shutdown_past_its_deadline_names_the_tasks_it_abandons() {
        let mut tasks = Tasks::default();
        tasks.spawn("quick", async { Ok(()) });
        tasks.spawn("stuck", async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        });
        let err = drain(tasks, 1).await.expect_err("past the deadline");
        let text = err.to_string();
        assert!(text.contains("abandoned: stuck"), "{text}");
        assert!(!text.contains("quick"), "{text}");

        let mut tasks = Tasks::default();
        tasks.spawn("quick", async { Ok(()) });
        drain(tasks, 1).await.expect("all finished");
    }
}
