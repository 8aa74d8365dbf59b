//! The uptime strategy's success criteria, scored on the recorded network-health history: a
//! baseline (the first `network.baseline_days` chain days, or a configured block range) against
//! now (the last as many days). Pure: the caller brings the recorded epochs.

use serde::Serialize;

use super::store::EpochRow;
use crate::config::NetworkConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Met,
    NotMet,
    NotEnoughHistory,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Met => "met",
            State::NotMet => "not met",
            State::NotEnoughHistory => "not enough history",
        }
    }
}

/// One criterion, scored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Criterion {
    pub name: &'static str,
    /// What is asked, in words.
    pub target: String,
    pub baseline: Option<f64>,
    pub now: Option<f64>,
    pub state: State,
    /// Why, when there is not enough history.
    pub why: Option<String>,
}

/// The two windows compared: epochs of the baseline and of now.
struct Windows<'a> {
    baseline: Vec<&'a EpochRow>,
    now: Vec<&'a EpochRow>,
    /// Why they cannot be compared yet.
    short: Option<String>,
}

fn windows<'a>(rows: &'a [EpochRow], cfg: &NetworkConfig, blocks_per_day: u64) -> Windows<'a> {
    let day = |r: &EpochRow| r.epoch_block.max(0) as u64 / blocks_per_day.max(1);
    let span = u64::from(cfg.baseline_days);
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        let short = Some("no epoch recorded yet".to_string());
        return Windows {
            baseline: Vec::new(),
            now: Vec::new(),
            short,
        };
    };
    let (d0, dl) = (day(first), day(last));
    let in_baseline = |r: &&EpochRow| match (cfg.baseline_from_block, cfg.baseline_to_block) {
        (Some(a), Some(b)) => (a..=b).contains(&(r.epoch_block.max(0) as u64)),
        _ => day(r) < d0 + span,
    };
    let baseline_end = match cfg.baseline_to_block {
        Some(b) => b / blocks_per_day.max(1),
        None => d0 + span - 1,
    };
    let now_start = (dl + 1).saturating_sub(span);
    let short = if dl <= baseline_end {
        Some(format!(
            "the baseline ends on chain day {baseline_end}; history reaches day {dl}"
        ))
    } else if now_start <= baseline_end {
        Some(format!(
            "\"now\" (the last {span} days) still overlaps the baseline: {} more day(s) needed",
            baseline_end + 1 - now_start
        ))
    } else {
        None
    };
    Windows {
        baseline: rows.iter().filter(in_baseline).collect(),
        now: rows.iter().filter(|r| day(r) >= now_start).collect(),
        short,
    }
}

fn mean(rows: &[&EpochRow], f: fn(&EpochRow) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// A relative criterion: `now` against `baseline` scaled by `factor` (above, or at most).
fn relative(
    name: &'static str,
    target: String,
    w: &Windows<'_>,
    f: fn(&EpochRow) -> Option<f64>,
    factor: f64,
    higher_is_better: bool,
) -> Criterion {
    let (baseline, now) = (mean(&w.baseline, f), mean(&w.now, f));
    let (state, why) = match (&w.short, baseline, now) {
        (Some(why), ..) => (State::NotEnoughHistory, Some(why.clone())),
        (None, Some(b), Some(n)) => {
            let met = if higher_is_better {
                n >= b * factor
            } else {
                n <= b * factor
            };
            (if met { State::Met } else { State::NotMet }, None)
        }
        (None, ..) => (
            State::NotEnoughHistory,
            Some("the figure is not known in one of the windows yet".to_string()),
        ),
    };
    Criterion {
        name,
        target,
        baseline,
        now,
        state,
        why,
    }
}

/// Every criterion over `rows` (ascending by epoch block).
pub fn criteria(rows: &[EpochRow], cfg: &NetworkConfig, blocks_per_day: u64) -> Vec<Criterion> {
    let w = windows(rows, cfg, blocks_per_day);
    let pct = |x: f64| format!("{:.0} %", x * 100.0);
    let coverage_now = rows.last().and_then(|r| r.bonus_coverage);
    let coverage = Criterion {
        name: "bonus_coverage",
        target: format!(
            "at least {} of miners with an uptime bonus",
            pct(cfg.target_bonus_coverage)
        ),
        baseline: mean(&w.baseline, |r| r.bonus_coverage),
        now: coverage_now,
        state: match coverage_now {
            Some(c) if c >= cfg.target_bonus_coverage => State::Met,
            Some(_) => State::NotMet,
            None => State::NotEnoughHistory,
        },
        why: coverage_now
            .is_none()
            .then(|| "no uptime epoch recorded yet".to_string()),
    };
    vec![
        relative(
            "uptime",
            format!(
                "mean current uptime +{} over the baseline",
                pct(cfg.target_uptime_gain)
            ),
            &w,
            |r| r.mean_current_uptime,
            1.0 + cfg.target_uptime_gain,
            true,
        ),
        relative(
            "retention_180",
            format!(
                "6-month retention +{} over the baseline",
                pct(cfg.target_retention_gain)
            ),
            &w,
            |r| r.retention_180,
            1.0 + cfg.target_retention_gain,
            true,
        ),
        coverage,
        relative(
            "downtime",
            format!(
                "miner-hours down per day -{} from the baseline",
                pct(cfg.target_downtime_cut)
            ),
            &w,
            |r| r.downtime_hours,
            1.0 - cfg.target_downtime_cut,
            false,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: i64, uptime: f64, down: f64, coverage: f64) -> EpochRow {
        EpochRow {
            epoch_block: day * 100,
            miners: 10,
            mean_current_uptime: Some(uptime),
            mean_historical_uptime: None,
            bonus_coverage: Some(coverage),
            downtime_hours: Some(down),
            downtime_trend: None,
            weights_epoch: None,
            gini: None,
            top10_share: None,
            total_variation: None,
            largest_gain: None,
            largest_loss: None,
            retention_7: None,
            retention_30: None,
            retention_90: None,
            retention_180: None,
        }
    }

    fn state(c: &[Criterion], name: &str) -> State {
        c.iter().find(|c| c.name == name).unwrap().state
    }

    #[test]
    fn baseline_against_now() {
        let cfg = NetworkConfig {
            baseline_days: 2,
            ..NetworkConfig::default()
        };
        // Days 0-1 baseline (uptime 0.8, 10 h down), days 2-3 in between, days 4-5 now.
        let mut rows: Vec<EpochRow> = (0..2).map(|d| row(d, 0.8, 10.0, 0.5)).collect();
        let early = criteria(&rows, &cfg, 100);
        assert_eq!(state(&early, "uptime"), State::NotEnoughHistory);
        assert_eq!(state(&early, "bonus_coverage"), State::NotMet);
        rows.extend((2..4).map(|d| row(d, 0.85, 8.0, 0.7)));
        let overlapping = criteria(&rows[..3], &cfg, 100);
        assert!(
            overlapping[0].why.as_ref().unwrap().contains("overlaps"),
            "{overlapping:?}"
        );
        rows.extend((4..6).map(|d| row(d, 0.9, 5.0, 0.85)));
        let c = criteria(&rows, &cfg, 100);
        // 0.9 >= 0.8 × 1.1; 5 h = 10 h × 0.5: met at the boundary.
        assert_eq!(state(&c, "uptime"), State::Met, "{c:?}");
        assert_eq!(state(&c, "downtime"), State::Met, "{c:?}");
        assert_eq!(state(&c, "bonus_coverage"), State::Met);
        assert_eq!(state(&c, "retention_180"), State::NotEnoughHistory);
        rows.last_mut().unwrap().mean_current_uptime = Some(0.85);
        rows.last_mut().unwrap().downtime_hours = Some(5.2);
        let c = criteria(&rows, &cfg, 100);
        assert_eq!(state(&c, "uptime"), State::NotMet, "{c:?}");
        assert_eq!(state(&c, "downtime"), State::NotMet, "{c:?}");
        // An explicit baseline range.
        let cfg = NetworkConfig {
            baseline_days: 2,
            baseline_from_block: Some(200),
            baseline_to_block: Some(399),
            ..NetworkConfig::default()
        };
        let c = criteria(&rows, &cfg, 100);
        assert_eq!(c[0].baseline, Some(0.85));
    }
}
