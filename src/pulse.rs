//! A task's sign of life: a handle the daemon gives each long-running task (the chain client's
//! block loop, the weights task, the probe), which the task beats when it makes progress and
//! tells what it waits on. The supervisors (systemd's watchdog in `notify`, the `progress`
//! watchdog) read it; the tasks know nothing of them. Plain data, std only.

use std::sync::atomic::{AtomicU64, Ordering};

/// A task's last sign of life and what it waits on.
#[derive(Debug, Default)]
pub struct Pulse {
    /// Unix milliseconds of the last beat (0: never).
    last_ms: AtomicU64,
    /// Last block processed (0: none yet).
    block: AtomicU64,
    /// What each stage of the task waits on now (for a stall's reason): a pipeline has several.
    doing:
        std::sync::Mutex<std::collections::BTreeMap<&'static str, std::borrow::Cow<'static, str>>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Pulse {
    /// The loop is alive (waiting for a block, reconnecting).
    pub fn beat(&self) {
        self.last_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The last block the loop processed (0: none yet).
    pub fn last_block(&self) -> u64 {
        self.block.load(Ordering::Relaxed)
    }

    /// The loop processed `block`.
    pub fn processed(&self, block: u64) {
        self.block.store(block, Ordering::Relaxed);
        self.beat();
    }

    /// What the task waits on from now on (not a beat: waiting is not progress).
    pub fn at(&self, what: impl Into<std::borrow::Cow<'static, str>>) {
        self.stage("", what);
    }

    /// What one stage of a pipelined task (`follow`, `planner`, `writer`) waits on.
    pub fn stage(&self, stage: &'static str, what: impl Into<std::borrow::Cow<'static, str>>) {
        self.doing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(stage, what.into());
    }

    pub fn doing(&self) -> String {
        let d = self.doing.lock().unwrap_or_else(|p| p.into_inner());
        if d.is_empty() {
            return "(nothing said)".into();
        }
        d.iter()
            .map(|(stage, what)| {
                if stage.is_empty() {
                    what.to_string()
                } else {
                    format!("{stage}: {what}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn block(&self) -> Option<u64> {
        Some(self.block.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }

    /// Milliseconds since the last beat (`None`: never beaten).
    pub fn silent_ms(&self) -> Option<u64> {
        let last = self.last_ms.load(Ordering::Relaxed);
        (last > 0).then(|| now_ms().saturating_sub(last))
    }
}
