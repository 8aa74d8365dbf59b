//! Share pools, as the chain keeps stake: per hotkey a total of alpha and a total of shares, and
//! per (hotkey, coldkey) a number of shares. The devnet mints whole shares, stored as `U64F64`
//! (`shares << 64`) or, in the v2 layout, as the same integer in `SafeFloat`; what a coldkey
//! holds is computed with the runtime's arithmetic for the layout ([`crate::share_pool`], the
//! devnet's own), so the devnet pays out what the chain would.

use std::collections::BTreeMap;

use crate::share_pool::{self, Layout};

/// An amount in RAO.
pub type Rao = u64;

pub type Account = [u8; 32];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    pub total_alpha: Rao,
    pub total_shares: u64,
    pub shares: BTreeMap<Account, u64>,
}

impl Pool {
    /// Alpha `coldkey` holds in this pool.
    pub fn alpha_of(&self, coldkey: &Account, layout: Layout) -> Rao {
        let share = self.shares.get(coldkey).copied().unwrap_or(0);
        share_pool::worth(layout, self.total_alpha, share, self.total_shares)
    }

    /// `coldkey` adds `alpha` to the pool, buying shares at the pool's price.
    pub fn add(&mut self, coldkey: Account, alpha: Rao) {
        let new_shares = if self.total_alpha == 0 || self.total_shares == 0 {
            alpha
        } else {
            (u128::from(alpha) * u128::from(self.total_shares) / u128::from(self.total_alpha))
                as u64
        };
        self.total_alpha += alpha;
        self.total_shares += new_shares;
        *self.shares.entry(coldkey).or_default() += new_shares;
    }

    /// `coldkey` takes out `alpha` (at most what it holds); returns the alpha actually removed.
    pub fn remove(&mut self, coldkey: &Account, alpha: Rao, layout: Layout) -> Rao {
        let held = self.alpha_of(coldkey, layout);
        let alpha = alpha.min(held);
        if alpha == 0 {
            return 0;
        }
        let share = self.shares.get(coldkey).copied().unwrap_or(0);
        let burn = if alpha == held {
            share
        } else {
            // Round the shares burnt up, so no one can take out more than they hold.
            let num = u128::from(alpha) * u128::from(self.total_shares);
            (num.div_ceil(u128::from(self.total_alpha)) as u64).min(share)
        };
        self.total_alpha -= alpha;
        self.total_shares -= burn;
        match self.shares.get_mut(coldkey) {
            Some(s) if *s == burn => {
                self.shares.remove(coldkey);
            }
            Some(s) => *s -= burn,
            None => {}
        }
        alpha
    }

    /// Credits `alpha` to the pool as a whole (every staker gains in proportion).
    pub fn credit_all(&mut self, alpha: Rao) {
        self.total_alpha += alpha;
    }

    /// Moves every share of `from` to `to` (a coldkey swap).
    pub fn rename_staker(&mut self, from: &Account, to: Account) {
        if let Some(s) = self.shares.remove(from) {
            *self.shares.entry(to).or_default() += s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Layout = Layout::V2;

    #[test]
    fn add_remove_and_credit_keep_holdings_exact() {
        let (a, b) = ([1; 32], [2; 32]);
        let mut p = Pool::default();
        p.add(a, 1_000);
        p.add(b, 500);
        assert_eq!((p.alpha_of(&a, L), p.alpha_of(&b, L)), (1_000, 500));
        p.credit_all(300); // +20% for everyone
        assert_eq!((p.alpha_of(&a, L), p.alpha_of(&b, L)), (1_200, 600));
        assert_eq!(p.remove(&a, 200, L), 200);
        // Burnt shares are rounded up: the seller may lose a RAO to rounding, never gain one.
        assert!(
            (999..=1_000).contains(&p.alpha_of(&a, L)),
            "{}",
            p.alpha_of(&a, L)
        );
        assert_eq!(p.remove(&b, 10_000, L), 600);
        assert_eq!(p.alpha_of(&b, L), 0);
        assert!(!p.shares.contains_key(&b));
        assert_eq!(p.total_alpha, 1_000);
        assert!(p.alpha_of(&a, L) <= p.total_alpha);
    }

    #[test]
    fn removal_never_pays_more_than_held() {
        let (a, b) = ([1; 32], [2; 32]);
        let mut p = Pool::default();
        p.add(a, 7);
        p.credit_all(3);
        p.add(b, 11);
        let before = p.alpha_of(&a, L) + p.alpha_of(&b, L);
        p.remove(&a, 5, L);
        assert!(p.alpha_of(&a, L) + p.alpha_of(&b, L) + 5 <= before);
        assert!(p.alpha_of(&a, L) + p.alpha_of(&b, L) <= p.total_alpha);
    }
}
