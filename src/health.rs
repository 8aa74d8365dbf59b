//! Readiness: named checks that components set as they start, fail and recover. `/readyz` is
//! ready only when every check passes; each failing one says why.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::metrics::{CheckLabels, Metrics};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CheckState {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Who leads, as `/readyz` reports it (HA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeaderState {
    /// This instance's name.
    pub instance: String,
    /// `leader`, `acquiring` (waiting out the takeover delay) or `standby`.
    pub role: String,
    /// Fencing token of the term this instance leads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<i64>,
    /// The instance that leads, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

pub struct Health {
    checks: RwLock<BTreeMap<String, CheckState>>,
    leader: RwLock<Option<LeaderState>>,
    metrics: Arc<Metrics>,
}

impl Health {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Health {
            checks: RwLock::new(BTreeMap::new()),
            leader: RwLock::new(None),
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

    pub fn set_leader(&self, state: LeaderState) {
        *self.leader.write().unwrap_or_else(|p| p.into_inner()) = Some(state);
    }

    pub fn leader(&self) -> Option<LeaderState> {
        self.leader
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
