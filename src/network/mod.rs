//! Network health (docs/rules.md, "Network health"), the pure figures: how concentrated the final weights are, how far
//! the multipliers moved them from the base scores, bonus coverage, and how many miners of a
//! registration cohort are still there. Plain data in, numbers out; recording them per epoch and
//! serving them come on top of these (issue 21, item 2). `store` reads the figures of the latest
//! recorded epochs.

pub mod criteria;
pub mod store;

/// The Gini coefficient of `x` (non-negative; 0 = perfectly equal, → 1 = one holds everything):
/// `Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² mean)`, computed in O(n log n) on the sorted values. `None` for an
/// empty or all-zero vector.
pub fn gini(x: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let total: f64 = x.iter().sum();
    if x.is_empty() || total <= 0.0 {
        return None;
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    // Σᵢ (2i − n − 1)·x₍ᵢ₎ over the ascending order (i from 1) equals half the double sum.
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, v)| (2.0 * (i as f64 + 1.0) - n - 1.0) * v)
        .sum();
    Some(weighted / (n * total))
}

/// The share of the total held by the largest `fraction` of the entries (at least one entry),
/// e.g. the top-10 % share of the final weights. `None` for an empty or all-zero vector.
pub fn top_share(x: &[f64], fraction: f64) -> Option<f64> {
    let total: f64 = x.iter().sum();
    if x.is_empty() || total <= 0.0 {
        return None;
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = ((x.len() as f64 * fraction).ceil() as usize).clamp(1, x.len());
    Some(sorted[..k].iter().sum::<f64>() / total)
}

/// Each entry's share of the total (all zero when the total is zero).
pub fn shares(x: &[f64]) -> Vec<f64> {
    let total: f64 = x.iter().sum();
    if total <= 0.0 {
        return vec![0.0; x.len()];
    }
    x.iter().map(|v| v / total).collect()
}

/// How far the multipliers moved the weights: the total variation distance between the
/// base-only shares and the final shares, `½ Σ |pᵢ − qᵢ|` (0 = unchanged, 1 = disjoint), with
/// the largest single gain and loss in share points (`q − p`). The two vectors are per uid, in
/// the same order.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Moved {
    pub total_variation: f64,
    pub largest_gain: f64,
    pub largest_loss: f64,
}

pub fn moved(base: &[f64], final_weights: &[f64]) -> Moved {
    let (p, q) = (shares(base), shares(final_weights));
    let diffs: Vec<f64> = q.iter().zip(&p).map(|(q, p)| q - p).collect();
    Moved {
        total_variation: diffs.iter().map(|d| d.abs()).sum::<f64>() / 2.0,
        largest_gain: diffs.iter().copied().fold(0.0, f64::max),
        largest_loss: diffs.iter().copied().fold(0.0, f64::min),
    }
}

/// The share of miners whose multiplier is above 1 (the design's target: 80 %). `None` without
/// miners.
pub fn coverage(multipliers: &[f64]) -> Option<f64> {
    if multipliers.is_empty() {
        return None;
    }
    let covered = multipliers.iter().filter(|m| **m > 1.0).count();
    Some(covered as f64 / multipliers.len() as f64)
}

/// The share of `values` at or below `x` (a miner's standing: 1.0 = at or above every miner).
/// `None` without values.
pub fn percentile(values: &[f64], x: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let below = values.iter().filter(|v| **v <= x).count();
    Some(below as f64 / values.len() as f64)
}

/// One registration: the chain day it began and the day it ended (`None`: still registered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub from_day: i64,
    pub until_day: Option<i64>,
}

/// Of the registrations that began at least `after` days before `today`, the share still
/// registered `after` days after they began. `None` when no registration is old enough.
pub fn retention(registrations: &[Registration], after: i64, today: i64) -> Option<f64> {
    let old_enough: Vec<&Registration> = registrations
        .iter()
        .filter(|r| r.from_day + after <= today)
        .collect();
    if old_enough.is_empty() {
        return None;
    }
    let kept = old_enough
        .iter()
        .filter(|r| r.until_day.is_none_or(|until| until > r.from_day + after))
        .count();
    Some(kept as f64 / old_enough.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_the_share_at_or_below() {
        assert_eq!(percentile(&[], 1.0), None);
        let v = [0.5, 0.9, 0.9, 1.0];
        assert_eq!(percentile(&v, 0.9), Some(0.75));
        assert_eq!(percentile(&v, 0.4), Some(0.0));
        assert_eq!(percentile(&v, 1.0), Some(1.0));
    }

    /// The definition itself, over every pair: the oracle for the sorted formula.
    fn gini_by_pairs(x: &[f64]) -> f64 {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let pairs: f64 = x
            .iter()
            .flat_map(|a| x.iter().map(move |b| (a - b).abs()))
            .sum();
        pairs / (2.0 * n * n * mean)
    }

    #[test]
    fn gini_equals_the_pairwise_definition() {
        assert_eq!(gini(&[1.0, 1.0, 1.0, 1.0]), Some(0.0));
        assert_eq!(gini(&[0.0, 0.0, 0.0, 1.0]), Some(0.75));
        assert_eq!(gini(&[]), None);
        assert_eq!(gini(&[0.0, 0.0]), None);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let values: Vec<f64> = (0..257)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 10_000) as f64
            })
            .collect();
        let (fast, slow) = (gini(&values).unwrap(), gini_by_pairs(&values));
        assert!((fast - slow).abs() < 1e-12, "{fast} vs {slow}");
    }

    #[test]
    fn top_share_counts_at_least_one_entry() {
        let x: Vec<f64> = (1..=20).map(f64::from).collect();
        // The top 10 % of 20 entries: 20 and 19 of 210.
        assert_eq!(top_share(&x, 0.10), Some(39.0 / 210.0));
        assert_eq!(top_share(&[5.0, 1.0], 0.10), Some(5.0 / 6.0));
        assert_eq!(top_share(&[], 0.10), None);
    }

    #[test]
    fn moved_is_the_total_variation_with_the_largest_moves() {
        let m = moved(&[1.0, 1.0, 2.0], &[1.0, 3.0, 0.0]);
        // Shares (¼, ¼, ½) → (¼, ¾, 0): half the mass moved, +0.5 to the second, −0.5 off the third.
        assert_eq!(m.total_variation, 0.5);
        assert_eq!((m.largest_gain, m.largest_loss), (0.5, -0.5));
        let same = moved(&[2.0, 6.0], &[1.0, 3.0]);
        assert_eq!(same.total_variation, 0.0);
    }

    #[test]
    fn coverage_and_retention() {
        assert_eq!(coverage(&[1.0, 1.2, 1.5, 1.0]), Some(0.5));
        assert_eq!(coverage(&[]), None);
        let r = |from_day, until_day| Registration {
            from_day,
            until_day,
        };
        let regs = [
            r(0, None),
            r(0, Some(5)),
            r(0, Some(40)),
            r(10, None),
            r(95, None),
        ];
        // 30 days after registering, at day 100: the first four are old enough; the one that
        // left on day 5 is gone.
        assert_eq!(retention(&regs, 30, 100), Some(0.75));
        // 90 days: the three of day 0 and the one of day 10; only two stayed.
        assert_eq!(retention(&regs, 90, 100), Some(0.5));
        assert_eq!(retention(&regs, 180, 100), None);
    }
}
