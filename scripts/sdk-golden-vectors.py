#!/usr/bin/env python3
"""Golden vectors of the weight conversion, computed by the Bittensor SDK itself.

tenure's `weights::normalize` must give bit-identical u16 vectors to the SDK's
`bittensor.intents.weights._conform` (SDK 11.3: the max-weight clip, then max-upscale to
65535 with round-half-to-even, zeros dropped). Regenerate in a throwaway virtual environment:

    python3.12 -m venv /tmp/bt && /tmp/bt/bin/pip install bittensor==11.3.0
    /tmp/bt/bin/python scripts/sdk-golden-vectors.py > tests/fixtures/sdk_weights.json

Only the vectors are committed, never the SDK. Where SDK 11.3 refuses an input (all zeros, fewer
non-zero weights than MinAllowedWeights), tenure pads every uid with 1e-5 of the sum-normalized
weights as SDK 10's `process_weights` did; the vector then records the padded input and what
SDK 11.3's `_conform` makes of it, so the padded output is the SDK's too.
"""

import json
import random
import sys
from importlib.metadata import version

from bittensor.intents.weights import _conform, _Preflight
from bittensor.result import BittensorError, ChainError

U16_MAX = 65535
PAD = 1e-5


def conform(uids, weights, min_allowed, limit):
    pre = _Preflight(uid=-1, commit_reveal=False, min_allowed_weights=min_allowed, max_weight_limit=limit)
    try:
        d, w = _conform(list(uids), list(weights), pre, netuid=1)
        return {"dests": d, "weights": w}
    except ChainError as e:
        return {"error": "too_few", "message": str(e)}
    except BittensorError as e:
        return {"error": "all_zero", "message": str(e)}


def pad(weights):
    total = sum(weights)
    return [PAD + (w / total if total > 0 else 0.0) for w in weights]


def case(name, weights, min_allowed=0, limit=U16_MAX, uids=None):
    uids = list(range(len(weights))) if uids is None else uids
    out = {
        "name": name,
        "scores": {str(u): w for u, w in zip(uids, weights)},
        "min_allowed_weights": min_allowed,
        "max_weight_limit": limit,
        "sdk": conform(uids, weights, min_allowed, limit),
    }
    if "error" in out["sdk"]:
        padded = pad(weights)
        out["padded"] = padded
        out["expect"] = conform(uids, padded, min(min_allowed, len(uids)), limit)
    else:
        out["expect"] = out["sdk"]
    return out


def exact_ties(rng, count):
    """Weights w (max 1.0) whose (w / 1.0) * 65535 is exactly k + 0.5 in binary64."""
    found = []
    while len(found) < count:
        k = rng.randrange(0, U16_MAX)
        w = (k + 0.5) / U16_MAX
        if w * U16_MAX == k + 0.5:
            found.append(w)
    return found


def main():
    rng = random.Random(20261121)
    cases = [
        case("simple", [0.5, 1.0, 0.0, 0.25]),
        case("single", [3.0]),
        case("ties_at_half", [1.0] + exact_ties(rng, 40)),
        case("ties_small_values", [1.0, 0.5 / U16_MAX, 1.5 / U16_MAX, 2.5 / U16_MAX, 3.5 / U16_MAX]),
        case("very_small", [1.0, 1e-6, 7.6e-6, 7.7e-6, 1e-12, 1e-300, 5e-324]),
        case("tiny_only", [1e-300, 3e-300, 5e-324, 2e-310]),
        case("very_large", [1e300, 3e300, 1.7e308, 1.0, 1e-300]),
        case("large_overflowing_sum", [1.7e308, 1.7e308, 1.0e308]),
        case("uids_sparse", [0.3, 0.1, 0.6], uids=[7, 300, 4095]),
        case("clip_one_dominant", [100.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], limit=6553),
        case("clip_two_levels", [50.0, 40.0, 5.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.0, 0.0, 0.3, 0.2], limit=13107),
        case("clip_uniform_when_impossible", [5.0, 1.0, 1.0, 0.0], limit=16383),
        case("clip_already_within", [1.0, 1.0, 1.0, 1.0, 0.9], limit=32767),
        case("clip_with_ties", [1.0] + exact_ties(rng, 30), limit=2000),
        case("clip_with_zeros", [9.0, 0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 4.0, 1.0, 1.0], limit=19660),
        case("fewer_than_min_allowed", [0.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], min_allowed=5),
        case("fewer_than_min_after_rounding", [1.0, 1e-7, 1e-9, 0.0, 0.0], min_allowed=3),
        case("fewer_than_min_clipped", [0.0, 8.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], min_allowed=6, limit=13107),
        case("more_min_than_uids", [1.0, 2.0, 3.0], min_allowed=8),
        case("all_zeros", [0.0, 0.0, 0.0, 0.0, 0.0]),
        case("all_zeros_min_allowed", [0.0] * 6, min_allowed=3),
        case("all_zeros_clip", [0.0] * 6, limit=30000),
    ]
    for i in range(12):
        n = rng.choice([3, 17, 64, 256, 1024])
        weights = [0.0 if rng.random() < 0.2 else rng.random() * 10 ** rng.uniform(-8, 8) for _ in range(n)]
        limit = rng.choice([U16_MAX, U16_MAX, 32767, 6553, 1000, 300])
        min_allowed = rng.choice([0, 1, 8, n // 2, n])
        cases.append(case(f"random_{i}", weights, min_allowed=min_allowed, limit=limit))
    json.dump(
        {
            "generator": "scripts/sdk-golden-vectors.py",
            "bittensor": version("bittensor"),
            "python": sys.version.split()[0],
            "cases": cases,
        },
        sys.stdout,
        indent=1,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
