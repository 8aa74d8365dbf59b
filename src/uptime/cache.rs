//! The rollups the bonus rules read, per miner, kept in memory between epochs: loaded once, then
//! refreshed with the rows that can have changed since (the current hour and day grow in place
//! while rounds arrive). An epoch then assembles every miner's [`History`] without reading
//! months of rows again.

use std::collections::HashMap;

use crate::config::UptimeConfig;
use crate::uptime::history::{Period, ratio};

/// How far back the rules look: days and hours to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    pub days: i64,
    pub hours: i64,
}

impl Horizon {
    /// The furthest any rule reads, plus one period of margin: runs are capped by the top tier
    /// or milestone they can reach, windows by their length.
    pub fn of(cfg: &UptimeConfig, blocks_per_hour: u64) -> Horizon {
        let top = |tiers: &[crate::config::BonusTier]| tiers.last().map_or(0.0, |t| t.min);
        let days = [
            top(&cfg.consistency.tiers).ceil() as i64,
            top(&cfg.longevity.tiers).ceil() as i64,
            i64::from(cfg.milestones.days_streak),
            30, // perfect month
            i64::from(cfg.reliability_factor.stability_window_days),
            i64::from(cfg.contribution.supporter_window_days),
            i64::from(cfg.trend.window_days),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let window_hours = |blocks: u64| (blocks / blocks_per_hour.max(1)) as i64 + 1;
        let hours = [
            i64::from(cfg.milestones.hours_streak),
            i64::from(cfg.reliability_factor.recovery_window_days) * 24,
            i64::from(cfg.time.window_days) * 24,
            window_hours(cfg.historical_window_blocks),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        // Streak protection lets a run reach past its length by the days it forgives.
        let forgiven = i64::from(cfg.reliability_factor.streak_protection_days) * (days / 30 + 1);
        Horizon {
            days: days + forgiven + 1,
            hours: hours + 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cache {
    days: HashMap<i64, Vec<Period>>,
    hours: HashMap<i64, Vec<Period>>,
}

/// Inserts `p` in index order, replacing the period with the same index.
fn upsert(v: &mut Vec<Period>, p: Period) {
    match v.last() {
        Some(last) if last.index < p.index => v.push(p),
        None => v.push(p),
        _ => match v.binary_search_by_key(&p.index, |x| x.index) {
            Ok(i) => v[i] = p,
            Err(i) => v.insert(i, p),
        },
    }
}

fn drop_before(map: &mut HashMap<i64, Vec<Period>>, from: i64) {
    map.retain(|_, v| {
        let old = v.partition_point(|p| p.index < from);
        if old > 0 {
            v.drain(..old);
        }
        !v.is_empty()
    });
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn upsert_day(&mut self, miner_id: i64, p: Period) {
        upsert(self.days.entry(miner_id).or_default(), p);
    }

    pub fn upsert_hour(&mut self, miner_id: i64, p: Period) {
        upsert(self.hours.entry(miner_id).or_default(), p);
    }

    /// Adds periods read in any order (a bulk load), each miner's sorted once.
    pub fn absorb(&mut self, days: HashMap<i64, Vec<Period>>, hours: HashMap<i64, Vec<Period>>) {
        for (map, read) in [(&mut self.days, days), (&mut self.hours, hours)] {
            for (miner, mut periods) in read {
                periods.sort_unstable_by_key(|p| p.index);
                let v = map.entry(miner).or_default();
                if v.is_empty() {
                    *v = periods;
                } else {
                    for p in periods {
                        upsert(v, p);
                    }
                }
            }
        }
    }

    /// Each miner's days and hours in index order, for a snapshot.
    pub fn per_miner(&self) -> impl Iterator<Item = (i64, &[Period], &[Period])> + '_ {
        let none: &[Period] = &[];
        self.miners().map(move |m| {
            let days = self.days.get(&m).map_or(none, Vec::as_slice);
            let hours = self.hours.get(&m).map_or(none, Vec::as_slice);
            (m, days, hours)
        })
    }

    /// Forgets what lies beyond the horizon, counted back from the current day and hour.
    pub fn prune(&mut self, h: Horizon, day: i64, hour: i64) {
        drop_before(&mut self.days, day - h.days);
        drop_before(&mut self.hours, hour - h.hours);
    }

    /// A deregistered miner's rows are never read again.
    pub fn forget(&mut self, miner_id: i64) {
        self.days.remove(&miner_id);
        self.hours.remove(&miner_id);
    }

    /// Known days with `index <= last`, ascending.
    pub fn days(&self, miner_id: i64, last: i64) -> &[Period] {
        let v = self.days.get(&miner_id).map_or(&[][..], Vec::as_slice);
        &v[..v.partition_point(|p| p.index <= last)]
    }

    /// Known hours with `index <= last`, ascending.
    pub fn hours(&self, miner_id: i64, last: i64) -> &[Period] {
        let v = self.hours.get(&miner_id).map_or(&[][..], Vec::as_slice);
        &v[..v.partition_point(|p| p.index <= last)]
    }

    /// Miner-hours down per UTC day in `[from, to)` over the miners `ids`
    /// (`24 · (rounds − up) / rounds` a miner and day), ascending. A day no miner has rounds
    /// for is unknown, and absent: never zero.
    pub fn downtime_by_day(&self, ids: &[i64], from: i64, to: i64) -> Vec<(i64, f64)> {
        let mut by_day: std::collections::BTreeMap<i64, f64> = Default::default();
        for id in ids {
            let days = self.days(*id, to - 1);
            let start = days.partition_point(|p| p.index < from);
            for p in days[start..].iter().filter(|p| p.rounds > 0) {
                let down = 24.0 * (f64::from(p.rounds) - f64::from(p.up)) / f64::from(p.rounds);
                *by_day.entry(p.index).or_default() += down;
            }
        }
        by_day.into_iter().collect()
    }

    /// Up / rounds over the hours `(to - span, to]`: the current and historical windows, in
    /// whole UTC hours.
    pub fn uptime(&self, miner_id: i64, to: i64, span: i64) -> Option<f64> {
        ratio(
            self.hours(miner_id, to)
                .iter()
                .filter(|p| p.index > to - span),
        )
    }

    /// Every miner with a row, in no particular order.
    pub fn miners(&self) -> impl Iterator<Item = i64> + '_ {
        let hours_only = self.hours.keys().filter(|m| !self.days.contains_key(m));
        self.days.keys().chain(hours_only).copied()
    }

    /// Rows held (days + hours).
    pub fn len(&self) -> usize {
        self.days.values().map(Vec::len).sum::<usize>()
            + self.hours.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(index: i64, rounds: u32, up: u32) -> Period {
        Period { index, rounds, up }
    }

    #[test]
    fn periods_grow_in_place_and_stay_ordered() {
        let mut c = Cache::new();
        c.upsert_hour(1, p(10, 1, 1));
        c.upsert_hour(1, p(11, 1, 0));
        c.upsert_hour(1, p(10, 2, 2)); // hour 10 got another round
        c.upsert_hour(1, p(9, 1, 1)); // late row, inserted in order
        let idx: Vec<i64> = c.hours(1, 100).iter().map(|x| x.index).collect();
        assert_eq!(idx, vec![9, 10, 11]);
        assert_eq!(c.hours(1, 100)[1].rounds, 2);
        assert_eq!(c.hours(1, 10).len(), 2);
        // (8, 11]: 3 up of 4 rounds.
        assert_eq!(c.uptime(1, 11, 3), Some(0.75));
        assert_eq!(c.uptime(1, 11, 1), Some(0.0));
        assert_eq!(c.uptime(2, 11, 3), None);
    }

    #[test]
    fn pruning_and_forgetting() {
        let mut c = Cache::new();
        for d in 0..500 {
            c.upsert_day(1, p(d, 288, 288));
            c.upsert_day(2, p(d, 288, 200));
        }
        for h in 0..2_000 {
            c.upsert_hour(1, p(h, 12, 12));
        }
        let horizon = Horizon {
            days: 181,
            hours: 1_001,
        };
        c.prune(horizon, 500, 2_000);
        assert_eq!(c.days(1, 1_000).first().map(|x| x.index), Some(319));
        assert_eq!(c.hours(1, 10_000).len(), 1_001);
        c.forget(2);
        assert!(c.days(2, 1_000).is_empty());
        assert_eq!(c.len(), 181 + 1_001);
    }

    #[test]
    fn the_horizon_covers_every_rule() {
        let cfg = UptimeConfig::default();
        let h = Horizon::of(&cfg, 300);
        // Longevity's top tier (180 days) and the 1,000-hour milestone dominate.
        assert!(h.days > 180 && h.days < 200, "{h:?}");
        assert_eq!(h.hours, 1_001);
    }
}
