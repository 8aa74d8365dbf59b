"""Sets weights on tenure's devnet with the Bittensor SDK itself: the SDK's own conversion of
float weights to u16 (its `_conform`, under the subnet's MinAllowedWeights and MaxWeightsLimit
as the SDK reads them), and its own composing, signing (the devnet validator's hotkey from the
wallet under $HOME/.bittensor/wallets) and submission of `SubtensorModule.set_weights`.

Usage: set_weights.py WS_URL NETUID '{"uid": weight, ...}'
Prints JSON: the u16 vectors sent, whether the chain accepted them, and the block.
"""

import json
import sys

import bittensor as bt
from bittensor.intents.weights import _conform, _Preflight


def main():
    url, netuid, weights = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    st = bt.Subtensor(network=url)
    try:
        wallet = bt.Wallet("devnet", "validator")
        q = lambda item, params: st.query(("SubtensorModule", item), params)
        uid = q("Uids", [netuid, wallet.hotkey.ss58_address])
        pre = _Preflight(
            uid=int(uid),
            commit_reveal=bool(q("CommitRevealWeightsEnabled", [netuid])),
            min_allowed_weights=int(q("MinAllowedWeights", [netuid])),
            max_weight_limit=int(q("MaxWeightsLimit", [netuid])),
        )
        items = sorted((int(u), float(w)) for u, w in weights.items())
        uids, values = _conform([u for u, _ in items], [w for _, w in items], pre, netuid)
        call = bt.calls.SubtensorModule.set_weights(
            netuid=netuid, dests=uids, weights=values, version_key=0
        )
        result = st.submit_call(call, wallet, signer="hotkey")
        out = {
            "uid": int(uid),
            "min_allowed_weights": pre.min_allowed_weights,
            "max_weight_limit": pre.max_weight_limit,
            "dests": uids,
            "weights": values,
            "success": bool(result.success),
            "message": str(result.message),
            "block_hash": str(result.block_hash),
        }
    finally:
        st.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
