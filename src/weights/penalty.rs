//! The optional alpha-selling penalty (`weights.penalty`, docs/rules.md "Weights"): a coldkey whose held alpha
//! in the subnet dropped against its mean over the last `mean_window_days` by at least a tier's
//! `min_drop` has its miners' weights multiplied by the tier's `factor` for `hours` (chain
//! hours, counted in blocks at `chain.block_time_secs` — the original counted 100 s blocks).
//!
//! Emissions are excluded: the series compared is `held(t) − emissions credited since the
//! window start`, so alpha earned and kept neither raises the mean nor hides a sale, and alpha
//! sold — earned or bought — is a drop. Pure; the series are read by [`super::inputs`].

use crate::config::PenaltyTier;

/// One coldkey's alpha over a window of blocks `[from, to]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Alpha held at `from` (RAO; 0 when nothing is known then).
    pub initial: i64,
    /// (block, alpha held after the change), blocks in `(from, to]`, ascending.
    pub changes: Vec<(u64, i64)>,
    /// (block, alpha credited by an epoch's emission), blocks in `(from, to]`, ascending.
    pub emissions: Vec<(u64, i64)>,
}

/// The measured drop: `(mean − current) / mean` of the emission-adjusted series, with both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drop {
    pub mean: f64,
    pub current: f64,
    pub fraction: f64,
}

/// The time-weighted mean over `[start, to)` and the value at `to` of
/// `held − emissions since start`; `None` when the mean is not positive (nothing held).
/// `s` begins at `from <= start`: a coldkey penalized since `from` is measured from its last
/// penalty, so one sale is penalized once, not again each time the penalty expires.
pub fn drop(s: &Series, from: u64, start: u64, to: u64) -> Option<Drop> {
    let start = start.max(from);
    if to <= start {
        return None;
    }
    let mut held = s.initial as f64;
    for (b, h) in &s.changes {
        if *b <= start {
            held = *h as f64;
        }
    }
    // Merge both event lists into the adjusted value's steps.
    let mut events: Vec<(u64, Option<i64>, i64)> = s
        .changes
        .iter()
        .map(|(b, held)| (*b, Some(*held), 0))
        .chain(s.emissions.iter().map(|(b, e)| (*b, None, *e)))
        .filter(|(b, ..)| *b > start && *b <= to)
        .collect();
    events.sort_by_key(|e| e.0);
    let mut earned = 0.0_f64;
    let (mut at, mut area) = (start, 0.0_f64);
    for (b, new_held, emission) in events {
        area += (held - earned) * (b - at) as f64;
        at = b;
        if let Some(h) = new_held {
            held = h as f64;
        }
        earned += emission as f64;
    }
    area += (held - earned) * (to - at) as f64;
    let mean = area / (to - start) as f64;
    let current = held - earned;
    if mean <= 0.0 {
        return None;
    }
    Some(Drop {
        mean,
        current,
        fraction: ((mean - current) / mean).max(0.0),
    })
}

/// The tier a drop falls in: the highest `min_drop` at or below it (tiers ascending).
pub fn tier(tiers: &[PenaltyTier], fraction: f64) -> Option<PenaltyTier> {
    tiers.iter().rev().find(|t| fraction >= t.min_drop).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers() -> Vec<PenaltyTier> {
        crate::config::PenaltyConfig::default().tiers
    }

    #[test]
    fn kept_emissions_are_no_drop_and_sold_ones_are() {
        // 1,000 held; 100 emitted at block 50 and kept: held 1,100, adjusted 1,000 throughout.
        let kept = Series {
            initial: 1000,
            changes: vec![(50, 1100)],
            emissions: vec![(50, 100)],
        };
        assert_eq!(drop(&kept, 0, 0, 100).unwrap().fraction, 0.0);
        // The same emission sold at block 60: adjusted 900 from there.
        let sold = Series {
            initial: 1000,
            changes: vec![(50, 1100), (60, 1000)],
            emissions: vec![(50, 100)],
        };
        let d = drop(&sold, 0, 0, 100).unwrap();
        assert!((d.mean - 960.0).abs() < 1e-9, "{d:?}");
        assert_eq!(d.current, 900.0);
        assert!((d.fraction - 60.0 / 960.0).abs() < 1e-12);
    }

    #[test]
    fn a_sale_of_half_at_the_end_is_a_half_drop_of_a_flat_mean() {
        let s = Series {
            initial: 1000,
            changes: vec![(100, 500)],
            emissions: vec![],
        };
        let d = drop(&s, 0, 0, 100).unwrap();
        assert_eq!((d.mean, d.current, d.fraction), (1000.0, 500.0, 0.5));
        assert_eq!(tier(&tiers(), d.fraction).unwrap().factor, 0.4);
        // Nothing held: no measure at all.
        assert_eq!(drop(&Series::default(), 0, 0, 100), None);
    }

    #[test]
    fn tier_edges_are_half_open() {
        let t = tiers();
        assert_eq!(tier(&t, 0.0499), None);
        assert_eq!(tier(&t, 0.05).unwrap().factor, 0.8);
        assert_eq!(tier(&t, 0.1499).unwrap().factor, 0.8);
        assert_eq!(tier(&t, 0.15).unwrap().factor, 0.6);
        assert_eq!(tier(&t, 0.30).unwrap().factor, 0.4);
        assert_eq!(tier(&t, 1.0).unwrap().hours, 24);
    }

    #[test]
    fn measured_from_the_last_penalty_a_sale_counts_once() {
        let s = Series {
            initial: 1000,
            changes: vec![(90, 500)],
            emissions: vec![],
        };
        assert!(drop(&s, 0, 0, 100).unwrap().fraction > 0.4);
        // Penalized at 95: from there on the coldkey holds 500 throughout.
        assert_eq!(drop(&s, 0, 95, 200).unwrap().fraction, 0.0);
    }

    #[test]
    fn buying_is_no_drop() {
        let s = Series {
            initial: 1000,
            changes: vec![(10, 3000)],
            emissions: vec![],
        };
        assert_eq!(drop(&s, 0, 0, 100).unwrap().fraction, 0.0);
    }
}
