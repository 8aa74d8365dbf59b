//! A simulation's report: for people (text, SVG charts) and for programs (`--json`).

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::figures::{Cell, GroupDay, NetworkDay};
use super::liveness::{Liveness, Tier};
use super::population::Population;
use super::simulate::Rules;
use crate::web::svg::{Series, lines};

/// One chart: file name, title, the series (label, points) and a fixed y range.
type Chart = (
    &'static str,
    String,
    Vec<(String, Vec<(f64, f64)>)>,
    Option<(f64, f64)>,
);

/// What a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub description: String,
    pub days: u32,
    pub miners: u32,
    pub epochs_per_day: u32,
    pub combine: Combine,
    pub groups: Vec<GroupReport>,
    pub network: Vec<NetworkDay>,
    /// Every tier of the configuration and whether it changed any miner's multiplier.
    pub tiers: Vec<TierUse>,
    /// Labels of the tiers that changed no miner's multiplier in the run.
    pub dead_tiers: Vec<String>,
    /// Rules this configuration does not pay (unconfigured windows) or the lab does not
    /// exercise (operator grants).
    pub not_simulated: Vec<String>,
    /// Miners per tier of the tiered uptime rules and per vesting cell on the last day.
    pub last_day_cells: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Combine {
    pub uptime: crate::config::UptimeCombine,
    pub uptime_max: f64,
    pub vesting: crate::config::VestingCombine,
    pub vesting_max: f64,
    pub max_total: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub name: String,
    pub days: Vec<GroupDay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierUse {
    #[serde(flatten)]
    pub tier: Tier,
    /// First day it changed a multiplier (`None`: dead).
    pub first_day: Option<u32>,
    /// The groups whose miners it changed.
    pub groups: Vec<String>,
}

impl Report {
    pub fn new(
        pop: &Population,
        rules: &Rules,
        days: u32,
        liveness: Liveness,
        figures: super::figures::Figures,
    ) -> Self {
        let name = |g: usize| pop.groups[g].name.clone();
        let tiers: Vec<TierUse> = liveness
            .tiers
            .iter()
            .zip(&liveness.alive)
            .map(|(t, a)| TierUse {
                tier: t.clone(),
                first_day: a.as_ref().map(|a| a.0),
                groups: a
                    .as_ref()
                    .map_or(Vec::new(), |a| a.1.iter().map(|g| name(*g)).collect()),
            })
            .collect();
        Report {
            description: pop.description.clone(),
            days,
            miners: pop.miners(),
            epochs_per_day: pop.epochs_per_day,
            combine: Combine {
                uptime: rules.uptime.combine,
                uptime_max: rules.uptime.max_multiplier,
                vesting: rules.vesting.combine,
                vesting_max: rules.vesting.max_multiplier,
                max_total: rules.max_total_multiplier,
            },
            groups: figures
                .groups
                .into_iter()
                .map(|(name, days)| GroupReport { name, days })
                .collect(),
            network: figures.network,
            dead_tiers: liveness.dead().iter().map(|t| t.label()).collect(),
            tiers,
            not_simulated: liveness.excluded,
            last_day_cells: figures.cells,
        }
    }

    /// The group's figures on `day` (days count from 1).
    pub fn group_day(&self, group: &str, day: u32) -> Option<&GroupDay> {
        let g = self.groups.iter().find(|g| g.name == group)?;
        g.days.iter().find(|d| d.day == day)
    }

    /// The tier with this label.
    pub fn tier(&self, label: &str) -> Option<&TierUse> {
        self.tiers.iter().find(|t| t.tier.label() == label)
    }

    /// Days shown in the text report: milestones of a run, and its last day.
    fn shown_days(&self) -> Vec<u32> {
        let mut d: Vec<u32> = [1, 7, 14, 30, 60, 90, 180, 365]
            .into_iter()
            .filter(|d| *d < self.days)
            .collect();
        d.push(self.days);
        d
    }

    pub fn text(&self) -> String {
        let mut o = String::new();
        let c = &self.combine;
        let _ = writeln!(
            o,
            "simulated {} miners for {} days ({} epoch(s) a day){}",
            self.miners,
            self.days,
            self.epochs_per_day,
            if self.description.is_empty() {
                String::new()
            } else {
                format!(": {}", self.description)
            }
        );
        let _ = writeln!(
            o,
            "uptime {:?} (cap {}), vesting {:?} (cap {}), total cap {}\n",
            c.uptime, c.uptime_max, c.vesting, c.vesting_max, c.max_total
        );
        self.groups_text(&mut o);
        self.network_text(&mut o);
        self.tiers_text(&mut o);
        o
    }

    fn groups_text(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "{:<16} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "group", "day", "uptime", "M_up", "M_vest", "M_total", "share"
        );
        for g in &self.groups {
            for day in self.shown_days() {
                let Some(d) = g.days.iter().find(|d| d.day == day && d.miners > 0) else {
                    continue;
                };
                let _ = writeln!(
                    o,
                    "{:<16} {:>5} {:>8} {:>8.4} {:>8.4} {:>8.4} {:>7.2}%",
                    g.name,
                    day,
                    d.current_uptime
                        .map_or("-".into(), |u| format!("{:.2}%", u * 100.0)),
                    d.uptime_multiplier,
                    d.vesting_multiplier,
                    d.total_multiplier,
                    d.weight_share * 100.0
                );
            }
        }
    }

    fn network_text(&self, o: &mut String) {
        let pct = |x: Option<f64>| x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0));
        let _ = writeln!(
            o,
            "\n{:>5} {:>7} {:>8} {:>8} {:>9} {:>6} {:>7} {:>7} {:>12} {:>9}",
            "day",
            "miners",
            "uptime",
            "bonus",
            "down h",
            "gini",
            "top10",
            "moved",
            "capped u/v/t",
            "kept 30d"
        );
        for day in self.shown_days() {
            let Some(n) = self.network.iter().find(|n| n.day == day) else {
                continue;
            };
            let _ = writeln!(
                o,
                "{:>5} {:>7} {:>8} {:>8} {:>9.1} {:>6} {:>7} {:>6.1}% {:>12} {:>9}",
                day,
                n.miners,
                pct(n.mean_current_uptime),
                pct(n.bonus_coverage),
                n.downtime_hours,
                n.gini.map_or("-".into(), |g| format!("{:.3}", g + 0.0)),
                pct(n.top10_share),
                n.moved.total_variation * 100.0,
                format!(
                    "{}/{}/{}",
                    n.capped_uptime, n.capped_vesting, n.capped_total
                ),
                pct(n.retention[1])
            );
        }
    }

    fn tiers_text(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "\ntiers (first day each changed a multiplier, and for whom):"
        );
        for t in &self.tiers {
            let _ = match t.first_day {
                Some(d) => writeln!(
                    o,
                    "  {:<36} day {d:>4}  {}",
                    t.tier.label(),
                    t.groups.join(", ")
                ),
                None => writeln!(
                    o,
                    "  {:<36} DEAD: changed no miner's multiplier",
                    t.tier.label()
                ),
            };
        }
        if self.dead_tiers.is_empty() {
            let _ = writeln!(o, "no dead tier");
        } else {
            let _ = writeln!(o, "dead tiers: {}", self.dead_tiers.join(", "));
        }
        if !self.not_simulated.is_empty() {
            let _ = writeln!(
                o,
                "not simulated (not configured, or operator grants): {}",
                self.not_simulated.join(", ")
            );
        }
    }

    /// The charts, one SVG file each, written to `dir`.
    pub fn write_svg(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let by_group = |f: fn(&GroupDay) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
            self.groups
                .iter()
                .map(|g| {
                    let pts = g.days.iter().map(|d| (f64::from(d.day), f(d))).collect();
                    (g.name.clone(), pts)
                })
                .collect()
        };
        let net = |f: fn(&NetworkDay) -> Option<f64>| -> Vec<(f64, f64)> {
            self.network
                .iter()
                .filter_map(|n| Some((f64::from(n.day), f(n)?)))
                .collect()
        };
        let charts: Vec<Chart> = vec![
            (
                "uptime-multiplier",
                "uptime multiplier by group".into(),
                by_group(|d| d.uptime_multiplier),
                None,
            ),
            (
                "vesting-multiplier",
                "vesting multiplier by group".into(),
                by_group(|d| d.vesting_multiplier),
                None,
            ),
            (
                "weight-share",
                "weight share by group".into(),
                by_group(|d| d.weight_share),
                Some((0.0, 1.0)),
            ),
            (
                "network",
                "network: mean uptime, bonus coverage, Gini, moved".into(),
                vec![
                    ("uptime".into(), net(|n| n.mean_current_uptime)),
                    ("coverage".into(), net(|n| n.bonus_coverage)),
                    ("gini".into(), net(|n| n.gini)),
                    ("moved".into(), net(|n| Some(n.moved.total_variation))),
                ],
                Some((0.0, 1.0)),
            ),
            (
                "downtime",
                "miner-hours down per day".into(),
                vec![("down".into(), net(|n| Some(n.downtime_hours)))],
                None,
            ),
        ];
        let mut written = Vec::new();
        for (file, title, series, range) in charts {
            let series: Vec<Series<'_>> = series
                .iter()
                .map(|(label, points)| Series {
                    label,
                    points: points.clone(),
                })
                .collect();
            let path = dir.join(format!("{file}.svg"));
            std::fs::write(&path, lines(&title, "chain day", &series, range))?;
            written.push(path);
        }
        Ok(written)
    }
}
