//! One epoch's vesting for every miner at once: each book's window sums are computed once (a
//! coldkey running several miners has one book), then every miner gets its multiplier and the
//! reason for it. Pure: the caller brings the miners and the window.

use std::collections::HashMap;

use serde::Serialize;

use crate::config::{Mode, StakeScope, VestingConfig};
use crate::vesting::multiplier::{Holding, Outcome, multiplier};
use crate::vesting::window::{BookKey, WindowSums};

/// Seconds in a day: holding days are counted in blocks of `chain.block_time_secs`.
const DAY_SECS: u64 = 86_400;

/// Where and how the window is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The epoch's block.
    pub now: u64,
    pub blocks_per_day: u64,
    pub window_blocks: u64,
    pub scope: StakeScope,
}

impl Params {
    pub fn new(cfg: &VestingConfig, block_time_secs: u64, now: u64) -> Self {
        let blocks_per_day = (DAY_SECS / block_time_secs.max(1)).max(1);
        Params {
            now,
            blocks_per_day,
            window_blocks: u64::from(cfg.lookback_days) * blocks_per_day,
            scope: cfg.stake_scope,
        }
    }

    /// First block of the window.
    pub fn since(&self) -> u64 {
        self.now.saturating_sub(self.window_blocks)
    }
}

/// The recorded reasons a miner is left at 1.0 (`tenure replay` reads them back).
pub const SKIP_EXEMPT: &str = "exempt uid (weights.exempt_uids): 1.0";
pub const SKIP_VALIDATOR: &str = "validator permit: vesting does not apply, 1.0";

/// A registered miner as the epoch sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerRef {
    pub miner_id: i64,
    pub uid: u16,
    pub hotkey: String,
    /// The owning coldkey; `None` when tenure does not know it (never the case once ingested).
    pub coldkey: Option<String>,
    pub validator: bool,
    pub exempt: bool,
}

/// A miner's vesting at one epoch, with what produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerVesting {
    pub miner_id: i64,
    pub uid: u16,
    pub hotkey: String,
    pub coldkey: String,
    /// Σ initial / Σ remaining of the book's emission tranches in the window (RAO).
    pub earned_rao: u128,
    pub remaining_rao: u128,
    pub holding: Holding,
    pub outcome: Outcome,
}

/// Multipliers for all `miners` at `p.now`.
pub fn compute(
    cfg: &VestingConfig,
    p: &Params,
    miners: &[MinerRef],
    window: &impl WindowSums,
) -> Vec<MinerVesting> {
    let since = p.since();
    let mut books: HashMap<BookKey, (u128, u128, Holding, Outcome)> = HashMap::new();
    miners
        .iter()
        .map(|m| {
            let coldkey = m.coldkey.clone().unwrap_or_default();
            let fixed = |reason: String| {
                (
                    0,
                    0,
                    Holding {
                        fraction: None,
                        days: 0.0,
                    },
                    Outcome {
                        amount_tier: 1.0,
                        duration_tier: 1.0,
                        multiplier: 1.0,
                        reason,
                    },
                )
            };
            let (earned, remaining, holding, outcome) = if m.exempt {
                fixed(SKIP_EXEMPT.into())
            } else if m.validator {
                fixed(SKIP_VALIDATOR.into())
            } else if m.coldkey.is_none() {
                fixed("owning coldkey unknown: 1.0".into())
            } else {
                let key = match p.scope {
                    StakeScope::Coldkey => (coldkey.clone(), String::new()),
                    StakeScope::Hotkey => (coldkey.clone(), m.hotkey.clone()),
                };
                books
                    .entry(key)
                    .or_insert_with_key(|key| {
                        let sums = window.sums(key, since, p.now);
                        let holding = sums.holding(p.now, p.blocks_per_day);
                        (
                            sums.earned,
                            sums.remaining,
                            holding,
                            multiplier(cfg, holding),
                        )
                    })
                    .clone()
            };
            MinerVesting {
                miner_id: m.miner_id,
                uid: m.uid,
                hotkey: m.hotkey.clone(),
                coldkey,
                earned_rao: earned,
                remaining_rao: remaining,
                holding,
                outcome,
            }
        })
        .collect()
}

/// The factor a weight gets from vesting: the multiplier in mode `on`, 1.0 otherwise (shadow
/// records and explains, but leaves weights as mode `off` would).
pub fn applied(mode: Mode, multiplier: f64) -> f64 {
    match mode {
        Mode::On => multiplier,
        Mode::Shadow | Mode::Off => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vesting::window::{Entry, Window};

    fn miner(id: i64, coldkey: &str, hotkey: &str) -> MinerRef {
        MinerRef {
            miner_id: id,
            uid: id as u16,
            hotkey: hotkey.into(),
            coldkey: Some(coldkey.into()),
            validator: false,
            exempt: false,
        }
    }

    fn params(scope: StakeScope, now: u64) -> Params {
        Params {
            now,
            blocks_per_day: 10,
            window_blocks: 900,
            scope,
        }
    }

    #[test]
    fn shared_coldkey_book_and_fixed_cases() {
        let cfg = VestingConfig::default();
        let mut w = Window::new();
        // 40 days ago, still held in full: fraction 1.0, 40 days ⇒ tiers 1.3 / 1.2.
        w.insert(
            ("ck".into(), String::new()),
            Entry {
                id: 1,
                block: 600,
                initial: 50,
                remaining: 50,
            },
        )
        .unwrap();
        let mut v = miner(3, "ck", "hv");
        v.validator = true;
        let mut x = miner(4, "ck", "hx");
        x.exempt = true;
        let mut u = miner(5, "ck", "hu");
        u.coldkey = None;
        let miners = [miner(1, "ck", "h1"), miner(2, "ck", "h2"), v, x, u];
        let out = compute(&cfg, &params(StakeScope::Coldkey, 1_000), &miners, &w);
        let m: Vec<f64> = out.iter().map(|o| o.outcome.multiplier).collect();
        assert!((m[0] - 1.4167).abs() < 1e-4, "{m:?}");
        assert_eq!(m[0], m[1]);
        assert_eq!(&m[2..], &[1.0, 1.0, 1.0]);
        assert!(out[2].outcome.reason.contains("validator"));
        assert!(out[3].outcome.reason.contains("exempt"));
        assert_eq!(out[0].holding.days, 40.0);
        assert_eq!((out[0].earned_rao, out[0].remaining_rao), (50, 50));
        // The hotkey scope reads (coldkey, hotkey) books: these miners have none.
        let out = compute(&cfg, &params(StakeScope::Hotkey, 1_000), &miners[..2], &w);
        assert!(out.iter().all(|o| o.outcome.multiplier == 1.0));
        assert!(out[0].outcome.reason.contains("no history"));
    }

    #[test]
    fn tranches_leave_the_window() {
        let cfg = VestingConfig::default();
        let mut w = Window::new();
        w.insert(
            ("ck".into(), String::new()),
            Entry {
                id: 1,
                block: 100,
                initial: 50,
                remaining: 50,
            },
        )
        .unwrap();
        let miners = [miner(1, "ck", "h1")];
        let inside = compute(&cfg, &params(StakeScope::Coldkey, 1_000), &miners, &w);
        assert!(inside[0].outcome.multiplier > 1.0);
        let outside = compute(&cfg, &params(StakeScope::Coldkey, 1_001), &miners, &w);
        assert_eq!(outside[0].outcome.multiplier, 1.0);
        assert_eq!(outside[0].holding.fraction, None);
    }

    #[test]
    fn shadow_and_off_leave_weights_alone() {
        assert_eq!(applied(Mode::On, 1.4), 1.4);
        assert_eq!(applied(Mode::Shadow, 1.4), 1.0);
        assert_eq!(applied(Mode::Off, 1.4), 1.0);
    }

    #[test]
    fn params_from_config() {
        let cfg = VestingConfig::default();
        let p = Params::new(&cfg, 12, 1_000_000);
        assert_eq!(p.blocks_per_day, 7_200);
        assert_eq!(p.window_blocks, 90 * 7_200);
        assert_eq!(p.since(), 1_000_000 - 648_000);
    }
}
