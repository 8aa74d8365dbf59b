//! What a synthetic miner does, hour by hour and day by day: how many probe rounds of an hour
//! it answers, and how much alpha its coldkey sells. Deterministic given the population's seed
//! (each miner has its own generator, so the order miners are visited in changes nothing).

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::population::{Holding, Uptime};
use crate::units::Rao;

/// One miner's behaviour and its random state.
#[derive(Debug, Clone)]
pub struct Miner {
    /// Index in the population (spreads periodic behaviours over the days).
    pub index: u32,
    pub uptime: Uptime,
    pub holding: Holding,
    /// Chain hour it registered in.
    pub joined_hour: i64,
    rng: StdRng,
}

impl Miner {
    pub fn new(seed: u64, index: u32, uptime: Uptime, holding: Holding, joined_hour: i64) -> Self {
        Miner {
            index,
            uptime,
            holding,
            joined_hour,
            rng: StdRng::seed_from_u64(seed ^ (u64::from(index) << 20) ^ 0x7e4e_u64),
        }
    }

    fn draws(&mut self, rounds: u32, p: f64) -> u32 {
        (0..rounds).filter(|_| self.rng.r#gen::<f64>() < p).count() as u32
    }

    /// Rounds of chain hour `hour` (starting at UTC `start`) the miner answered.
    pub fn up_rounds(&mut self, hour: i64, start: DateTime<Utc>, rounds: u32) -> u32 {
        let since = hour - self.joined_hour;
        let all = |up: bool| if up { rounds } else { 0 };
        match self.uptime {
            Uptime::AlwaysUp => rounds,
            Uptime::Dead => 0,
            Uptime::Random { uptime } => self.draws(rounds, uptime),
            Uptime::DownDaily { hours, from_hour } => {
                let into = (i64::from(start.hour()) - i64::from(from_hour)).rem_euclid(24);
                all(into >= i64::from(hours))
            }
            Uptime::Flapping {
                up_hours,
                down_hours,
            } => {
                let period = i64::from(up_hours + down_hours);
                all((since + i64::from(self.index)).rem_euclid(period) < i64::from(up_hours))
            }
            Uptime::WeekendOff => all(!matches!(start.weekday(), Weekday::Sat | Weekday::Sun)),
            Uptime::Outages { every_days, hours } => {
                let period = i64::from(every_days) * 24;
                let phase = i64::from(self.index % every_days) * 24;
                all((since - phase).rem_euclid(period) >= i64::from(hours))
            }
            Uptime::Recovering { from, to, days } => {
                let progress = if days == 0 {
                    1.0
                } else {
                    (since as f64 / (f64::from(days) * 24.0)).clamp(0.0, 1.0)
                };
                self.draws(rounds, from + (to - from) * progress)
            }
        }
    }

    /// Alpha sold at chain day `day`, holding `held` after earning `earned[d]` on each day `d`
    /// since it joined (`earned[0]` is its first day).
    pub fn sold(&self, day_since_join: usize, earned: &[Rao], held: Rao) -> Rao {
        let sold = match self.holding {
            Holding::HoldsAll => 0,
            Holding::Sells {
                fraction,
                after_days,
            } => day_since_join
                .checked_sub(after_days as usize)
                .and_then(|d| earned.get(d))
                .map_or(0, |e| (*e as f64 * fraction).floor() as Rao),
            Holding::Dumps { every_days } => {
                let due = day_since_join > 0 && day_since_join.is_multiple_of(every_days as usize);
                if due { held } else { 0 }
            }
        };
        sold.min(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: i64) -> DateTime<Utc> {
        // 2026-01-05 is a Monday.
        let monday = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z").unwrap();
        monday.with_timezone(&Utc) + chrono::Duration::hours(hour)
    }

    fn up(u: Uptime, hours: std::ops::Range<i64>) -> Vec<u32> {
        let mut m = Miner::new(1, 0, u, Holding::HoldsAll, 0);
        hours.map(|h| m.up_rounds(h, at(h), 12)).collect()
    }

    #[test]
    fn uptime_behaviours() {
        let daily = up(
            Uptime::DownDaily {
                hours: 2,
                from_hour: 23,
            },
            0..24,
        );
        assert_eq!(daily.iter().filter(|r| **r == 0).count(), 2);
        assert_eq!((daily[0], daily[23], daily[1]), (0, 0, 12));
        let weekend = up(Uptime::WeekendOff, 0..24 * 7);
        assert_eq!(weekend.iter().filter(|r| **r == 0).count(), 48);
        assert_eq!(weekend[24 * 5], 0, "Saturday");
        let flap = up(
            Uptime::Flapping {
                up_hours: 3,
                down_hours: 1,
            },
            0..8,
        );
        assert_eq!(flap, [12, 12, 12, 0, 12, 12, 12, 0]);
        let outages = up(
            Uptime::Outages {
                every_days: 2,
                hours: 30,
            },
            0..96,
        );
        assert_eq!(
            outages.iter().filter(|r| **r == 0).count(),
            60,
            "30 of every 48"
        );
        let random = up(Uptime::Random { uptime: 0.9 }, 0..1000);
        let share = random.iter().sum::<u32>() as f64 / 12_000.0;
        assert!((share - 0.9).abs() < 0.02, "{share}");
        assert_eq!(up(Uptime::Random { uptime: 0.9 }, 0..1000), random);
        let ramp = up(
            Uptime::Recovering {
                from: 0.0,
                to: 1.0,
                days: 10,
            },
            0..480,
        );
        assert!(ramp[..24].iter().sum::<u32>() < ramp[216..240].iter().sum::<u32>());
        assert!(ramp[240..].iter().all(|r| *r == 12));
    }

    #[test]
    fn holding_behaviours() {
        let sells = Miner::new(
            1,
            0,
            Uptime::AlwaysUp,
            Holding::Sells {
                fraction: 0.5,
                after_days: 2,
            },
            0,
        );
        let earned = [100, 200, 300];
        assert_eq!(sells.sold(1, &earned, 1_000), 0);
        assert_eq!(sells.sold(2, &earned, 1_000), 50);
        assert_eq!(sells.sold(3, &earned, 1_000), 100);
        assert_eq!(sells.sold(3, &earned, 10), 10, "never more than held");
        let dumps = Miner::new(1, 0, Uptime::AlwaysUp, Holding::Dumps { every_days: 30 }, 0);
        assert_eq!(dumps.sold(29, &earned, 1_000), 0);
        assert_eq!(dumps.sold(30, &earned, 1_000), 1_000);
    }
}
