"""Reads a subnet of tenure's devnet with the Bittensor SDK itself (not tenure's code) at one
block, and prints what it read as JSON: the tempo, each uid's hotkey and its owner, each
hotkey's total alpha in the subnet, the emission vector and the token symbol; and the events of
an epoch block (System.Events, decoded by the SDK), with the emission vector read there.

Usage: read_devnet.py WS_URL NETUID BLOCK UIDS EPOCH_BLOCK
"""

import json
import sys

import bittensor as bt


def account(a):
    """An account as the SDK returns it (SS58 with the runtime's account type)."""
    return str(a)


def main():
    url, netuid, block, uids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    epoch_block = int(sys.argv[5])
    st = bt.Subtensor(network=url)
    try:
        q = lambda item, params: st.query(("SubtensorModule", item), params, block=block)
        hotkeys = [account(q("Keys", [netuid, uid])) for uid in range(uids)]
        out = {
            "tempo": q("Tempo", [netuid]),
            "hotkeys": hotkeys,
            "owners": [account(q("Owner", [h])) for h in hotkeys],
            "alpha": [q("TotalHotkeyAlpha", [h, netuid]) for h in hotkeys],
            "emission": q("Emission", [netuid]),
            "token_symbol": st.query(("SubtensorModule", "TokenSymbol"), [netuid], block=block),
            "epoch_events": [
                {
                    "pallet": e["event"]["module_id"],
                    "name": e["event"]["event_id"],
                    "attributes": e["event"]["attributes"],
                }
                for e in st.query(("System", "Events"), [], block=epoch_block)
            ],
            "epoch_emission": st.query(("SubtensorModule", "Emission"), [netuid], block=epoch_block),
        }
    finally:
        st.close()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
