//! systemd's notify protocol (`Type=notify`, `WatchdogSec=`): `READY=1` once migrations ran, the
//! chain answered and the first block was processed; `WATCHDOG=1` only while the block loop
//! shows signs of life, so a wedged loop gets the process restarted; `STATUS=` for
//! `systemctl status`; `STOPPING=1` on shutdown. Without `$NOTIFY_SOCKET` nothing is sent.
//!
//! The block loop beats a [`Pulse`] (each block written, each subscription event or reconnect
//! attempt); the notifier pings the watchdog only while the last beat is younger than the
//! watchdog interval. A loop stuck in an await that never returns stops beating, the pings
//! stop, and systemd kills and restarts the daemon.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::pulse::Pulse;

/// Whether to ping the watchdog: before the loop started, start-up is bounded by systemd's
/// `TimeoutStartSec`; after, only while the loop beat within one watchdog interval.
pub fn alive(ready: bool, silent_ms: Option<u64>, watchdog: Duration) -> bool {
    if !ready {
        return true;
    }
    silent_ms.is_some_and(|ms| u128::from(ms) < watchdog.as_millis())
}

/// Whether a service manager listens (`$NOTIFY_SOCKET` set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty())
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// Sends `STOPPING=1` (shutdown has begun).
pub fn stopping() {
    if enabled() {
        send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }
}

/// The `STATUS=` line: block, lag, role, last weights.
fn status(pulse: &Pulse, metrics: &Metrics, health: &Health) -> String {
    let mut s = match pulse.block() {
        Some(b) => format!("block {b}"),
        None => "starting".to_string(),
    };
    let behind = metrics.ingest.behind.get();
    if behind > 0 {
        s.push_str(&format!(" ({behind} behind)"));
    }
    if let Some(l) = health.leader() {
        s.push_str(&format!("; {}", l.role));
        if let Some(t) = l.token {
            s.push_str(&format!(" (term {t})"));
        }
    }
    let since = metrics.weights.blocks_since_update.get();
    if since > 0 {
        s.push_str(&format!("; weights set {since} blocks ago"));
    }
    let failing: Vec<String> = health
        .snapshot()
        .into_iter()
        .filter(|(_, c)| !c.ok)
        .map(|(k, _)| k)
        .collect();
    if !failing.is_empty() {
        s.push_str(&format!("; not ready: {}", failing.join(", ")));
    }
    s
}

/// Notifies the service manager until `cancel`: `READY=1` when `ready()` first holds, then the
/// watchdog and the status.
pub async fn run(
    pulse: Arc<Pulse>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    ready: impl Fn() -> bool + Send,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    if !enabled() {
        cancel.cancelled().await;
        return Ok(());
    }
    let watchdog = sd_notify::watchdog_enabled();
    // Pings at a quarter of the interval (systemd asks for more often than half).
    let tick_every = watchdog
        .map_or(Duration::from_secs(1), |w| w / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut is_ready = false;
    let mut said = String::new();
    let mut silent_logged = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => {
                stopping();
                return Ok(());
            }
        }
        let line = status(&pulse, &metrics, &health);
        let mut states: Vec<NotifyState<'_>> = Vec::new();
        if !is_ready && ready() {
            is_ready = true;
            pulse.beat();
            tracing::info!(status = %line, "ready: notified the service manager");
            states.push(NotifyState::Ready);
        }
        if let Some(w) = watchdog {
            if alive(is_ready, pulse.silent_ms(), w) {
                states.push(NotifyState::Watchdog);
                silent_logged = false;
            } else if !silent_logged {
                silent_logged = true;
                tracing::error!(
                    silent_ms = pulse.silent_ms(),
                    watchdog_ms = w.as_millis() as u64,
                    "the block loop shows no sign of life: watchdog pings stop, systemd will restart the daemon"
                );
            }
        }
        if line != said {
            states.push(NotifyState::Status(&line));
        }
        if !states.is_empty() {
            send(&states);
        }
        if line != said {
            said = line;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_fed_only_while_the_loop_beats() {
        let w = Duration::from_secs(2);
        assert!(alive(false, None, w), "start-up is systemd's start timeout");
        assert!(alive(true, Some(0), w));
        assert!(alive(true, Some(1_999), w));
        assert!(!alive(true, Some(2_000), w));
        assert!(!alive(true, None, w));
    }

    #[test]
    fn a_pulse_remembers_the_block_and_the_beat() {
        let p = Pulse::default();
        assert_eq!(p.block(), None);
        assert_eq!(p.silent_ms(), None);
        p.processed(42);
        assert_eq!(p.block(), Some(42));
        assert!(p.silent_ms().is_some_and(|ms| ms < 1_000));
    }
}
