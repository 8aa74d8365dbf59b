//! An independent model of the tranche books, computed from the devnet's ledger alone (never
//! from tenure's code): what ingestion and vesting are compared with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value as Json;

#[derive(Debug, Clone)]
pub struct Tranche {
    pub kind: &'static str,
    pub block: u64,
    pub initial: u64,
    pub remaining: u64,
}

/// Books by (coldkey, hotkey or "" in the coldkey scope), tranches oldest first.
pub type Books = BTreeMap<(String, String), Vec<Tranche>>;

pub fn read(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s(v: &Json) -> String {
    v.as_str().unwrap().to_string()
}

fn u(v: &Json) -> u64 {
    v.as_u64().unwrap()
}

/// Replays the ledger block by block (uids below `validators` earn no emission tranches) and
/// calls `at_block` with the books after each block that has ledger lines.
pub fn replay(
    lines: &[Json],
    hotkey_scope: bool,
    validators: u64,
    mut at_block: impl FnMut(u64, &Books),
) -> Books {
    // A book is (coldkey, hotkey) with hotkey "" in the coldkey scope.
    let book_of = |c: &str, h: &str| {
        (
            c.to_string(),
            if hotkey_scope {
                h.to_string()
            } else {
                String::new()
            },
        )
    };
    let mut books: Books = BTreeMap::new();
    let mut held: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut by_block: BTreeMap<u64, Vec<&Json>> = BTreeMap::new();
    for l in lines {
        by_block.entry(u(&l["block"])).or_default().push(l);
    }
    for (b, ls) in by_block {
        let total = |held: &BTreeMap<(String, String), u64>, k: &(String, String)| -> u64 {
            held.iter()
                .filter(|((c, h), _)| book_of(c, h) == *k)
                .map(|(_, a)| a)
                .sum()
        };
        let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
        let mut prev: BTreeMap<(String, String), u64> = BTreeMap::new();
        for l in ls.iter().filter(|l| l["kind"] == "stake") {
            let k = book_of(&s(&l["coldkey"]), &s(&l["hotkey"]));
            prev.entry(k.clone()).or_insert_with(|| total(&held, &k));
            touched.insert(k);
        }
        for l in ls.iter().filter(|l| l["kind"] == "coldkey_swapped") {
            let (from, to) = (s(&l["from"]), s(&l["to"]));
            let keys: Vec<(String, String)> = books
                .keys()
                .chain(prev.keys())
                .filter(|(c, _)| *c == from)
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            for k in keys {
                let moved = (to.clone(), k.1.clone());
                let book = books.remove(&k).unwrap_or_default();
                books.entry(moved.clone()).or_default().extend(book);
                let p = prev.remove(&k).unwrap_or_else(|| total(&held, &k));
                *prev
                    .entry(moved.clone())
                    .or_insert_with(|| total(&held, &moved)) += p;
                prev.insert(k, 0);
                touched.insert(moved);
            }
        }
        for l in ls.iter().filter(|l| l["kind"] == "stake") {
            held.insert((s(&l["coldkey"]), s(&l["hotkey"])), u(&l["alpha"]));
        }
        let mut emitted: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
        for l in ls.iter().filter(|l| l["kind"] == "emission") {
            if u(&l["uid"]) >= validators && u(&l["amount"]) > 0 {
                let k = book_of(&s(&l["coldkey"]), &s(&l["hotkey"]));
                emitted.entry(k.clone()).or_default().push(u(&l["amount"]));
                touched.insert(k);
            }
        }
        for k in touched {
            let p = prev.get(&k).copied().unwrap_or_else(|| total(&held, &k));
            let now = total(&held, &k);
            let e = emitted.remove(&k).unwrap_or_default();
            let book = books.entry(k).or_default();
            for a in &e {
                book.push(Tranche {
                    kind: "emission",
                    block: b,
                    initial: *a,
                    remaining: *a,
                });
            }
            let r = now as i128 - p as i128 - e.iter().map(|a| *a as i128).sum::<i128>();
            if r > 0 {
                book.push(Tranche {
                    kind: "manual",
                    block: b,
                    initial: r as u64,
                    remaining: r as u64,
                });
            } else if r < 0 {
                let mut left = (-r) as u64;
                for t in book.iter_mut().rev() {
                    let take = t.remaining.min(left);
                    t.remaining -= take;
                    left -= take;
                }
            }
        }
        at_block(b, &books);
    }
    books
}
