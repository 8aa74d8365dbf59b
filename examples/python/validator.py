"""A minimal validator on tenure: read the subnet with the Bittensor SDK, score the miners, hand
the scores to tenure, and see the weights tenure submitted with them (uptime and vesting
applied, normalized as the SDK does, on chain once per epoch).

Usage: validator.py CHAIN_WS TENURE_URL TOKEN NETUID
"""

import json
import sys
import time

import bittensor as bt
from tenure_client import Client

chain, tenure_url, token, netuid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

# 1. The subnet as the chain holds it, read with the SDK.
st = bt.Subtensor(network=chain)
n = st.query(("SubtensorModule", "SubnetworkN"), [netuid])
permits = st.query(("SubtensorModule", "ValidatorPermit"), [netuid])
hotkeys = [st.query(("SubtensorModule", "Keys"), [netuid, uid]) for uid in range(n)]
st.close()

# 2. Your own evaluation of each miner (here: a stand-in score by uid).
scores = {str(hk): float(uid + 1) for uid, hk in enumerate(hotkeys) if not permits[uid]}

# 3. tenure takes the scores; its next epoch's weights use them.
with Client(tenure_url, token=token) as tenure:
    posted = tenure.post_scores(scores)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = [s for s in tenure.submissions(limit=3) if s.status == "finalized" and s.planned_block >= posted.block]
        if done:
            break
        time.sleep(1)
    else:
        sys.exit("tenure submitted no weights with these scores within 2 minutes")
    miners = {m.uid: m for m in tenure.miners().miners}

sub = done[0]
print(json.dumps({
    "scored": len(scores),
    "epoch": sub.epoch_index,
    "in_block": sub.in_block,
    "dests": sub.dests,
    "weights": sub.weights,
    "shares": {uid: miners[uid].weight_share for uid in sub.dests},
}))
