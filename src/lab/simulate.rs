//! `tenure simulate`: a synthetic subnet run epoch by epoch through the daemon's own engines —
//! the tranche book and window with `vesting::epoch::compute`, the rollup cache with
//! `uptime::epoch::evaluate_miner`, and `weights::pipeline::compute` — so what the lab shows is
//! what the daemon would pay. Emissions follow the previous epoch's weights; milestones are
//! used up by each epoch's submission, as in mode `on`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::behaviour::Miner;
use super::figures::{Day, Figures};
use super::liveness::Liveness;
use super::population::Population;
use crate::config::{Config, ScoresSource, UptimeConfig, VestingConfig};
use crate::network::Registration;
use crate::units::Rao;
use crate::uptime::cache::Cache;
use crate::uptime::epoch::{
    At, EpochSettings, MinerExtras, MinerUptime, Tracker, evaluate_miner, new_milestones,
};
use crate::uptime::history::{Achievement, Period};
use crate::uptime::store::Periods;
use crate::vesting::book::{Book, TrancheKind};
use crate::vesting::epoch::{MinerRef, MinerVesting, Params};
use crate::vesting::window::{Entry, Window};
use crate::weights::explanation::Applied;
use crate::weights::explanation::{Note, UptimeWhy, VestingWhy};
use crate::weights::normalize::WeightsError;
use crate::weights::pipeline::{self, Base, Input, neutral};

/// The rules a run applies: the parts of a tenure configuration the engines read.
#[derive(Debug, Clone)]
pub struct Rules {
    pub uptime: UptimeConfig,
    pub vesting: VestingConfig,
    pub max_total_multiplier: f64,
    pub block_time_secs: u64,
}

impl Rules {
    pub fn of(c: &Config) -> Self {
        Rules {
            uptime: c.uptime.clone(),
            vesting: c.vesting.clone(),
            max_total_multiplier: c.weights.max_total_multiplier,
            block_time_secs: c.chain.block_time_secs,
        }
    }
}

/// A Monday, 00:00 UTC: chain day 0 of every run (weekends fall on days 5 and 6).
pub fn genesis() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_767_571_200, 0).unwrap_or_default()
}

/// One synthetic miner in a run.
struct Sim {
    group: usize,
    miner: Miner,
    r: MinerRef,
    joined_block: u64,
    joined_day: u32,
    leaves_day: Option<u32>,
    book: Book,
    /// Window ids of the book's tranches (0 for others).
    ids: Vec<i64>,
    stake: Rao,
    /// Alpha earned on each day since it joined.
    earned: Vec<Rao>,
    achievements: Vec<Achievement>,
    /// Its share of the last epoch's weights.
    share: f64,
    /// Today's rounds and up rounds.
    today: (u32, u32),
    active: bool,
}

/// The whole run's state.
pub struct World<'a> {
    pop: &'a Population,
    rules: &'a Rules,
    periods: Periods,
    uptime: EpochSettings,
    tracker: Tracker,
    window: Window,
    miners: Vec<Sim>,
    next_tranche: i64,
    hour_done: i64,
    pub liveness: Liveness,
    pub figures: Figures,
}

/// What one epoch produced, per miner in population order (`None`: not registered).
struct EpochOutcome {
    uptime: Vec<Option<MinerUptime>>,
    vesting: Vec<Option<MinerVesting>>,
    shares: Vec<f64>,
    base: Vec<f64>,
}

impl<'a> World<'a> {
    pub fn new(pop: &'a Population, rules: &'a Rules) -> Self {
        let periods = Periods::new(rules.block_time_secs);
        let uptime = EpochSettings {
            netuid: 0,
            cfg: rules.uptime.clone(),
            periods,
            exempt: BTreeSet::new(),
        };
        let tracker = Tracker::new(&uptime);
        let mut miners = Vec::with_capacity(pop.miners() as usize);
        for (g, group) in pop.groups.iter().enumerate() {
            for k in 0..group.miners {
                let index = miners.len() as u32;
                let hotkey = format!("{}-{k}", group.name);
                let joined_block = u64::from(group.joins_day) * periods.blocks_per_day;
                let joined_hour = (joined_block / periods.blocks_per_hour) as i64;
                miners.push(Sim {
                    group: g,
                    miner: Miner::new(pop.seed, index, group.uptime, group.holding, joined_hour),
                    r: MinerRef {
                        miner_id: i64::from(index) + 1,
                        uid: index as u16,
                        coldkey: Some(format!("cold-{hotkey}")),
                        hotkey,
                        validator: false,
                        exempt: false,
                    },
                    joined_block,
                    joined_day: group.joins_day,
                    leaves_day: group.leaves_day,
                    book: Book::default(),
                    ids: Vec::new(),
                    stake: 0,
                    earned: Vec::new(),
                    achievements: Vec::new(),
                    share: 0.0,
                    today: (0, 0),
                    active: false,
                });
            }
        }
        World {
            pop,
            rules,
            periods,
            uptime,
            tracker,
            window: Window::new(),
            miners,
            next_tranche: 1,
            hour_done: -1,
            liveness: Liveness::new(&rules.uptime, &rules.vesting),
            figures: Figures::new(pop),
        }
    }

    fn cache(&self) -> &Cache {
        &self.tracker.cache
    }

    /// Runs `days` chain days.
    pub fn run(&mut self, days: u32) -> Result<(), WeightsError> {
        let per_day = u64::from(self.pop.epochs_per_day);
        let blocks = self.periods.blocks_per_day / per_day;
        for k in 0..u64::from(days) * per_day {
            let block = (k + 1) * blocks;
            let out = self.epoch(block)?;
            if (k + 1) % per_day == 0 {
                let day = ((k + 1) / per_day) as u32;
                self.sample(day, &out);
            }
        }
        Ok(())
    }

    /// One epoch at `block`: observe, earn and sell, compute both engines, set weights.
    fn epoch(&mut self, block: u64) -> Result<EpochOutcome, WeightsError> {
        let at = At::new(block, self.time(block));
        // Days elapsed, counted from 1: the epoch closes (or falls in) chain day `day - 1`.
        let day = block.div_ceil(self.periods.blocks_per_day) as u32;
        self.join(at.day);
        self.observe((block / self.periods.blocks_per_hour) as i64);
        self.leave(at.day);
        self.tracker.prune(at.day, at.hour);
        self.earn(block, day - 1)?;
        let vesting = self.vesting(block);
        let uptime = self.evaluate(at);
        for (i, m) in self.miners.iter().enumerate() {
            if let Some(u) = uptime[i].as_ref().and_then(|u| u.outcome.as_ref().ok()) {
                self.liveness.uptime(&self.rules.uptime, u, day, m.group);
            }
            if let Some(v) = &vesting[i] {
                self.liveness
                    .vesting(&self.rules.vesting, v.holding, day, m.group);
            }
        }
        self.award(&uptime);
        let (shares, base) = self.weights(block, &uptime, &vesting)?;
        Ok(EpochOutcome {
            uptime,
            vesting,
            shares,
            base,
        })
    }

    fn time(&self, block: u64) -> DateTime<Utc> {
        genesis() + chrono::Duration::seconds((block * self.rules.block_time_secs) as i64)
    }

    /// Miners register at the start of their day (its hours are observed from then on).
    fn join(&mut self, day: i64) {
        for m in self.miners.iter_mut() {
            let gone = m.leaves_day.is_some_and(|l| i64::from(l) <= day);
            m.active |= i64::from(m.joined_day) <= day && !gone;
        }
    }

    /// Miners deregistered at the start of `day`, after their last day was observed.
    fn leave(&mut self, day: i64) {
        for m in self.miners.iter_mut() {
            if m.active && m.leaves_day.is_some_and(|l| i64::from(l) <= day) {
                self.tracker.cache.forget(m.r.miner_id);
                m.active = false;
            }
        }
    }

    /// Probe rounds of every complete hour before `hour`, into the hourly and daily rollups.
    fn observe(&mut self, hour: i64) {
        let rounds = self.pop.rounds_per_hour;
        for h in self.hour_done + 1..hour {
            let start = genesis() + chrono::Duration::hours(h);
            let (day, last_of_day) = (h.div_euclid(24), h.rem_euclid(24) == 23);
            // The rollups' keys: UTC hour and day, as the daemon records them.
            let (utc_hour, utc_day) = (Periods::hour_at(start), Periods::day_at(start));
            for m in self.miners.iter_mut().filter(|m| m.active) {
                if h < m.miner.joined_hour {
                    continue;
                }
                let up = m.miner.up_rounds(h, start, rounds);
                let id = m.r.miner_id;
                let p = |index, (rounds, up)| Period { index, rounds, up };
                self.tracker
                    .cache
                    .upsert_hour(id, p(utc_hour, (rounds, up)));
                m.today = (m.today.0 + rounds, m.today.1 + up);
                if last_of_day || h + 1 == hour {
                    self.tracker.cache.upsert_day(id, p(utc_day, m.today));
                }
                if last_of_day {
                    self.figures.downtime(day, m.today);
                    m.today = (0, 0);
                }
            }
        }
        self.hour_done = self.hour_done.max(hour - 1);
    }

    /// Each miner earns its share of the epoch's emission, then its coldkey sells as its
    /// behaviour says; the tranche book and the window see both, as ingest records them.
    fn earn(&mut self, block: u64, day: u32) -> Result<(), WeightsError> {
        let per_day = u64::from(self.pop.epochs_per_day);
        let per_epoch = self.pop.emission_per_day / per_day as f64 * 1e9;
        // Coldkeys sell once a day, at the day's first epoch.
        let epoch_blocks = self.periods.blocks_per_day / per_day;
        let first_of_day = (block - epoch_blocks).is_multiple_of(self.periods.blocks_per_day);
        for m in self.miners.iter_mut().filter(|m| m.active) {
            let e = (m.share * per_epoch).floor() as Rao;
            let since = day.saturating_sub(m.joined_day) as usize;
            if m.earned.len() <= since {
                m.earned.resize(since + 1, 0);
            }
            m.earned[since] += e;
            let sold = if first_of_day {
                m.miner.sold(since, &m.earned, m.stake + e)
            } else {
                0
            };
            let prev = m.stake;
            m.stake = prev + e - sold;
            let applied = m.book.apply(block, &[e], prev, m.stake);
            let key = (m.r.coldkey.clone().unwrap_or_default(), String::new());
            for i in applied.created {
                let t = &m.book.tranches[i];
                let id = if t.kind == TrancheKind::Emission {
                    self.next_tranche += 1;
                    self.window.insert(
                        key.clone(),
                        Entry {
                            id: self.next_tranche,
                            block,
                            initial: t.initial,
                            remaining: t.remaining,
                        },
                    )?;
                    self.next_tranche
                } else {
                    0
                };
                m.ids.push(id);
            }
            for (i, _) in applied.consumed {
                self.window
                    .set_remaining(&key, m.ids[i], m.book.tranches[i].remaining);
            }
        }
        Ok(())
    }

    fn vesting(&mut self, block: u64) -> Vec<Option<MinerVesting>> {
        let p = Params::new(&self.rules.vesting, self.rules.block_time_secs, block);
        self.window.prune(p.since());
        let active: Vec<MinerRef> = self
            .miners
            .iter()
            .filter(|m| m.active)
            .map(|m| m.r.clone())
            .collect();
        let mut computed =
            crate::vesting::epoch::compute(&self.rules.vesting, &p, &active, &self.window)
                .into_iter();
        self.miners
            .iter()
            .map(|m| if m.active { computed.next() } else { None })
            .collect()
    }

    /// Every registered miner's uptime, on every core for large runs (the cache is read-only).
    fn evaluate(&self, at: At) -> Vec<Option<MinerUptime>> {
        let one = |m: &Sim| {
            m.active.then(|| {
                let extras = MinerExtras {
                    registered: Some(m.joined_block),
                    achievements: m.achievements.clone(),
                    grants: Vec::new(),
                };
                evaluate_miner(&self.uptime, self.cache(), &m.r, extras, at)
            })
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.miners.len() < 512 || threads < 2 {
            return self.miners.iter().map(one).collect();
        }
        let chunk = self.miners.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = self
                .miners
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().unwrap_or_default())
                .collect()
        })
    }

    /// New milestones become achievements; this epoch's submission (mode `on`) uses up one
    /// epoch of every achievement it paid.
    fn award(&mut self, uptime: &[Option<MinerUptime>]) {
        let epochs = self.rules.uptime.milestones.bonus_epochs;
        for (m, u) in self.miners.iter_mut().zip(uptime) {
            if let Some(Ok(o)) = u.as_ref().map(|u| &u.outcome) {
                for (milestone, bonus) in new_milestones(o) {
                    m.achievements.push(Achievement {
                        milestone,
                        bonus,
                        epochs_remaining: epochs,
                    });
                }
            }
            for a in m.achievements.iter_mut() {
                a.epochs_remaining = a.epochs_remaining.saturating_sub(1);
            }
        }
    }

    /// The epoch's weights: the daemon's pipeline over every registered miner. Returns each
    /// miner's final and base-only share.
    fn weights(
        &mut self,
        block: u64,
        uptime: &[Option<MinerUptime>],
        vesting: &[Option<MinerVesting>],
    ) -> Result<(Vec<f64>, Vec<f64>), WeightsError> {
        let note = || Note {
            note: String::new(),
        };
        let mut inputs = Vec::new();
        for (i, m) in self.miners.iter().enumerate() {
            let (Some(u), Some(v)) = (&uptime[i], &vesting[i]) else {
                continue;
            };
            let score = self.pop.groups[m.group].score;
            inputs.push(Input {
                uid: m.r.uid,
                hotkey: String::new(),
                miner_id: Some(m.r.miner_id),
                validator: false,
                exempt: false,
                base: Some(Base {
                    score,
                    block: Some(block),
                    source: ScoresSource::Api,
                }),
                // The lab shows what the rules pay: both engines as in mode `on`.
                uptime: Applied {
                    applied: u.multiplier(),
                    why: UptimeWhy::Neutral(note()),
                },
                vesting: Applied {
                    applied: v.outcome.multiplier,
                    why: VestingWhy::Neutral(note()),
                },
                penalty: neutral(""),
            });
        }
        let n = self.miners.len();
        let (mut shares, mut base) = (vec![0.0; n], vec![0.0; n]);
        if inputs.is_empty() {
            return Ok((shares, base));
        }
        let params = pipeline::Params {
            max_total_multiplier: self.rules.max_total_multiplier,
            min_allowed_weights: 1,
            max_weights_limit: self.pop.max_weight_limit,
        };
        let plan = pipeline::compute(&params, inputs)?;
        for e in &plan.entries {
            let i = usize::from(e.input.uid);
            shares[i] = e.normalized;
            base[i] = e.input.base.as_ref().map_or(0.0, |b| b.score);
        }
        for (m, s) in self.miners.iter_mut().zip(&shares) {
            m.share = *s;
        }
        Ok((shares, base))
    }

    /// The day's figures from the epoch that ended it.
    fn sample(&mut self, day: u32, out: &EpochOutcome) {
        let regs: Vec<(usize, Registration)> = self
            .miners
            .iter()
            .filter(|m| m.joined_day < day)
            .map(|m| {
                let r = Registration {
                    from_day: i64::from(m.joined_day),
                    until_day: m.leaves_day.filter(|l| *l < day).map(i64::from),
                };
                (m.group, r)
            })
            .collect();
        let groups: Vec<usize> = self.miners.iter().map(|m| m.group).collect();
        self.figures.record(Day {
            day,
            groups: &groups,
            uptime: &out.uptime,
            vesting: &out.vesting,
            shares: &out.shares,
            base: &out.base,
            registrations: &regs,
            rules: self.rules,
        });
    }
}
