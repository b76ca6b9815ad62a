"""Whoever can publish on the broker cannot change the locker's state (issue 17, items 1 and 4).

Every command is hub-signed: unsigned, forged, expired, other-device and replayed commands get a
nack with a reason and change nothing. A transaction id is bound to the command it was first used
for, so nobody can squat an id the hub will use later.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from agent.domain.clock import ManualClock
from agent.services.hub_link import command_keys
from agent.store.orders import get_order
from agent.tokens.keys import key_id
from agent.tokens.typed_codes import display_code, new_typed_code
from hub_sync.adapters.mqtt import ConnectParams, MqttConnection
from hub_sync.errors import WireError
from hub_sync.protocol.commands import CommandEnvelope, encode_command
from hub_sync.protocol.signing import sign
from hub_sync.protocol.wire import Header, Topics, hub_topic, new_message_id
from provisioning.fleet import DemoFleet
from tests.agent.conftest import RunningAgent
from tests.hub_sync.conftest import HUB_PASSWORD, HUB_USER
from tests.integration.conftest import (
    AGENT_ID,
    FLEET,
    OTHER_DEVICE,
    Broker,
    CommandProbe,
    RunningHub,
    command_bytes,
    command_payload,
    hub_events,
    resent_as_new_message,
    start_hub,
    start_hub_agent,
    stop_hub,
    wait_for,
)
from tests.integration.test_hub_commands import code_material, load, send

_RNG = random.Random(17)


async def _loaded_order(running: RunningAgent, hub: RunningHub, order_id: str) -> str:
    sync = running.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
    code = display_code(new_typed_code(_RNG))
    args = {"order_id": order_id, "size": "S", "hold_s": 3600, "policy": {},
            "code": code_material(code, running.agent.typed_code_secret)}  # fmt: skip
    assert (await send(hub, "order.upsert", args))[0] == "ok"
    await load(running, order_id)
    return code


def _for_device(
    device: str, name: str, args: dict[str, object], fleet: DemoFleet, now: int
) -> bytes:
    """Signed with the real command key, but for another device, sent to this one's topic."""
    tx = new_message_id()
    sig = sign(fleet.command_key, fleet=FLEET, device=device, name=name, transaction_id=tx,
               args=args, exp=now + 600)  # fmt: skip
    header = Header("command", new_message_id(), FLEET, AGENT_ID, now)
    return encode_command(CommandEnvelope(header, tx, name, args, sig))


async def test_unsigned_or_forged_state_changes_are_refused_and_change_nothing(
    hub_agent: RunningAgent, signing_hub: RunningHub, broker: Broker, fleet: DemoFleet
) -> None:
    code = await _loaded_order(hub_agent, signing_hub, "ATT-1")
    before = await hub_agent.agent.db.read(get_order, "ATT-1")
    assert before is not None
    trust = hub_agent.agent.trust
    assert trust is not None
    issuing_kid = key_id(fleet.issuing_key.public_key()).hex()
    command_kid = key_id(fleet.command_key.public_key()).hex()
    now = int(hub_agent.clock.now())
    forger = fleet.issuing_key  # trusted for tokens, never for commands
    attacks = {
        "revoke": command_bytes(
            "trust.revoke", {"ctis": [], "kids": [issuing_kid, command_kid]}, sent_at=now
        ),
        "extend": command_bytes(
            "order.extend", {"order_id": "ATT-1", "extend_s": 10**9}, sent_at=now
        ),
        "cancel": command_bytes("order.cancel", {"order_id": "ATT-1", "reason": "x"}, sent_at=now),
        "decision": command_bytes(
            "order.return_decision",
            {"order_id": "ATT-1", "decision": "return_to_sender"},
            sent_at=now,
        ),
        "redirect": command_bytes(
            "order.redirect", {"order_id": "ATT-1", "reason": "x"}, sent_at=now
        ),
        "config": command_bytes("config.set", {"changes": {"trust.leeway_s": 3600}}, sent_at=now),
        "forged": command_bytes(
            "order.cancel",
            {"order_id": "ATT-1", "reason": "x"},
            sent_at=now,
            key=forger,
            exp=now + 600,
        ),
        "expired": command_bytes(
            "order.cancel",
            {"order_id": "ATT-1", "reason": "x"},
            sent_at=now,
            key=fleet.command_key,
            exp=now - 1,
        ),
        "other_device": _for_device(
            OTHER_DEVICE, "order.cancel", {"order_id": "ATT-1", "reason": "x"}, fleet, now
        ),
    }
    async with CommandProbe(broker) as probe:
        replies = {name: await probe.send(payload) for name, payload in attacks.items()}
    reasons = {name: (r.ok, r.reason) for name, r in replies.items()}
    assert reasons == {
        "revoke": (False, "SIG_MISSING"),
        "extend": (False, "MALFORMED"),  # 10^9 s is beyond any hold: refused before the signature
        "cancel": (False, "SIG_MISSING"),
        "decision": (False, "SIG_MISSING"),
        "redirect": (False, "SIG_MISSING"),
        "config": (False, "SIG_MISSING"),
        "forged": (False, "BAD_SIGNATURE"),
        "expired": (False, "EXPIRED"),
        "other_device": (False, "BAD_SIGNATURE"),
    }
    after = await hub_agent.agent.db.read(get_order, "ATT-1")
    assert after == before
    assert command_keys(trust, hub_agent.clock.now())  # the hub's key still counts
    assert {k.kid.hex() for k in trust.context().trust.keys} >= {issuing_kid, command_kid}
    # the customer's code still opens, and the hub's signed commands still work
    status, body = await hub_agent.post("/api/v1/pickup/code", {"code": code})
    assert (status, body["result"]) == (200, "open")


async def test_a_signed_extend_is_bounded_and_a_replay_is_refused(
    hub_agent: RunningAgent,
    signing_hub: RunningHub,
    broker: Broker,
    fleet: DemoFleet,
    tmp_path: Path,
) -> None:
    await _loaded_order(hub_agent, signing_hub, "ATT-2")
    before = await hub_agent.agent.db.read(get_order, "ATT-2")
    assert before is not None
    huge = {"order_id": "ATT-2", "extend_s": 10**9}
    with pytest.raises(WireError, match="extend_s"):  # the reference hub will not send it
        await send(signing_hub, "order.extend", huge)
    now = int(hub_agent.clock.now())
    async with CommandProbe(broker) as probe:
        signed_huge = command_bytes("order.extend", huge, sent_at=now, key=fleet.command_key,
                                    exp=now + 600)  # fmt: skip
        reply = await probe.send(signed_huge)
    assert (reply.ok, reply.reason) == (False, "MALFORMED")
    extend = {"order_id": "ATT-2", "extend_s": 600}
    message_id = await signing_hub.hub.send_command(AGENT_ID, "order.extend", extend)
    assert (await signing_hub.hub.wait_reply(message_id, 10)).status == "ok"
    once = await hub_agent.agent.db.read(get_order, "ATT-2")
    assert once is not None
    assert once.hold.hold_s == before.hold.hold_s + 600
    recorded = command_payload(tmp_path / "hub.db", message_id)  # what a sniffer saw
    async with CommandProbe(broker) as probe:
        reply = await probe.send(resent_as_new_message(recorded, hub_agent.clock.now()))
    assert (reply.ok, reply.reason) == (False, "REPLAYED")
    again = await hub_agent.agent.db.read(get_order, "ATT-2")
    assert again == once


async def test_a_transaction_id_cannot_be_squatted(
    hub_agent: RunningAgent, signing_hub: RunningHub
) -> None:
    sync = hub_agent.agent.sync
    assert sync is not None
    await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
    squat = {"order_id": "NO-SUCH-ORDER", "reason": "squatting"}
    first = await signing_hub.hub.send_command(AGENT_ID, "order.cancel", squat,
                                               transaction_id="tx-X")  # fmt: skip
    assert (await signing_hub.hub.wait_reply(first, 10)).reason == "ORDER_UNKNOWN"
    # the hub's later door.open that happens to reuse the id: refused, never the earlier result
    opened = await signing_hub.hub.send_command(
        AGENT_ID, "door.open", {"door": 2, "reason": "support"}, transaction_id="tx-X"
    )
    outcome = await signing_hub.hub.wait_reply(opened, 10)
    assert (outcome.status, outcome.reason) == ("nack", "TRANSACTION_REUSED")
    # same name, other args: refused too
    other = await signing_hub.hub.send_command(
        AGENT_ID, "order.cancel", {**squat, "order_id": "OTHER"}, transaction_id="tx-X"
    )
    assert (await signing_hub.hub.wait_reply(other, 10)).reason == "TRANSACTION_REUSED"
    # the very same command again: the stored result, as before
    same = await signing_hub.hub.send_command(AGENT_ID, "order.cancel", squat,
                                              transaction_id="tx-X")  # fmt: skip
    assert (await signing_hub.hub.wait_reply(same, 10)).reason == "ORDER_UNKNOWN"
    assert hub_agent.sim.pulses == []


POISON = [
    b'{"v":1,"type":"command","message_id":"p1","fleet":"f1","device":"'
    + AGENT_ID.encode()
    + b'","sent_at":'
    + b"1" * 5000
    + b',"transaction_id":"t","name":"door.open","args":{}}',
    b'{"v":1,"type":"command","message_id":"p2","fleet":"f1","device":"'
    + AGENT_ID.encode()
    + b'","sent_at":1,"transaction_id":"\\ud800","name":"door.open","args":{"door":1}}',
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"[]",
    b'{"v":1,"type":"confirm","through_seq":"all"}',
]


async def test_poison_on_every_topic_leaves_the_agent_syncing(
    idle_broker: Broker, fleet: DemoFleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    idle_broker.start()
    hub = await start_hub(idle_broker, tmp_path / "hub.db", sign_key=fleet.command_key,
                          agent_data=tmp_path / "data")  # fmt: skip
    raw = MqttConnection(
        ConnectParams(host="127.0.0.1", port=idle_broker.port, client_id="mallory",
                      username=HUB_USER, password=HUB_PASSWORD, clean_start=True),
        lambda _msg: None,
    )  # fmt: skip
    await raw.connect()
    topics = Topics(FLEET, AGENT_ID)
    # retained poison on the fleet topics (over the hub's own status): every subscriber gets it
    await raw.publish(
        hub_topic(FLEET), POISON[0].replace(b'"command"', b'"hub_status"'), retain=True
    )
    await raw.publish(topics.trust, POISON[1].replace(b'"command"', b'"trust"'), retain=True)
    running = await start_hub_agent(tmp_path / "data", idle_broker, fleet, ManualClock(time.time()))
    sync = running.agent.sync
    assert sync is not None
    try:
        await wait_for(lambda: sync.stats().connected, 10, "the agent to connect")
        for payload in POISON:
            for topic in (topics.command, topics.confirm, topics.trust, hub_topic(FLEET)):
                await raw.publish(topic, payload)
        await wait_for(lambda: sync.stats().refused >= 4 * len(POISON) + 2, 10, "refusals")
        # still in sync: a hub command is answered and its events reach the hub
        args = {"order_id": "AFTER-POISON", "size": "S", "hold_s": 3600, "policy": {}}
        assert (await send(hub, "order.upsert", args))[0] == "ok"

        def announced() -> bool:
            stored = hub_events(tmp_path / "hub.db")
            return any(e.body.get("order") == "AFTER-POISON" for e in stored)

        await wait_for(announced, 10, "the order's event at the hub")
        stats = sync.stats()
        assert (stats.connected, stats.reconnects) == (True, 0)
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        await raw.disconnect()
        await running.close()
        await stop_hub(hub)
