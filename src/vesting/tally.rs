//! The vesting window as the ingest writer keeps it: each book's running sums over its
//! emission tranches in the window, instead of every tranche.
//!
//! An epoch needs, per book, Σ initial, Σ remaining and the block of the oldest tranche still
//! holding anything ([`Sums`]). Those follow from each change exactly: a new tranche adds, an
//! outflow lowers one tranche's remaining amount, a coldkey swap merges two books, and the
//! window's start moving past old tranches subtracts them (read back from the database at the
//! epoch, in the block's transaction). Only the oldest held block cannot be derived when its
//! tranche empties or leaves: the book is then marked, and the epoch reads that block again
//! (one index probe per book). At 4,096 miners × 90 days this is 8,192 sums instead of
//! 7.35 M tranches in memory (118 MB) and a load that PostgreSQL aggregates instead of sending.
//!
//! The lab keeps every tranche ([`Window`](crate::vesting::window::Window)): it replays
//! history in memory. Both answer [`WindowSums`]; a test checks that they agree.

use std::collections::HashMap;

use crate::units::Rao;
use crate::vesting::window::{BookKey, Sums, WindowSums, books_of};

/// Σ over some emission tranches of one book: how many, their initial and remaining amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub count: u64,
    pub earned: u128,
    pub remaining: u128,
}

/// One book of a tally as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub key: BookKey,
    pub totals: Totals,
    pub oldest_held: Option<u64>,
    pub stale: bool,
}

/// One book in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Book {
    totals: Totals,
    oldest_held: Option<u64>,
    /// The oldest held tranche emptied or left the window: `oldest_held` must be read again.
    stale: bool,
}

/// Every book's sums over the emission tranches created at or after `since`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    since: u64,
    books: HashMap<BookKey, Book>,
}

impl Tally {
    /// An empty window starting at block `since`.
    pub fn new(since: u64) -> Self {
        Tally {
            since,
            books: HashMap::new(),
        }
    }

    /// First block of the window.
    pub fn since(&self) -> u64 {
        self.since
    }

    /// Number of emission tranches in the window.
    pub fn len(&self) -> u64 {
        self.books.values().map(|b| b.totals.count).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.books.is_empty()
    }

    /// A book as loaded: its totals and oldest held block in the window.
    pub fn load(&mut self, key: BookKey, totals: Totals, oldest_held: Option<u64>) {
        if totals.count > 0 {
            self.books.insert(
                key,
                Book {
                    totals,
                    oldest_held,
                    stale: false,
                },
            );
        }
    }

    /// Every book as it stands, for a snapshot ([`Tally::restored`] takes them back).
    pub fn kept(&self) -> impl Iterator<Item = Kept> + '_ {
        self.books.iter().map(|(key, b)| Kept {
            key: key.clone(),
            totals: b.totals,
            oldest_held: b.oldest_held,
            stale: b.stale,
        })
    }

    /// The tally [`Tally::kept`] described, exactly (stale marks included).
    pub fn restored(since: u64, books: impl IntoIterator<Item = Kept>) -> Self {
        let books = books.into_iter().map(|k| {
            let book = Book {
                totals: k.totals,
                oldest_held: k.oldest_held,
                stale: k.stale,
            };
            (k.key, book)
        });
        Tally {
            since,
            books: books.collect(),
        }
    }

    /// A new emission tranche (created by a block).
    pub fn insert(&mut self, key: BookKey, block: u64, initial: Rao, remaining: Rao) {
        if block < self.since {
            return;
        }
        let b = self.books.entry(key).or_default();
        b.totals.count += 1;
        b.totals.earned += u128::from(initial);
        b.totals.remaining += u128::from(remaining);
        if remaining > 0 {
            b.oldest_held = Some(b.oldest_held.map_or(block, |o| o.min(block)));
        }
    }

    /// An outflow took an emission tranche of block `block` from `before` to `after` (amounts
    /// only fall). Tranches before the window are not counted and are ignored.
    pub fn consume(&mut self, key: &BookKey, block: u64, before: Rao, after: Rao) {
        if block < self.since {
            return;
        }
        if let Some(b) = self.books.get_mut(key) {
            let r = b.totals.remaining + u128::from(after);
            b.totals.remaining = r.saturating_sub(u128::from(before));
            if after == 0 && b.oldest_held == Some(block) {
                // Another tranche of the same block may still hold something.
                b.stale = true;
            }
        }
    }

    /// A coldkey swap: every book of `old` becomes (or merges into) the same book of `new`.
    pub fn move_coldkey(&mut self, old: &str, new: &str) {
        for key in books_of(&self.books, old) {
            if let Some(moved) = self.books.remove(&key) {
                let target = self.books.entry((new.to_string(), key.1)).or_default();
                target.totals.count += moved.totals.count;
                target.totals.earned += moved.totals.earned;
                target.totals.remaining += moved.totals.remaining;
                target.oldest_held = match (target.oldest_held, moved.oldest_held) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                target.stale |= moved.stale;
            }
        }
    }

    /// The window now starts at `since` (later than before): `leaving` are, per book, the
    /// emission tranches created in `[self.since, since)` as they stand now. Books whose
    /// oldest held tranche left are marked to be read again.
    pub fn advance(&mut self, since: u64, leaving: impl IntoIterator<Item = (BookKey, Totals)>) {
        for (key, gone) in leaving {
            if let Some(b) = self.books.get_mut(&key) {
                b.totals.count = b.totals.count.saturating_sub(gone.count);
                b.totals.earned = b.totals.earned.saturating_sub(gone.earned);
                b.totals.remaining = b.totals.remaining.saturating_sub(gone.remaining);
            }
        }
        self.since = since;
        self.books.retain(|_, b| b.totals.count > 0);
        for b in self.books.values_mut() {
            if b.oldest_held.is_some_and(|o| o < since) {
                b.stale = true;
            }
        }
    }

    /// The books whose oldest held block must be read again.
    pub fn stale(&self) -> Vec<BookKey> {
        let stale = self.books.iter().filter(|(_, b)| b.stale);
        stale.map(|(k, _)| k.clone()).collect()
    }

    /// A stale book's oldest held block, as read.
    pub fn set_oldest_held(&mut self, key: &BookKey, oldest_held: Option<u64>) {
        if let Some(b) = self.books.get_mut(key) {
            b.oldest_held = oldest_held;
            b.stale = false;
        }
    }
}

impl WindowSums for Tally {
    /// The sums of `key` over the window; `since` must be the tally's own (the epoch advanced
    /// it) and `now` at or after every tranche, as at an epoch block.
    fn sums(&self, key: &BookKey, since: u64, _now: u64) -> Sums {
        debug_assert_eq!(since, self.since, "the tally was not advanced to the epoch");
        self.books.get(key).map_or(Sums::default(), |b| {
            debug_assert!(!b.stale, "a stale book's sums were read");
            Sums {
                earned: b.totals.earned,
                remaining: b.totals.remaining,
                oldest_held: b.oldest_held,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vesting::window::{Entry, Window};

    fn key(c: &str) -> BookKey {
        (c.to_string(), String::new())
    }

    /// A small deterministic generator: the tests need variety, not quality.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// The oldest held block of the books `tally` marks, as the epoch reads it from the
    /// database: here, from the window that keeps every tranche.
    fn read_stale(tally: &mut Tally, window: &Window, now: u64) {
        for k in tally.stale() {
            let oldest = window.sums(&k, tally.since(), now).oldest_held;
            tally.set_oldest_held(&k, oldest);
        }
    }

    /// Random blocks of new tranches, outflows, swaps and window moves, applied to both forms:
    /// every book's sums agree at every epoch.
    #[test]
    fn the_running_sums_equal_the_window_of_every_tranche() {
        let mut rng = Lcg(7);
        let coldkeys = ["a", "b", "c", "d"];
        let mut window = Window::new();
        let mut tally = Tally::new(0);
        // Every tranche as the database has it: (key, id, block, initial, remaining).
        let mut rows: Vec<(BookKey, i64, u64, Rao, Rao)> = Vec::new();
        let window_blocks = 40;
        for block in 1..400u64 {
            for _ in 0..rng.next(3) {
                let k = key(coldkeys[rng.next(4) as usize]);
                let initial = 1 + rng.next(1_000) as Rao;
                let id = rows.len() as i64 + 1;
                let e = Entry {
                    id,
                    block,
                    initial,
                    remaining: initial,
                };
                window.insert(k.clone(), e).unwrap();
                tally.insert(k.clone(), block, initial, initial);
                rows.push((k, id, block, initial, initial));
            }
            if rng.next(4) == 0 {
                // An outflow: the newest held tranches of one book first, as the book does.
                let k = key(coldkeys[rng.next(4) as usize]);
                let mut take = rng.next(2_500) as Rao;
                for r in rows.iter_mut().rev().filter(|r| r.0 == k && r.4 > 0) {
                    let after = r.4.saturating_sub(take);
                    take -= r.4 - after;
                    window.set_remaining(&k, r.1, after);
                    tally.consume(&k, r.2, r.4, after);
                    r.4 = after;
                    if take == 0 {
                        break;
                    }
                }
            }
            if rng.next(50) == 0 {
                let (old, new) = (
                    coldkeys[rng.next(4) as usize],
                    coldkeys[rng.next(4) as usize],
                );
                if old != new {
                    window.move_coldkey(old, new);
                    tally.move_coldkey(old, new);
                    for r in rows.iter_mut().filter(|r| r.0.0 == old) {
                        r.0 = key(new);
                    }
                }
            }
            if block % 10 == 0 {
                let since = block.saturating_sub(window_blocks);
                let mut leaving: HashMap<BookKey, Totals> = HashMap::new();
                let gone = rows.iter().filter(|r| r.2 >= tally.since() && r.2 < since);
                for r in gone {
                    let t = leaving.entry(r.0.clone()).or_default();
                    t.count += 1;
                    t.earned += u128::from(r.3);
                    t.remaining += u128::from(r.4);
                }
                tally.advance(since, leaving);
                window.prune(since);
                read_stale(&mut tally, &window, block);
                for c in coldkeys {
                    let k = key(c);
                    assert_eq!(
                        tally.sums(&k, since, block),
                        window.sums(&k, since, block),
                        "book {c} at block {block}"
                    );
                }
                assert_eq!(tally.len() as usize, window.len(), "at block {block}");
            }
        }
    }

    #[test]
    fn an_emptied_oldest_tranche_marks_its_book() {
        let mut t = Tally::new(10);
        t.insert(key("a"), 5, 100, 100); // before the window: not counted
        t.insert(key("a"), 12, 100, 100);
        t.insert(key("a"), 12, 50, 50);
        t.insert(key("a"), 15, 70, 70);
        assert_eq!(t.len(), 3);
        t.consume(&key("a"), 15, 70, 0);
        assert!(t.stale().is_empty(), "the oldest held is block 12");
        t.consume(&key("a"), 12, 50, 0);
        assert_eq!(t.stale(), vec![key("a")]);
        t.set_oldest_held(&key("a"), Some(12));
        let s = t.sums(&key("a"), 10, 20);
        assert_eq!((s.earned, s.remaining, s.oldest_held), (220, 100, Some(12)));
    }
}
