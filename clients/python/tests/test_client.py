"""tenure-client against a running daemon (started by tenure's test suite with a devnet).

Usage: test_client.py BASE_URL TOKEN VALIDATORS
Checks every model against the daemon's own OpenAPI description, then the sync and the async
client end to end; exits non-zero on the first failure, printing what differed.
"""

import asyncio
import sys
import time

import httpx

from tenure_client import AsyncClient, Client, Observation, TenureError
from tenure_client.models import SCHEMAS


def properties(doc, name):
    """A schema's properties and required names, through allOf."""
    schema = doc["components"]["schemas"][name]
    props, required = dict(schema.get("properties", {})), set(schema.get("required", []))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            p, r = properties(doc, part["$ref"].rsplit("/", 1)[1])
        else:
            p, r = part.get("properties", {}), set(part.get("required", []))
        props.update(p)
        required |= r
    return props, required


def check_models(base):
    doc = httpx.get(f"{base}/v1/openapi.json").json()
    for model, name in SCHEMAS.items():
        props, required = properties(doc, name)
        fields = model.model_fields
        assert set(fields) == set(props), f"{model.__name__} vs {name}: {sorted(set(fields) ^ set(props))}"
        model_required = {k for k, f in fields.items() if f.is_required()}
        assert model_required == required, f"{model.__name__} required {sorted(model_required)} vs {name} {sorted(required)}"
    return len(SCHEMAS)


def sync_calls(base, token, validators):
    with Client(base, token=token) as t:
        miners = t.miners().miners
        assert len(miners) > validators, miners
        scores = {m.hotkey: float(m.uid + 1) for m in miners if m.uid >= validators}
        accepted = t.post_scores(scores)
        assert accepted.accepted == len(scores), accepted
        # Uptime observations at the ingested head: every registered uid gets a sample.
        observations = [Observation(hotkey=m.hotkey, up=m.uid % 3 != 0, block=accepted.block) for m in miners]
        round_ = t.post_uptime(observations)
        up = sum(1 for o in observations if o.up)
        assert (round_.miners, round_.up, round_.unreported) == (len(miners), up, 0), round_
        try:
            t.post_uptime([{"hotkey": miners[0].hotkey, "up": True}])
            raise AssertionError("an observation without block or timestamp was accepted")
        except TenureError as e:
            assert e.status == 400 and "block" in e.reason, e
        try:
            t.post_scores({"5Nobody": 1.0})
            raise AssertionError("an unknown hotkey was accepted")
        except TenureError as e:
            assert e.status == 422 and "5Nobody" in e.reason, (e.status, e.reason)
        with Client(base, token="wrong-token-wrong-token") as bad:
            try:
                bad.set_vesting_mode("off")
                raise AssertionError("a wrong token was accepted")
            except TenureError as e:
                assert e.status == 401, e
        change = t.set_vesting_mode("shadow", reason="client test", actor="test")
        assert (change.old, change.new, change.changed) == ("on", "shadow", True), change
        assert not t.set_vesting_mode("shadow").changed
        assert t.set_vesting_mode("on").new == "on"
        hotkey = miners[-1].hotkey
        granted = t.grant(hotkey, "client test", days=3, bonus=0.05)
        assert granted.hotkey == hotkey and granted.bonus == 0.05, granted
        assert granted.id in [g.id for g in t.grants()]
        assert t.revoke(granted.id).revoked
        try:
            t.revoke(granted.id)
            raise AssertionError("revoked twice")
        except TenureError as e:
            assert e.status == 404, e
        return scores


def wait_for_weights(base, scores):
    """A finalized submission made with the scores posted; its explanation for one miner."""
    with Client(base) as t:
        deadline = time.time() + 120
        while time.time() < deadline:
            done = [s for s in t.submissions(limit=5) if s.status == "finalized"]
            if done and len(done[0].dests) == len(scores):
                sub = done[0]
                uid = sub.dests[-1]
                e = t.explain(uid, epoch=sub.epoch_index)
                assert e.submission.epoch_index == sub.epoch_index
                assert e.explain["weight_u16"] == sub.weights[-1], e.explain
                return sub
            time.sleep(0.5)
    raise AssertionError("no finalized submission with the posted scores")


async def async_calls(base, count):
    async with AsyncClient(base) as t:
        miners, network, subs, board, badges = await asyncio.gather(
            t.miners(), t.network(), t.submissions(limit=3), t.leaderboard(), t.achievements()
        )
        assert len(miners.miners) == count, miners
        assert board.epoch_block > 0 and len(board.miners) == count, board
        assert [e.rank for e in board.miners] == list(range(1, count + 1)), board
        assert isinstance(badges, list), badges
        assert network.miners >= 0 and isinstance(network.criteria, list), network
        assert subs and subs[0].log, subs
        try:
            await t.explain("nobody")
            raise AssertionError("an unknown miner was explained")
        except TenureError as e:
            assert e.status == 404, e


def main():
    base, token, validators = sys.argv[1], sys.argv[2], int(sys.argv[3])
    models = check_models(base)
    scores = sync_calls(base, token, validators)
    sub = wait_for_weights(base, scores)
    asyncio.run(async_calls(base, len(scores) + validators))
    print(f"ok: {models} models match the OpenAPI description; epoch {sub.epoch_index} finalized with {len(sub.dests)} weights")


if __name__ == "__main__":
    main()
