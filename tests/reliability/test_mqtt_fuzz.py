"""Hypothesis-made hostile messages on every topic the agent listens to: the session survives.

The real agent (in process, real SQLite) syncs through a real Mosquitto; a hub-user connection
publishes generated payloads on the device's `cmd` and `confirm` topics and the fleet's `trust`
and `hub` topics: valid envelopes with one field swapped for something hostile (a 5,000-digit
integer, a lone surrogate, 1e999, deep nesting, a 300-character string, a wrong type) and
free-form JSON-ish text. After each one the sync session must still be the same (no reconnect),
the agent answers what it answers (a nack for a command), and afterwards an event still reaches
the hub, which confirms it.

Hypothesis generates the corpus (seeded, printed) in a plain function; the publishing is async.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from agent.store import journal
from hub_sync.adapters.mqtt import ConnectParams, MqttConnection
from hub_sync.protocol.wire import Topics, new_message_id
from provisioning.fleet import DemoFleet
from tests.agent.conftest import RunningAgent
from tests.integration.conftest import (
    AGENT_ID,
    FLEET,
    Broker,
    hub_events,
    start_hub,
    stop_hub,
    wait_for,
)

EXAMPLES = int(os.environ.get("MQTT_FUZZ_EXAMPLES", "60"))  # per topic

HOSTILE = (
    "1" * 5000,  # a 5,000-digit integer
    '"\\ud800"',  # a lone surrogate
    '"\\udfff\\ud800"',
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-0",
    "1.5",
    "10" + "0" * 20,
    "null",
    "true",
    '""',
    json.dumps("x" * 300),
    json.dumps("\x00"),
    "[" * 1000 + "]" * 1000,
    '{"a":' * 500 + "1" + "}" * 500,
    "[]",
    "{}",
)


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.integers().map(str),
        st.text(max_size=40).map(lambda s: json.dumps(s, ensure_ascii=False)),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
    )


def _json_text() -> st.SearchStrategy[str]:
    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        keys = st.sampled_from(_FIELDS) | st.text(max_size=8)
        return st.one_of(
            st.lists(children, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
            st.dictionaries(keys, children, max_size=5).map(
                lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}"
            ),
        )

    return st.recursive(_leaf(), extend, max_leaves=12)


_FIELDS = ("v", "type", "message_id", "fleet", "device", "sent_at", "time_floor",
           "transaction_id", "name", "args", "sig", "through_seq", "in_reply_to", "online",
           "bundle", "version", "order_id", "extend_s", "door", "kid")  # fmt: skip
_NAMES = ("door.open", "order.upsert", "order.cancel", "order.extend", "order.return_decision",
          "trust.revoke", "trust.update", "config.set", "no.such")  # fmt: skip


def _envelope(kind: str) -> dict[str, object]:
    header: dict[str, object] = {
        "v": 1, "type": kind, "message_id": new_message_id(), "fleet": FLEET,
        "device": AGENT_ID, "sent_at": time.time(),
    }  # fmt: skip
    if kind == "command":
        return {**header, "transaction_id": new_message_id(), "name": "order.extend",
                "args": {"order_id": "ORD-X", "extend_s": 60}}  # fmt: skip
    if kind == "confirm":
        return {**header, "through_seq": 0, "in_reply_to": new_message_id()}
    if kind == "trust":
        return {**header, "bundle": "AAAA", "version": 1}
    return {**header, "online": True}


def _mutated(kind: str) -> st.SearchStrategy[bytes]:
    """A valid-looking envelope of `kind` with one field (or one arg) made hostile."""

    def build(draw: Callable[[st.SearchStrategy[object]], object]) -> bytes:
        env = _envelope(kind)
        if kind == "command":
            env["name"] = draw(st.sampled_from(_NAMES))
        hostile = str(draw(st.one_of(_leaf(), _json_text())))
        target = str(draw(st.sampled_from([*env.keys(), "args.order_id", "args.extend_s", "new"])))
        marker = "\u2603MARK\u2603"
        args = env.get("args")
        if target.startswith("args.") and isinstance(args, dict):
            env["args"] = {**args, target[5:]: marker}
        else:
            env[target] = marker
        return json.dumps(env).replace(json.dumps(marker), hostile).encode()

    return st.composite(build)()


def _raw() -> st.SearchStrategy[bytes]:
    return st.one_of(
        _json_text().map(str.encode),
        st.binary(max_size=64),
        st.sampled_from(HOSTILE).map(str.encode),
    )


def _generated(kind: str, seed: int) -> list[bytes]:
    found: list[bytes] = []

    @hypothesis_seed(seed)
    @settings(max_examples=EXAMPLES, database=None, phases=[Phase.generate], deadline=None)
    @given(st.one_of(_mutated(kind), _raw()))
    def collect(payload: bytes) -> None:
        found.append(payload)

    collect()
    return found


def corpus(seed: int) -> dict[str, list[bytes]]:
    """Payloads per topic leaf, generated by hypothesis (no shrinking: we replay, not minimise)."""
    leaves = (("cmd", "command"), ("confirm", "confirm"), ("trust", "trust"), ("hub", "hub"))
    return {leaf: _generated(kind, seed) for leaf, kind in leaves}


async def test_hostile_messages_on_every_topic_never_end_the_sync_session(
    broker: Broker, hub_agent: RunningAgent, fleet: DemoFleet, tmp_path: Path
) -> None:
    fuzz_seed = int(os.environ.get("MQTT_FUZZ_SEED", str(random.SystemRandom().randrange(2**32))))
    print(f"MQTT fuzz seed {fuzz_seed} (MQTT_FUZZ_SEED={fuzz_seed} replays it)")
    payloads = await asyncio.to_thread(corpus, fuzz_seed)
    sync = hub_agent.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
    reconnects = sync.stats().reconnects
    topics = Topics(FLEET, AGENT_ID)
    by_leaf = {"cmd": topics.command, "confirm": topics.confirm, "trust": topics.trust,
               "hub": topics.hub}  # fmt: skip
    params = ConnectParams(host="127.0.0.1", port=broker.port, client_id="fuzzer",
                           username="hub", password="hub-secret", clean_start=True)  # fmt: skip
    conn = MqttConnection(params, lambda _msg: None)
    await conn.connect()
    sent, killers = 0, []
    try:
        for leaf, items in payloads.items():
            for payload in items:
                await conn.publish(by_leaf[leaf], payload)
                sent += 1
                await asyncio.sleep(0.02)
                stats = sync.stats()
                if stats.connected and stats.reconnects == reconnects:
                    continue
                # this one (or the one before it) ended the session: note it, and go on once
                # the agent is back, to find every such input in one run
                killers.append(f"{leaf}: {payload[:160]!r}")
                await wait_for(lambda: sync.stats().connected, 30, "the agent to reconnect")
                reconnects = sync.stats().reconnects
    finally:
        await conn.disconnect()
    await asyncio.sleep(0.5)  # the last ones are processed
    if sync.stats().reconnects != reconnects:
        killers.append("one of the last payloads")
    assert sent == sum(len(v) for v in payloads.values())
    assert not killers, (
        f"{len(killers)} of {sent} payloads ended the sync session (seed {fuzz_seed}):\n"
        + "\n".join(killers[:8])
    )

    # and the session still carries events to a hub that confirms them
    hub_db = tmp_path / "fuzz-hub.db"
    hub = await start_hub(broker, hub_db, sign_key=fleet.command_key, clock=hub_agent.clock.now,
                          agent_data=hub_agent.agent.config.locker.data_dir)  # fmt: skip
    try:
        await hub_agent.agent.db.run(journal.record, "test.after_fuzz", {"ok": 1}, now=time.time())
        await wait_for(lambda: sync.stats().outbox_depth == 0 and sync.stats().confirmed > 0, 20,
                       "the event after the fuzz to be confirmed")  # fmt: skip
    finally:
        await stop_hub(hub)
    stored = await asyncio.to_thread(hub_events, hub_db, AGENT_ID)
    assert any(e.kind == "test.after_fuzz" for e in stored)
    assert sync.stats().reconnects == reconnects
