//! Which tiers a configuration leaves dead: a tier is alive when, for some miner at some epoch,
//! the multiplier it got differs from the one it would have got one tier lower (or, for a rule
//! with a single bonus, without it). The question is asked of the engines' own combinations
//! (`uptime::bonus::combined`, `vesting::multiplier::combined`), so it cannot disagree with
//! what the daemon pays.

use serde::Serialize;

use crate::config::{BonusTier, MultiplierTier, UptimeConfig, VestingConfig};
use crate::uptime::bonus::{Family, Outcome, Rule, combined};
use crate::vesting::multiplier::{self, Holding};

/// One tier of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tier {
    /// `uptime.longevity`, `vesting.amount`, …
    pub rule: String,
    /// The tier's threshold (`None`: a rule with one bonus).
    pub min: Option<f64>,
    /// Its bonus (uptime) or multiplier (vesting).
    pub value: f64,
}

impl Tier {
    pub fn label(&self) -> String {
        match self.min {
            Some(min) => format!("{} >= {min}", self.rule),
            None => self.rule.clone(),
        }
    }
}

/// Where a tier sits in [`Liveness::tiers`].
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// First tier of a tiered uptime rule.
    Tiered(Rule, usize),
    Single(Rule, usize),
}

/// Every tier a configuration can pay, and whether each changed a multiplier yet.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub tiers: Vec<Tier>,
    /// Per tier: the first day it changed a multiplier and the groups it changed one of.
    pub alive: Vec<Option<(u32, Vec<usize>)>>,
    slots: Vec<Slot>,
    amount: usize,
    duration: usize,
    /// Rules not configured (no time window set) or outside the lab (grants).
    pub excluded: Vec<String>,
}

fn bonus_tiers(out: &mut Vec<Tier>, rule: Rule, tiers: &[BonusTier]) -> usize {
    let at = out.len();
    out.extend(tiers.iter().map(|t| Tier {
        rule: format!("uptime.{}", rule.name()),
        min: Some(t.min),
        value: t.bonus,
    }));
    at
}

fn multiplier_tiers(out: &mut Vec<Tier>, name: &str, tiers: &[MultiplierTier]) -> usize {
    let at = out.len();
    out.extend(tiers.iter().map(|t| Tier {
        rule: format!("vesting.{name}"),
        min: Some(t.min),
        value: t.multiplier,
    }));
    at
}

/// The single-bonus rules and their configured bonus; `None` when the configuration leaves the
/// rule unpaid (an unconfigured window) or the lab cannot exercise it (operator grants).
fn single_rules(u: &UptimeConfig) -> Vec<(Rule, Option<f64>)> {
    let t = &u.time;
    let m = &u.milestones;
    let c = &u.contribution;
    let rf = &u.reliability_factor;
    let peak = !t.peak_hours_utc.is_empty();
    vec![
        (Rule::Recovery, Some(rf.recovery_bonus)),
        (Rule::Stability, Some(rf.stability_bonus)),
        (Rule::PeakHours, peak.then_some(t.peak_bonus)),
        (Rule::OffPeak, peak.then_some(t.off_peak_bonus)),
        (Rule::Weekend, Some(t.weekend_bonus)),
        (
            Rule::Holidays,
            (!t.holidays.is_empty()).then_some(t.holiday_bonus),
        ),
        (
            Rule::Maintenance,
            (!t.maintenance_windows.is_empty()).then_some(t.maintenance_bonus),
        ),
        (Rule::AllWeek, Some(t.all_week_bonus)),
        (Rule::HoursStreak, Some(m.hours_streak_bonus)),
        (Rule::DaysStreak, Some(m.days_streak_bonus)),
        (Rule::PerfectMonth, Some(m.perfect_month_bonus)),
        (Rule::PerfectWeek, Some(m.perfect_week_bonus)),
        (Rule::EarlyAdopter, Some(c.early_adopter_bonus)),
        (Rule::NetworkSupporter, Some(c.supporter_bonus)),
        (Rule::CommunityContributor, None),
        (Rule::Trend, Some(u.trend.bonus)),
    ]
}

/// Index of the highest tier `metric` reaches.
fn reached(mins: impl Iterator<Item = f64>, metric: f64) -> Option<usize> {
    if !metric.is_finite() {
        return None;
    }
    mins.take_while(|min| metric >= *min).count().checked_sub(1)
}

impl Liveness {
    pub fn new(u: &UptimeConfig, v: &VestingConfig) -> Self {
        let mut tiers = Vec::new();
        let mut slots = Vec::new();
        for (rule, t) in [
            (Rule::Reliability, &u.reliability.tiers),
            (Rule::Consistency, &u.consistency.tiers),
            (Rule::Longevity, &u.longevity.tiers),
        ] {
            slots.push(Slot::Tiered(rule, bonus_tiers(&mut tiers, rule, t)));
        }
        let mut excluded = Vec::new();
        for (rule, bonus) in single_rules(u) {
            let name = format!("uptime.{}", rule.name());
            match bonus {
                Some(value) => {
                    slots.push(Slot::Single(rule, tiers.len()));
                    tiers.push(Tier {
                        rule: name,
                        min: None,
                        value,
                    });
                }
                None => excluded.push(name),
            }
        }
        let amount = multiplier_tiers(&mut tiers, "amount", &v.amount_tiers);
        let duration = multiplier_tiers(&mut tiers, "duration", &v.duration_tiers);
        Liveness {
            alive: vec![None; tiers.len()],
            tiers,
            slots,
            amount,
            duration,
            excluded,
        }
    }

    fn mark(&mut self, tier: usize, day: u32, group: usize) {
        let entry = self.alive[tier].get_or_insert_with(|| (day, Vec::new()));
        if !entry.1.contains(&group) {
            entry.1.push(group);
        }
    }

    /// One miner's uptime outcome at `day`: each tier it earned that changed its multiplier.
    pub fn uptime(&mut self, cfg: &UptimeConfig, o: &Outcome, day: u32, group: usize) {
        let mut sums = [0.0; Family::ALL.len()];
        for b in &o.bonuses {
            sums[b.family as usize] += b.bonus;
        }
        let actual = combined(cfg, |f| sums[f as usize]);
        let tiers_of = |rule: Rule| match rule {
            Rule::Reliability => &cfg.reliability.tiers,
            Rule::Consistency => &cfg.consistency.tiers,
            _ => &cfg.longevity.tiers,
        };
        for slot in self.slots.clone() {
            let (rule, tier, lower) = match slot {
                Slot::Tiered(rule, first) => {
                    let Some(b) = o.bonuses.iter().find(|b| b.rule == rule) else {
                        continue;
                    };
                    let tiers = tiers_of(rule);
                    let Some(k) =
                        reached(tiers.iter().map(|t| t.min), b.metric.unwrap_or(f64::NAN))
                    else {
                        continue;
                    };
                    let lower = k.checked_sub(1).map_or(0.0, |j| tiers[j].bonus);
                    (rule, first + k, lower)
                }
                Slot::Single(rule, at) => (rule, at, 0.0),
            };
            let Some(b) = o.bonuses.iter().find(|b| b.rule == rule && b.bonus > 0.0) else {
                continue;
            };
            let family = rule.family();
            let what_if = combined(cfg, |f| {
                sums[f as usize] + if f == family { lower - b.bonus } else { 0.0 }
            });
            if what_if != actual {
                self.mark(tier, day, group);
            }
        }
    }

    /// One miner's vesting at `day`: each of its two tiers that changed its multiplier.
    pub fn vesting(&mut self, cfg: &VestingConfig, h: Holding, day: u32, group: usize) {
        let Some(fraction) = h.fraction.filter(|f| f.is_finite()) else {
            return;
        };
        let fraction = fraction.clamp(0.0, 1.0);
        let days = h.days.max(0.0);
        let value = |t: &[MultiplierTier], k: Option<usize>| k.map_or(1.0, |k| t[k].multiplier);
        let ka = reached(cfg.amount_tiers.iter().map(|t| t.min), fraction);
        let kd = reached(cfg.duration_tiers.iter().map(|t| t.min), days);
        let (a, d) = (value(&cfg.amount_tiers, ka), value(&cfg.duration_tiers, kd));
        let m =
            |a, d| multiplier::combined(cfg, fraction, days, a, d).clamp(1.0, cfg.max_multiplier);
        let actual = m(a, d);
        if let Some(k) = ka {
            let lower = value(&cfg.amount_tiers, k.checked_sub(1));
            if m(lower, d) != actual {
                self.mark(self.amount + k, day, group);
            }
        }
        if let Some(k) = kd {
            let lower = value(&cfg.duration_tiers, k.checked_sub(1));
            if m(a, lower) != actual {
                self.mark(self.duration + k, day, group);
            }
        }
    }

    /// The tiers that changed no multiplier.
    pub fn dead(&self) -> Vec<&Tier> {
        self.tiers
            .iter()
            .zip(&self.alive)
            .filter(|(_, a)| a.is_none())
            .map(|(t, _)| t)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UptimeCombine;
    use crate::uptime::bonus::evaluate;
    use crate::uptime::history::History;

    #[test]
    fn a_saturated_tier_is_dead_and_a_binding_one_alive() {
        let v = VestingConfig::default();
        // Current uptime 1.0: the top reliability tier. Under a 1.1 cap of the raw product
        // the 0.25 bonus changes nothing against the 0.20 one (both above the cap).
        let h = History {
            current: Some(1.0),
            ..History::default()
        };
        let mut cfg = UptimeConfig {
            combine: UptimeCombine::Multiplicative,
            max_multiplier: 1.1,
            ..UptimeConfig::default()
        };
        let mut l = Liveness::new(&cfg, &v);
        l.uptime(&cfg, &evaluate(&cfg, &h), 3, 0);
        let top = l
            .tiers
            .iter()
            .position(|t| t.label() == "uptime.reliability >= 1")
            .unwrap();
        assert_eq!(l.alive[top], None);
        cfg.max_multiplier = 2.0;
        l.uptime(&cfg, &evaluate(&cfg, &h), 4, 1);
        assert_eq!(l.alive[top], Some((4, vec![1])));
        // Unconfigured windows and grants are not tiers of this configuration.
        assert!(l.excluded.contains(&"uptime.holidays".to_string()));
        assert!(
            l.tiers
                .iter()
                .all(|t| t.rule != "uptime.community_contributor")
        );
    }

    #[test]
    fn vesting_tiers_against_the_previous_one() {
        let u = UptimeConfig::default();
        let v = VestingConfig::default();
        let mut l = Liveness::new(&u, &v);
        let h = Holding {
            fraction: Some(0.6),
            days: 35.0,
        };
        l.vesting(&v, h, 9, 2);
        let alive: Vec<String> = l
            .tiers
            .iter()
            .zip(&l.alive)
            .filter(|(_, a)| a.is_some())
            .map(|(t, _)| t.label())
            .collect();
        assert_eq!(alive, ["vesting.amount >= 0.5", "vesting.duration >= 30"]);
        assert_eq!(l.dead().len(), l.tiers.len() - 2);
    }
}
