//! What a lab run reports per chain day: each group's multipliers and weight share, and the
//! network-health figures of the daemon's `network` module (the same functions) over the
//! synthetic miners.

use std::collections::BTreeMap;

use serde::Serialize;

use super::population::Population;
use super::simulate::Rules;
use crate::network::{self, Moved, Registration};
use crate::uptime::bonus::Rule;
use crate::uptime::epoch::MinerUptime;
use crate::vesting::epoch::MinerVesting;

/// One group on one day (means over its registered miners).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupDay {
    pub day: u32,
    pub miners: usize,
    pub current_uptime: Option<f64>,
    pub uptime_multiplier: f64,
    pub vesting_multiplier: f64,
    /// `uptime · vesting`, clamped to `weights.max_total_multiplier`.
    pub total_multiplier: f64,
    /// The group's share of the day's weights (sum over its miners).
    pub weight_share: f64,
}

/// The network on one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkDay {
    pub day: u32,
    pub miners: usize,
    pub mean_current_uptime: Option<f64>,
    /// Share of miners with an uptime multiplier above 1.
    pub bonus_coverage: Option<f64>,
    /// Miner-hours down during the day.
    pub downtime_hours: f64,
    pub gini: Option<f64>,
    pub top10_share: Option<f64>,
    pub moved: Moved,
    /// Miners whose uptime, vesting or total multiplier sits at its cap.
    pub capped_uptime: usize,
    pub capped_vesting: usize,
    pub capped_total: usize,
    /// Registrations still held 7, 30, 90 and 180 days after they began.
    pub retention: [Option<f64>; 4],
}

/// Miners per tier of one rule at the last day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub cell: String,
    pub miners: usize,
}

/// Everything recorded so far.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub groups: Vec<(String, Vec<GroupDay>)>,
    pub network: Vec<NetworkDay>,
    pub cells: Vec<Cell>,
    #[serde(skip)]
    downtime: BTreeMap<i64, f64>,
}

/// One day's data, per miner in population order.
pub struct Day<'a> {
    pub day: u32,
    pub groups: &'a [usize],
    pub uptime: &'a [Option<MinerUptime>],
    pub vesting: &'a [Option<MinerVesting>],
    pub shares: &'a [f64],
    pub base: &'a [f64],
    pub registrations: &'a [(usize, Registration)],
    pub rules: &'a Rules,
}

fn mean(x: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = x.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

impl Figures {
    pub fn new(pop: &Population) -> Self {
        Figures {
            groups: pop
                .groups
                .iter()
                .map(|g| (g.name.clone(), Vec::new()))
                .collect(),
            network: Vec::new(),
            cells: Vec::new(),
            downtime: BTreeMap::new(),
        }
    }

    /// A miner's complete day: `(rounds, up)`.
    pub fn downtime(&mut self, day: i64, (rounds, up): (u32, u32)) {
        if rounds > 0 {
            *self.downtime.entry(day).or_default() +=
                24.0 * f64::from(rounds - up.min(rounds)) / f64::from(rounds);
        }
    }

    pub fn record(&mut self, d: Day<'_>) {
        let total = |u: &MinerUptime, v: &MinerVesting| {
            (u.multiplier() * v.outcome.multiplier).min(d.rules.max_total_multiplier)
        };
        let present: Vec<usize> = (0..d.groups.len())
            .filter(|i| d.uptime[*i].is_some() && d.vesting[*i].is_some())
            .collect();
        for (g, (_, series)) in self.groups.iter_mut().enumerate() {
            let mine: Vec<usize> = present
                .iter()
                .copied()
                .filter(|i| d.groups[*i] == g)
                .collect();
            let pick = |f: &dyn Fn(&MinerUptime, &MinerVesting) -> f64| {
                mean(
                    mine.iter()
                        .filter_map(|i| Some(f(d.uptime[*i].as_ref()?, d.vesting[*i].as_ref()?))),
                )
                .unwrap_or(1.0)
            };
            series.push(GroupDay {
                day: d.day,
                miners: mine.len(),
                current_uptime: mean(
                    mine.iter()
                        .filter_map(|i| d.uptime[*i].as_ref().and_then(|u| u.current)),
                ),
                uptime_multiplier: pick(&|u, _| u.multiplier()),
                vesting_multiplier: pick(&|_, v| v.outcome.multiplier),
                total_multiplier: pick(&total),
                weight_share: mine.iter().fold(0.0, |s, i| s + d.shares[*i]),
            });
        }
        self.network.push(self.network_day(&d, &present));
        self.cells = cells(&d, &present);
    }

    fn network_day(&self, d: &Day<'_>, present: &[usize]) -> NetworkDay {
        let u = |i: &usize| d.uptime[*i].as_ref();
        let v = |i: &usize| d.vesting[*i].as_ref();
        let multipliers: Vec<f64> = present
            .iter()
            .filter_map(|i| Some(u(i)?.multiplier()))
            .collect();
        let shares: Vec<f64> = present.iter().map(|i| d.shares[*i]).collect();
        let base: Vec<f64> = present.iter().map(|i| d.base[*i]).collect();
        let at_cap = |x: f64, cap: f64| x >= cap;
        let regs: Vec<Registration> = d.registrations.iter().map(|(_, r)| *r).collect();
        let today = i64::from(d.day);
        NetworkDay {
            day: d.day,
            miners: present.len(),
            mean_current_uptime: mean(present.iter().filter_map(|i| u(i)?.current)),
            bonus_coverage: network::coverage(&multipliers),
            downtime_hours: self.downtime.get(&(today - 1)).copied().unwrap_or(0.0),
            gini: network::gini(&shares),
            top10_share: network::top_share(&shares, 0.1),
            moved: network::moved(&base, &shares),
            capped_uptime: multipliers
                .iter()
                .filter(|m| at_cap(**m, d.rules.uptime.max_multiplier))
                .count(),
            capped_vesting: present
                .iter()
                .filter_map(v)
                .filter(|v| at_cap(v.outcome.multiplier, d.rules.vesting.max_multiplier))
                .count(),
            capped_total: present
                .iter()
                .filter_map(|i| Some(u(i)?.multiplier() * v(i)?.outcome.multiplier))
                .filter(|t| at_cap(*t, d.rules.max_total_multiplier))
                .count(),
            retention: [7, 30, 90, 180].map(|after| network::retention(&regs, after, today)),
        }
    }
}

/// Miners per tier of the tiered uptime rules and per vesting cell.
fn cells(d: &Day<'_>, present: &[usize]) -> Vec<Cell> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let cfg = &d.rules.uptime;
    for i in present {
        if let Some(Ok(o)) = d.uptime[*i].as_ref().map(|u| &u.outcome) {
            for (rule, tiers) in [
                (Rule::Reliability, &cfg.reliability.tiers),
                (Rule::Consistency, &cfg.consistency.tiers),
                (Rule::Longevity, &cfg.longevity.tiers),
            ] {
                let metric = o
                    .bonuses
                    .iter()
                    .find(|b| b.rule == rule)
                    .and_then(|b| b.metric)
                    .unwrap_or(f64::NAN);
                let tier = tiers
                    .iter()
                    .take_while(|t| metric >= t.min)
                    .last()
                    .map_or("below".to_string(), |t| format!(">= {}", t.min));
                *counts
                    .entry(format!("uptime.{} {tier}", rule.name()))
                    .or_default() += 1;
            }
        }
        if let Some(v) = d.vesting[*i].as_ref() {
            let cell = format!(
                "vesting amount {} x duration {}",
                v.outcome.amount_tier, v.outcome.duration_tier
            );
            *counts.entry(cell).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(cell, miners)| Cell { cell, miners })
        .collect()
}
