//! The probe source: every `uptime.probe_interval_blocks`, one round of concurrent probes of
//! every registered miner's served axon — a TCP connect, or an HTTP GET answered 2xx when
//! `uptime.probe.http_path` is set. A miner without a served axon is down. A round is recorded
//! even when every probe fails; when tenure (or its chain view) is down no round runs, and those
//! hours stay unknown instead of counting against anyone.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::chain::client::ChainClient;
use crate::chain::{AccountId, NetUid};
use crate::config::{Config, ProbeConfig};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::uptime::store::{self, Periods, Round, Sample, Source};

/// Readiness check: fails while probe rounds cannot be recorded.
pub const CHECK_PROBE: &str = "uptime-probe";

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    pub up: bool,
    pub latency_ms: Option<u32>,
    pub error: Option<String>,
    /// The probe could not be made for a reason of ours (no descriptor, no local port): the
    /// miner's state is unknown in this round, never down.
    pub unknown: bool,
}

/// Whether a connect error is this host's own (resource exhaustion), not the miner's.
pub fn local_failure(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Why a probe failed: the miner's side, or ours.
enum Failure {
    Miner(String),
    Local(String),
}

/// The address an axon serves, or `None` when it serves nothing usable.
pub fn address(ip: IpAddr, port: u16) -> Option<SocketAddr> {
    (!ip.is_unspecified() && port != 0).then_some(SocketAddr::new(ip, port))
}

async fn connect_and_ask(addr: SocketAddr, http_path: &str) -> Result<(), Failure> {
    let mut conn = TcpStream::connect(addr).await.map_err(|e| {
        if local_failure(&e) {
            Failure::Local(format!("connect: {e}"))
        } else {
            Failure::Miner(format!("connect: {e}"))
        }
    })?;
    ask(&mut conn, addr, http_path)
        .await
        .map_err(Failure::Miner)
}

/// With `http_path` set, a GET answered 2xx.
async fn ask(conn: &mut TcpStream, addr: SocketAddr, http_path: &str) -> Result<(), String> {
    if http_path.is_empty() {
        return Ok(());
    }
    let request = format!(
        "GET {http_path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: tenure\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    // The status line is all we need.
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 1024 {
        let n = conn
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let status = line
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(s) if (200..300).contains(&s) => Ok(()),
        Some(s) => Err(format!("HTTP {s}")),
        None => Err("not an HTTP answer".into()),
    }
}

/// Probes one axon within `timeout`.
pub async fn probe(addr: Option<SocketAddr>, timeout: Duration, http_path: &str) -> Probed {
    let Some(addr) = addr else {
        return Probed {
            up: false,
            latency_ms: None,
            error: Some("no served axon".into()),
            unknown: false,
        };
    };
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, connect_and_ask(addr, http_path)).await;
    let ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
    match result {
        Ok(Ok(())) => Probed {
            up: true,
            latency_ms: Some(ms),
            error: None,
            unknown: false,
        },
        Ok(Err(Failure::Miner(e))) => Probed {
            up: false,
            latency_ms: Some(ms),
            error: Some(e),
            unknown: false,
        },
        Ok(Err(Failure::Local(e))) => Probed {
            up: false,
            latency_ms: None,
            error: Some(e),
            unknown: true,
        },
        Err(_) => Probed {
            up: false,
            latency_ms: Some(ms),
            error: Some(format!("timeout after {} ms", timeout.as_millis())),
            unknown: false,
        },
    }
}

/// Probes every address, at most `cfg.concurrency` at once; results in input order.
pub async fn probe_all(addrs: Vec<Option<SocketAddr>>, cfg: &ProbeConfig) -> Vec<Probed> {
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let n = addrs.len();
    // Unordered: an ordered buffer would hold its slots behind one hung probe (a round with a
    // tenth of the miners hung took 48 s instead of 6 at 4,096 miners).
    let mut done: Vec<(usize, Probed)> = futures::stream::iter(addrs.into_iter().enumerate())
        .map(|(i, a)| async move { (i, probe(a, timeout, &cfg.http_path).await) })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    debug_assert_eq!(done.len(), n);
    done.into_iter().map(|(_, p)| p).collect()
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub netuid: NetUid,
    pub interval_blocks: u64,
    pub periods: Periods,
    pub probe: ProbeConfig,
}

impl Settings {
    pub fn from_config(c: &Config) -> Self {
        Settings {
            netuid: c.chain.netuid,
            interval_blocks: c.uptime.probe_interval_blocks.max(1),
            periods: Periods::new(c.chain.block_time_secs),
            probe: c.uptime.probe.clone(),
        }
    }
}

/// The block of the next round after `last` (rounds sit on multiples of the interval).
pub fn next_round(last: Option<u64>, interval: u64) -> u64 {
    last.map_or(0, |b| (b / interval + 1) * interval)
}

/// Runs probe rounds until cancelled: each time the ingested head reaches the next multiple of
/// the interval, one round at that head. Failures skip the round (logged, counted, shown on
/// /readyz) and never stop the loop.
/// How far the ingested head may trail the finalized head for a round to be dated at it.
fn catch_up_slack(interval_blocks: u64) -> u64 {
    (2 * interval_blocks).max(20)
}

pub async fn run(
    client: Arc<ChainClient>,
    pool: PgPool,
    s: Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    pulse: Arc<crate::pulse::Pulse>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut next: Option<u64> = None;
    // Cheap (one indexed row); short enough that fast devnets do not skip intervals.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        pulse.at("the next tick");
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return Ok(()),
        }
        pulse.beat();
        pulse.at("the last round and the ingested head (database, chain)");
        let Some((head, due)) = round_due(&client, &pool, &s, &mut next).await else {
            continue;
        };
        let started = Instant::now();
        pulse.at(format!("the probe round at block {head}"));
        // Shutdown does not wait for a round in flight: its write is one transaction.
        let done = tokio::select! {
            r = round(&client, &pool, &s, &metrics, head, due) => r,
            _ = cancel.cancelled() => return Ok(()),
        };
        observe(&metrics, &health, head, started, done);
        // Never two rounds for one interval, even when the head jumped (catch-up).
        next = Some(next_round(Some(head), s.interval_blocks));
    }
}

/// The ingested head and the round's due block when a round is due now: the interval has
/// passed, ingestion is near the chain, and no other instance probed this interval.
async fn round_due(
    client: &ChainClient,
    pool: &PgPool,
    s: &Settings,
    next: &mut Option<u64>,
) -> Option<(u64, u64)> {
    // A read that fails skips this tick (logged); the next tick tries again.
    let warn = |what: &str, e: &dyn std::fmt::Display| -> Option<(u64, u64)> {
        tracing::warn!(error = %e, "uptime: cannot read {what}");
        None
    };
    let due = match *next {
        Some(n) => n,
        None => match last_round(pool, s.netuid).await {
            Ok(last) => *next.insert(next_round(last, s.interval_blocks)),
            Err(e) => return warn("the last round", &e),
        },
    };
    let head = match store::chain_now(pool, s.netuid).await {
        Ok(Some((head, _))) => head,
        Ok(None) => return None,
        Err(e) => return warn("the ingested head", &e),
    };
    if head < due {
        return None;
    }
    // While ingestion catches up (after an outage of tenure), the ingested head lies in the
    // past: a probe now would date present observations back to it. The outage's rounds
    // stay missing (unknown, not down); probing resumes once ingestion is near the chain.
    match client.finalized_head().await {
        Ok(f) if f.number > head + catch_up_slack(s.interval_blocks) => {
            tracing::debug!(
                ingested = head,
                finalized = f.number,
                "uptime: ingestion catching up; no probe round"
            );
            return None;
        }
        Ok(_) => {}
        Err(e) => return warn("the finalized head", &e),
    }
    // HA: another instance sharing the database may have probed this interval already.
    match last_round(pool, s.netuid).await {
        Ok(Some(last)) if last >= due => {
            *next = Some(next_round(Some(last), s.interval_blocks));
            None
        }
        Ok(_) => Some((head, due)),
        Err(e) => warn("the last round", &e),
    }
}

/// Readiness, metrics and the log after a round.
fn observe(
    metrics: &Metrics,
    health: &Health,
    head: u64,
    started: Instant,
    done: anyhow::Result<Option<(usize, usize)>>,
) {
    match done {
        Ok(None) => {
            tracing::debug!(
                block = head,
                "uptime: another instance recorded this interval's round"
            );
        }
        Ok(Some((miners, up))) => {
            health.pass(CHECK_PROBE);
            metrics
                .uptime
                .rounds
                .get_or_create(&crate::metrics::SourceLabels {
                    source: Source::Probe.name().into(),
                })
                .inc();
            metrics
                .uptime
                .round_seconds
                .observe(started.elapsed().as_secs_f64());
            metrics.uptime.miners_up.set(up as i64);
            tracing::info!(
                block = head,
                miners,
                up,
                ms = started.elapsed().as_millis() as u64,
                "uptime probe round"
            );
        }
        Err(e) => {
            metrics.uptime.errors.inc();
            health.fail(CHECK_PROBE, format!("probe round at block {head}: {e:#}"));
            tracing::warn!(
                block = head,
                error = format!("{e:#}"),
                "uptime probe round skipped"
            );
        }
    }
}

async fn last_round(pool: &PgPool, netuid: NetUid) -> Result<Option<u64>, sqlx::Error> {
    let b: Option<i64> = sqlx::query_scalar(
        "SELECT max(block) FROM uptime_rounds WHERE netuid = $1 AND source = 'probe'",
    )
    .bind(i32::from(netuid))
    .fetch_one(pool)
    .await?;
    Ok(b.map(|b| b as u64))
}

/// One round at `block`: registered miners from the database, their axons from the chain at
/// that block, probes, and the round written with its rollups; `None` when another instance
/// recorded a round at or after `due` meanwhile (that one stands).
async fn round(
    client: &ChainClient,
    pool: &PgPool,
    s: &Settings,
    metrics: &Metrics,
    block: u64,
    due: u64,
) -> anyhow::Result<Option<(usize, usize)>> {
    let registered = {
        let mut conn = pool.acquire().await?;
        store::registered_at(&mut conn, s.netuid, block).await?
    };
    let hotkeys: Vec<AccountId> = registered
        .iter()
        .map(|r| r.hotkey.parse::<AccountId>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("the database holds a hotkey that is not SS58"))?;
    let at = client.block_hash(block).await?;
    let axons = client.axons(at, s.netuid, hotkeys).await?;
    let addrs: Vec<Option<SocketAddr>> = axons
        .iter()
        .map(|a| a.as_ref().and_then(|a| address(a.ip, a.port)))
        .collect();
    // The round is placed in its UTC hour and day by the chain's clock (the ingested head's
    // timestamp), never by this machine's.
    let observed_at = store::time_of(pool, s.netuid, block)
        .await?
        .unwrap_or_else(Utc::now);
    let started = Instant::now();
    let probed = probe_all(addrs, &s.probe).await;
    let unknown = probed.iter().filter(|p| p.unknown).count();
    if unknown > 0 {
        metrics.guards.uptime_probes_unknown.inc_by(unknown as u64);
        tracing::warn!(
            block,
            unknown,
            "probes could not be made (out of descriptors or ports here): those miners are unknown in this round, not down"
        );
    }
    // An unknown probe is no sample: the miner's rollups do not count this round at all.
    let samples: Vec<Sample> = registered
        .iter()
        .zip(probed)
        .filter(|(_, p)| !p.unknown)
        .map(|(r, p)| Sample {
            miner_id: r.miner_id,
            up: p.up,
            reported: true,
            latency_ms: p.latency_ms,
            compute_score: None,
            error: p.error,
        })
        .collect();
    let up = samples.iter().filter(|x| x.up).count();
    let r = Round {
        source: Source::Probe,
        block,
        observed_at,
        duration_ms: Some(started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32),
    };
    let mut tx = pool.begin().await?;
    // Instances sharing the database record one round per interval: the first one wins.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tenure.probe'), $1)")
        .bind(i32::from(s.netuid))
        .execute(&mut *tx)
        .await?;
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT max(block) FROM uptime_rounds WHERE netuid = $1 AND source = 'probe'",
    )
    .bind(i32::from(s.netuid))
    .fetch_one(&mut *tx)
    .await?;
    if last.is_some_and(|l| l as u64 >= due) {
        return Ok(None);
    }
    store::record_round(&mut tx, s.netuid, &r, &samples).await?;
    tx.commit().await?;
    Ok(Some((samples.len(), up)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_sit_on_multiples_of_the_interval() {
        assert_eq!(next_round(None, 25), 0);
        assert_eq!(next_round(Some(0), 25), 25);
        assert_eq!(next_round(Some(24), 25), 25);
        assert_eq!(next_round(Some(25), 25), 50);
        assert_eq!(next_round(Some(1_003), 25), 1_025);
    }

    #[test]
    fn unusable_axons_are_no_address() {
        assert_eq!(address("0.0.0.0".parse().unwrap(), 8091), None);
        assert_eq!(address("10.0.0.1".parse().unwrap(), 0), None);
        assert!(address("10.0.0.1".parse().unwrap(), 8091).is_some());
    }

    #[tokio::test]
    async fn tcp_and_http_probes() {
        let cfg = |path: &str| ProbeConfig {
            timeout_ms: 500,
            concurrency: 4,
            http_path: path.into(),
        };
        // A listener answering 200, one answering 503, a closed port, no axon.
        let ok = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bad = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (ok_addr, bad_addr, closed_addr) = (
            ok.local_addr().unwrap(),
            bad.local_addr().unwrap(),
            closed.local_addr().unwrap(),
        );
        drop(closed);
        for (listener, answer) in [
            (ok, "HTTP/1.1 200 OK\r\n\r\n"),
            (bad, "HTTP/1.1 503 Busy\r\n\r\n"),
        ] {
            tokio::spawn(async move {
                loop {
                    let (mut c, _) = listener.accept().await.unwrap();
                    let mut buf = [0u8; 512];
                    let _ = c.read(&mut buf).await;
                    let _ = c.write_all(answer.as_bytes()).await;
                }
            });
        }
        let addrs = vec![Some(ok_addr), Some(bad_addr), Some(closed_addr), None];
        let tcp: Vec<bool> = probe_all(addrs.clone(), &cfg(""))
            .await
            .iter()
            .map(|p| p.up)
            .collect();
        assert_eq!(tcp, vec![true, true, false, false]);
        let http = probe_all(addrs, &cfg("/health")).await;
        assert_eq!(
            http.iter().map(|p| p.up).collect::<Vec<_>>(),
            vec![true, false, false, false]
        );
        assert_eq!(http[1].error.as_deref(), Some("HTTP 503"));
        assert_eq!(http[3].error.as_deref(), Some("no served axon"));
        assert!(http[0].latency_ms.is_some());
    }
}
