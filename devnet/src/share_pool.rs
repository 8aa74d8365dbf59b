//! What a staker's whole shares are worth, computed as subtensor's `share-pool` primitive does,
//! written from the runtime's source and checked against golden vectors made from it
//! (`tests/fixtures/share_pool_golden.json`, made by `scripts/share-pool-golden-vectors.py`).
//! Nothing here is shared with tenure's client arithmetic: the devnet is its oracle.
//!
//! The devnet only mints whole shares, so its arithmetic is specialised to them:
//! - **v1** (`U64F64` shares): the value per share `shared / total` is a `U64F64` (truncated to
//!   64 fractional bits), multiplied by the share and truncated to an integer;
//! - **v2** (`SafeFloat` shares, a 22-digit decimal mantissa and an exponent):
//!   `shared · share / total` on the normalized mantissas in one step, then truncated.

use primitive_types::U256;

/// The share-pool arithmetic of a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V1,
    V2,
}

/// Alpha that `share` whole shares are worth in a pool of `shared` alpha and `total` shares.
pub fn worth(layout: Layout, shared: u64, share: u64, total: u64) -> u64 {
    match layout {
        Layout::V1 => worth_v1(shared, share, total),
        Layout::V2 => worth_v2(shared, share, total),
    }
}

/// v1: `floor(floor(shared · 2^64 / total) · share / 2^64)`. With whole shares the value per
/// share always fits `U64F64`, so the runtime's overflow fallback never applies; a pool with no
/// shares is worth nothing. The product is split at 2^64 so that it fits in `u128`.
fn worth_v1(shared: u64, share: u64, total: u64) -> u64 {
    if total == 0 {
        return 0;
    }
    let per_share = (u128::from(shared) << 64) / u128::from(total);
    let (whole, fraction) = (per_share >> 64, per_share & u128::from(u64::MAX));
    let value = whole * u128::from(share) + ((fraction * u128::from(share)) >> 64);
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// A `SafeFloat` mantissa lies in (10^20, 10^21].
const MANTISSA_MAX: u128 = 10u128.pow(21);

/// `n` as a `SafeFloat`: the mantissa scaled by tens into (10^20, 10^21], and the exponent.
pub fn decimal(n: u64) -> (u128, i64) {
    if n == 0 {
        return (0, 0);
    }
    let (mut m, mut e) = (u128::from(n), 0i64);
    while m <= MANTISSA_MAX / 10 {
        m *= 10;
        e -= 1;
    }
    (m, e)
}

/// v2: the product of the mantissas divided by the total's (truncated), renormalized
/// (truncating each division by ten), then truncated to an integer.
fn worth_v2(shared: u64, share: u64, total: u64) -> u64 {
    let ((ms, es), (ma, ea), (mt, et)) = (decimal(shared), decimal(share), decimal(total));
    if mt == 0 {
        return 0;
    }
    let mut m = U256::from(ms) * U256::from(ma) / U256::from(mt);
    if m.is_zero() {
        return 0;
    }
    let mut e = es + ea - et;
    let ten = U256::from(10u8);
    while m > U256::from(MANTISSA_MAX) {
        m /= ten;
        e += 1;
    }
    while m <= U256::from(MANTISSA_MAX / 10) {
        m *= ten;
        e -= 1;
    }
    to_integer(m.low_u128(), e)
}

/// `m · 10^e` truncated to a `u64`, saturating; the runtime caps the power of ten at 10^22,
/// which changes nothing for a mantissa below 10^21.
fn to_integer(m: u128, e: i64) -> u64 {
    let value = if e >= 0 {
        let scale = 10u128.checked_pow(u32::try_from(e).unwrap_or(u32::MAX));
        scale.and_then(|s| m.checked_mul(s)).unwrap_or(u128::MAX)
    } else {
        let down = e.unsigned_abs().min(22);
        m / 10u128.pow(u32::try_from(down).unwrap_or(22))
    };
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole-share cases of the runtime's golden vectors
    /// (`scripts/share-pool-golden-vectors.py`, checked against subtensor's own code).
    #[derive(serde::Deserialize)]
    struct Golden {
        whole: Vec<Whole>,
        v1: Vec<Fixed>,
    }

    #[derive(serde::Deserialize)]
    struct Whole {
        shared: String,
        share: String,
        total: String,
        v1: String,
        v2: String,
    }

    #[derive(serde::Deserialize)]
    struct Fixed {
        shared: String,
        share_bits: String,
        denominator_bits: String,
        value: String,
    }

    fn num<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().expect("a decimal integer")
    }

    #[test]
    fn the_runtime_golden_vectors_give_the_same_rao() {
        let golden: Golden =
            serde_json::from_str(include_str!("../../tests/fixtures/share_pool_golden.json"))
                .expect("the golden vectors parse");
        let mut checked = 0;
        for (i, c) in golden.whole.iter().enumerate() {
            let (shared, share, total) = (num(&c.shared), num(&c.share), num(&c.total));
            assert_eq!(
                worth(Layout::V1, shared, share, total),
                num::<u64>(&c.v1),
                "whole[{i}] v1"
            );
            assert_eq!(
                worth(Layout::V2, shared, share, total),
                num::<u64>(&c.v2),
                "whole[{i}] v2"
            );
            checked += 1;
        }
        // The v1 cases whose shares are whole and within the pool.
        for (i, c) in golden.v1.iter().enumerate() {
            let (a, d): (u128, u128) = (num(&c.share_bits), num(&c.denominator_bits));
            let whole =
                |bits: u128| bits.is_multiple_of(1 << 64) && bits >> 64 <= u128::from(u64::MAX);
            if whole(a) && whole(d) && a <= d {
                let (a, d) = ((a >> 64) as u64, (d >> 64) as u64);
                let got = worth(Layout::V1, num(&c.shared), a, d);
                assert_eq!(got, num::<u64>(&c.value), "v1[{i}]");
                checked += 1;
            }
        }
        assert!(checked > 400, "{checked} vectors");
    }

    #[test]
    fn whole_share_examples_of_the_runtime() {
        // share-pool's own test_get_value: 100 alpha over shares 3 and 7 of 10.
        for layout in [Layout::V1, Layout::V2] {
            assert_eq!(worth(layout, 100, 3, 10), 30);
            assert_eq!(worth(layout, 100, 7, 10), 70);
            assert_eq!(worth(layout, 100, 7, 0), 0);
            assert_eq!(worth(layout, 0, 7, 10), 0);
        }
        // v1 truncates the value per share first: 10 over 3 shares is 9 for all of them.
        assert_eq!(worth(Layout::V1, 10, 3, 3), 9);
        assert_eq!(worth(Layout::V2, 10, 3, 3), 10);
        assert_eq!(decimal(1), (10u128.pow(21), -21));
        assert_eq!(decimal(123), (123 * 10u128.pow(18), -18));
        assert_eq!(decimal(0), (0, 0));
    }
}
