//! Why a miner's weight is what it is, as one typed value: built by the pipeline, stored with
//! each submission (`weight_entries.explain`) through serde, and read back by the CLI, the API
//! and the pages from this type. A stored explanation that does not fit it is an error, never
//! a silently empty field.

use serde::{Deserialize, Serialize};

use crate::config::{Mode, ScoresSource};
use crate::uptime::bonus::Record;

/// One miner's weight, explained: `base × uptime × vesting × penalty`, clamped, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    pub base: BaseScore,
    /// Why the multipliers were not applied (validator permit, exempt uid).
    pub untouched: Option<String>,
    pub uptime: Applied<UptimeWhy>,
    pub vesting: Applied<VestingWhy>,
    pub penalty: Applied<PenaltyWhy>,
    /// `uptime · vesting · penalty` before the clamp.
    pub product: f64,
    pub clamp: Clamp,
    pub total_multiplier: f64,
    pub raw_weight: f64,
    pub normalized_weight: f64,
    pub weight_u16: u16,
}

/// The base score and where it came from, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BaseScore {
    Scored {
        score: f64,
        /// The block it is as of (`None` for the uniform source).
        block: Option<u64>,
        source: ScoresSource,
    },
    Missing {
        score: f64,
        note: String,
    },
}

impl BaseScore {
    pub fn score(&self) -> f64 {
        match self {
            BaseScore::Scored { score, .. } | BaseScore::Missing { score, .. } => *score,
        }
    }
}

/// A multiplier as applied (1.0 in shadow and off modes, and for untouched uids) and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied<W> {
    pub applied: f64,
    pub why: W,
}

/// Why a factor is neutral (1.0): no record, mode off, not in the record, no penalty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub note: String,
}

/// The uptime factor's reasons: the recorded epoch, or a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum UptimeWhy {
    Recorded(UptimeRecorded),
    Neutral(Note),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UptimeRecorded {
    pub epoch_block: i64,
    pub mode: Mode,
    pub multiplier: f64,
    pub current_uptime: Option<f64>,
    pub historical_uptime: Option<f64>,
    /// What the uptime epoch recorded of the miner: its rules, or why they did not apply.
    pub detail: Record,
}

/// The vesting factor's reasons: the recorded epoch, or a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum VestingWhy {
    Recorded(VestingRecorded),
    Neutral(Note),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VestingRecorded {
    pub epoch_block: i64,
    pub mode: Mode,
    pub multiplier: f64,
    pub holding_fraction: Option<f64>,
    pub holding_days: f64,
    pub amount_tier: f64,
    pub duration_tier: f64,
    pub earned_rao: i64,
    pub remaining_rao: i64,
    pub reason: String,
}

/// The alpha-selling penalty's reasons: the penalty in force, or a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PenaltyWhy {
    InForce(PenaltyInForce),
    Neutral(Note),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PenaltyInForce {
    pub factor: f64,
    pub drop_fraction: f64,
    pub from_block: i64,
    pub until_block: i64,
    pub mean_window_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Clamp {
    pub max_total_multiplier: f64,
    pub clamped: bool,
}

impl std::fmt::Display for BaseScore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseScore::Scored {
                score,
                block: Some(b),
                source,
            } => write!(f, "{score} ({} at block {b})", source.name()),
            BaseScore::Scored { score, source, .. } => write!(f, "{score} ({})", source.name()),
            BaseScore::Missing { score, note } => write!(f, "{score} ({note})"),
        }
    }
}

impl std::fmt::Display for UptimeWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UptimeWhy::Neutral(n) => f.write_str(&n.note),
            UptimeWhy::Recorded(r) => {
                let pct =
                    |x: Option<f64>| x.map_or("unknown".into(), |x| format!("{:.2}%", x * 100.0));
                write!(
                    f,
                    "epoch block {}, mode {}, multiplier {}, current uptime {}, historical {}",
                    r.epoch_block,
                    r.mode.name(),
                    r.multiplier,
                    pct(r.current_uptime),
                    pct(r.historical_uptime)
                )?;
                match &r.detail {
                    Record::Skipped(s) => write!(f, "; {}", s.reason),
                    Record::Evaluated(d) => {
                        for b in &d.earned {
                            write!(f, "; {} +{} ({})", b.rule.name(), b.bonus, b.why)?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for VestingWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VestingWhy::Neutral(n) => f.write_str(&n.note),
            VestingWhy::Recorded(r) => write!(
                f,
                "epoch block {}, mode {}, multiplier {} (amount tier {}, duration tier {}); {}",
                r.epoch_block,
                r.mode.name(),
                r.multiplier,
                r.amount_tier,
                r.duration_tier,
                r.reason
            ),
        }
    }
}

impl std::fmt::Display for PenaltyWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PenaltyWhy::Neutral(n) => f.write_str(&n.note),
            PenaltyWhy::InForce(p) => write!(
                f,
                "×{} for a {:.2}% drop over {} days, blocks {}..{}",
                p.factor,
                p.drop_fraction * 100.0,
                p.mean_window_days,
                p.from_block,
                p.until_block
            ),
        }
    }
}
