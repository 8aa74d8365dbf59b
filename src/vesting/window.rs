//! The emission tranches inside the lookback window, per book, kept in memory by the ingest
//! writer so that an epoch's holding metrics for every miner are one pass over plain data
//! instead of an aggregate over months of tranche rows.
//!
//! It mirrors the database: it is loaded from `tranches` (by `tranche_books`) and then receives exactly the
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

/// The keys of `coldkey`'s books (one per hotkey in the hotkey scope), for a coldkey swap.
pub fn books_of<T>(books: &HashMap<BookKey, T>, coldkey: &str) -> Vec<BookKey> {
    books
        .keys()
        .filter(|(c, _)| c == coldkey)
        .cloned()
        .collect()
}

/// What an epoch reads of the window: each book's sums over `[since, now]`. The lab's
/// [`Window`] keeps every tranche; the ingest writer's [`Tally`](crate::vesting::tally::Tally)
/// keeps only the sums.
pub trait WindowSums {
    fn sums(&self, key: &BookKey, since: u64, now: u64) -> Sums;
}

impl WindowSums for Window {
    fn sums(&self, key: &BookKey, since: u64, now: u64) -> Sums {
        Window::sums(self, key, since, now)
    }
}

/// Why a tranche does not fit the window's compact form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "the tranche window would span tranche ids {low}..={high}, more than its compact form's 2^32"
    )]
    IdSpan { low: i64, high: i64 },
    #[error("tranche block {0} is beyond the compact window's 2^30 blocks")]
    Block(u64),
}

/// A tranche's remaining amount, in the two top bits of [`Slot::block_state`]: all of its
/// initial amount, none of it, or another amount kept in its book's `partial`.
const FULL: u32 = 0;
const EMPTY: u32 = 1 << 30;
const PARTIAL: u32 = 2 << 30;
const STATE: u32 = 3 << 30;

/// The state of a tranche holding `remaining` of its `initial` amount.
fn state_of(initial: Rao, remaining: Rao) -> u32 {
    match remaining {
        r if r == initial => FULL,
        0 => EMPTY,
        _ => PARTIAL,
    }
}

/// One emission tranche in 16 bytes (a wide [`Entry`] takes 32): its id as an offset from the
/// window's base, its block with the state of its remaining amount, its initial amount. Most
/// tranches hold all or nothing of what they received; the others keep the amount aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    id: u32,
    block_state: u32,
    initial: Rao,
}

impl Slot {
    fn block(&self) -> u64 {
        u64::from(self.block_state & !STATE)
    }

    fn state(&self) -> u32 {
        self.block_state & STATE
    }
}

/// A book's tranches in id order, and the remaining amounts that are neither all nor nothing
/// (by id offset, sorted).
#[derive(Debug, Clone, Default)]
struct Tranches {
    slots: Vec<Slot>,
    partial: Vec<(u32, Rao)>,
}

impl Tranches {
    fn remaining(&self, s: &Slot) -> Rao {
        match s.state() {
            FULL => s.initial,
            EMPTY => 0,
            _ => self
                .partial
                .binary_search_by_key(&s.id, |p| p.0)
                .map_or(0, |i| self.partial[i].1),
        }
    }

    /// Sets slot `i`'s remaining amount.
    fn set(&mut self, i: usize, remaining: Rao) {
        let s = &mut self.slots[i];
        let id = s.id;
        let state = state_of(s.initial, remaining);
        s.block_state = (s.block_state & !STATE) | state;
        let at = self.partial.binary_search_by_key(&id, |p| p.0);
        match (state == PARTIAL, at) {
            (true, Ok(j)) => self.partial[j].1 = remaining,
            (true, Err(j)) => self.partial.insert(j, (id, remaining)),
            (false, Ok(j)) => {
                self.partial.remove(j);
            }
            (false, Err(_)) => {}
        }
    }

    fn sort(&mut self) {
        self.slots.sort_unstable_by_key(|s| s.id);
        self.partial.sort_unstable_by_key(|p| p.0);
    }
}

/// The emission tranches of the window by book, in the compact form.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// The id that offset 0 stands for (0 until an id does not fit: ids below 2^32 are their
    /// own offsets).
    base: i64,
    books: HashMap<BookKey, Tranches>,
}

impl Window {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of emission tranches held.
    pub fn len(&self) -> usize {
        self.books.values().map(|t| t.slots.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.books.values().all(|t| t.slots.is_empty())
    }

    /// `entry` in the compact form, rebasing the ids first where it would not fit.
    fn slot(&mut self, entry: &Entry) -> Result<Slot, WindowError> {
        let block = u32::try_from(entry.block)
            .ok()
            .filter(|b| b & STATE == 0)
            .ok_or(WindowError::Block(entry.block))?;
        if entry.id < self.base || entry.id - self.base > i64::from(u32::MAX) {
            self.rebase(entry.id)?;
        }
        Ok(Slot {
            id: (entry.id - self.base) as u32,
            block_state: block | state_of(entry.initial, entry.remaining),
            initial: entry.initial,
        })
    }

    /// Counts ids from below the lowest of those held and `id`, if every one then fits. The
    /// base is left up to 2^31 below the lowest, so that an older id arriving later seldom
    /// moves it again.
    fn rebase(&mut self, id: i64) -> Result<(), WindowError> {
        let held = self.books.values().flat_map(|t| &t.slots);
        let (low, high) = held.fold((id, id), |(lo, hi), s| {
            let x = self.base + i64::from(s.id);
            (lo.min(x), hi.max(x))
        });
        if high - low > i64::from(u32::MAX) {
            return Err(WindowError::IdSpan { low, high });
        }
        let base = (low - (1 << 31)).max(high - i64::from(u32::MAX));
        let shift = self.base - base;
        for t in self.books.values_mut() {
            for s in &mut t.slots {
                s.id = (i64::from(s.id) + shift) as u32;
            }
            for p in &mut t.partial {
                p.0 = (i64::from(p.0) + shift) as u32;
            }
        }
        self.base = base;
        Ok(())
    }

    /// Adds an emission tranche (created by a block, or a replayed one).
    pub fn insert(&mut self, key: BookKey, entry: Entry) -> Result<(), WindowError> {
        let slot = self.slot(&entry)?;
        let t = self.books.entry(key).or_default();
        let at = match t.slots.last() {
            Some(last) if last.id > slot.id => t.slots.partition_point(|s| s.id < slot.id),
            _ => t.slots.len(),
        };
        t.slots.insert(at, slot);
        if slot.state() == PARTIAL {
            t.set(at, entry.remaining);
        }
        Ok(())
    }

    /// A tranche's new remaining amount after an outflow; tranches outside the window (or
    /// manual ones) are not here and are ignored.
    pub fn set_remaining(&mut self, key: &BookKey, id: i64, remaining: Rao) {
        let Some(offset) = u32::try_from(id - self.base).ok() else {
            return;
        };
        if let Some(t) = self.books.get_mut(key)
            && let Ok(i) = t.slots.binary_search_by_key(&offset, |s| s.id)
        {
            t.set(i, remaining);
        }
    }

    /// A coldkey swap: every book of `old` becomes (or merges into) the same book of `new`.
    pub fn move_coldkey(&mut self, old: &str, new: &str) {
        for key in books_of(&self.books, old) {
            if let Some(moved) = self.books.remove(&key) {
                let target = self.books.entry((new.to_string(), key.1)).or_default();
                target.slots.extend(moved.slots);
                target.partial.extend(moved.partial);
                target.sort();
            }
        }
    }

    /// Forgets the tranches created before `since`: they can never re-enter the window.
    /// Slots are in id order, which is block order, so only each book's head is looked at.
    pub fn prune(&mut self, since: u64) {
        self.books.retain(|_, t| {
            let old = t.slots.partition_point(|s| s.block() < since);
            if old > 0 {
                let gone = t.slots[old - 1].id;
                t.slots.drain(..old);
                t.partial.retain(|p| p.0 > gone);
            }
            !t.slots.is_empty()
        });
    }

    /// The window sums of one book over `[since, now]`.
    pub fn sums(&self, key: &BookKey, since: u64, now: u64) -> Sums {
        let Some(t) = self.books.get(key) else {
            return Sums::default();
        };
        let from = t.slots.partition_point(|s| s.block() < since);
        let to = t.slots.partition_point(|s| s.block() <= now);
        let inside = &t.slots[from..to.max(from)];
        // One pass: at 4,096 books × 90 days this is memory-bound.
        let (earned, remaining) = inside.iter().fold((0u128, 0u128), |(a, r), s| {
            (a + u128::from(s.initial), r + u128::from(t.remaining(s)))
        });
        Sums {
            earned,
            remaining,
            // Block order: the first one holding anything is the oldest.
            oldest_held: inside.iter().find(|s| t.remaining(s) > 0).map(Slot::block),
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

    fn entry(id: i64, block: u64, initial: Rao, remaining: Rao) -> Entry {
        Entry {
            id,
            block,
            initial,
            remaining,
        }
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
                    )
                    .unwrap();
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
        let e = |id, block| entry(id, block, 10, 10);
        w.insert(key("old"), e(1, 5)).unwrap();
        w.insert(key("old"), e(4, 9)).unwrap();
        w.insert(key("new"), e(2, 7)).unwrap();
        w.insert(("old".into(), "h".into()), e(3, 8)).unwrap();
        w.move_coldkey("old", "new");
        assert_eq!(w.sums(&key("old"), 0, 10), Sums::default());
        let s = w.sums(&key("new"), 0, 10);
        assert_eq!((s.earned, s.oldest_held), (30, Some(5)));
        assert_eq!(w.sums(&("new".into(), "h".into()), 0, 10).earned, 10);
        // Merged in id order: an update by id still finds its tranche.
        w.set_remaining(&key("new"), 4, 0);
        assert_eq!(w.sums(&key("new"), 0, 10).remaining, 20);
    }

    #[test]
    fn a_tranche_takes_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    /// The compact form answers what a plain list of wide entries answers, bit for bit, under
    /// random inserts, outflows to all, nothing or part, swaps and prunes.
    #[test]
    fn the_compact_form_equals_the_wide_one() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut wide: HashMap<BookKey, Vec<Entry>> = HashMap::new();
        let mut w = Window::new();
        let mut id = 5_000_000_000i64;
        let books = ["a", "b", "c", "d"];
        for block in 1..3_000u64 {
            let k = key(books[next(4) as usize]);
            match next(10) {
                0..=4 => {
                    id += 1 + next(3) as i64;
                    let this = id;
                    let initial = 1 + next(1_000_000_000_000);
                    let remaining = match next(4) {
                        0 => 0,
                        1 => next(initial),
                        _ => initial,
                    };
                    let e = Entry {
                        id: this,
                        block,
                        initial,
                        remaining,
                    };
                    w.insert(k.clone(), e).unwrap();
                    let v = wide.entry(k).or_default();
                    let at = v.partition_point(|x| x.id < this);
                    v.insert(at, e);
                }
                5..=7 => {
                    if let Some(v) = wide.get_mut(&k).filter(|v| !v.is_empty()) {
                        let i = next(v.len() as u64) as usize;
                        let left = match next(3) {
                            0 => 0,
                            1 => v[i].initial,
                            _ => next(v[i].initial + 1),
                        };
                        v[i].remaining = left;
                        w.set_remaining(&k, v[i].id, left);
                    }
                }
                8 => {
                    let (old, new) = (books[next(4) as usize], books[next(4) as usize]);
                    if old != new {
                        w.move_coldkey(old, new);
                        if let Some(moved) = wide.remove(&key(old)) {
                            let t = wide.entry(key(new)).or_default();
                            t.extend(moved);
                            t.sort_by_key(|e| e.id);
                        }
                    }
                }
                _ => {
                    let since = block.saturating_sub(400);
                    w.prune(since);
                    for v in wide.values_mut() {
                        let old = v.partition_point(|e| e.block < since);
                        v.drain(..old);
                    }
                }
            }
            for b in books {
                for since in [0, block.saturating_sub(200)] {
                    let got = w.sums(&key(b), since, block);
                    let want = wide.get(&key(b)).map_or(Sums::default(), |v| {
                        let inside: Vec<&Entry> = v
                            .iter()
                            .filter(|e| e.block >= since && e.block <= block)
                            .collect();
                        Sums {
                            earned: inside.iter().map(|e| u128::from(e.initial)).sum(),
                            remaining: inside.iter().map(|e| u128::from(e.remaining)).sum(),
                            oldest_held: inside.iter().find(|e| e.remaining > 0).map(|e| e.block),
                        }
                    });
                    assert_eq!(got, want, "book {b} at block {block} since {since}");
                }
            }
        }
        assert_eq!(w.len(), wide.values().map(Vec::len).sum::<usize>());
    }

    /// Ids below the base (a load or a merge out of order) move the base down; amounts stay.
    #[test]
    fn an_older_id_rebases_the_window() {
        let mut w = Window::new();
        let e = |id, block, remaining| entry(id, block, 100, remaining);
        let high = 9_000_000_000i64;
        w.insert(key("a"), e(high, 20, 40)).unwrap();
        w.insert(key("a"), e(high - 4_000_000_000, 10, 100))
            .unwrap();
        w.insert(key("b"), e(high - 5, 15, 0)).unwrap();
        let s = w.sums(&key("a"), 0, 30);
        assert_eq!((s.earned, s.remaining, s.oldest_held), (200, 140, Some(10)));
        w.set_remaining(&key("a"), high, 7);
        w.set_remaining(&key("a"), high - 4_000_000_000, 0);
        let s = w.sums(&key("a"), 0, 30);
        assert_eq!((s.earned, s.remaining, s.oldest_held), (200, 7, Some(20)));
        assert_eq!(w.sums(&key("b"), 0, 30).remaining, 0);
    }

    #[test]
    fn what_the_compact_form_cannot_hold_is_refused() {
        let mut w = Window::new();
        let e = |id, block| entry(id, block, 1, 1);
        w.insert(key("a"), e(10, 1)).unwrap();
        assert_eq!(
            w.insert(key("a"), e(10 + (1 << 32), 2)),
            Err(WindowError::IdSpan {
                low: 10,
                high: 10 + (1 << 32)
            })
        );
        assert_eq!(
            w.insert(key("a"), e(11, 1 << 30)),
            Err(WindowError::Block(1 << 30))
        );
        // Nothing was changed by a refusal.
        assert_eq!(w.len(), 1);
        assert_eq!(w.sums(&key("a"), 0, u64::MAX).earned, 1);
    }
}
