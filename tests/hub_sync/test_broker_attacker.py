"""A party that can publish on the broker cannot make a device lose events or stop syncing.

Issue 17 items 2 and 3, against a real Mosquitto: forged confirms (unsigned, signed by another
key, or for more than was sent) delete nothing and do not stall the outbox; poison messages on the
`cmd`, `confirm`, `trust` and `hub` topics, retained ones too, are refused without ending the
session, without a traceback, and each kind is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.protocol.signing import sign_confirm
from hub_sync.protocol.wire import (
    Confirm,
    Header,
    Topics,
    encode_confirm,
    hub_topic,
    new_message_id,
)
from tests.hub_sync.conftest import (
    FLEET,
    HUB_KEY,
    HUB_PASSWORD,
    HUB_USER,
    Broker,
    RunningHub,
    keyed_store,
    wait_for,
)
from tests.hub_sync.test_sync import backlog, make_device

TOPICS = Topics(FLEET, "d1")


class Attacker:
    """Someone with the hub's broker credentials (or the broker itself): reads and writes all."""

    def __init__(self, conn: MqttConnection, got: list[Inbound]) -> None:
        self.conn = conn
        self.got = got

    def sent_ids(self) -> list[str]:
        return [json.loads(m.payload)["message_id"] for m in self.got if m.topic == TOPICS.events]

    def highest_sent(self) -> int:
        batches = [json.loads(m.payload) for m in self.got if m.topic == TOPICS.events]
        return max(int(e["seq"]) for b in batches for e in b["events"])

    async def confirm(self, in_reply_to: str, through: int, *, key: object = None) -> None:
        header = Header("confirm", new_message_id(), FLEET, "d1", time.time())
        sig = None
        if isinstance(key, ed25519.Ed25519PrivateKey):
            sig = sign_confirm(key, fleet=FLEET, device="d1", through_seq=through,
                               in_reply_to=in_reply_to)  # fmt: skip
        payload = encode_confirm(Confirm(header, through, in_reply_to, sig))
        await self.conn.publish(TOPICS.confirm, payload)


@pytest.fixture
async def attacker(broker: Broker) -> AsyncIterator[Attacker]:
    got: list[Inbound] = []
    params = ConnectParams(host="127.0.0.1", port=broker.port, client_id="mallory",
                           username=HUB_USER, password=HUB_PASSWORD, clean_start=True)  # fmt: skip
    conn = MqttConnection(params, got.append)
    await conn.connect()
    await conn.subscribe([(TOPICS.events, 1), (TOPICS.reply, 1)])
    try:
        yield Attacker(conn, got)
    finally:
        await conn.disconnect()


async def _start_hub(broker: Broker, tmp_path: Path) -> tuple[RunningHub, asyncio.Task[None]]:
    from hub_sync.hub.reference.hub import Hub

    store = keyed_store(tmp_path / "hub.db")
    hub = Hub(broker.hub_settings(), store, sign_key=HUB_KEY)
    task = asyncio.create_task(hub.run(), name="late-hub")
    async with asyncio.timeout(10):
        await hub.connected.wait()
    return RunningHub(hub, store, task), task


async def _stop(running: RunningHub) -> None:
    running.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running.task
    await asyncio.to_thread(running.store.close)


async def test_a_forged_confirm_deletes_nothing_the_hub_did_not_store(
    broker: Broker, attacker: Attacker, tmp_path: Path
) -> None:
    rd = make_device(broker, tmp_path, confirm_timeout_s=60.0)
    await rd.device.append(backlog(2000))
    rd.start()
    rogue = ed25519.Ed25519PrivateKey.generate()
    try:
        # no hub yet: the device publishes its window, nobody stores anything
        await wait_for(attacker.sent_ids, 10, "the device to publish")
        await asyncio.sleep(0.3)  # the whole window is out
        first, sent = attacker.sent_ids()[0], attacker.highest_sent()
        assert 0 < sent < 2000
        await attacker.confirm(first, sent)  # unsigned
        await attacker.confirm(first, sent, key=rogue)  # signed, by a key nobody trusts
        await attacker.confirm(first, 2000)  # what the outbox holds, more than was sent
        await attacker.confirm(first, 2000, key=HUB_KEY)  # even the hub's key: not beyond sent
        await wait_for(lambda: rd.sync.stats().refused >= 4, 10, "the forged confirms refused")
        assert rd.device._stats().depth == 2000
        assert rd.sync.stats().confirmed_seq == 0
        hub, _ = await _start_hub(broker, tmp_path)
        try:
            await wait_for(lambda: rd.device._stats().depth == 0, 30, "the real hub's confirms")
            assert hub.store.event_seqs(FLEET, "d1") == list(range(1, 2001))
        finally:
            await _stop(hub)
        assert rd.sync.stats().reconnects == 0
    finally:
        await rd.stop()


async def test_a_confirm_far_beyond_the_outbox_does_not_halt_sync(
    broker: Broker, hub: RunningHub, attacker: Attacker, tmp_path: Path
) -> None:
    rd = make_device(broker, tmp_path)
    await rd.device.append(backlog(10))
    rd.start()
    try:
        await wait_for(lambda: rd.sync.stats().confirmed_seq == 10, 10, "the first events")
        await wait_for(attacker.sent_ids, 10, "the attacker to see them")
        last = attacker.sent_ids()[-1]
        await attacker.confirm(last, 10**9)
        await attacker.confirm(last, 2**63 - 1)
        await wait_for(lambda: rd.sync.stats().refused >= 2, 10, "the forged confirms refused")
        await rd.device.append(backlog(50, 10))
        await rd.sync.notify_outbox()
        await wait_for(lambda: hub.hub.applied == 60, 10, "the later events at the hub")
        await wait_for(lambda: rd.device._stats().depth == 0, 10, "the outbox drained")
        assert rd.sync.stats().reconnects == 0
    finally:
        await rd.stop()
    assert hub.store.event_seqs(FLEET, "d1") == list(range(1, 61))
    assert rd.sync.stats().confirmed_seq == 60


BIG = "1" * 5000
CMD_POISON = [
    '{"v":1,"type":"command","message_id":"p1","fleet":"f1","device":"d1","sent_at":'
    + BIG
    + ',"transaction_id":"t","name":"door.open","args":{}}',
    '{"v":1,"type":"command","message_id":"p2","fleet":"f1","device":"d1","sent_at":1,'
    '"transaction_id":"\\ud800","name":"door.open","args":{"door":1,"reason":"\\ud800"}}',
    '{"v":1,"type":"command","message_id":"p3","fleet":"f1","device":"d1","sent_at":1,'
    '"transaction_id":"t3","name":"order.upsert","args":' + '{"a":' * 5000 + "1" + "}" * 5001,
    "[1,2,3]",
    '"\\ud800"',
    '{"v":1,"type":"command","message_id":"p6","fleet":"f1","device":"d1","sent_at":1,'
    '"transaction_id":7,"name":["door.open"],"args":"x"}',
    '{"v":1,"type":"command","message_id":"p7","fleet":"f1","device":"d1","sent_at":1,'
    '"transaction_id":"t7","name":"door.open","args":{"door":' + BIG + ',"reason":"r"}}',
]
OTHER_POISON = [
    '{"v":1,"type":"confirm","message_id":"c","fleet":"f1","device":"d1","sent_at":1,'
    '"through_seq":' + BIG + ',"in_reply_to":"x"}',
    '{"v":1,"type":"confirm","message_id":"c","fleet":"f1","device":"d1","sent_at":1,'
    '"through_seq":1,"in_reply_to":"\\ud800"}',
    "{" * 100_000,
    "null",
    '{"v":1,"type":"confirm","through_seq":"all"}',
]
RETAINED_HUB = (
    '{"v":1,"type":"hub_status","message_id":"h","fleet":"f1","device":"*","sent_at":'
    + BIG
    + ',"online":true,"x":"\\ud800"}'
)
RETAINED_TRUST = (
    '{"v":1,"type":"trust","message_id":"t","fleet":"f1","device":"*","sent_at":1,'
    '"bundle":"\\ud800","version":' + BIG + "}"
)


async def test_poison_messages_never_end_the_session(
    broker: Broker, hub: RunningHub, attacker: Attacker, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="hub_sync")
    # retained poison waits for the device on the fleet topics (over the hub's own status)
    await attacker.conn.publish(hub_topic(FLEET), RETAINED_HUB.encode(), retain=True)
    await attacker.conn.publish(TOPICS.trust, RETAINED_TRUST.encode(), retain=True)
    rd = make_device(broker, tmp_path)
    await rd.device.append(backlog(5))
    rd.start()
    try:
        await wait_for(lambda: rd.sync.stats().confirmed_seq == 5, 10, "the first events")
        for _ in range(3):  # a flood: each kind is logged once
            for text in CMD_POISON:
                await attacker.conn.publish(TOPICS.command, text.encode())
            for text in OTHER_POISON:
                await attacker.conn.publish(TOPICS.confirm, text.encode())
                await attacker.conn.publish(hub_topic(FLEET), text.encode())
                await attacker.conn.publish(TOPICS.trust, text.encode())

        def replies() -> list[Inbound]:
            return [m for m in attacker.got if m.topic == TOPICS.reply]

        await wait_for(lambda: len(replies()) == 3 * len(CMD_POISON), 10, "a nack per command")
        assert not any(json.loads(m.payload)["ok"] for m in replies())
        await rd.device.append(backlog(20, 5))
        await rd.sync.notify_outbox()
        await wait_for(lambda: hub.hub.applied == 25, 10, "events after the poison")
        stats = rd.sync.stats()
        assert (stats.connected, stats.reconnects) == (True, 0)
    finally:
        await rd.stop()
    assert hub.store.event_seqs(FLEET, "d1") == list(range(1, 26))
    assert stats.refused >= 3 * (len(CMD_POISON) + 3 * len(OTHER_POISON)) + 2
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == len(set(warnings)), "a kind of refusal was logged more than once"
    # the retained poison came once (no reconnect brought it back) and was logged once
    assert sum(w.startswith("hub refused: MALFORMED") for w in warnings) == 1
