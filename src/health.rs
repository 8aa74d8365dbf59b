//! Readiness: named checks that components set as they start, fail and recover. `/readyz` is
//! ready only when every check passes; each failing one says why.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::metrics::{CheckLabels, Metrics};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckState {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub struct Health {
    checks: RwLock<BTreeMap<String, CheckState>>,
    metrics: Arc<Metrics>,
}

impl Health {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Health {
            checks: RwLock::new(BTreeMap::new()),
            metrics,
        }
    }

    pub fn pass(&self, check: &str) {
        self.set(
            check,
            CheckState {
                ok: true,
                reason: None,
            },
        );
    }

    pub fn fail(&self, check: &str, reason: impl Into<String>) {
        self.set(
            check,
            CheckState {
                ok: false,
                reason: Some(reason.into()),
            },
        );
    }

    fn set(&self, check: &str, state: CheckState) {
        self.metrics
            .ready_check
            .get_or_create(&CheckLabels {
                check: check.to_string(),
            })
            .set(i64::from(state.ok));
        // A poisoned lock only means a panic elsewhere while holding it; the map is still usable.
        let mut checks = self.checks.write().unwrap_or_else(|p| p.into_inner());
        checks.insert(check.to_string(), state);
    }

    pub fn snapshot(&self) -> BTreeMap<String, CheckState> {
        self.checks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
