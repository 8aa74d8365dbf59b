//! The tranche book of one holder (a coldkey, or a coldkey on one hotkey): every inflow is a
//! tranche; every outflow consumes the newest tranches first (FILO), so the oldest holdings keep
//! their age. All amounts are integer RAO.

use serde::Serialize;

use crate::units::Rao;
use crate::vesting::multiplier::Holding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrancheKind {
    /// Alpha the miner earned (an epoch's emission).
    Emission,
    /// Any other inflow: a stake added, moved or transferred in, or stake held before tenure's
    /// history begins.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tranche {
    pub kind: TrancheKind,
    pub block: u64,
    pub initial: Rao,
    pub remaining: Rao,
}

/// What one block did to a book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Indices (into [`Book::tranches`]) of the tranches this block created.
    pub created: Vec<usize>,
    /// `(index, amount)` consumed by this block's outflow, newest first.
    pub consumed: Vec<(usize, Rao)>,
    /// Outflow beyond everything the book held: stake that left but was never seen arriving.
    pub unbacked: Rao,
}

/// Tranches in creation order (oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    pub tranches: Vec<Tranche>,
}

impl Book {
    pub fn new(tranches: Vec<Tranche>) -> Self {
        Book { tranches }
    }

    /// Applies one block: each emission becomes an emission tranche; the residual
    /// `(now - prev) - Σ emissions` becomes a manual tranche when positive, or an outflow that
    /// consumes the newest tranches first when negative.
    pub fn apply(&mut self, block: u64, emissions: &[Rao], prev: Rao, now: Rao) -> Applied {
        let mut applied = Applied::default();
        for &e in emissions.iter().filter(|&&e| e > 0) {
            applied
                .created
                .push(self.push(TrancheKind::Emission, block, e));
        }
        let credited: i128 = emissions.iter().map(|&e| i128::from(e)).sum();
        let residual = i128::from(now) - i128::from(prev) - credited;
        if residual > 0 {
            // A residual above u64::MAX cannot occur: it is bounded by `now`.
            let amount = Rao::try_from(residual).unwrap_or(Rao::MAX);
            applied
                .created
                .push(self.push(TrancheKind::Manual, block, amount));
        } else if residual < 0 {
            let mut left = Rao::try_from(-residual).unwrap_or(Rao::MAX);
            for (i, t) in self.tranches.iter_mut().enumerate().rev() {
                if left == 0 {
                    break;
                }
                let take = t.remaining.min(left);
                if take > 0 {
                    t.remaining -= take;
                    left -= take;
                    applied.consumed.push((i, take));
                }
            }
            applied.unbacked = left;
        }
        applied
    }

    fn push(&mut self, kind: TrancheKind, block: u64, amount: Rao) -> usize {
        self.tranches.push(Tranche {
            kind,
            block,
            initial: amount,
            remaining: amount,
        });
        self.tranches.len() - 1
    }

    /// Σ remaining over all tranches.
    pub fn held(&self) -> Rao {
        self.tranches.iter().map(|t| t.remaining).sum()
    }

    /// Holding metrics at block `now` over the emission tranches of the last `window_blocks`
    /// (docs/rules.md, "Vesting"): the fraction still held (`None` without any emission in the window) and the
    /// age, in days of `blocks_per_day`, of the oldest one still holding anything. Manual
    /// tranches never count: buying cannot raise the fraction.
    pub fn holding(&self, now: u64, window_blocks: u64, blocks_per_day: u64) -> Holding {
        let since = now.saturating_sub(window_blocks);
        let earned: Vec<&Tranche> = self
            .tranches
            .iter()
            .filter(|t| t.kind == TrancheKind::Emission && t.block >= since && t.block <= now)
            .collect();
        let initial: u128 = earned.iter().map(|t| u128::from(t.initial)).sum();
        let remaining: u128 = earned.iter().map(|t| u128::from(t.remaining)).sum();
        let fraction = (initial > 0).then(|| remaining as f64 / initial as f64);
        let days = earned
            .iter()
            .filter(|t| t.remaining > 0)
            .map(|t| t.block)
            .min()
            .map_or(0.0, |oldest| {
                (now - oldest) as f64 / blocks_per_day.max(1) as f64
            });
        Holding { fraction, days }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emissions_then_partial_sell_consumes_newest_first() {
        let mut b = Book::default();
        b.apply(100, &[], 0, 1_000); // manual buy
        b.apply(200, &[300], 1_000, 1_300); // emission
        b.apply(300, &[200], 1_300, 1_500); // emission
        let a = b.apply(400, &[], 1_500, 1_100); // sell 400
        assert_eq!(a.consumed, vec![(2, 200), (1, 200)]);
        assert_eq!(a.unbacked, 0);
        let remaining: Vec<Rao> = b.tranches.iter().map(|t| t.remaining).collect();
        assert_eq!(remaining, vec![1_000, 100, 0]);
        assert_eq!(b.held(), 1_100);
    }

    #[test]
    fn emission_and_buy_in_one_block() {
        let mut b = Book::default();
        let a = b.apply(10, &[50, 70], 0, 520);
        assert_eq!(a.created.len(), 3);
        assert_eq!(b.tranches[2].kind, TrancheKind::Manual);
        assert_eq!(b.tranches[2].initial, 400);
    }

    #[test]
    fn sell_in_the_emission_block_eats_the_new_emission() {
        let mut b = Book::default();
        b.apply(10, &[], 0, 1_000);
        b.apply(20, &[100], 1_000, 1_050);
        assert_eq!(b.tranches[1].remaining, 50);
        assert_eq!(b.tranches[0].remaining, 1_000);
    }

    #[test]
    fn selling_more_than_held_reports_the_unbacked_rest() {
        let mut b = Book::default();
        b.apply(10, &[100], 0, 100);
        let a = b.apply(11, &[], 500, 0);
        assert_eq!(b.held(), 0);
        assert_eq!(a.unbacked, 400);
    }

    const DAY: u64 = 7_200;

    #[test]
    fn selling_half_halves_the_fraction_and_keeps_the_days() {
        let mut b = Book::default();
        b.apply(0, &[1_000], 0, 1_000);
        b.apply(10 * DAY, &[1_000], 1_000, 2_000);
        let before = b.holding(20 * DAY, 90 * DAY, DAY);
        assert_eq!(before.fraction, Some(1.0));
        assert_eq!(before.days, 20.0);
        b.apply(20 * DAY, &[], 2_000, 1_000);
        let after = b.holding(20 * DAY, 90 * DAY, DAY);
        assert_eq!(after.fraction, Some(0.5));
        // FILO: the newer tranche went first; the oldest still holds, so the age is unchanged.
        assert_eq!(after.days, 20.0);
    }

    #[test]
    fn selling_all_leaves_nothing_and_zero_days() {
        let mut b = Book::default();
        b.apply(DAY, &[500], 0, 500);
        b.apply(2 * DAY, &[], 500, 0);
        let h = b.holding(3 * DAY, 90 * DAY, DAY);
        assert_eq!(h.fraction, Some(0.0));
        assert_eq!(h.days, 0.0);
    }

    #[test]
    fn manual_buys_never_raise_the_fraction() {
        let mut b = Book::default();
        b.apply(DAY, &[1_000], 0, 1_000);
        b.apply(2 * DAY, &[], 1_000, 400);
        let sold = b.holding(3 * DAY, 90 * DAY, DAY).fraction;
        b.apply(3 * DAY, &[], 400, 5_400);
        assert_eq!(b.holding(3 * DAY, 90 * DAY, DAY).fraction, sold);
        assert_eq!(sold, Some(0.4));
    }

    #[test]
    fn emissions_outside_the_window_are_no_history() {
        let mut b = Book::default();
        b.apply(0, &[1_000], 0, 1_000);
        b.apply(5, &[], 1_000, 5_000);
        assert_eq!(b.holding(100 * DAY, 90 * DAY, DAY).fraction, None);
        assert_eq!(b.holding(100 * DAY, 90 * DAY, DAY).days, 0.0);
        assert_eq!(b.holding(90 * DAY, 90 * DAY, DAY).fraction, Some(1.0));
    }

    #[test]
    fn no_change_no_tranche() {
        let mut b = Book::default();
        let a = b.apply(10, &[], 5, 5);
        assert_eq!(a, Applied::default());
        assert!(b.tranches.is_empty());
    }
}
