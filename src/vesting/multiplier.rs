//! The vesting multiplier (docs/rules.md, "Vesting"): tiers on the holding fraction and on the holding days,
//! combined by one of three rules and clamped to `[1, max_multiplier]`. Pure math.

use serde::Serialize;

use crate::config::{MultiplierTier, VestingCombine, VestingConfig};
use crate::tiers;

/// What the tranche book says about a coldkey over the lookback window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Holding {
    /// Σ remaining / Σ initial of the emission tranches in the window; `None` when the window
    /// holds no emission ("no history").
    pub fraction: Option<f64>,
    /// Age in days of the oldest emission tranche in the window that still holds anything.
    pub days: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub amount_tier: f64,
    pub duration_tier: f64,
    pub multiplier: f64,
    pub reason: String,
}

/// The vesting multiplier for `holding` under `cfg`: always within `[1, max_multiplier]`, 1.0
/// when there is no history.
pub fn multiplier(cfg: &VestingConfig, holding: Holding) -> Outcome {
    let Some(fraction) = holding.fraction.filter(|f| f.is_finite()) else {
        return Outcome {
            amount_tier: 1.0,
            duration_tier: 1.0,
            multiplier: 1.0,
            reason: format!(
                "no emission in the last {} days: no history, 1.0",
                cfg.lookback_days
            ),
        };
    };
    let fraction = fraction.clamp(0.0, 1.0);
    let days = if holding.days.is_finite() {
        holding.days.max(0.0)
    } else {
        0.0
    };
    let a = tiers::multiplier(&cfg.amount_tiers, fraction);
    let b = tiers::multiplier(&cfg.duration_tiers, days);
    let raw = combined(cfg, fraction, days, a, b);
    let max = cfg.max_multiplier;
    let m = raw.clamp(1.0, max);
    let clamp_note = if m != raw {
        format!(", clamped from {raw:.4}")
    } else {
        String::new()
    };
    Outcome {
        amount_tier: a,
        duration_tier: b,
        multiplier: m,
        reason: format!(
            "holds {:.2}% of its emissions (amount tier {a}), oldest held emission {days:.2} days old (duration tier {b}), {} combine{clamp_note}",
            fraction * 100.0,
            match cfg.combine {
                VestingCombine::Bettensor => "bettensor",
                VestingCombine::Product => "product",
                VestingCombine::Continuous => "continuous",
            }
        ),
    }
}

/// The unclamped multiplier of amount tier `a` and duration tier `b` (the holding itself for
/// the continuous rule): [`multiplier`]'s combination, also asked what-if questions by the lab.
pub fn combined(cfg: &VestingConfig, fraction: f64, days: f64, a: f64, b: f64) -> f64 {
    let max = cfg.max_multiplier;
    match cfg.combine {
        VestingCombine::Bettensor => {
            let top = |t: &[MultiplierTier]| t.last().map_or(1.0, |t| t.multiplier);
            let span = (top(&cfg.amount_tiers) - 1.0) + (top(&cfg.duration_tiers) - 1.0);
            if span <= 0.0 {
                1.0
            } else {
                1.0 + (max - 1.0) * ((a - 1.0) + (b - 1.0)) / span
            }
        }
        VestingCombine::Product => a * b,
        VestingCombine::Continuous => {
            let f = (fraction / cfg.continuous_fraction_target).min(1.0);
            let d = (days / cfg.continuous_days_target).min(1.0);
            1.0 + (max - 1.0) * (f * d).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cfg: &VestingConfig, fraction: f64, days: f64) -> f64 {
        multiplier(
            cfg,
            Holding {
                fraction: Some(fraction),
                days,
            },
        )
        .multiplier
    }

    #[test]
    fn spec_table_exactly() {
        let cfg = VestingConfig::default();
        // Rows: amount tier 1.0, 1.1, 1.2, 1.3; columns: duration tier 1.0 .. 1.3 (docs/rules.md).
        let fractions = [0.0, 0.3, 0.5, 0.7];
        let days = [0.0, 14.0, 30.0, 60.0];
        let table = [
            [1.0000, 1.0833, 1.1667, 1.2500],
            [1.0833, 1.1667, 1.2500, 1.3333],
            [1.1667, 1.2500, 1.3333, 1.4167],
            [1.2500, 1.3333, 1.4167, 1.5000],
        ];
        for (i, f) in fractions.iter().enumerate() {
            for (j, d) in days.iter().enumerate() {
                let m = at(&cfg, *f, *d);
                assert!(
                    (m - table[i][j]).abs() < 5e-5,
                    "({f}, {d}) -> {m}, want {}",
                    table[i][j]
                );
            }
        }
    }

    #[test]
    fn no_history_is_one() {
        let cfg = VestingConfig::default();
        let o = multiplier(
            &cfg,
            Holding {
                fraction: None,
                days: 100.0,
            },
        );
        assert_eq!(o.multiplier, 1.0);
        assert!(o.reason.contains("no history"));
    }

    #[test]
    fn tier_edges_are_half_open() {
        let cfg = VestingConfig::default();
        assert_eq!(at(&cfg, 0.2999, 0.0), 1.0);
        assert!(at(&cfg, 0.3, 0.0) > 1.0);
        assert_eq!(at(&cfg, 0.0, 13.99), 1.0);
        assert!(at(&cfg, 0.0, 14.0) > 1.0);
    }

    #[test]
    fn custom_tiers_reach_the_cap_at_the_top() {
        // The original divided by a hard-coded 0.3; here the top tiers always map to the cap.
        let cfg = VestingConfig {
            amount_tiers: vec![MultiplierTier {
                min: 0.5,
                multiplier: 1.8,
            }],
            duration_tiers: vec![MultiplierTier {
                min: 10.0,
                multiplier: 1.4,
            }],
            max_multiplier: 2.0,
            ..VestingConfig::default()
        };
        assert!((at(&cfg, 0.6, 11.0) - 2.0).abs() < 1e-12);
        assert!((at(&cfg, 0.6, 0.0) - (1.0 + 0.8 / 1.2)).abs() < 1e-12);
    }

    #[test]
    fn product_and_continuous_stay_within_bounds() {
        let mut cfg = VestingConfig {
            combine: VestingCombine::Product,
            ..VestingConfig::default()
        };
        assert!((at(&cfg, 0.7, 60.0) - 1.5).abs() < 1e-12); // 1.69 clamped
        assert!((at(&cfg, 0.5, 14.0) - 1.32).abs() < 1e-12);
        cfg.combine = VestingCombine::Continuous;
        assert!((at(&cfg, 0.9, 30.0) - 1.5).abs() < 1e-12);
        assert_eq!(at(&cfg, 0.0, 30.0), 1.0);
        assert!((at(&cfg, 0.45, 30.0) - (1.0 + 0.5 * 0.5f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn monotone_and_bounded_on_a_grid() {
        for combine in [
            VestingCombine::Bettensor,
            VestingCombine::Product,
            VestingCombine::Continuous,
        ] {
            let cfg = VestingConfig {
                combine,
                ..VestingConfig::default()
            };
            let mut prev_row: Option<Vec<f64>> = None;
            for fi in 0..=100 {
                let f = f64::from(fi) / 100.0;
                let row: Vec<f64> = (0..=90).map(|d| at(&cfg, f, f64::from(d))).collect();
                assert!(
                    row.windows(2).all(|w| w[1] >= w[0]),
                    "{combine:?}: not monotone in days at {f}"
                );
                assert!(row.iter().all(|m| (1.0..=cfg.max_multiplier).contains(m)));
                if let Some(prev) = &prev_row {
                    assert!(
                        prev.iter().zip(&row).all(|(a, b)| b >= a),
                        "{combine:?}: not monotone in fraction at {f}"
                    );
                }
                prev_row = Some(row);
            }
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn combine() -> impl Strategy<Value = VestingCombine> {
            prop_oneof![
                Just(VestingCombine::Bettensor),
                Just(VestingCombine::Product),
                Just(VestingCombine::Continuous),
            ]
        }

        /// Valid tiers: strictly increasing thresholds within `[0, hi]`, multipliers ≥ 1 and
        /// non-decreasing (what the configuration validation accepts).
        fn tiers(hi: f64) -> impl Strategy<Value = Vec<MultiplierTier>> {
            prop::collection::vec((0.0..hi, 1.0f64..3.0), 0..5).prop_map(|mut t| {
                t.sort_by(|a, b| a.0.total_cmp(&b.0));
                t.dedup_by(|a, b| a.0 == b.0);
                let mut m = 1.0f64;
                t.into_iter()
                    .map(|(min, mult)| {
                        m = m.max(mult);
                        MultiplierTier { min, multiplier: m }
                    })
                    .collect()
            })
        }

        fn config() -> impl Strategy<Value = VestingConfig> {
            (
                tiers(1.0),
                tiers(365.0),
                1.0f64..4.0,
                combine(),
                0.05f64..1.0,
                1.0f64..365.0,
            )
                .prop_map(|(a, d, max, combine, ft, dt)| VestingConfig {
                    amount_tiers: a,
                    duration_tiers: d,
                    max_multiplier: max,
                    combine,
                    continuous_fraction_target: ft,
                    continuous_days_target: dt,
                    ..VestingConfig::default()
                })
        }

        fn m(cfg: &VestingConfig, fraction: f64, days: f64) -> f64 {
            multiplier(
                cfg,
                Holding {
                    fraction: Some(fraction),
                    days,
                },
            )
            .multiplier
        }

        proptest! {
            #[test]
            fn bounded(cfg in config(), f in -0.5f64..1.5, d in -10.0f64..1000.0) {
                let x = m(&cfg, f, d);
                prop_assert!(x >= 1.0 && x <= cfg.max_multiplier, "{x} outside [1, {}]", cfg.max_multiplier);
            }

            #[test]
            fn monotone_in_fraction(cfg in config(), f in 0.0f64..1.0, df in 0.0f64..1.0, d in 0.0f64..400.0) {
                let g = (f + df).min(1.0);
                prop_assert!(m(&cfg, g, d) >= m(&cfg, f, d));
            }

            #[test]
            fn monotone_in_days(cfg in config(), f in 0.0f64..1.0, d in 0.0f64..400.0, dd in 0.0f64..400.0) {
                prop_assert!(m(&cfg, f, d + dd) >= m(&cfg, f, d));
            }

            /// The top tiers of any configuration reach the cap under `bettensor` (no hard-coded
            /// scale as in the original).
            #[test]
            fn top_tiers_reach_the_cap(cfg in config()) {
                let cfg = VestingConfig { combine: VestingCombine::Bettensor, ..cfg };
                let top_a = cfg.amount_tiers.last().map_or(1.0, |t| t.multiplier);
                let top_d = cfg.duration_tiers.last().map_or(1.0, |t| t.multiplier);
                let x = m(&cfg, 1.0, 1000.0);
                if top_a > 1.0 || top_d > 1.0 {
                    prop_assert!((x - cfg.max_multiplier).abs() < 1e-9, "{x}");
                } else {
                    prop_assert_eq!(x, 1.0);
                }
            }
        }
    }
}
