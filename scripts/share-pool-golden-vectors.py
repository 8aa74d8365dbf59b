#!/usr/bin/env python3
"""Golden vectors of the runtime's share-pool arithmetic: what a staker's shares are worth.

Both sides of tenure's stake tests must agree with the chain, not with each other: tenure's client
(`src/chain/share_pool.rs`) and the devnet (`devnet/src/share_pool.rs`) are checked against these
vectors. They are computed here by a line-for-line Python transcription of subtensor's own code,
never from tenure's:

- v1 (finney spec 393): `SharePool::get_value` of `primitives/share-pool/src/lib.rs` before the
  SafeFloat change (subtensor commit 4c8cf2a9d~1), in substrate-fixed's `U64F64`: the value per
  share `shared.checked_div(denominator)` (bits `(a << 64) / b`, truncated; None on overflow or
  a zero denominator), `saturating_mul` (bits `(a * b) >> 64`, truncated, saturated), the
  fallback `shared.saturating_mul(share).checked_div(denominator)` or 0, then
  `saturating_to_num::<u64>` (floor, saturated);
- v2 (subtensor 14bc6f9f, 2026-06-30): `SafeFloat` (`normalize`, `div`, `add`, `mul_div`,
  `From<U64F64>`, `From<&SafeFloat> for u64`) and `get_value`:
  `SafeFloat::new(shared, 0).mul_div(share, denominator).unwrap_or_default().into()`.

The transcription was checked against the runtime's own Rust code, built outside this repository
with substrate-fixed 0.6.0 from crates.io: every vector below came out identical (see
tests/fixtures/README.md). Regenerate with

    python3 scripts/share-pool-golden-vectors.py > tests/fixtures/share_pool_golden.json
"""

import json
import random
import sys

U64 = (1 << 64) - 1
U128 = (1 << 128) - 1
U256 = (1 << 256) - 1
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
SAFE_FLOAT_MAX = 10**21
SAFE_FLOAT_MAX_EXP = 21


# ---- substrate-fixed U64F64, on raw bits ----------------------------------------------------

def fixed_checked_div(a, b):
    if b == 0:
        return None
    q = (a << 64) // b
    return q if q <= U128 else None


def fixed_saturating_mul(a, b):
    return min((a * b) >> 64, U128)


def fixed_to_u64(bits):
    return min(bits >> 64, U64)


def get_value_v1(shared, share_bits, denominator_bits):
    shared_bits = shared << 64
    per_share = fixed_checked_div(shared_bits, denominator_bits)
    if per_share is not None:
        bits = fixed_saturating_mul(per_share, share_bits)
    else:
        q = fixed_checked_div(fixed_saturating_mul(shared_bits, share_bits), denominator_bits)
        bits = 0 if q is None else q
    return fixed_to_u64(bits)


# ---- SafeFloat ------------------------------------------------------------------------------

def cappow10(e):
    if e > SAFE_FLOAT_MAX_EXP + 1:
        return SAFE_FLOAT_MAX * 10
    return 10**e


def normalize(m, e):
    """(mantissa, exponent) or None when the exponent leaves i64."""
    if m == 0:
        return (0, 0)
    while m > SAFE_FLOAT_MAX:
        m //= 10
        e += 1
        if e > I64_MAX:
            return None
    while m <= SAFE_FLOAT_MAX // 10:
        m *= 10
        e -= 1
        if e < I64_MIN:
            return None
    return (m, e)


def sf_new(m, e):
    if m > SAFE_FLOAT_MAX:
        return None
    return normalize(m, e)


def sf_div(a, b):
    m1 = a[0] * SAFE_FLOAT_MAX
    e = a[1] - b[1] - SAFE_FLOAT_MAX_EXP
    if e > I64_MAX or e < I64_MIN or b[0] == 0:
        return None
    return normalize(m1 // b[0], e)


def sf_add(a, b):
    if a[0] == 0:
        return b
    if b[0] == 0:
        return a
    if a[1] >= b[1]:
        m, e = a[0] + b[0] // cappow10(a[1] - b[1]), a[1]
    else:
        m, e = a[0] // cappow10(b[1] - a[1]) + b[0], b[1]
    return normalize(min(m, U256), e)


def sf_mul_div(s, a, b):
    if b[0] == 0:
        return None
    e = s[1] + a[1]
    if e > I64_MAX or e < I64_MIN:
        return None
    e -= b[1]
    if e > I64_MAX or e < I64_MIN:
        return None
    return normalize(s[0] * a[0] // b[0], e)


def sf_to_u64(f):
    m, e = f
    if e == 0:
        return min(m, U64)
    scale = cappow10(abs(e))
    q = min(m * scale, U256) if e > 0 else m // scale
    return min(q, U64)


def sf_from_fixed(bits):
    if bits == 0:
        return (0, 0)
    zero = (0, 0)
    safe_int = sf_new(bits >> 64, 0) or zero
    safe_frac_num = sf_new(bits & U64, 0) or zero
    safe_two64 = sf_new(1 << 64, 0) or zero
    safe_frac = sf_div(safe_frac_num, safe_two64) or zero
    return sf_add(safe_int, safe_frac) or zero


def get_value_v2(shared, share, denominator):
    s = sf_new(shared, 0) or (0, 0)
    return sf_to_u64(sf_mul_div(s, share, denominator) or (0, 0))


# ---- cases ----------------------------------------------------------------------------------

def amount(rng):
    """Alpha amounts across magnitudes: dust, typical stakes (1e9..1e16 RAO), the edge."""
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randrange(0, 1000)
    if kind == 4:
        return U64 - rng.randrange(0, 1000)
    return rng.randrange(1, 10 ** rng.randrange(9, 20)) & U64


def fixed_bits(rng, whole):
    integer = amount(rng)
    return integer << 64 if whole else ((integer << 64) | rng.getrandbits(64)) & U128


def safe_float(rng):
    return sf_new(rng.randrange(1, SAFE_FLOAT_MAX + 1), rng.randrange(-30, 10)) or (0, 0)


def main():
    rng = random.Random(20261202)
    v1, v2, v2_fixed, whole = [], [], [], []
    edges = [(100, 3, 10), (100, 7, 10), (100, 7, 0), (0, 7, 10), (10, 3, 3), (U64, 1, 3)]
    for shared, share, total in edges:
        v1.append((shared, share << 64, total << 64))
        v2.append((shared, sf_new(share, 0) or (0, 0), sf_new(total, 0) or (0, 0)))
    v1 += [(1000, 1, 2), (U64, U128, 1), (5, 1 << 63, 1 << 64)]
    for _ in range(400):
        shared = amount(rng)
        denominator = fixed_bits(rng, rng.random() < 0.3)
        share = rng.randrange(0, denominator + 1) if rng.random() < 0.9 else fixed_bits(rng, False)
        v1.append((shared, share, denominator))
        v2_fixed.append((shared, share, denominator))
    for _ in range(400):
        shared = amount(rng)
        denominator = safe_float(rng)
        # Mostly a share below the pool's total, as stakes are; now and then any share at all.
        if rng.random() < 0.8:
            share = sf_new(rng.randrange(1, SAFE_FLOAT_MAX + 1), denominator[1] - rng.randrange(0, 8))
        else:
            share = safe_float(rng)
        v2.append((shared, share or (0, 0), denominator))
    for _ in range(400):
        shared, total = amount(rng), amount(rng)
        share = rng.randrange(0, total + 1)
        whole.append((shared, share, total))
    out = {
        "about": "scripts/share-pool-golden-vectors.py: subtensor's share-pool get_value, "
        "v1 (U64F64) and v2 (SafeFloat); integers as decimal strings",
        "v1": [
            {"shared": str(s), "share_bits": str(a), "denominator_bits": str(d),
             "value": str(get_value_v1(s, a, d))}
            for s, a, d in v1
        ],
        "v2": [
            {"shared": str(s), "share": [str(a[0]), a[1]], "denominator": [str(d[0]), d[1]],
             "value": str(get_value_v2(s, a, d))}
            for s, a, d in v2
        ],
        "v2_from_fixed": [
            {"shared": str(s), "share_bits": str(a), "denominator_bits": str(d),
             "value": str(get_value_v2(s, sf_from_fixed(a), sf_from_fixed(d)))}
            for s, a, d in v2_fixed
        ],
        "whole": [
            {"shared": str(s), "share": str(a), "total": str(t),
             "v1": str(get_value_v1(s, a << 64, t << 64)),
             "v2": str(get_value_v2(s, sf_new(a, 0) or (0, 0), sf_new(t, 0) or (0, 0)))}
            for s, a, t in whole
        ],
    }
    json.dump(out, sys.stdout, indent=0)
    print()


if __name__ == "__main__":
    main()
