//! Uptime bonus benchmark (see BENCHMARKS.md): every bonus family and the multiplier for
//! `<miners>` miners, each with `<days>` days of daily rollups and the hourly rollups the rules
//! read (1,100 hours), computed by `uptime::evaluate` (the pure part of an epoch).
//!
//! `cargo run --release --example bench_uptime -- <miners> <days>`

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use tenure::config::UptimeConfig;
use tenure::uptime::{History, Period, evaluate};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let miners: usize = args.get(1).map_or(4096, |s| s.parse().unwrap_or(4096));
    let days: i64 = args.get(2).map_or(400, |s| s.parse().unwrap_or(400));
    let hours: i64 = 1_100;
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut cfg = UptimeConfig::default();
    cfg.time.peak_hours_utc = vec![14, 15, 16, 17];
    cfg.time.holidays = vec!["2026-02-01".into()];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let histories: Vec<History> = (0..miners)
        .map(|i| {
            // A mix of reliabilities; one day in 50 unknown (tenure down).
            let quality = (i % 10) as u64;
            let period = |index: i64, start, rounds: u32, rng: &mut Rng| {
                let down = (rng.next() % 100) < quality;
                Period {
                    index,
                    start,
                    rounds,
                    up: if down {
                        rounds - 1 - (rng.next() % 3) as u32
                    } else {
                        rounds
                    },
                }
            };
            let mut d = Vec::new();
            for x in 0..days {
                if !rng.next().is_multiple_of(50) {
                    d.push(period(x, t0 + Duration::days(x), 288, &mut rng));
                }
            }
            let first_hour = days * 24 - hours;
            let h: Vec<Period> = (first_hour..days * 24)
                .map(|x| period(x, t0 + Duration::hours(x), 12, &mut rng))
                .collect();
            History {
                current: Some(1.0 - quality as f64 / 100.0),
                historical: Some(1.0 - quality as f64 / 90.0),
                days: d,
                hours: h,
                last_day: days - 1,
                last_hour: days * 24 - 1,
                registered_days: days as f64,
                registered_day: 0,
                now: Some(t0 + Duration::days(days)),
                ..History::default()
            }
        })
        .collect();
    let mut runs = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let boosted = histories
            .iter()
            .map(|h| evaluate(&cfg, h))
            .filter(|o| o.multiplier > 1.0)
            .count();
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(boosted > 0);
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "uptime_bonuses miners={miners} days={days} hours={hours} median_ms={:.1}",
        runs[runs.len() / 2]
    );
}
