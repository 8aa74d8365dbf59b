//! The alpha a coldkey holds in a hotkey's share pool, computed bit for bit as the runtime does,
//! so a read equals what the chain itself would pay out to the RAO.
//!
//! Two storage layouts exist (`reference/subtensor-interface.md` §1):
//! - **v1** (finney spec 393): `Alpha` / `TotalHotkeyShares` hold `U64F64` fixed-point shares,
//!   and the runtime computes `(shared / denominator) * share` in `U64F64`, truncating each step.
//! - **v2** (newer runtimes, `AlphaV2` / `TotalHotkeySharesV2` exist): shares are `SafeFloat`
//!   (`mantissa · 10^exponent`); v1 entries still present are converted to `SafeFloat` and the
//!   runtime computes `shared * share / denominator` in `SafeFloat`.
//!
//! The two can differ by a RAO for the same shares, which is why the layout is part of the
//! answer: a runtime upgrade to v2 may move balances by a RAO without any stake event.

use primitive_types::U256;

/// Which arithmetic the runtime uses for share pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
}

/// A share count as stored: `U64F64` bits (v1 maps) or a `SafeFloat` (v2 maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shares {
    Fixed(u128),
    Float(SafeFloat),
}

/// The alpha held for `share` in a pool of `shared` alpha and `denominator` shares.
pub fn value(layout: Layout, shared: u64, share: Shares, denominator: Shares) -> u64 {
    match layout {
        Layout::V1 => value_v1(shared, share.fixed_bits(), denominator.fixed_bits()),
        Layout::V2 => value_v2(shared, &share.to_float(), &denominator.to_float()),
    }
}

impl Shares {
    /// v1 arithmetic only ever sees v1 maps; a float there (impossible on a v1 runtime) is
    /// converted through its integer part.
    fn fixed_bits(&self) -> u128 {
        match self {
            Shares::Fixed(bits) => *bits,
            Shares::Float(f) => u128::from(f.to_u64()) << 64,
        }
    }

    fn to_float(self) -> SafeFloat {
        match self {
            Shares::Fixed(bits) => SafeFloat::from_fixed_bits(bits),
            Shares::Float(f) => f,
        }
    }
}

/// `SharePool::get_value` of the v1 runtime: `U64F64` arithmetic, every step truncated, falling
/// back to `(shared * share) / denominator` when `shared / denominator` overflows.
pub fn value_v1(shared: u64, share_bits: u128, denominator_bits: u128) -> u64 {
    if denominator_bits == 0 {
        return 0;
    }
    let shared_bits = U256::from(shared) << 64;
    let per_share = (shared_bits << 64) / U256::from(denominator_bits);
    let bits = if per_share <= U256::from(u128::MAX) {
        saturate_u128((per_share * U256::from(share_bits)) >> 64)
    } else {
        // (shared_bits * share_bits) >> 64 == shared * share_bits, saturated to U64F64.
        let product = saturate_u128(U256::from(shared) * U256::from(share_bits));
        let quotient = (U256::from(product) << 64) / U256::from(denominator_bits);
        if quotient > U256::from(u128::MAX) {
            return 0;
        }
        quotient.low_u128()
    };
    (bits >> 64) as u64
}

/// `SharePool::get_value` of the v2 runtime.
pub fn value_v2(shared: u64, share: &SafeFloat, denominator: &SafeFloat) -> u64 {
    SafeFloat::new(u128::from(shared), 0)
        .and_then(|s| s.mul_div(share, denominator))
        .unwrap_or_default()
        .to_u64()
}

fn saturate_u128(x: U256) -> u128 {
    if x > U256::from(u128::MAX) {
        u128::MAX
    } else {
        x.low_u128()
    }
}

/// The runtime's `SafeFloat`: `mantissa · 10^exponent`, the mantissa kept in
/// `(MAX / 10, MAX]` so that one RAO always shows and a tenth of one never does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SafeFloat {
    pub mantissa: u128,
    pub exponent: i64,
}

const MAX_MANTISSA: u128 = 1_000_000_000_000_000_000_000;
const MAX_EXPONENT: i64 = 21;

/// `10^e`, capped at `10^(MAX_EXPONENT + 1)` as the runtime caps it.
fn pow10(e: u64) -> U256 {
    if e > MAX_EXPONENT as u64 + 1 {
        return U256::from(MAX_MANTISSA) * U256::from(10u8);
    }
    U256::from(10u8).pow(U256::from(e))
}

impl SafeFloat {
    pub fn new(mantissa: u128, exponent: i64) -> Option<Self> {
        if mantissa > MAX_MANTISSA {
            return None;
        }
        Self::normalized(U256::from(mantissa), exponent)
    }

    fn normalized(mut m: U256, mut e: i64) -> Option<Self> {
        if m.is_zero() {
            return Some(SafeFloat::default());
        }
        let (max, min) = (U256::from(MAX_MANTISSA), U256::from(MAX_MANTISSA / 10));
        let ten = U256::from(10u8);
        while m > max {
            m /= ten;
            e = e.checked_add(1)?;
        }
        while m <= min {
            m = m.checked_mul(ten)?;
            e = e.checked_sub(1)?;
        }
        Some(SafeFloat {
            mantissa: m.low_u128(),
            exponent: e,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// `self / a`, keeping the mantissa's full precision.
    pub fn div(&self, a: &SafeFloat) -> Option<Self> {
        let m = U256::from(self.mantissa).checked_mul(U256::from(MAX_MANTISSA))?;
        let e = i128::from(self.exponent) - i128::from(a.exponent) - i128::from(MAX_EXPONENT);
        let e = i64::try_from(e).ok()?;
        let q = m.checked_div(U256::from(a.mantissa))?;
        Self::normalized(q, e)
    }

    pub fn add(&self, a: &SafeFloat) -> Option<Self> {
        if self.is_zero() {
            return Some(*a);
        }
        if a.is_zero() {
            return Some(*self);
        }
        let (hi, lo) = if self.exponent >= a.exponent {
            (self, a)
        } else {
            (a, self)
        };
        let diff = hi.exponent.saturating_sub(lo.exponent) as u64;
        let m = U256::from(hi.mantissa).saturating_add(U256::from(lo.mantissa) / pow10(diff));
        Self::normalized(m, hi.exponent)
    }

    /// `self * a / b` in one step.
    pub fn mul_div(&self, a: &SafeFloat, b: &SafeFloat) -> Option<Self> {
        if b.mantissa == 0 {
            return None;
        }
        let m = U256::from(self.mantissa) * U256::from(a.mantissa) / U256::from(b.mantissa);
        let e = self
            .exponent
            .checked_add(a.exponent)?
            .checked_sub(b.exponent)?;
        Self::normalized(m, e)
    }

    /// Truncates to an integer, saturating at `u64::MAX`.
    pub fn to_u64(&self) -> u64 {
        if self.exponent == 0 {
            return u64::try_from(self.mantissa).unwrap_or(u64::MAX);
        }
        let scale = pow10(self.exponent.unsigned_abs());
        let q = if self.exponent > 0 {
            U256::from(self.mantissa).saturating_mul(scale)
        } else {
            U256::from(self.mantissa) / scale
        };
        if q > U256::from(u64::MAX) {
            u64::MAX
        } else {
            q.low_u64()
        }
    }

    /// A `U64F64` (its raw bits) as the runtime converts v1 shares: integer part plus
    /// `fraction / 2^64`.
    pub fn from_fixed_bits(bits: u128) -> Self {
        if bits == 0 {
            return SafeFloat::default();
        }
        let int = SafeFloat::new(bits >> 64, 0).unwrap_or_default();
        let frac = SafeFloat::new(bits & u128::from(u64::MAX), 0).unwrap_or_default();
        let two64 = SafeFloat::new(1u128 << 64, 0).unwrap_or_default();
        let frac = frac.div(&two64).unwrap_or_default();
        int.add(&frac).unwrap_or_default()
    }
}

impl From<u64> for SafeFloat {
    fn from(n: u64) -> Self {
        SafeFloat::new(u128::from(n), 0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden vectors of the runtime's own arithmetic (`scripts/share-pool-golden-vectors.py`,
    /// checked against subtensor's share-pool code): the client must give the same RAO.
    #[derive(serde::Deserialize)]
    struct Golden {
        v1: Vec<FixedCase>,
        v2: Vec<FloatCase>,
        v2_from_fixed: Vec<FixedCase>,
        whole: Vec<WholeCase>,
    }

    #[derive(serde::Deserialize)]
    struct FixedCase {
        shared: String,
        share_bits: String,
        denominator_bits: String,
        value: String,
    }

    #[derive(serde::Deserialize)]
    struct FloatCase {
        shared: String,
        share: (String, i64),
        denominator: (String, i64),
        value: String,
    }

    #[derive(serde::Deserialize)]
    struct WholeCase {
        shared: String,
        share: String,
        total: String,
        v1: String,
        v2: String,
    }

    fn num<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().expect("a decimal integer")
    }

    fn float((m, e): &(String, i64)) -> SafeFloat {
        SafeFloat::new(num(m), *e).expect("a normalized SafeFloat")
    }

    #[test]
    fn the_runtime_golden_vectors_give_the_same_rao() {
        let golden: Golden =
            serde_json::from_str(include_str!("../../tests/fixtures/share_pool_golden.json"))
                .expect("the golden vectors parse");
        let mut wrong = Vec::new();
        let mut check = |what: String, got: u64, want: &str| {
            if got != num::<u64>(want) {
                wrong.push(format!("{what}: {got}, runtime {want}"));
            }
        };
        for (i, c) in golden.v1.iter().enumerate() {
            let (a, d) = (num(&c.share_bits), num(&c.denominator_bits));
            check(format!("v1[{i}]"), value_v1(num(&c.shared), a, d), &c.value);
        }
        for (i, c) in golden.v2.iter().enumerate() {
            let got = value_v2(num(&c.shared), &float(&c.share), &float(&c.denominator));
            check(format!("v2[{i}]"), got, &c.value);
        }
        for (i, c) in golden.v2_from_fixed.iter().enumerate() {
            let (a, d) = (num(&c.share_bits), num(&c.denominator_bits));
            let got = value(
                Layout::V2,
                num(&c.shared),
                Shares::Fixed(a),
                Shares::Fixed(d),
            );
            check(format!("v2_from_fixed[{i}]"), got, &c.value);
        }
        for (i, c) in golden.whole.iter().enumerate() {
            let (shared, a, t): (u64, u64, u64) = (num(&c.shared), num(&c.share), num(&c.total));
            let (fa, ft) = (Shares::Fixed(fixed(a)), Shares::Fixed(fixed(t)));
            check(
                format!("whole.v1[{i}]"),
                value(Layout::V1, shared, fa, ft),
                &c.v1,
            );
            let (fa, ft) = (SafeFloat::from(a), SafeFloat::from(t));
            let got = value(Layout::V2, shared, Shares::Float(fa), Shares::Float(ft));
            check(format!("whole.v2[{i}]"), got, &c.v2);
        }
        let total = golden.v1.len() + golden.v2.len() + golden.v2_from_fixed.len();
        assert!(total + golden.whole.len() > 1_500, "too few vectors");
        assert!(
            wrong.is_empty(),
            "{} of the runtime's vectors differ: {wrong:#?}",
            wrong.len()
        );
    }

    fn fixed(n: u64) -> u128 {
        u128::from(n) << 64
    }

    #[test]
    fn v1_matches_the_runtime_examples() {
        // share-pool's own test_get_value: 100 shared over shares 3 and 7 of 10.
        assert_eq!(value_v1(100, fixed(3), fixed(10)), 30);
        assert_eq!(value_v1(100, fixed(7), fixed(10)), 70);
        assert_eq!(value_v1(100, fixed(7), 0), 0);
        assert_eq!(value_v1(0, fixed(7), fixed(10)), 0);
        // u64::MAX shared: the parts map to (nearly) the whole.
        let a = value_v1(u64::MAX, fixed(3), fixed(10));
        let b = value_v1(u64::MAX, fixed(7), fixed(10));
        assert!(u64::MAX - (a + b) <= 5, "{a} + {b}");
    }

    #[test]
    fn v1_truncates_per_share_value_before_multiplying() {
        // 10 alpha over 3 shares: per share 3.333… truncated to 64 fractional bits, times 3
        // gives 9.999…, which truncates to 9 — one RAO below the exact 10.
        assert_eq!(value_v1(10, fixed(3), fixed(3)), 9);
        assert_eq!(value_v2(10, &SafeFloat::from(3), &SafeFloat::from(3)), 10);
    }

    #[test]
    fn v1_falls_back_when_per_share_value_overflows() {
        // shared / denominator >= 2^64: a denominator below one share.
        let denom = 2u128; // 2^-63 of a share
        let share = 1u128; // half of it
        assert_eq!(value_v1(1_000, share, denom), 500);
    }

    #[test]
    fn safe_float_normalizes_and_converts() {
        let f = SafeFloat::new(1_000, 0).unwrap();
        assert_eq!(f.to_u64(), 1_000);
        assert!(f.mantissa > MAX_MANTISSA / 10 && f.mantissa <= MAX_MANTISSA);
        assert_eq!(SafeFloat::new(MAX_MANTISSA + 1, 0), None);
        assert_eq!(SafeFloat::from(0).to_u64(), 0);
        // Half a RAO in U64F64 converts to 0.5 and truncates to 0; 2.5 to 2.
        assert_eq!(SafeFloat::from_fixed_bits(1u128 << 63).to_u64(), 0);
        assert_eq!(
            SafeFloat::from_fixed_bits(fixed(2) | (1u128 << 63)),
            SafeFloat::new(25, -1).unwrap()
        );
    }

    #[test]
    fn v2_matches_the_runtime_examples() {
        let s = |n: u64| SafeFloat::from(n);
        assert_eq!(value_v2(100, &s(3), &s(10)), 30);
        assert_eq!(value_v2(100, &s(7), &s(10)), 70);
        assert_eq!(value_v2(100, &s(7), &SafeFloat::default()), 0);
        // Whole shares: exactly floor(shared * share / denominator).
        for (shared, share, denom) in [(1_000_000_007u64, 13u64, 29u64), (u64::MAX, 1, 3)] {
            let exact = (u128::from(shared) * u128::from(share) / u128::from(denom)) as u64;
            assert_eq!(value_v2(shared, &s(share), &s(denom)), exact);
        }
        // v1 shares read by a v2 runtime go through the conversion.
        assert_eq!(
            value(
                Layout::V2,
                100,
                Shares::Fixed(fixed(3)),
                Shares::Fixed(fixed(10))
            ),
            30
        );
    }
}
