//! Every bonus family of the uptime strategy (docs/rules.md, "Uptime bonuses") and their combination, over one
//! miner's [`History`]. Each bonus comes back with the metric that earned it and why, so that a
//! weight can be explained. Tiers are half-open (`metric >= min`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::config::{UptimeCombine, UptimeConfig};
use crate::tiers;
use crate::uptime::history::{History, Period, between, ratio, slope, std_dev};

/// One-time achievements.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// `milestones.hours_streak` consecutive hours, each at or above the hours threshold.
    HoursStreak,
    /// A consistency run of `milestones.days_streak` days.
    DaysStreak,
    /// 30 consecutive days at 1.0.
    PerfectMonth,
    /// 7 consecutive days at 1.0.
    PerfectWeek,
}

impl Milestone {
    pub const ALL: [Milestone; 4] = [
        Milestone::HoursStreak,
        Milestone::DaysStreak,
        Milestone::PerfectMonth,
        Milestone::PerfectWeek,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Milestone::HoursStreak => "hours_streak",
            Milestone::DaysStreak => "days_streak",
            Milestone::PerfectMonth => "perfect_month",
            Milestone::PerfectWeek => "perfect_week",
        }
    }

    pub fn parse(s: &str) -> Option<Milestone> {
        Milestone::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Every rule [`evaluate`] reports. Stored metrics are keyed by a rule's name, so adding or
/// reordering rules never changes what recorded history means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Rule {
    Reliability,
    Consistency,
    Longevity,
    Recovery,
    Stability,
    PeakHours,
    OffPeak,
    Weekend,
    Holidays,
    Maintenance,
    AllWeek,
    HoursStreak,
    DaysStreak,
    PerfectMonth,
    PerfectWeek,
    EarlyAdopter,
    NetworkSupporter,
    CommunityContributor,
    Trend,
}

/// The rule table, in report order: each rule, its family and its name (configuration keys,
/// stored metrics, the API and the pages all use the name).
pub const RULES: [(Rule, Family, &str); 19] = [
    (Rule::Reliability, Family::Reliability, "reliability"),
    (Rule::Consistency, Family::Consistency, "consistency"),
    (Rule::Longevity, Family::Longevity, "longevity"),
    (Rule::Recovery, Family::Recovery, "recovery"),
    (Rule::Stability, Family::Stability, "stability"),
    (Rule::PeakHours, Family::Time, "peak_hours"),
    (Rule::OffPeak, Family::Time, "off_peak"),
    (Rule::Weekend, Family::Time, "weekend"),
    (Rule::Holidays, Family::Time, "holidays"),
    (Rule::Maintenance, Family::Time, "maintenance"),
    (Rule::AllWeek, Family::Time, "all_week"),
    (Rule::HoursStreak, Family::Milestone, "hours_streak"),
    (Rule::DaysStreak, Family::Milestone, "days_streak"),
    (Rule::PerfectMonth, Family::Milestone, "perfect_month"),
    (Rule::PerfectWeek, Family::Milestone, "perfect_week"),
    (Rule::EarlyAdopter, Family::Contribution, "early_adopter"),
    (
        Rule::NetworkSupporter,
        Family::Contribution,
        "network_supporter",
    ),
    (
        Rule::CommunityContributor,
        Family::Contribution,
        "community_contributor",
    ),
    (Rule::Trend, Family::Trend, "trend"),
];

impl Rule {
    fn row(self) -> &'static (Rule, Family, &'static str) {
        // The table lists every variant, in declaration order.
        &RULES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.row().2
    }

    pub fn family(self) -> Family {
        self.row().1
    }
}

impl From<Milestone> for Rule {
    fn from(m: Milestone) -> Rule {
        match m {
            Milestone::HoursStreak => Rule::HoursStreak,
            Milestone::DaysStreak => Rule::DaysStreak,
            Milestone::PerfectMonth => Rule::PerfectMonth,
            Milestone::PerfectWeek => Rule::PerfectWeek,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an uptime rule")]
pub struct UnknownRule(String);

impl std::str::FromStr for Rule {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Rule, UnknownRule> {
        RULES
            .iter()
            .find(|(_, _, name)| *name == s)
            .map(|(rule, _, _)| *rule)
            .ok_or_else(|| UnknownRule(s.chars().take(64).collect()))
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Reliability,
    Consistency,
    Longevity,
    /// Part of the reliability factor.
    Recovery,
    /// Part of the reliability factor.
    Stability,
    Time,
    Milestone,
    Contribution,
    Trend,
}

impl Family {
    pub const ALL: [Family; 9] = [
        Family::Reliability,
        Family::Consistency,
        Family::Longevity,
        Family::Recovery,
        Family::Stability,
        Family::Time,
        Family::Milestone,
        Family::Contribution,
        Family::Trend,
    ];
}

/// One bonus line: its rule (stored as `name`) and family, the bonus (0 when not earned), the
/// metric it was decided on and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bonus {
    pub family: Family,
    #[serde(rename = "name")]
    pub rule: Rule,
    pub bonus: f64,
    pub metric: Option<f64>,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub current_uptime: Option<f64>,
    pub historical_uptime: Option<f64>,
    pub bonuses: Vec<Bonus>,
    /// `1 + recovery + stability`.
    pub reliability_factor: f64,
    /// Before the clamp.
    pub raw: f64,
    pub multiplier: f64,
    /// Milestones reached for the first time at this epoch (to be stored as achievements).
    pub new_milestones: Vec<Milestone>,
}

/// What is stored per miner and epoch (`uptime_multipliers.bonuses`, and inside each weight's
/// explanation): the bonuses earned in full (with why), and every rule's metric by name (a rule
/// not earned is explained by its metric against the tiers in `uptime_epochs.params`). Storing
/// every reason of every miner made a 4,096-miner epoch write 14 MB of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Detail {
    pub earned: Vec<Bonus>,
    #[serde(deserialize_with = "metrics_by_rule")]
    pub metrics: BTreeMap<Rule, Option<f64>>,
    pub reliability_factor: f64,
    pub raw: f64,
    pub new_milestones: Vec<Milestone>,
}

/// A miner's stored uptime record at an epoch: evaluated, or why the rules did not apply
/// (validator permit, exempt uid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = UptimeRecord)]
#[serde(untagged)]
pub enum Record {
    Evaluated(Detail),
    Skipped(Skipped),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    pub reason: String,
}

impl Record {
    /// A rule's recorded metric (`None` when skipped or not known).
    pub fn metric(&self, rule: Rule) -> Option<f64> {
        match self {
            Record::Evaluated(d) => d.metric(rule),
            Record::Skipped(_) => None,
        }
    }
}

/// The order in which releases before migration 7 wrote the metrics as an array. An instance
/// of such a release may still write rows while an HA pair is upgraded one by one; its rows are
/// read in this fixed order (never in today's [`RULES`] order, which may change).
const POSITIONAL_ORDER: [Rule; 19] = [
    Rule::Reliability,
    Rule::Consistency,
    Rule::Longevity,
    Rule::Recovery,
    Rule::Stability,
    Rule::PeakHours,
    Rule::OffPeak,
    Rule::Weekend,
    Rule::Holidays,
    Rule::Maintenance,
    Rule::AllWeek,
    Rule::HoursStreak,
    Rule::DaysStreak,
    Rule::PerfectMonth,
    Rule::PerfectWeek,
    Rule::EarlyAdopter,
    Rule::NetworkSupporter,
    Rule::CommunityContributor,
    Rule::Trend,
];

/// Metrics keyed by rule name, or the 19-entry array of earlier releases; anything else (an
/// unknown rule, an array of another length) is an error.
fn metrics_by_rule<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Rule, Option<f64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        ByRule(BTreeMap<Rule, Option<f64>>),
        Positional(Vec<Option<f64>>),
    }
    match Stored::deserialize(d)? {
        Stored::ByRule(m) => Ok(m),
        Stored::Positional(v) if v.len() == POSITIONAL_ORDER.len() => {
            Ok(POSITIONAL_ORDER.into_iter().zip(v).collect())
        }
        Stored::Positional(v) => Err(serde::de::Error::custom(format!(
            "{} positional metrics: releases before rule names wrote {}",
            v.len(),
            POSITIONAL_ORDER.len()
        ))),
    }
}

impl Detail {
    /// A rule's recorded metric (`None`: not known, or not recorded at that epoch).
    pub fn metric(&self, rule: Rule) -> Option<f64> {
        self.metrics.get(&rule).copied().flatten()
    }
}

impl Outcome {
    /// What is stored of this outcome.
    pub fn detail(&self) -> Detail {
        Detail {
            earned: self
                .bonuses
                .iter()
                .filter(|b| b.bonus > 0.0)
                .cloned()
                .collect(),
            metrics: self.bonuses.iter().map(|b| (b.rule, b.metric)).collect(),
            reliability_factor: self.reliability_factor,
            raw: self.raw,
            new_milestones: self.new_milestones.clone(),
        }
    }

    /// Σ bonus of one family.
    pub fn family(&self, f: Family) -> f64 {
        self.bonuses
            .iter()
            .filter(|b| b.family == f)
            .map(|b| b.bonus)
            .sum()
    }
}

fn line(rule: Rule, bonus: f64, metric: Option<f64>, why: String) -> Bonus {
    Bonus {
        family: rule.family(),
        rule,
        bonus,
        metric,
        why,
    }
}

fn run(p: &[Period], last: i64, ok: impl Fn(&Period) -> bool) -> usize {
    p.iter()
        .rev()
        .filter(|x| x.index <= last)
        .take_while(|x| ok(x))
        .count()
}

/// The consistency run: days at or above `threshold`, newest first from `last`; a day below is
/// forgiven (not counted, not breaking) when fewer than `protection` days were forgiven in the
/// 30 days after it. Returns (run length, forgiven days).
fn consistency_run(days: &[Period], last: i64, threshold: f64, protection: u32) -> (usize, usize) {
    let mut length = 0;
    let mut forgiven: Vec<i64> = Vec::new();
    for d in days.iter().rev().filter(|d| d.index <= last) {
        if d.uptime() >= threshold {
            length += 1;
            continue;
        }
        let recent = forgiven.iter().filter(|&&f| f < d.index + 30).count();
        if recent < protection as usize {
            forgiven.push(d.index);
            continue;
        }
        break;
    }
    (length, forgiven.len())
}

/// The last downtime episode (consecutive known hours with any down round) that ended within
/// the window: `Some(hours)` once the miner is up again after it, `None` without an episode;
/// `Err(hours)` while it is still going on.
/// The longest downtime episode (consecutive known hours with a down sample) that reaches into
/// the last `window_hours` hours, counted whole (an episode that began before the window counts
/// all its hours); 0 when there is none. Unknown hours neither lengthen nor split an episode.
fn longest_episode(hours: &[Period], last_hour: i64, window_hours: i64) -> u32 {
    let start = last_hour - window_hours;
    let (mut longest, mut run, mut reaches_window) = (0u32, 0u32, false);
    for h in hours.iter().rev().filter(|h| h.index <= last_hour) {
        if h.up < h.rounds {
            if run == 0 {
                reaches_window = h.index > start;
            }
            run += 1;
            continue;
        }
        if reaches_window {
            longest = longest.max(run);
        }
        run = 0;
        if h.index <= start {
            break;
        }
    }
    if reaches_window {
        longest = longest.max(run);
    }
    longest
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// Every bonus of one miner, the reliability factor and the multiplier under `cfg`: one line per
/// rule, in the order of [`RULES`], whether earned or not.
pub fn evaluate(cfg: &UptimeConfig, h: &History) -> Outcome {
    let current = h.current.filter(|c| c.is_finite());
    let (consistency, cons_run) = consistency(cfg, h);
    let mut b = vec![
        reliability(cfg, current),
        consistency,
        longevity(cfg, h),
        recovery(cfg, h),
        stability(cfg, h),
    ];
    b.extend(time_windows(cfg, h));
    let (milestones, new_milestones) = milestones(cfg, h, cons_run);
    b.extend(milestones);
    b.extend(contribution(cfg, h));
    b.push(trend(cfg, h, current));
    let out = Outcome {
        current_uptime: current,
        historical_uptime: h.historical.filter(|x| x.is_finite()),
        bonuses: b,
        reliability_factor: 1.0,
        raw: 1.0,
        multiplier: 1.0,
        new_milestones,
    };
    combine(cfg, out)
}

/// Reliability, on the current uptime.
fn reliability(cfg: &UptimeConfig, current: Option<f64>) -> Bonus {
    match current {
        Some(c) => line(
            Rule::Reliability,
            tiers::bonus(&cfg.reliability.tiers, c),
            Some(c),
            format!("current uptime {}", pct(c)),
        ),
        None => line(
            Rule::Reliability,
            0.0,
            None,
            "no round in the current window".into(),
        ),
    }
}

/// Consistency, with streak protection; also returns the run (the days-streak milestone's).
fn consistency(cfg: &UptimeConfig, h: &History) -> (Bonus, usize) {
    let (cons_run, forgiven) = consistency_run(
        &h.days,
        h.last_day,
        cfg.consistency.threshold,
        cfg.reliability_factor.streak_protection_days,
    );
    let bonus = line(
        Rule::Consistency,
        tiers::bonus(&cfg.consistency.tiers, cons_run as f64),
        Some(cons_run as f64),
        format!(
            "{cons_run} consecutive known days at or above {} ({forgiven} forgiven by streak protection)",
            pct(cfg.consistency.threshold)
        ),
    );
    (bonus, cons_run)
}

/// Longevity: a day below the floor resets.
fn longevity(cfg: &UptimeConfig, h: &History) -> Bonus {
    let long_run = run(&h.days, h.last_day, |d| d.uptime() >= cfg.longevity.floor);
    line(
        Rule::Longevity,
        tiers::bonus(&cfg.longevity.tiers, long_run as f64),
        Some(long_run as f64),
        format!(
            "{long_run} consecutive known days at or above {} since registration or the last day below",
            pct(cfg.longevity.floor)
        ),
    )
}

/// Recovery (part of the reliability factor): no downtime in the window lasted
/// `recovery_max_hours` or longer. A miner that never went down qualifies: the bonus rewards
/// never staying down long, it never pays for having had an outage. A miner not seen up in the
/// window (dead, or nothing known) does not.
fn recovery(cfg: &UptimeConfig, h: &History) -> Bonus {
    let rf = &cfg.reliability_factor;
    let window_hours = i64::from(rf.recovery_window_days) * 24;
    let up_in_window = h
        .hours
        .iter()
        .filter(|p| p.index <= h.last_hour && p.index > h.last_hour - window_hours)
        .any(|p| p.up > 0);
    if !up_in_window {
        // Unknown hours never count against a miner, nor do they show that it stays up; a
        // miner never up in the window has shown nothing either.
        let why = format!("not seen up in {} days", rf.recovery_window_days);
        return line(Rule::Recovery, 0.0, None, why);
    }
    let longest = longest_episode(&h.hours, h.last_hour, window_hours);
    let short = longest < rf.recovery_max_hours;
    let why = if longest == 0 {
        format!("no downtime in {} days", rf.recovery_window_days)
    } else {
        format!(
            "longest downtime in {} days: {longest} h ({} {} h)",
            rf.recovery_window_days,
            if short { "under" } else { "not under" },
            rf.recovery_max_hours
        )
    };
    let bonus = if short { rf.recovery_bonus } else { 0.0 };
    line(Rule::Recovery, bonus, Some(f64::from(longest)), why)
}

/// Stability (part of the reliability factor): a low spread of daily uptime.
fn stability(cfg: &UptimeConfig, h: &History) -> Bonus {
    let rf = &cfg.reliability_factor;
    let known: Vec<f64> = h
        .days
        .iter()
        .filter(|d| d.index <= h.last_day)
        .rev()
        .take(rf.stability_window_days as usize)
        .map(Period::uptime)
        .collect();
    match std_dev(&known) {
        Some(sd) if known.len() >= rf.stability_min_known_days as usize => {
            let stable = sd <= rf.stability_max_stddev;
            line(
                Rule::Stability,
                if stable { rf.stability_bonus } else { 0.0 },
                Some(sd),
                format!(
                    "std-dev of daily uptime over {} known days {sd:.4} ({} {})",
                    known.len(),
                    if stable { "<=" } else { ">" },
                    rf.stability_max_stddev
                ),
            )
        }
        _ => line(
            Rule::Stability,
            0.0,
            None,
            format!(
                "{} known days, {} needed",
                known.len(),
                rf.stability_min_known_days
            ),
        ),
    }
}

/// The time-window rules over the last `time.window_days` of hours. A window that is not
/// configured still gets its (empty) line, so every epoch records every rule.
fn time_windows(cfg: &UptimeConfig, h: &History) -> Vec<Bonus> {
    let t = &cfg.time;
    let recent = between(
        &h.hours,
        h.last_hour - i64::from(t.window_days) * 24 + 1,
        h.last_hour,
    );
    let window = |rule, bonus, what: &str, sel: &dyn Fn(&Period) -> bool| {
        window_line(cfg, recent, rule, bonus, what, sel)
    };
    let unset = |rule, key: &str| line(rule, 0.0, None, format!("{key} not configured"));
    let mut b = Vec::with_capacity(6);
    if t.peak_hours_utc.is_empty() {
        b.push(unset(Rule::PeakHours, "uptime.time.peak_hours_utc"));
        b.push(unset(Rule::OffPeak, "uptime.time.peak_hours_utc"));
    } else {
        let peak = |p: &Period| t.peak_hours_utc.contains(&(p.hour_of_day() as u8));
        b.push(window(Rule::PeakHours, t.peak_bonus, "peak hours", &peak));
        let off_peak = |p: &Period| !peak(p);
        b.push(window(
            Rule::OffPeak,
            t.off_peak_bonus,
            "off-peak hours",
            &off_peak,
        ));
    }
    let weekend = |p: &Period| matches!(p.weekday(), Weekday::Sat | Weekday::Sun);
    b.push(window(Rule::Weekend, t.weekend_bonus, "weekends", &weekend));
    // As UTC day numbers since the Unix epoch, an hour's `day()`.
    let holidays: Vec<i64> = t
        .holidays
        .iter()
        .map(|d| {
            d.0.signed_duration_since(DateTime::<Utc>::UNIX_EPOCH.date_naive())
                .num_days()
        })
        .collect();
    if holidays.is_empty() {
        b.push(unset(Rule::Holidays, "uptime.time.holidays"));
    } else {
        let holiday = |p: &Period| holidays.contains(&p.day());
        b.push(window(
            Rule::Holidays,
            t.holiday_bonus,
            "holidays",
            &holiday,
        ));
    }
    if t.maintenance_windows.is_empty() {
        b.push(unset(Rule::Maintenance, "uptime.time.maintenance_windows"));
    } else {
        let maintenance = |p: &Period| {
            t.maintenance_windows.iter().any(|w| {
                w.weekday.0 == p.weekday()
                    && (u32::from(w.start_hour)..u32::from(w.end_hour)).contains(&p.hour_of_day())
            })
        };
        let what = "maintenance windows";
        b.push(window(
            Rule::Maintenance,
            t.maintenance_bonus,
            what,
            &maintenance,
        ));
    }
    b.push(all_week(cfg, recent));
    b
}

/// One time window: its uptime over the hours `sel` picks, earned at or above the threshold.
fn window_line(
    cfg: &UptimeConfig,
    recent: &[Period],
    rule: Rule,
    bonus: f64,
    what: &str,
    sel: &dyn Fn(&Period) -> bool,
) -> Bonus {
    let t = &cfg.time;
    let r = ratio(recent.iter().filter(|p| sel(p)));
    let earned = r.is_some_and(|r| r >= t.threshold);
    let why = match r {
        Some(r) => format!(
            "uptime {} during {what} in the last {} days",
            pct(r),
            t.window_days
        ),
        None => format!(
            "no known hour during {what} in the last {} days",
            t.window_days
        ),
    };
    line(rule, if earned { bonus } else { 0.0 }, r, why)
}

/// All week: every one of the 7 weekdays has known hours and is at or above the threshold.
fn all_week(cfg: &UptimeConfig, recent: &[Period]) -> Bonus {
    let t = &cfg.time;
    let per_day: Vec<Option<f64>> = (0..7)
        .map(|d| {
            ratio(
                recent
                    .iter()
                    .filter(|p| p.weekday().num_days_from_monday() == d),
            )
        })
        .collect();
    let worst = per_day
        .iter()
        .map(|r| r.unwrap_or(-1.0))
        .fold(f64::INFINITY, f64::min);
    let all_week = per_day.iter().all(|r| r.is_some_and(|r| r >= t.threshold));
    let why = if worst >= 0.0 {
        format!(
            "worst weekday of the last {} days at {}",
            t.window_days,
            pct(worst)
        )
    } else {
        format!(
            "not every weekday is known in the last {} days",
            t.window_days
        )
    };
    let bonus = if all_week { t.all_week_bonus } else { 0.0 };
    line(Rule::AllWeek, bonus, (worst >= 0.0).then_some(worst), why)
}

/// Milestones: reached now and never awarded before ⇒ new; bonuses of achievements still
/// being applied. Returns the lines and the milestones reached for the first time.
fn milestones(cfg: &UptimeConfig, h: &History, cons_run: usize) -> (Vec<Bonus>, Vec<Milestone>) {
    let m = &cfg.milestones;
    let hours_run = run(&h.hours, h.last_hour, |p| {
        p.uptime() >= m.hours_streak_threshold
    });
    let perfect = run(&h.days, h.last_day, |d| d.up >= d.rounds);
    let reached = [
        (
            Milestone::HoursStreak,
            hours_run >= m.hours_streak as usize,
            m.hours_streak_bonus,
            hours_run,
        ),
        (
            Milestone::DaysStreak,
            cons_run >= m.days_streak as usize,
            m.days_streak_bonus,
            cons_run,
        ),
        (
            Milestone::PerfectMonth,
            perfect >= 30,
            m.perfect_month_bonus,
            perfect,
        ),
        (
            Milestone::PerfectWeek,
            perfect >= 7,
            m.perfect_week_bonus,
            perfect,
        ),
    ];
    let mut lines = Vec::with_capacity(reached.len());
    let mut new_milestones = Vec::new();
    for (milestone, hit, bonus, metric) in reached {
        let earlier = h.achievements.iter().find(|a| a.milestone == milestone);
        let (applied, why) = match earlier {
            Some(a) if a.epochs_remaining > 0 => (
                a.bonus,
                format!(
                    "awarded earlier; applies {} more epoch(s)",
                    a.epochs_remaining
                ),
            ),
            Some(_) => (0.0, "awarded earlier; already applied".to_string()),
            None if hit && m.bonus_epochs > 0 => {
                new_milestones.push(milestone);
                (bonus, "reached now: awarded once".to_string())
            }
            None if hit => {
                new_milestones.push(milestone);
                (0.0, "reached now (milestones.bonus_epochs = 0)".to_string())
            }
            None => (0.0, "not reached".to_string()),
        };
        lines.push(line(milestone.into(), applied, Some(metric as f64), why));
    }
    (lines, new_milestones)
}

/// Network contribution: early adopter, network supporter, community contributor (grants).
fn contribution(cfg: &UptimeConfig, h: &History) -> Vec<Bonus> {
    let c = &cfg.contribution;
    let early = h.registered_days > f64::from(c.early_adopter_days);
    let early_adopter = line(
        Rule::EarlyAdopter,
        if early { c.early_adopter_bonus } else { 0.0 },
        Some(h.registered_days),
        format!(
            "registered {:.1} days ({} than {})",
            h.registered_days,
            if early { "more" } else { "not more" },
            c.early_adopter_days
        ),
    );
    vec![early_adopter, supporter(cfg, h), community(h)]
}

fn supporter(cfg: &UptimeConfig, h: &History) -> Bonus {
    let c = &cfg.contribution;
    let window_start = h.last_day - i64::from(c.supporter_window_days) + 1;
    if h.registered_day > window_start {
        let why = format!("registered less than {} days ago", c.supporter_window_days);
        return line(Rule::NetworkSupporter, 0.0, None, why);
    }
    let span = between(&h.days, window_start, h.last_day);
    let up_days = span.iter().filter(|d| d.up > 0).count();
    // Days without any round are tenure's outage, never the miner's: excused.
    let unknown = c.supporter_window_days as usize - span.len();
    let supported = up_days + unknown >= c.supporter_min_days as usize;
    line(
        Rule::NetworkSupporter,
        if supported { c.supporter_bonus } else { 0.0 },
        Some(up_days as f64),
        format!(
            "up on {up_days} of the last {} days ({unknown} unknown, excused); {} needed",
            c.supporter_window_days, c.supporter_min_days
        ),
    )
}

fn community(h: &History) -> Bonus {
    let active = h
        .grants
        .iter()
        .filter(|g| !g.revoked && h.now.is_none_or(|now| g.expires_at > now))
        .max_by(|a, b| a.bonus.total_cmp(&b.bonus));
    match active {
        Some(g) => line(
            Rule::CommunityContributor,
            g.bonus.max(0.0),
            None,
            format!(
                "operator grant until {}: {}",
                g.expires_at.to_rfc3339(),
                g.reason
            ),
        ),
        None => line(
            Rule::CommunityContributor,
            0.0,
            None,
            "no active grant".into(),
        ),
    }
}

/// Trend: daily uptime improving over the window, with a current uptime high enough.
fn trend(cfg: &UptimeConfig, h: &History, current: Option<f64>) -> Bonus {
    let tr = &cfg.trend;
    let points: Vec<(f64, f64)> = between(
        &h.days,
        h.last_day - i64::from(tr.window_days) + 1,
        h.last_day,
    )
    .iter()
    .map(|d| (d.index as f64, d.uptime()))
    .collect();
    let s = slope(&points);
    let improving =
        s.is_some_and(|s| s > tr.min_slope) && current.is_some_and(|c| c >= tr.min_current_uptime);
    let why = match s {
        Some(s) => format!(
            "daily uptime slope {s:+.4}/day over {} known days (needs > {} with current uptime >= {})",
            points.len(),
            tr.min_slope,
            pct(tr.min_current_uptime)
        ),
        None => format!("{} known days: no trend", points.len()),
    };
    line(Rule::Trend, if improving { tr.bonus } else { 0.0 }, s, why)
}

/// The raw value `R = (1+reliability)·(1+consistency)·(1+longevity)·(1+recovery+stability)·
/// (1 + time + milestones + contribution + trend)` from the families' bonuses.
fn product(family: impl Fn(Family) -> f64) -> f64 {
    (1.0 + family(Family::Reliability))
        * (1.0 + family(Family::Consistency))
        * (1.0 + family(Family::Longevity))
        * (1.0 + family(Family::Recovery) + family(Family::Stability))
        * (1.0
            + family(Family::Time)
            + family(Family::Milestone)
            + family(Family::Contribution)
            + family(Family::Trend))
}

/// `R` of a miner holding the top tier of every persistent family the configuration can pay
/// at once (every configured time window, contribution without grants): the raw value the
/// `scaled` combination maps to the cap. Milestones and trend are left out: they are
/// transient (a milestone pays once, trend pays only while uptime improves, which a miner
/// already at 100 % never does), so a steady perfect miner reaches the cap and they raise a
/// miner below it.
pub fn top_raw(cfg: &UptimeConfig) -> f64 {
    let top =
        |tiers: &[crate::config::BonusTier]| tiers.iter().map(|t| t.bonus).fold(0.0, f64::max);
    let (t, c, rf) = (&cfg.time, &cfg.contribution, &cfg.reliability_factor);
    let mut time = t.weekend_bonus + t.all_week_bonus;
    if !t.peak_hours_utc.is_empty() {
        time += t.peak_bonus + t.off_peak_bonus;
    }
    if !t.holidays.is_empty() {
        time += t.holiday_bonus;
    }
    if !t.maintenance_windows.is_empty() {
        time += t.maintenance_bonus;
    }
    product(|f| match f {
        Family::Reliability => top(&cfg.reliability.tiers),
        Family::Consistency => top(&cfg.consistency.tiers),
        Family::Longevity => top(&cfg.longevity.tiers),
        Family::Recovery => rf.recovery_bonus,
        Family::Stability => rf.stability_bonus,
        Family::Time => time,
        Family::Milestone => 0.0,
        Family::Contribution => c.early_adopter_bonus + c.supporter_bonus,
        Family::Trend => 0.0,
    })
}

fn combine(cfg: &UptimeConfig, mut o: Outcome) -> Outcome {
    let factor = 1.0 + o.family(Family::Recovery) + o.family(Family::Stability);
    let raw = match cfg.combine {
        UptimeCombine::Scaled | UptimeCombine::Multiplicative => product(|f| o.family(f)),
        UptimeCombine::Additive => 1.0 + o.bonuses.iter().map(|b| b.bonus).sum::<f64>(),
    };
    o.reliability_factor = factor;
    o.raw = raw;
    o.multiplier = scale(cfg, raw);
    o
}

/// The multiplier of a raw value under `cfg`'s combination, clamped to `[1, max_multiplier]`.
fn scale(cfg: &UptimeConfig, raw: f64) -> f64 {
    let value = match cfg.combine {
        UptimeCombine::Scaled => {
            let top = top_raw(cfg);
            if top > 1.0 {
                1.0 + (cfg.max_multiplier - 1.0) * (raw - 1.0) / (top - 1.0)
            } else {
                1.0
            }
        }
        UptimeCombine::Multiplicative | UptimeCombine::Additive => raw,
    };
    if value.is_finite() {
        value.clamp(1.0, cfg.max_multiplier)
    } else {
        1.0
    }
}

/// The multiplier of bonuses summed per family as `family` gives them: what-if questions
/// ("would this tier have changed anything?") asked of the same combination [`evaluate`] uses.
pub fn combined(cfg: &UptimeConfig, family: impl Fn(Family) -> f64) -> f64 {
    let raw = match cfg.combine {
        UptimeCombine::Scaled | UptimeCombine::Multiplicative => product(&family),
        UptimeCombine::Additive => 1.0 + Family::ALL.iter().map(|f| family(*f)).sum::<f64>(),
    };
    scale(cfg, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MaintenanceWindow;
    use crate::uptime::history::{Achievement, Grant};
    use chrono::{DateTime, Duration, TimeZone, Utc};

    fn date(y: i32, m: u32, d: u32) -> crate::config::Date {
        crate::config::Date(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    /// Day 0 starts on Monday 2026-01-05 00:00 UTC.
    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
    }

    /// Day and hour numbers (since the Unix epoch) of `t0`: a period's time follows from its
    /// index.
    fn d0() -> i64 {
        t0().timestamp() / 86_400
    }

    fn h0() -> i64 {
        d0() * 24
    }

    fn period(index: i64, uptime: f64) -> Period {
        Period {
            index,
            rounds: 10_000,
            up: (uptime * 10_000.0).round() as u32,
        }
    }

    /// Days from uptimes (`None` = unknown), the last one being the last complete day.
    fn days(u: &[Option<f64>]) -> History<'static> {
        let days: Vec<Period> = u
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.map(|x| period(d0() + i as i64, x)))
            .collect();
        History {
            current: Some(1.0),
            last_day: d0() + u.len() as i64 - 1,
            last_hour: (d0() + u.len() as i64) * 24 - 1,
            registered_day: d0(),
            days: days.into(),
            now: Some(t0() + Duration::days(u.len() as i64)),
            ..History::default()
        }
    }

    fn hours(u: &[Option<f64>]) -> History<'static> {
        let hours: Vec<Period> = u
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.map(|x| period(h0() + i as i64, x)))
            .collect();
        History {
            current: Some(1.0),
            last_hour: h0() + u.len() as i64 - 1,
            last_day: d0() + u.len() as i64 / 24 - 1,
            registered_day: d0(),
            hours: hours.into(),
            now: Some(t0() + Duration::hours(u.len() as i64)),
            ..History::default()
        }
    }

    fn get(o: &Outcome, name: &str) -> f64 {
        o.bonuses
            .iter()
            .find(|b| b.rule.name() == name)
            .map_or(f64::NAN, |b| b.bonus)
    }

    fn bonus_of(cfg: &UptimeConfig, h: &History, name: &str) -> f64 {
        get(&evaluate(cfg, h), name)
    }

    fn ok(n: usize) -> Vec<Option<f64>> {
        vec![Some(1.0); n]
    }

    #[test]
    fn reliability_tier_edges() {
        let cfg = UptimeConfig::default();
        for (c, want) in [
            (Some(1.0), 0.25),
            (Some(0.9999), 0.20),
            (Some(0.95), 0.20),
            (Some(0.9499), 0.15),
            (Some(0.90), 0.15),
            (Some(0.85), 0.10),
            (Some(0.8499), 0.05),
            (Some(0.75), 0.05),
            (Some(0.7499), 0.0),
            (None, 0.0),
        ] {
            let h = History {
                current: c,
                ..History::default()
            };
            assert_eq!(bonus_of(&cfg, &h, "reliability"), want, "{c:?}");
        }
    }

    #[test]
    fn consistency_tier_edges_threshold_and_unknown_days() {
        let mut cfg = UptimeConfig::default();
        cfg.reliability_factor.streak_protection_days = 0;
        for (n, want) in [
            (2, 0.0),
            (3, 0.02),
            (6, 0.02),
            (7, 0.05),
            (13, 0.05),
            (14, 0.10),
            (29, 0.10),
            (30, 0.15),
        ] {
            let mut u = vec![Some(0.5)];
            u.extend(ok(n));
            assert_eq!(bonus_of(&cfg, &days(&u), "consistency"), want, "{n} days");
        }
        // The threshold is half-open: 0.95 counts, 0.9499 breaks.
        assert_eq!(bonus_of(&cfg, &days(&[Some(0.95); 3]), "consistency"), 0.02);
        let broken = [Some(0.95), Some(0.9499), Some(0.95), Some(0.95)];
        assert_eq!(bonus_of(&cfg, &days(&broken), "consistency"), 0.0);
        // Unknown days (tenure down) neither break nor extend the run.
        let gap = [Some(1.0), None, None, Some(1.0), Some(1.0)];
        let o = evaluate(&cfg, &days(&gap));
        assert_eq!(get(&o, "consistency"), 0.02);
        assert_eq!(o.bonuses[1].metric, Some(3.0));
        let gap = [Some(1.0), None, Some(1.0)];
        assert_eq!(bonus_of(&cfg, &days(&gap), "consistency"), 0.0);
    }

    #[test]
    fn streak_protection_forgives_one_day_per_thirty() {
        let cfg = UptimeConfig::default(); // one day per 30
        let mut u = ok(10);
        u.push(Some(0.5));
        u.extend(ok(10));
        let o = evaluate(&cfg, &days(&u));
        assert_eq!(o.bonuses[1].metric, Some(20.0));
        assert_eq!(get(&o, "consistency"), 0.10);
        // A second bad day within 30 days of the first ends the run there.
        let mut u = ok(5);
        u.push(Some(0.5));
        u.extend(ok(10));
        u.push(Some(0.5));
        u.extend(ok(4));
        assert_eq!(evaluate(&cfg, &days(&u)).bonuses[1].metric, Some(14.0));
        // Thirty days apart, both are forgiven.
        let mut u = ok(5);
        u.push(Some(0.5));
        u.extend(ok(29));
        u.push(Some(0.5));
        u.extend(ok(4));
        assert_eq!(evaluate(&cfg, &days(&u)).bonuses[1].metric, Some(38.0));
        // Longevity has no protection: a day below the floor resets it.
        let mut u = ok(20);
        u.push(Some(0.49));
        u.extend(ok(14));
        assert_eq!(bonus_of(&cfg, &days(&u), "longevity"), 0.05);
    }

    #[test]
    fn longevity_tier_edges_and_floor() {
        let cfg = UptimeConfig::default();
        for (n, want) in [
            (13, 0.0),
            (14, 0.05),
            (30, 0.10),
            (89, 0.10),
            (90, 0.20),
            (180, 0.30),
        ] {
            assert_eq!(
                bonus_of(&cfg, &days(&vec![Some(0.5); n]), "longevity"),
                want,
                "{n}"
            );
        }
        let mut u = vec![Some(0.4999)];
        u.extend(vec![Some(0.6); 13]);
        assert_eq!(bonus_of(&cfg, &days(&u), "longevity"), 0.0);
    }

    #[test]
    fn recovery_pays_for_never_staying_down_long() {
        let cfg = UptimeConfig::default();
        let episode = |down: usize, after: usize, before: usize| {
            let mut u = ok(before);
            u.extend(vec![Some(0.0); down]);
            u.extend(ok(after));
            hours(&u)
        };
        // Never down: the bonus (it must never pay for having had an outage).
        assert_eq!(bonus_of(&cfg, &hours(&ok(200)), "recovery"), 0.03);
        // A 2 h and a 23 h outage: still never down a whole day.
        assert_eq!(bonus_of(&cfg, &episode(2, 5, 48), "recovery"), 0.03);
        assert_eq!(bonus_of(&cfg, &episode(23, 5, 48), "recovery"), 0.03);
        // 24 h and 30 h: down too long.
        assert_eq!(bonus_of(&cfg, &episode(24, 5, 48), "recovery"), 0.0);
        assert_eq!(bonus_of(&cfg, &episode(30, 5, 48), "recovery"), 0.0);
        // Still down: short so far qualifies, a whole day does not; never seen up: nothing.
        assert_eq!(bonus_of(&cfg, &episode(3, 0, 48), "recovery"), 0.03);
        assert_eq!(bonus_of(&cfg, &episode(3, 0, 0), "recovery"), 0.0);
        assert_eq!(bonus_of(&cfg, &episode(30, 0, 48), "recovery"), 0.0);
        // A long episode that ended more than 7 days ago no longer counts; one whose last hour
        // is inside the window counts whole.
        assert_eq!(bonus_of(&cfg, &episode(30, 7 * 24, 10), "recovery"), 0.03);
        assert_eq!(
            bonus_of(&cfg, &episode(30, 7 * 24 - 1, 10), "recovery"),
            0.0
        );
        // The longest episode decides, not the last one.
        let mut u = ok(10);
        u.extend(vec![Some(0.0); 30]);
        u.extend(ok(20));
        u.extend(vec![Some(0.0); 2]);
        u.extend(ok(5));
        assert_eq!(bonus_of(&cfg, &hours(&u), "recovery"), 0.0);
        // Unknown hours inside an episode neither lengthen nor split it.
        let mut u = ok(10);
        u.extend(vec![Some(0.0); 12]);
        u.extend(vec![None; 30]);
        u.extend(vec![Some(0.5); 11]);
        u.extend(ok(3));
        let o = evaluate(&cfg, &hours(&u));
        assert_eq!(get(&o, "recovery"), 0.03);
        assert_eq!(
            o.bonuses
                .iter()
                .find(|b| b.rule == Rule::Recovery)
                .unwrap()
                .metric,
            Some(23.0)
        );
    }

    #[test]
    fn stability_needs_enough_known_days_and_a_small_spread() {
        let cfg = UptimeConfig::default();
        let steady: Vec<Option<f64>> = (0..7)
            .map(|i| Some(if i % 2 == 0 { 0.98 } else { 1.0 }))
            .collect();
        assert_eq!(bonus_of(&cfg, &days(&steady), "stability"), 0.05); // sd ≈ 0.0099
        assert_eq!(bonus_of(&cfg, &days(&steady[..6]), "stability"), 0.0);
        let spread: Vec<Option<f64>> = (0..7)
            .map(|i| Some(if i % 2 == 0 { 0.94 } else { 1.0 }))
            .collect();
        assert_eq!(bonus_of(&cfg, &days(&spread), "stability"), 0.0);
        // Unknown days are skipped, not counted as zero.
        let mut gappy = steady.clone();
        gappy.insert(3, None);
        assert_eq!(bonus_of(&cfg, &days(&gappy), "stability"), 0.05);
    }

    #[test]
    fn time_windows() {
        let mut cfg = UptimeConfig::default();
        // 14 days of hours, Monday 00:00 on; down 02:00-03:00 UTC every day.
        let u: Vec<Option<f64>> = (0..14 * 24)
            .map(|i| Some(if i % 24 == 2 { 0.0 } else { 1.0 }))
            .collect();
        let h = hours(&u);
        // Nothing configured: no peak, holiday or maintenance line; weekends and all-week fail
        // (every day has a down hour: 23/24 < 0.99).
        let o = evaluate(&cfg, &h);
        for name in ["peak_hours", "off_peak", "holidays", "maintenance"] {
            let line = o.bonuses.iter().find(|b| b.rule.name() == name).unwrap();
            assert_eq!((line.bonus, line.metric), (0.0, None), "{name}");
            assert!(line.why.contains("not configured"), "{name}");
        }
        assert_eq!(get(&o, "weekend"), 0.0);
        assert_eq!(get(&o, "all_week"), 0.0);
        cfg.time.peak_hours_utc = vec![12, 13, 14];
        cfg.time.holidays = vec![date(2026, 1, 17)]; // the second Saturday
        cfg.time.maintenance_windows = vec![MaintenanceWindow {
            weekday: crate::config::Day(Weekday::Sun),
            start_hour: 3,
            end_hour: 6,
        }];
        let o = evaluate(&cfg, &h);
        assert_eq!(get(&o, "peak_hours"), 0.10);
        assert_eq!(get(&o, "off_peak"), 0.0);
        assert_eq!(get(&o, "holidays"), 0.0);
        assert_eq!(get(&o, "maintenance"), 0.10);
        // Always up: every window earns.
        let o = evaluate(&cfg, &hours(&ok(14 * 24)));
        for name in [
            "peak_hours",
            "off_peak",
            "weekend",
            "all_week",
            "holidays",
            "maintenance",
        ] {
            assert!(get(&o, name) > 0.0, "{name}");
        }
        assert!((o.family(Family::Time) - (0.10 + 0.05 + 0.05 + 0.08 + 0.15 + 0.10)).abs() < 1e-12);
        // A holiday outside the last 7 days does not count; a weekday missing breaks all-week.
        cfg.time.holidays = vec![date(2026, 1, 6)];
        let mut u = ok(14 * 24);
        for x in u.iter_mut().skip(8 * 24).take(24) {
            *x = None;
        }
        let o = evaluate(&cfg, &hours(&u));
        assert_eq!(get(&o, "holidays"), 0.0);
        assert_eq!(get(&o, "all_week"), 0.0);
    }

    #[test]
    fn milestones_are_awarded_once() {
        let cfg = UptimeConfig::default();
        let mut h = days(&ok(7));
        let o = evaluate(&cfg, &h);
        assert_eq!(o.new_milestones, vec![Milestone::PerfectWeek]);
        assert_eq!(get(&o, "perfect_week"), 0.15);
        assert_eq!(get(&o, "perfect_month"), 0.0);
        // Stored, with one epoch left: applied, not new.
        h.achievements = vec![Achievement {
            milestone: Milestone::PerfectWeek,
            bonus: 0.15,
            epochs_remaining: 1,
        }];
        let o = evaluate(&cfg, &h);
        assert!(o.new_milestones.is_empty());
        assert_eq!(get(&o, "perfect_week"), 0.15);
        // Used up: never again, whatever the miner does.
        h.achievements[0].epochs_remaining = 0;
        let o = evaluate(&cfg, &days(&ok(40)));
        assert_eq!(
            o.new_milestones,
            vec![Milestone::PerfectMonth, Milestone::PerfectWeek]
        );
        let mut h = days(&ok(40));
        h.achievements = vec![Achievement {
            milestone: Milestone::PerfectWeek,
            bonus: 0.15,
            epochs_remaining: 0,
        }];
        let o = evaluate(&cfg, &h);
        assert_eq!(o.new_milestones, vec![Milestone::PerfectMonth]);
        assert_eq!(get(&o, "perfect_week"), 0.0);
        // 1,000 hours each at or above 0.99; 999 is not enough.
        let o = evaluate(&cfg, &hours(&vec![Some(0.99); 1000]));
        assert!(o.new_milestones.contains(&Milestone::HoursStreak));
        let o = evaluate(&cfg, &hours(&vec![Some(0.99); 999]));
        assert!(!o.new_milestones.contains(&Milestone::HoursStreak));
        // 100 days of the consistency run.
        assert!(
            evaluate(&cfg, &days(&vec![Some(0.96); 100]))
                .new_milestones
                .contains(&Milestone::DaysStreak)
        );
        assert!(
            !evaluate(&cfg, &days(&vec![Some(0.96); 99]))
                .new_milestones
                .contains(&Milestone::DaysStreak)
        );
    }

    #[test]
    fn contribution_and_grants() {
        let cfg = UptimeConfig::default();
        let mut h = days(&ok(90));
        h.registered_days = 180.0;
        assert_eq!(bonus_of(&cfg, &h, "early_adopter"), 0.0);
        h.registered_days = 180.01;
        assert_eq!(bonus_of(&cfg, &h, "early_adopter"), 0.20);
        assert_eq!(bonus_of(&cfg, &h, "network_supporter"), 0.15);
        // 84 up days of 90 is not enough; 84 up days and one unknown day is.
        let mut u = ok(84);
        u.extend(vec![Some(0.0); 6]);
        assert_eq!(bonus_of(&cfg, &days(&u), "network_supporter"), 0.0);
        u[0] = None; // 83 up, 6 down, 1 unknown
        assert_eq!(bonus_of(&cfg, &days(&u), "network_supporter"), 0.0);
        let mut u = ok(84);
        u.extend(vec![Some(0.0); 5]);
        u.push(None);
        assert_eq!(bonus_of(&cfg, &days(&u), "network_supporter"), 0.15);
        // Registered inside the window: not yet.
        let mut h = days(&ok(90));
        h.registered_day = d0() + 1;
        assert_eq!(bonus_of(&cfg, &h, "network_supporter"), 0.0);
        // Grants: active, expired, revoked.
        let now = h.now.unwrap();
        let grant = |expires: DateTime<Utc>, revoked| Grant {
            bonus: 0.1,
            reason: "wrote the miner docs".into(),
            expires_at: expires,
            revoked,
        };
        h.grants = vec![grant(now + Duration::hours(1), false)];
        assert_eq!(bonus_of(&cfg, &h, "community_contributor"), 0.10);
        h.grants = vec![grant(now, false), grant(now + Duration::days(3), true)];
        assert_eq!(bonus_of(&cfg, &h, "community_contributor"), 0.0);
    }

    #[test]
    fn trend_needs_a_rising_slope_and_a_good_current_uptime() {
        let cfg = UptimeConfig::default();
        let rising: Vec<Option<f64>> = (0..14).map(|i| Some(0.85 + 0.01 * f64::from(i))).collect();
        let mut h = days(&rising);
        h.current = Some(0.95);
        assert_eq!(bonus_of(&cfg, &h, "trend"), 0.05);
        h.current = Some(0.8999);
        assert_eq!(bonus_of(&cfg, &h, "trend"), 0.0);
        let flat: Vec<Option<f64>> = (0..14).map(|i| Some(0.9 + 0.004 * f64::from(i))).collect();
        let mut h = days(&flat);
        h.current = Some(0.95);
        assert_eq!(bonus_of(&cfg, &h, "trend"), 0.0);
    }

    #[test]
    fn every_epoch_reports_the_same_rules_in_the_same_order() {
        let mut cfg = UptimeConfig::default();
        let rules = |cfg: &UptimeConfig| -> Vec<Rule> {
            evaluate(cfg, &days(&ok(3)))
                .bonuses
                .iter()
                .map(|b| b.rule)
                .collect()
        };
        let table: Vec<Rule> = RULES.iter().map(|r| r.0).collect();
        assert_eq!(rules(&cfg), table);
        cfg.time.peak_hours_utc = vec![1];
        cfg.time.holidays = vec![date(2026, 1, 1)];
        assert_eq!(rules(&cfg), table);
        assert_eq!(rules(&UptimeConfig::default()), table);
        // Each line's family is its rule's, and names round-trip; an unknown name is an error.
        for (i, (rule, family, name)) in RULES.iter().enumerate() {
            assert_eq!(*rule as usize, i, "RULES is in declaration order");
            assert_eq!((rule.family(), rule.name()), (*family, *name));
            assert_eq!(name.parse::<Rule>().unwrap(), *rule);
            let json = serde_json::to_string(rule).unwrap();
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), *rule);
        }
        assert!("uptime_forever".parse::<Rule>().is_err());
        // Stored metrics: by name, or the 19-entry array of earlier releases; nothing else.
        let detail = |metrics: &str| {
            let text = format!(
                r#"{{"earned": [], "metrics": {metrics}, "reliability_factor": 1.0, "raw": 1.0, "new_milestones": []}}"#
            );
            serde_json::from_str::<Detail>(&text)
        };
        let named = detail(r#"{"trend": 0.5, "recovery": null}"#).unwrap();
        assert_eq!(named.metric(Rule::Trend), Some(0.5));
        let positional: Vec<String> = (0..19).map(|i| i.to_string()).collect();
        let old = detail(&format!("[{}]", positional.join(","))).unwrap();
        assert_eq!(old.metric(Rule::Longevity), Some(2.0));
        assert_eq!(old.metric(Rule::Trend), Some(18.0));
        assert!(detail("[1, 2, 3]").is_err());
        assert!(detail(r#"{"uptime_forever": 1.0}"#).is_err());
        assert!(serde_json::from_str::<Rule>("\"Reliability\"").is_err());
    }

    #[test]
    fn combinations_and_the_cap() {
        let mut cfg = UptimeConfig::default();
        // 20 perfect days: reliability 0.25, consistency 0.10, longevity 0.05, recovery 0.03,
        // stability 0.05, weekend and all-week 0.13 (hours), perfect week (new) 0.15.
        let mut h = days(&ok(20));
        h.hours = hours(&ok(20 * 24)).hours;
        let o = evaluate(&cfg, &h);
        let time = o.family(Family::Time);
        assert!((time - 0.13).abs() < 1e-12, "{time}");
        let raw = 1.25 * 1.10 * 1.05 * 1.08 * (1.0 + 0.13 + 0.15);
        assert!((o.raw - raw).abs() < 1e-12, "{} vs {raw}", o.raw);
        // Scaled (the default): the top of every persistent family (reliability 0.25,
        // consistency 0.15, longevity 0.30, recovery + stability 0.08, weekend + all-week 0.13,
        // early adopter + supporter 0.35; trend and milestones are transient) maps to the cap.
        let top = 1.25 * 1.15 * 1.30 * 1.08 * (1.0 + 0.13 + 0.35);
        assert!((top_raw(&cfg) - top).abs() < 1e-12);
        let scaled = 1.0 + (raw - 1.0) / (top - 1.0);
        assert!((o.multiplier - scaled).abs() < 1e-12, "{}", o.multiplier);
        cfg.combine = UptimeCombine::Multiplicative;
        assert_eq!(evaluate(&cfg, &h).multiplier, cfg.max_multiplier.min(raw));
        cfg.combine = UptimeCombine::Additive;
        let o = evaluate(&cfg, &h);
        let want = 1.0 + 0.25 + 0.10 + 0.05 + 0.03 + 0.05 + 0.13 + 0.15;
        assert!((o.raw - want).abs() < 1e-12);
        assert!((o.multiplier - want).abs() < 1e-12);
        cfg.max_multiplier = 1.5;
        assert_eq!(evaluate(&cfg, &h).multiplier, 1.5);
        // Nothing known: exactly 1.
        let o = evaluate(&cfg, &History::default());
        assert_eq!(o.multiplier, 1.0);
    }

    /// The point of `scaled`: every longevity step still raises a perfect miner's multiplier,
    /// where the raw product under a 2.0 cap has saturated long before 90 days.
    #[test]
    fn every_longevity_step_raises_a_perfect_miner_under_scaled() {
        let at = |combine, n: usize| {
            let cfg = UptimeConfig {
                combine,
                ..UptimeConfig::default()
            };
            let mut h = days(&ok(n));
            h.hours = hours(&ok(14 * 24)).hours;
            h.last_hour = (d0() + n as i64) * 24 - 1;
            for p in h.hours.to_mut().iter_mut() {
                p.index += n as i64 * 24 - 14 * 24;
            }
            // Milestones already paid: one-time bonuses are outside the scale.
            h.achievements = Milestone::ALL
                .iter()
                .map(|m| Achievement {
                    milestone: *m,
                    bonus: 0.0,
                    epochs_remaining: 0,
                })
                .collect();
            evaluate(&cfg, &h).multiplier
        };
        let scaled: Vec<f64> = [13, 14, 30, 90, 180]
            .iter()
            .map(|n| at(UptimeCombine::Scaled, *n))
            .collect();
        assert!(scaled.windows(2).all(|w| w[1] > w[0]), "{scaled:?}");
        assert!(scaled[4] < 2.0, "not everything is held yet: {scaled:?}");
        let raw: Vec<f64> = [90, 180]
            .iter()
            .map(|n| at(UptimeCombine::Multiplicative, *n))
            .collect();
        assert_eq!(
            raw,
            [2.0, 2.0],
            "the raw product is capped: the 180-day tier is dead"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever the history, the multiplier is finite, within [1, max], and every bonus
            /// is non-negative.
            #[test]
            fn bounded(
                d in prop::collection::vec(prop::option::of(0.0f64..=1.0), 0..120),
                hr in prop::collection::vec(prop::option::of(0.0f64..=1.0), 0..400),
                current in prop::option::of(0.0f64..=1.0),
                additive in any::<bool>(),
                max in 1.0f64..4.0,
            ) {
                let mut cfg = UptimeConfig { max_multiplier: max, ..UptimeConfig::default() };
                if additive {
                    cfg.combine = UptimeCombine::Additive;
                }
                cfg.time.peak_hours_utc = vec![8, 9, 10];
                let mut h = days(&d);
                h.hours = hours(&hr).hours;
                h.last_hour = h.last_hour.max(h0() + hr.len() as i64 - 1);
                h.current = current;
                let o = evaluate(&cfg, &h);
                prop_assert!(o.multiplier.is_finite() && o.multiplier >= 1.0 && o.multiplier <= max);
                prop_assert!(o.bonuses.iter().all(|b| b.bonus >= 0.0 && b.bonus.is_finite()));
            }

            /// A better current uptime never lowers the multiplier.
            #[test]
            fn monotone_in_current_uptime(a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
                let cfg = UptimeConfig::default();
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let mut h = days(&vec![Some(0.97); 20]);
                h.current = Some(lo);
                let m_lo = evaluate(&cfg, &h).multiplier;
                h.current = Some(hi);
                prop_assert!(evaluate(&cfg, &h).multiplier >= m_lo);
            }
        }
    }
}
