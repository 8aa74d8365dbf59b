//! What tenure knows about one miner's uptime at an epoch, as plain data: the window ratios and
//! the hourly and daily rollups. A UTC hour or day without any round is *unknown* and simply
//! absent: it neither breaks nor extends a run, and never counts against the miner.

use chrono::{DateTime, Utc, Weekday};
use serde::Serialize;

/// One UTC hour or day of one miner (by the chain's block timestamps): `rounds` rounds ran (> 0)
/// and the miner was up in `up`. 16 bytes: the cache holds 400 days and 1,100 hours of every
/// miner, and the hour's or day's start follows from its index (`Periods::hour_start`, `day_start`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Period {
    /// Hour or day number since the Unix epoch (UTC).
    pub index: i64,
    pub rounds: u32,
    pub up: u32,
}

impl Period {
    /// This period as an hour: its UTC hour of day (0–23). Time windows use it, and the
    /// weekday and day below, for millions of hours an epoch: plain arithmetic on the index.
    pub fn hour_of_day(&self) -> u32 {
        self.index.rem_euclid(24) as u32
    }

    /// This period as an hour: its UTC day number since the Unix epoch.
    pub fn day(&self) -> i64 {
        self.index.div_euclid(24)
    }

    /// This period as an hour: its UTC weekday (day 0, 1970-01-01, was a Thursday).
    pub fn weekday(&self) -> Weekday {
        const FROM_MONDAY: [Weekday; 7] = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        FROM_MONDAY[(self.day() + 3).rem_euclid(7) as usize]
    }

    pub fn uptime(&self) -> f64 {
        if self.rounds == 0 {
            0.0
        } else {
            f64::from(self.up.min(self.rounds)) / f64::from(self.rounds)
        }
    }
}

/// An operator grant ("community contributor").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub bonus: f64,
    pub reason: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// A milestone already awarded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Achievement {
    pub milestone: crate::uptime::Milestone,
    pub bonus: f64,
    pub epochs_remaining: u32,
}

/// One miner at one epoch. The periods are borrowed from the rollup cache at an epoch (no copy
/// of 400 days per miner), owned where a history is built by hand.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History<'a> {
    /// Up samples / rounds over the current window while registered; `None` without rounds.
    pub current: Option<f64>,
    pub historical: Option<f64>,
    /// Known complete days since registration, ascending by index.
    pub days: std::borrow::Cow<'a, [Period]>,
    /// Known complete hours (as far back as the rules need), ascending by index.
    pub hours: std::borrow::Cow<'a, [Period]>,
    /// Index of the last complete day and hour at the epoch.
    pub last_day: i64,
    pub last_hour: i64,
    /// Days since registration (blocks / blocks per day), and the day index it happened in.
    pub registered_days: f64,
    pub registered_day: i64,
    /// Milestones awarded earlier: never awarded again; their bonus applies while
    /// `epochs_remaining > 0`.
    pub achievements: Vec<Achievement>,
    pub grants: Vec<Grant>,
    /// The epoch's wall-clock time.
    pub now: Option<DateTime<Utc>>,
}

/// Periods of `p` with `from <= index <= to`.
pub fn between(p: &[Period], from: i64, to: i64) -> &[Period] {
    let a = p.partition_point(|x| x.index < from);
    let b = p.partition_point(|x| x.index <= to);
    &p[a..b.max(a)]
}

/// Σ up / Σ rounds, `None` without rounds.
pub fn ratio<'a>(p: impl IntoIterator<Item = &'a Period>) -> Option<f64> {
    let (up, rounds) = p.into_iter().fold((0u64, 0u64), |(u, r), x| {
        (u + u64::from(x.up.min(x.rounds)), r + u64::from(x.rounds))
    });
    (rounds > 0).then(|| up as f64 / rounds as f64)
}

/// Population standard deviation.
pub fn std_dev(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    Some((values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt())
}

/// Least-squares slope of `(x, y)`; `None` with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arithmetic on an hour's index agrees with the calendar, before and after 1970.
    #[test]
    fn an_hours_time_follows_from_its_index() {
        use chrono::{Datelike, Timelike};
        for index in (-100_000i64..600_000).step_by(37) {
            let p = Period {
                index,
                rounds: 1,
                up: 1,
            };
            let t = crate::uptime::store::Periods::hour_start(index);
            assert_eq!(p.hour_of_day(), t.hour(), "{index}");
            assert_eq!(p.weekday(), t.weekday(), "{index}");
            let day = t.date_naive() - DateTime::<Utc>::UNIX_EPOCH.date_naive();
            assert_eq!(p.day(), day.num_days(), "{index}");
        }
    }

    #[test]
    fn statistics() {
        assert_eq!(std_dev(&[]), None);
        assert_eq!(std_dev(&[0.5, 0.5]), Some(0.0));
        assert!((std_dev(&[0.9, 1.0]).unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(slope(&[(1.0, 0.5)]), None);
        assert!((slope(&[(0.0, 0.5), (1.0, 0.6), (2.0, 0.7)]).unwrap() - 0.1).abs() < 1e-12);
        let p = |index, up| Period {
            index,
            rounds: 4,
            up,
        };
        let days = [p(1, 4), p(2, 2), p(5, 0)];
        assert_eq!(between(&days, 2, 4).len(), 1);
        assert_eq!(between(&days, 6, 9).len(), 0);
        assert_eq!(ratio(&days), Some(0.5));
        assert_eq!(ratio(&[]), None);
    }
}
