//! What the benchmarks share (not an example of its own: cargo only builds `examples/*.rs`).
#![allow(dead_code)]

/// A deterministic generator (xorshift) so runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The median of several runs (the figure BENCHMARKS.md records).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
