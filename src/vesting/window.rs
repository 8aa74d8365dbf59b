//! The emission tranches inside the lookback window, per book, kept in memory by the ingest
//! writer so that an epoch's holding metrics for every miner are one pass over plain data
//! instead of an aggregate over months of tranche rows.
//!
//! It mirrors the database: it is loaded from `vesting_tranches` and then receives exactly the
//! changes each block's transaction makes (new emission tranches, new remaining amounts, coldkey
//! swaps). Any failed write makes ingestion reload it with everything else.

use std::collections::HashMap;

use crate::units::Rao;
use crate::vesting::multiplier::Holding;

/// A book: `(coldkey, hotkey)` as stored, the hotkey empty in the coldkey scope.
pub type BookKey = (String, String);

/// One emission tranche.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The tranche's row id: ids grow with blocks, so they order a book's tranches.
    pub id: i64,
    pub block: u64,
    pub initial: Rao,
    pub remaining: Rao,
}

/// What a book's window sums to at one block.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sums {
    /// Σ initial of the emission tranches in the window.
    pub earned: u128,
    /// Σ remaining of those.
    pub remaining: u128,
    /// Block of the oldest of those still holding anything.
    pub oldest_held: Option<u64>,
}

impl Sums {
    /// The holding metrics of docs/rules.md ("Vesting") at block `now`.
    pub fn holding(&self, now: u64, blocks_per_day: u64) -> Holding {
        Holding {
            fraction: (self.earned > 0).then(|| self.remaining as f64 / self.earned as f64),
            days: self.oldest_held.map_or(0.0, |b| {
                now.saturating_sub(b) as f64 / blocks_per_day.max(1) as f64
            }),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Window {
    books: HashMap<BookKey, Vec<Entry>>,
}

impl Window {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of emission tranches held.
    pub fn len(&self) -> usize {
        self.books.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.books.values().all(Vec::is_empty)
    }

    /// Adds an emission tranche (loading, or created by a block).
    pub fn insert(&mut self, key: BookKey, entry: Entry) {
        let entries = self.books.entry(key).or_default();
        match entries.last() {
            Some(last) if last.id > entry.id => {
                let at = entries.partition_point(|e| e.id < entry.id);
                entries.insert(at, entry);
            }
            _ => entries.push(entry),
        }
    }

    /// A tranche's new remaining amount after an outflow; tranches outside the window (or
    /// manual ones) are not here and are ignored.
    pub fn set_remaining(&mut self, key: &BookKey, id: i64, remaining: Rao) {
        if let Some(entries) = self.books.get_mut(key)
            && let Ok(i) = entries.binary_search_by_key(&id, |e| e.id)
        {
            entries[i].remaining = remaining;
        }
    }

    /// Builds a window from tranches in any order (a bulk load): kept per book, sorted once.
    pub fn from_unordered(books: HashMap<BookKey, Vec<Entry>>) -> Self {
        let mut books = books;
        for entries in books.values_mut() {
            entries.sort_unstable_by_key(|e| e.id);
        }
        books.retain(|_, e| !e.is_empty());
        Window { books }
    }

    /// A coldkey swap: every book of `old` becomes (or merges into) the same book of `new`.
    pub fn move_coldkey(&mut self, old: &str, new: &str) {
        let keys: Vec<BookKey> = self
            .books
            .keys()
            .filter(|(c, _)| c == old)
            .cloned()
            .collect();
        for key in keys {
            if let Some(moved) = self.books.remove(&key) {
                let target = self.books.entry((new.to_string(), key.1)).or_default();
                target.extend(moved);
                target.sort_by_key(|e| e.id);
            }
        }
    }

    /// Forgets the tranches created before `since`: they can never re-enter the window.
    /// Entries are in id order, which is block order, so only each book's head is looked at.
    pub fn prune(&mut self, since: u64) {
        self.books.retain(|_, entries| {
            let old = entries.partition_point(|e| e.block < since);
            if old > 0 {
                entries.drain(..old);
            }
            !entries.is_empty()
        });
    }

    /// The window sums of one book over `[since, now]`.
    pub fn sums(&self, key: &BookKey, since: u64, now: u64) -> Sums {
        let Some(entries) = self.books.get(key) else {
            return Sums::default();
        };
        let from = entries.partition_point(|e| e.block < since);
        let to = entries.partition_point(|e| e.block <= now);
        let inside = &entries[from..to.max(from)];
        // One pass: at 4,096 books × 90 days this is memory-bound.
        let (earned, remaining) = inside.iter().fold((0u128, 0u128), |(a, r), e| {
            (a + u128::from(e.initial), r + u128::from(e.remaining))
        });
        Sums {
            earned,
            remaining,
            // Block order: the first one holding anything is the oldest.
            oldest_held: inside.iter().find(|e| e.remaining > 0).map(|e| e.block),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vesting::book::Book;

    fn key(c: &str) -> BookKey {
        (c.to_string(), String::new())
    }

    /// The window fed with a book's emission tranches answers what the book itself answers.
    #[test]
    fn agrees_with_the_book() {
        let mut book = Book::default();
        let mut w = Window::new();
        let mut ids = Vec::new();
        let mut next_id = 1;
        let mut held = 0u64;
        // Emissions every 10 blocks, a buy at 35, sells at 47 and 88, a full sell at 120 and
        // emissions again after.
        for block in (10..=200).step_by(1) {
            let mut emissions = Vec::new();
            if block % 10 == 0 {
                emissions.push(100 + block);
            }
            let now = match block {
                35 => held + 500 + emissions.iter().sum::<u64>(),
                47 => held - 250,
                88 => held - 120,
                120 => 0,
                _ => held + emissions.iter().sum::<u64>(),
            };
            let before = book.tranches.len();
            let applied = book.apply(block, &emissions, held, now);
            held = now;
            for i in before..book.tranches.len() {
                ids.push(next_id);
                next_id += 1;
                let t = &book.tranches[i];
                if t.kind == crate::vesting::TrancheKind::Emission {
                    w.insert(
                        key("c"),
                        Entry {
                            id: ids[i],
                            block: t.block,
                            initial: t.initial,
                            remaining: t.remaining,
                        },
                    );
                }
            }
            for (i, _) in applied.consumed {
                w.set_remaining(&key("c"), ids[i], book.tranches[i].remaining);
            }
            for window in [30, 75, 1_000] {
                let since = block.saturating_sub(window);
                let want = book.holding(block, window, 7);
                let got = w.sums(&key("c"), since, block).holding(block, 7);
                assert_eq!(got, want, "block {block}, window {window}");
            }
        }
        let before = w.len();
        w.prune(150);
        assert!(w.len() < before);
        assert_eq!(
            w.sums(&key("c"), 150, 200).holding(200, 7),
            book.holding(200, 50, 7)
        );
    }

    #[test]
    fn coldkey_swap_merges_books_in_id_order() {
        let mut w = Window::new();
        let e = |id, block| Entry {
            id,
            block,
            initial: 10,
            remaining: 10,
        };
        w.insert(key("old"), e(1, 5));
        w.insert(key("old"), e(4, 9));
        w.insert(key("new"), e(2, 7));
        w.insert(("old".into(), "h".into()), e(3, 8));
        w.move_coldkey("old", "new");
        assert_eq!(w.sums(&key("old"), 0, 10), Sums::default());
        let s = w.sums(&key("new"), 0, 10);
        assert_eq!((s.earned, s.oldest_held), (30, Some(5)));
        assert_eq!(w.sums(&("new".into(), "h".into()), 0, 10).earned, 10);
        // Merged in id order: an update by id still finds its tranche.
        w.set_remaining(&key("new"), 4, 0);
        assert_eq!(w.sums(&key("new"), 0, 10).remaining, 20);
    }
}
