//! Tier lookup shared by every reward family: tiers are half-open (`metric >= min`), sorted
//! strictly increasing (the configuration guarantees it), and the highest tier reached wins.

use crate::config::{BonusTier, MultiplierTier};

/// The value of the highest tier whose `min` the metric reaches, or `below` when none.
/// A non-finite metric reaches no tier.
pub fn reached<T>(
    tiers: &[T],
    metric: f64,
    min: impl Fn(&T) -> f64,
    value: impl Fn(&T) -> f64,
    below: f64,
) -> f64 {
    if !metric.is_finite() {
        return below;
    }
    tiers
        .iter()
        .take_while(|t| metric >= min(t))
        .last()
        .map_or(below, value)
}

/// The multiplier reached on `tiers` (1.0 below the first tier).
pub fn multiplier(tiers: &[MultiplierTier], metric: f64) -> f64 {
    reached(tiers, metric, |t| t.min, |t| t.multiplier, 1.0)
}

/// The bonus reached on `tiers` (0.0 below the first tier).
pub fn bonus(tiers: &[BonusTier], metric: f64) -> f64 {
    reached(tiers, metric, |t| t.min, |t| t.bonus, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &[(f64, f64)]) -> Vec<MultiplierTier> {
        t.iter()
            .map(|&(min, multiplier)| MultiplierTier { min, multiplier })
            .collect()
    }

    #[test]
    fn half_open_edges() {
        let t = m(&[(0.3, 1.1), (0.5, 1.2), (0.7, 1.3)]);
        assert_eq!(multiplier(&t, 0.2999), 1.0);
        assert_eq!(multiplier(&t, 0.3), 1.1);
        assert_eq!(multiplier(&t, 0.4999), 1.1);
        assert_eq!(multiplier(&t, 0.5), 1.2);
        assert_eq!(multiplier(&t, 0.7), 1.3);
        assert_eq!(multiplier(&t, 1.0), 1.3);
        assert_eq!(multiplier(&t, f64::NAN), 1.0);
        assert_eq!(multiplier(&[], 0.9), 1.0);
    }

    #[test]
    fn bonus_below_first_tier_is_zero() {
        let t = [
            BonusTier {
                min: 0.75,
                bonus: 0.05,
            },
            BonusTier {
                min: 1.0,
                bonus: 0.25,
            },
        ];
        assert_eq!(bonus(&t, 0.74), 0.0);
        assert_eq!(bonus(&t, 0.75), 0.05);
        assert_eq!(bonus(&t, 0.9999), 0.05);
        assert_eq!(bonus(&t, 1.0), 0.25);
    }
}
