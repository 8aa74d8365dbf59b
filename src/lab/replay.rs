//! `tenure replay`: every recorded epoch recomputed from its recorded inputs, once with the
//! parameters each epoch recorded (which must reproduce what was recorded, bit for bit) and once
//! with an alternative configuration; then every recorded weight submission recomputed from
//! both. Pure over [`Recorded`]; the engines are the daemon's own (`vesting::epoch::compute`,
//! `uptime::epoch::evaluate_miner`, `weights::pipeline::compute`).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::recorded::{Epoch, EpochMiner, Factor, Recorded, Submission};
use super::simulate::Rules;
use crate::config::{Mode, UptimeConfig, VestingConfig};
use crate::network;
use crate::uptime::epoch::{
    At, EpochSettings, MinerExtras, REFRESH_DAYS, Tracker, evaluate_miner, new_milestones,
    refresh_hours,
};
use crate::uptime::history::{Achievement, Period, between};
use crate::uptime::store::Periods;
use crate::vesting::epoch::{MinerRef, Params, applied};
use crate::vesting::window::{Entry, Window, WindowError};
use crate::weights::explanation::{Applied, BaseScore, Note, PenaltyWhy, UptimeWhy, VestingWhy};
use crate::weights::normalize::WeightsError;
use crate::weights::pipeline::{self, Base, Input, Plan, UNTOUCHED_VALIDATOR};

/// Which parameters a side replays with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// The ones each epoch recorded.
    Recorded,
    /// The alternative configuration.
    Alternative,
}

/// One side's state through the history.
struct Side<'a> {
    which: Which,
    alt: &'a Rules,
    tracker: Option<(String, Tracker)>,
    /// Per miner: achievements and the block they were awarded at.
    achievements: HashMap<i64, Vec<(u64, Achievement)>>,
    vesting: HashMap<(u64, i64), f64>,
    uptime: HashMap<(u64, i64), f64>,
}

/// The tranche window, advanced block by block as ingest did.
struct Books<'a> {
    rec: &'a Recorded,
    window: Window,
    keys: HashMap<i64, (String, String)>,
    remaining: HashMap<i64, u64>,
    next: (usize, usize, usize),
}

impl<'a> Books<'a> {
    fn new(rec: &'a Recorded) -> Self {
        Books {
            rec,
            window: Window::new(),
            keys: HashMap::new(),
            remaining: HashMap::new(),
            next: (0, 0, 0),
        }
    }

    /// Everything up to and including block `to`: swaps, then new tranches, then outflows.
    fn advance(&mut self, to: u64, prune_since: u64) -> Result<(), WindowError> {
        let r = self.rec;
        while let Some((_, old, new)) = r.swaps.get(self.next.0).filter(|s| s.0 <= to) {
            self.window.move_coldkey(old, new);
            for k in self.keys.values_mut().filter(|k| &k.0 == old) {
                k.0 = new.clone();
            }
            self.next.0 += 1;
        }
        while let Some(t) = r.tranches.get(self.next.1).filter(|t| t.block <= to) {
            let key = (t.coldkey.clone(), t.hotkey.clone());
            let entry = Entry {
                id: t.id,
                block: t.block,
                initial: t.initial,
                remaining: t.initial,
            };
            self.window.insert(key.clone(), entry)?;
            self.keys.insert(t.id, key);
            self.remaining.insert(t.id, t.initial);
            self.next.1 += 1;
        }
        while let Some((id, _, amount)) = r.outflows.get(self.next.2).filter(|o| o.1 <= to) {
            if let (Some(key), Some(left)) = (self.keys.get(id), self.remaining.get_mut(id)) {
                *left = left.saturating_sub(*amount);
                self.window.set_remaining(key, *id, *left);
            }
            self.next.2 += 1;
        }
        self.window.prune(prune_since);
        Ok(())
    }
}

fn miner_ref(m: &EpochMiner) -> MinerRef {
    MinerRef {
        miner_id: m.miner_id,
        uid: m.uid,
        hotkey: m.hotkey.clone(),
        coldkey: m.coldkey.clone(),
        validator: m.validator,
        exempt: m.exempt,
    }
}

/// A key for "same uptime parameters": the tracker's horizon depends on them.
fn fingerprint(cfg: &UptimeConfig) -> String {
    serde_json::to_string(cfg).unwrap_or_default()
}

/// `(rounds, up)` to take out of each hour and day: the late rounds epoch `e` had not counted.
/// `None` when a late round's samples are no longer kept.
type Late = (
    HashMap<(i64, i64), (u32, u32)>,
    HashMap<(i64, i64), (u32, u32)>,
);

fn late_for(rec: &Recorded, e: u64) -> Option<Late> {
    let (mut hours, mut days): Late = (HashMap::new(), HashMap::new());
    for r in rec
        .late
        .iter()
        .filter(|r| r.block < e && e <= r.cursor_block)
    {
        for (miner, up) in r.samples.as_ref()? {
            for (map, index) in [(&mut hours, r.hour), (&mut days, r.day)] {
                let c = map.entry((*miner, index)).or_default();
                *c = (c.0 + 1, c.1 + u32::from(*up));
            }
        }
    }
    Some((hours, days))
}

/// `p` as epoch `e` saw it (`None`: no round of it counted yet).
fn seen(p: &Period, miner: i64, late: &HashMap<(i64, i64), (u32, u32)>) -> Option<Period> {
    let (rounds, up) = late.get(&(miner, p.index)).copied().unwrap_or((0, 0));
    let rounds = p.rounds.checked_sub(rounds).filter(|r| *r > 0)?;
    Some(Period {
        rounds,
        up: p.up.saturating_sub(up).min(rounds),
        ..*p
    })
}

impl<'a> Side<'a> {
    fn new(which: Which, alt: &'a Rules) -> Self {
        Side {
            which,
            alt,
            tracker: None,
            achievements: HashMap::new(),
            vesting: HashMap::new(),
            uptime: HashMap::new(),
        }
    }

    fn uptime_cfg<'c>(&'c self, e: &'c Epoch) -> Option<(Mode, &'c UptimeConfig)> {
        let u = e.uptime.as_ref()?;
        let cfg = match self.which {
            Which::Recorded => &u.cfg,
            Which::Alternative => &self.alt.uptime,
        };
        (u.mode != Mode::Off).then_some((u.mode, cfg))
    }

    fn vesting_cfg<'c>(&'c self, e: &'c Epoch) -> Option<&'c VestingConfig> {
        let v = e.vesting.as_ref()?;
        let cfg = match self.which {
            Which::Recorded => &v.cfg,
            Which::Alternative => &self.alt.vesting,
        };
        (v.mode != Mode::Off).then_some(cfg)
    }

    fn vesting(&mut self, e: &Epoch, books: &Window, block_time: u64) {
        let Some(cfg) = self.vesting_cfg(e) else {
            return;
        };
        let p = Params::new(cfg, block_time, e.block);
        let miners: Vec<MinerRef> = e.miners.iter().map(miner_ref).collect();
        let out = crate::vesting::epoch::compute(cfg, &p, &miners, books);
        for v in out {
            self.vesting
                .insert((e.block, v.miner_id), v.outcome.multiplier);
        }
    }

    /// The rollup cache as the daemon held it at epoch `e`: loaded whole when the parameters
    /// (and so the horizon) change, otherwise refreshed over the rows rounds could still change.
    fn refresh(&mut self, rec: &Recorded, s: &EpochSettings, at: At, late: &Late) {
        let key = fingerprint(&s.cfg);
        let whole = !matches!(&self.tracker, Some((k, _)) if *k == key);
        if whole {
            self.tracker = Some((key, Tracker::new(s)));
        }
        let Some((_, t)) = self.tracker.as_mut() else {
            return;
        };
        let h = t.horizon();
        let (from_day, from_hour) = if whole {
            (at.day - h.days, at.hour - h.hours)
        } else {
            (at.day - REFRESH_DAYS, at.hour - refresh_hours(s))
        };
        for m in rec.rollups.miners() {
            for p in between(rec.rollups.days(m, at.day - 1), from_day, at.day - 1) {
                if let Some(p) = seen(p, m, &late.1) {
                    t.cache.upsert_day(m, p);
                }
            }
            for p in between(rec.rollups.hours(m, at.hour - 1), from_hour, at.hour - 1) {
                if let Some(p) = seen(p, m, &late.0) {
                    t.cache.upsert_hour(m, p);
                }
            }
        }
        t.prune(at.day, at.hour);
    }

    fn uptime(&mut self, rec: &Recorded, e: &Epoch, periods: Periods, late: &Late) {
        let Some((_, cfg)) = self.uptime_cfg(e) else {
            return;
        };
        let cfg = cfg.clone();
        let s = EpochSettings {
            netuid: 0,
            cfg,
            periods,
            exempt: BTreeSet::new(),
        };
        let at = At::new(e.block, e.time);
        self.refresh(rec, &s, at, late);
        let Some((_, t)) = self.tracker.as_ref() else {
            return;
        };
        let mut awarded = Vec::new();
        for m in &e.miners {
            let extras = MinerExtras {
                registered: Some(m.registered),
                achievements: self
                    .achievements
                    .get(&m.miner_id)
                    .map_or(Vec::new(), |a| a.iter().map(|x| x.1).collect()),
                grants: rec.grants.get(&m.hotkey).map_or(Vec::new(), |g| {
                    g.iter()
                        .filter(|g| g.counted(e.ingested_at, e.time))
                        .map(|g| g.grant.clone())
                        .collect()
                }),
            };
            let u = evaluate_miner(&s, &t.cache, &miner_ref(m), extras, at);
            if let Ok(o) = &u.outcome {
                for (milestone, bonus) in new_milestones(o) {
                    let a = Achievement {
                        milestone,
                        bonus,
                        epochs_remaining: s.cfg.milestones.bonus_epochs,
                    };
                    awarded.push((m.miner_id, a));
                }
            }
            self.uptime.insert((e.block, m.miner_id), u.multiplier());
        }
        for (id, a) in awarded {
            self.achievements.entry(id).or_default().push((e.block, a));
        }
    }

    /// A weight submission recomputed with this side's multipliers; uses up the milestones
    /// the submission paid, as the daemon's plan did.
    fn submission(&mut self, s: &Submission) -> Result<Option<Plan>, WeightsError> {
        let mut inputs = Vec::with_capacity(s.entries.len());
        let mut uptime_epoch: Option<(u64, Mode)> = None;
        let mut max_total = self.alt.max_total_multiplier;
        for e in &s.entries {
            if self.which == Which::Recorded {
                max_total = e.max_total_multiplier;
            }
            let miner = e.miner_id.unwrap_or(-1);
            if let Factor::Recorded {
                epoch_block, mode, ..
            } = e.uptime
                && uptime_epoch.is_none_or(|(b, _)| b < epoch_block)
            {
                uptime_epoch = Some((epoch_block, mode));
            }
            let uptime = self.factor(&self.uptime, e.uptime, miner);
            let vesting = self.factor(&self.vesting, e.vesting, miner);
            let note = || Note {
                note: String::new(),
            };
            inputs.push(Input {
                uid: e.uid,
                hotkey: e.hotkey.clone(),
                miner_id: e.miner_id,
                validator: e.untouched.as_deref() == Some(UNTOUCHED_VALIDATOR),
                exempt: e.exempt,
                base: match &e.base {
                    BaseScore::Scored {
                        score,
                        block,
                        source,
                    } => Some(Base {
                        score: *score,
                        block: *block,
                        source: *source,
                    }),
                    BaseScore::Missing { .. } => None,
                },
                uptime: Applied {
                    applied: uptime,
                    why: UptimeWhy::Neutral(note()),
                },
                vesting: Applied {
                    applied: vesting,
                    why: VestingWhy::Neutral(note()),
                },
                penalty: Applied {
                    applied: e.penalty,
                    why: PenaltyWhy::Neutral(note()),
                },
            });
        }
        if let (Some((block, Mode::On)), false) = (uptime_epoch, s.dry_run) {
            self.use_milestones(block);
        }
        let Some((min_allowed_weights, max_weights_limit)) = s.limits else {
            return Ok(None);
        };
        let params = pipeline::Params {
            max_total_multiplier: max_total,
            min_allowed_weights,
            max_weights_limit,
        };
        pipeline::compute(&params, inputs).map(Some)
    }

    /// A factor as this side applies it: its own multiplier of the recorded engine epoch.
    fn factor(&self, mine: &HashMap<(u64, i64), f64>, f: Factor, miner: i64) -> f64 {
        match f {
            Factor::Recorded {
                epoch_block,
                mode,
                multiplier,
            } => applied(
                mode,
                mine.get(&(epoch_block, miner))
                    .copied()
                    .unwrap_or(multiplier),
            ),
            Factor::Neutral(applied) => applied,
        }
    }

    fn use_milestones(&mut self, epoch: u64) {
        for a in self.achievements.values_mut().flatten() {
            if a.0 <= epoch && a.1.epochs_remaining > 0 {
                a.1.epochs_remaining -= 1;
            }
        }
    }
}

/// Both sides' figures of one engine epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochFigures {
    pub block: u64,
    pub miners: usize,
    pub recorded: EngineFigures,
    pub alternative: EngineFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineFigures {
    /// Share of (non-validator, non-exempt) miners with an uptime multiplier above 1.
    pub bonus_coverage: Option<f64>,
    pub mean_uptime_multiplier: Option<f64>,
    pub mean_vesting_multiplier: Option<f64>,
}

/// Both sides' weights of one recorded submission.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubmissionFigures {
    pub epoch_block: u64,
    pub planned_block: u64,
    pub recorded: Skew,
    pub alternative: Skew,
    /// Uids whose u16 value the alternative changes.
    pub changed_uids: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skew {
    pub gini: Option<f64>,
    pub top10_share: Option<f64>,
    /// How far the multipliers moved the weights from the base-only shares.
    pub moved: f64,
}

/// A miner's mean weight share over the replayed submissions, on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    pub uid: u16,
    pub hotkey: String,
    pub recorded_share: f64,
    pub alternative_share: f64,
    pub change: f64,
}

/// Whether replaying with the recorded parameters reproduced what was recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reproduced {
    pub vesting_multipliers: usize,
    pub uptime_multipliers: usize,
    pub weight_vectors: usize,
    /// Each: what differs, first 20.
    pub differences: Vec<String>,
    pub differing: usize,
    /// Submissions planned before the chain's weight limits were recorded (not recomputed).
    pub without_limits: usize,
    /// Epochs whose late rounds' samples are no longer kept: replayed from the rollups as kept.
    pub approximate_epochs: usize,
}

/// What the alternative changes against the recorded parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Changed {
    pub vesting_multipliers: usize,
    pub uptime_multipliers: usize,
    pub weight_vectors: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub from: u64,
    pub to: u64,
    pub reproduced: Reproduced,
    pub changed: Changed,
    pub epochs: Vec<EpochFigures>,
    pub submissions: Vec<SubmissionFigures>,
    /// The miners whose mean weight share moves most, largest first (at most 10).
    pub movers: Vec<Mover>,
}

fn mean(x: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = x.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Replays `rec` with the alternative `alt`; reports epochs and submissions in `[from, to]`.
pub fn replay(
    rec: &Recorded,
    alt: &Rules,
    from: u64,
    to: u64,
) -> Result<ReplayReport, WeightsError> {
    let periods = Periods::new(alt.block_time_secs);
    let mut sides = [
        Side::new(Which::Recorded, alt),
        Side::new(Which::Alternative, alt),
    ];
    let mut books = Books::new(rec);
    let lookback = rec
        .epochs
        .iter()
        .filter_map(|e| e.vesting.as_ref().map(|v| v.cfg.lookback_days))
        .chain([alt.vesting.lookback_days])
        .max()
        .unwrap_or(0);
    let window_blocks = u64::from(lookback) * periods.blocks_per_day;
    let mut report = ReplayReport {
        from,
        to,
        reproduced: Reproduced::default(),
        changed: Changed::default(),
        epochs: Vec::new(),
        submissions: Vec::new(),
        movers: Vec::new(),
    };
    let mut shares: HashMap<u16, (String, f64, f64, usize)> = HashMap::new();
    let mut next_submission = 0;
    for e in &rec.epochs {
        while let Some(s) = rec
            .submissions
            .get(next_submission)
            .filter(|s| s.planned_block < e.block)
        {
            submit(&mut sides, s, &mut report, &mut shares, (from, to))?;
            next_submission += 1;
        }
        books.advance(e.block, e.block.saturating_sub(window_blocks))?;
        let late = late_for(rec, e.block);
        if late.is_none() && (from..=to).contains(&e.block) {
            report.reproduced.approximate_epochs += 1;
        }
        let late = late.unwrap_or_default();
        // The two sides are independent: one on each core.
        let [a, b] = &mut sides;
        let window = &books.window;
        let step = |side: &mut Side<'_>| {
            side.vesting(e, window, alt.block_time_secs);
            side.uptime(rec, e, periods, &late);
        };
        std::thread::scope(|scope| {
            let other = scope.spawn(|| step(b));
            step(a);
            // A panic there is a bug: it goes on here, as if it had happened on this thread.
            if let Err(panic) = other.join() {
                std::panic::resume_unwind(panic);
            }
        });
        if (from..=to).contains(&e.block) {
            compare_epoch(e, &sides, &mut report);
        }
    }
    for s in &rec.submissions[next_submission..] {
        submit(&mut sides, s, &mut report, &mut shares, (from, to))?;
    }
    report.movers = movers(shares);
    Ok(report)
}

fn differ(r: &mut Reproduced, what: String) {
    r.differing += 1;
    if r.differences.len() < 20 {
        r.differences.push(what);
    }
}

fn compare_epoch(e: &Epoch, sides: &[Side<'_>; 2], report: &mut ReplayReport) {
    let [rec, alt] = sides;
    let r = &mut report.reproduced;
    if let Some(v) = &e.vesting {
        for (id, m) in &v.multipliers {
            r.vesting_multipliers += 1;
            let got = rec.vesting.get(&(e.block, *id));
            if got.map(|g| g.to_bits()) != Some(m.to_bits()) {
                differ(
                    r,
                    format!(
                        "vesting at epoch block {}, miner {id}: recorded {m}, replayed {got:?}",
                        e.block
                    ),
                );
            }
            if alt.vesting.get(&(e.block, *id)) != got {
                report.changed.vesting_multipliers += 1;
            }
        }
    }
    if let Some(u) = &e.uptime {
        for (id, m) in &u.multipliers {
            r.uptime_multipliers += 1;
            let got = rec.uptime.get(&(e.block, *id));
            if got.map(|g| g.to_bits()) != Some(m.to_bits()) {
                differ(
                    r,
                    format!(
                        "uptime at epoch block {}, miner {id}: recorded {m}, replayed {got:?}",
                        e.block
                    ),
                );
            }
            if alt.uptime.get(&(e.block, *id)) != got {
                report.changed.uptime_multipliers += 1;
            }
        }
    }
    let adjusted: Vec<&EpochMiner> = e
        .miners
        .iter()
        .filter(|m| !m.validator && !m.exempt)
        .collect();
    let figures = |side: &Side<'_>| {
        let up: Vec<f64> = adjusted
            .iter()
            .filter_map(|m| side.uptime.get(&(e.block, m.miner_id)).copied())
            .collect();
        EngineFigures {
            bonus_coverage: network::coverage(&up),
            mean_uptime_multiplier: mean(up.iter().copied()),
            mean_vesting_multiplier: mean(
                adjusted
                    .iter()
                    .filter_map(|m| side.vesting.get(&(e.block, m.miner_id)).copied()),
            ),
        }
    };
    report.epochs.push(EpochFigures {
        block: e.block,
        miners: adjusted.len(),
        recorded: figures(rec),
        alternative: figures(alt),
    });
}

fn skew(p: &Plan) -> Skew {
    let shares: Vec<f64> = p.entries.iter().map(|e| e.normalized).collect();
    let base: Vec<f64> = p
        .entries
        .iter()
        .map(|e| e.input.base.as_ref().map_or(0.0, |b| b.score))
        .collect();
    Skew {
        gini: network::gini(&shares),
        top10_share: network::top_share(&shares, 0.1),
        moved: network::moved(&base, &shares).total_variation,
    }
}

/// Recomputes one submission on both sides; in range, compares and records the figures.
fn submit(
    sides: &mut [Side<'_>; 2],
    s: &Submission,
    report: &mut ReplayReport,
    shares: &mut HashMap<u16, (String, f64, f64, usize)>,
    (from, to): (u64, u64),
) -> Result<(), WeightsError> {
    let recorded = sides[0].submission(s)?;
    let alternative = sides[1].submission(s)?;
    if !(from..=to).contains(&s.planned_block) {
        return Ok(());
    }
    let (Some(rp), Some(ap)) = (recorded, alternative) else {
        report.reproduced.without_limits += 1;
        return Ok(());
    };
    report.reproduced.weight_vectors += 1;
    if rp.uids() != s.uids || rp.weights() != s.weights {
        let what = format!(
            "weights of the submission planned at block {}",
            s.planned_block
        );
        differ(&mut report.reproduced, what);
    }
    let value = |p: &Plan| -> HashMap<u16, u16> {
        p.entries.iter().map(|e| (e.input.uid, e.value)).collect()
    };
    let (rv, av) = (value(&rp), value(&ap));
    let changed_uids = rv.iter().filter(|(u, v)| av.get(u) != Some(v)).count();
    if changed_uids > 0 {
        report.changed.weight_vectors += 1;
    }
    for (r, a) in rp.entries.iter().zip(&ap.entries) {
        let e = shares
            .entry(r.input.uid)
            .or_insert_with(|| (r.input.hotkey.clone(), 0.0, 0.0, 0));
        *e = (e.0.clone(), e.1 + r.normalized, e.2 + a.normalized, e.3 + 1);
    }
    report.submissions.push(SubmissionFigures {
        epoch_block: s.epoch_block,
        planned_block: s.planned_block,
        recorded: skew(&rp),
        alternative: skew(&ap),
        changed_uids,
    });
    Ok(())
}

fn movers(shares: HashMap<u16, (String, f64, f64, usize)>) -> Vec<Mover> {
    let mut m: Vec<Mover> = shares
        .into_iter()
        .map(|(uid, (hotkey, r, a, n))| {
            let n = n.max(1) as f64;
            Mover {
                uid,
                hotkey,
                recorded_share: r / n,
                alternative_share: a / n,
                change: (a - r) / n,
            }
        })
        .collect();
    m.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then(a.uid.cmp(&b.uid))
    });
    m.truncate(10);
    m
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.4}"))
}

/// The report for the terminal.
pub fn text(r: &ReplayReport, alt: &str) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let p = &r.reproduced;
    let _ = writeln!(
        o,
        "replay of epochs {}..={} with the parameters of {alt}",
        r.from, r.to
    );
    let _ = writeln!(
        o,
        "recorded parameters: {} vesting and {} uptime multipliers, {} weight vectors recomputed; {}",
        p.vesting_multipliers,
        p.uptime_multipliers,
        p.weight_vectors,
        if p.differing == 0 {
            "all reproduced exactly".to_string()
        } else {
            format!("{} NOT reproduced", p.differing)
        }
    );
    for d in &p.differences {
        let _ = writeln!(o, "  differs: {d}");
    }
    if p.without_limits > 0 {
        let _ = writeln!(
            o,
            "  {} submission(s) planned before weight limits were recorded: not recomputed",
            p.without_limits
        );
    }
    if p.approximate_epochs > 0 {
        let _ = writeln!(
            o,
            "  {} epoch(s) replayed from the rollups as kept (late rounds' samples expired)",
            p.approximate_epochs
        );
    }
    let c = &r.changed;
    let _ = writeln!(
        o,
        "the alternative changes {} vesting and {} uptime multipliers and {} weight vectors\n",
        c.vesting_multipliers, c.uptime_multipliers, c.weight_vectors
    );
    epochs_text(&mut o, r);
    submissions_text(&mut o, r);
    o
}

fn epochs_text(o: &mut String, r: &ReplayReport) {
    use std::fmt::Write;
    let _ = writeln!(
        o,
        "{:>10} {:>6}  {:>17}  {:>17}  {:>17}",
        "epoch", "miners", "coverage rec/alt", "M_up rec/alt", "M_vest rec/alt"
    );
    for e in &r.epochs {
        let (a, b) = (&e.recorded, &e.alternative);
        let _ = writeln!(
            o,
            "{:>10} {:>6}  {:>8}/{:<8}  {:>8}/{:<8}  {:>8}/{:<8}",
            e.block,
            e.miners,
            pct(a.bonus_coverage),
            pct(b.bonus_coverage),
            num(a.mean_uptime_multiplier),
            num(b.mean_uptime_multiplier),
            num(a.mean_vesting_multiplier),
            num(b.mean_vesting_multiplier),
        );
    }
}

fn submissions_text(o: &mut String, r: &ReplayReport) {
    use std::fmt::Write;
    let _ = writeln!(
        o,
        "\n{:>10}  {:>13}  {:>13}  {:>13}  {:>7}",
        "planned at", "gini rec/alt", "top10 rec/alt", "moved rec/alt", "changed"
    );
    for s in &r.submissions {
        let (a, b) = (&s.recorded, &s.alternative);
        let _ = writeln!(
            o,
            "{:>10}  {:>6}/{:<6}  {:>6}/{:<6}  {:>6}/{:<6}  {:>7}",
            s.planned_block,
            num(a.gini).chars().take(6).collect::<String>(),
            num(b.gini).chars().take(6).collect::<String>(),
            pct(a.top10_share),
            pct(b.top10_share),
            pct(Some(a.moved)),
            pct(Some(b.moved)),
            s.changed_uids
        );
    }
    let _ = writeln!(
        o,
        "\nlargest movers (mean weight share, recorded -> alternative):"
    );
    for m in &r.movers {
        let _ = writeln!(
            o,
            "  uid {:>5} {}  {:.3}% -> {:.3}% ({:+.3} points)",
            m.uid,
            crate::cli::shown(&m.hotkey),
            m.recorded_share * 100.0,
            m.alternative_share * 100.0,
            m.change * 100.0
        );
    }
}
