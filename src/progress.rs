//! Never silent: every long-running task beats a [`Pulse`] when it makes progress (or waits on
//! something that is itself bounded, like the next finalized block), and says what it waits on
//! now. A watcher fails the readiness check `<task>-progress` with the task's name, how long it
//! has been silent and what it waits on, and sets `tenure_task_stalled{task}` (an alert rule
//! watches it), as soon as a task stays silent longer than its bound.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::metrics::{Metrics, TaskLabels};
use crate::pulse::Pulse;

/// The tasks watched, by name (their metric series exist from the start).
pub const TASKS: &[&str] = &["ingest", "weights", "uptime-probe"];

/// One watched task.
#[derive(Clone)]
pub struct Watched {
    pub name: &'static str,
    pub pulse: Arc<Pulse>,
    /// Silence longer than this is a stall.
    pub bound: Duration,
}

/// The readiness check of `task`'s progress.
pub fn check_name(task: &str) -> String {
    format!("{task}-progress")
}

/// What the watcher says about one task, from its silence.
pub fn verdict(w: &Watched, silent_ms: Option<u64>) -> Option<String> {
    let ms = silent_ms?;
    (u128::from(ms) > w.bound.as_millis()).then(|| {
        format!(
            "{} has made no progress for {} s (bound {} s); waiting on: {}",
            w.name,
            ms / 1000,
            w.bound.as_secs(),
            w.pulse.doing()
        )
    })
}

/// Checks every task once a second until `cancel`.
pub async fn watch(
    tasks: Vec<Watched>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut stalled = vec![false; tasks.len()];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return Ok(()),
        }
        for (w, was) in tasks.iter().zip(stalled.iter_mut()) {
            let now = verdict(w, w.pulse.silent_ms());
            metrics
                .guards
                .task_stalled
                .get_or_create(&TaskLabels {
                    task: w.name.into(),
                })
                .set(i64::from(now.is_some()));
            match &now {
                Some(reason) => {
                    if !*was {
                        tracing::error!(task = w.name, reason = %reason, "task stalled");
                    }
                    health.fail(&check_name(w.name), reason.clone());
                }
                None => {
                    if *was {
                        tracing::info!(task = w.name, "task makes progress again");
                    }
                    health.pass(&check_name(w.name));
                }
            }
            *was = now.is_some();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_silent_past_its_bound_is_stalled_with_what_it_waits_on() {
        let w = Watched {
            name: "ingest",
            pulse: Arc::new(Pulse::default()),
            bound: Duration::from_secs(10),
        };
        w.pulse.at("a pipeline slot for block 7");
        assert_eq!(
            verdict(&w, None),
            None,
            "never beaten: start-up is bounded elsewhere"
        );
        assert_eq!(verdict(&w, Some(9_999)), None);
        let v = verdict(&w, Some(12_000)).expect("stalled");
        assert!(
            v.contains("ingest") && v.contains("12 s") && v.contains("block 7"),
            "{v}"
        );
    }
}
