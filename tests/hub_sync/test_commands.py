"""Commands through a real broker: acks, nacks, signatures, replays, offline queueing, ACLs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.errors import MqttError
from hub_sync.hub.reference.hub import Hub
from hub_sync.protocol.commands import CommandEnvelope, encode_command
from hub_sync.protocol.wire import Header, OutboxEvent, Topics, new_message_id
from tests.hub_sync.conftest import (
    FLEET,
    HUB_KEY,
    Broker,
    RunningDevice,
    broker_client,
    keyed_store,
    reply_key,
    signed_events,
    wait_for,
)

ROGUE_KEY = ed25519.Ed25519PrivateKey.generate()
ORDER = {"order_id": "o-1", "size": "M", "hold_s": 172_800, "policy": {"dyn_required": False},
         "code": {"scheme": "hmac-sha256", "digest": "ab" * 32}}  # fmt: skip


@pytest.fixture
async def signing_hub(broker: Broker, tmp_path: Path) -> AsyncIterator[Hub]:
    store = keyed_store(tmp_path / "hub.db")
    hub = Hub(broker.hub_settings(), store, sign_key=HUB_KEY)
    task = asyncio.create_task(hub.run())
    async with asyncio.timeout(10):
        await hub.connected.wait()
    yield hub
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.to_thread(store.close)


@pytest.fixture
async def device(broker: Broker, tmp_path: Path) -> AsyncIterator[tuple[RunningDevice, list[int]]]:
    opened: list[int] = []
    dev = ReferenceDevice(tmp_path / "d1.db", on_door_open=opened.append)
    keys = [HUB_KEY.public_key()]
    sync = DeviceSync(broker.device_settings("d1"), dev, dev, dev, command_keys=lambda: keys,
                      clock=time.time, device_key=reply_key("d1"))  # fmt: skip
    rd = RunningDevice(dev, sync)
    rd.start()
    await wait_for(lambda: sync.stats().connected, 10, "device connected")
    yield rd, opened
    await rd.stop()
    await asyncio.to_thread(dev.close)


async def test_signed_remote_open_opens_once_and_acks(
    signing_hub: Hub, device: tuple[RunningDevice, list[int]]
) -> None:
    rd, opened = device
    mid = await signing_hub.send_command("d1", "door.open", {"door": 3, "reason": "support"},
                                         transaction_id="open-1")  # fmt: skip
    outcome = await signing_hub.wait_reply(mid, 10)
    assert (outcome.status, outcome.result) == ("ok", {"door": 3})
    # same business transaction again (new message, new nonce): stored result, no second open
    mid2 = await signing_hub.send_command("d1", "door.open", {"door": 3, "reason": "support"},
                                          transaction_id="open-1")  # fmt: skip
    assert (await signing_hub.wait_reply(mid2, 10)).status == "ok"
    assert opened == [3]
    assert rd.sync.stats().commands_ok == 2


async def test_forged_and_unsigned_remote_open_are_refused(
    broker: Broker, tmp_path: Path, device: tuple[RunningDevice, list[int]]
) -> None:
    rd, opened = device
    # whoever controls the broker (here: the hub's own credentials) but not the hub's key
    store = keyed_store(tmp_path / "rogue.db")
    rogue = Hub(broker.hub_settings(), store, sign_key=ROGUE_KEY)
    task = asyncio.create_task(rogue.run())
    try:
        await asyncio.wait_for(rogue.connected.wait(), 10)
        forged = await rogue.send_command("d1", "door.open", {"door": 1, "reason": "x"})
        assert (await rogue.wait_reply(forged, 10)).reason == "BAD_SIGNATURE"
        replies: list[Inbound] = []
        raw = await _raw_hub(broker, replies)
        header = Header("command", new_message_id(), FLEET, "d1", time.time())
        args = {"door": 2, "reason": "x"}
        unsigned = encode_command(CommandEnvelope(header, "tx-u", "door.open", args, None))
        await raw.publish(Topics(FLEET, "d1").command, unsigned)
        await wait_for(lambda: replies, 10, "the nack of the unsigned open")
        assert json.loads(replies[0].payload)["reason"] == "SIG_MISSING"
        await raw.disconnect()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(store.close)
    assert opened == []
    assert rd.device.door_opens() == []
    assert rd.sync.stats().commands_nack == 2


async def _raw_hub(broker: Broker, inbox: list[Inbound]) -> MqttConnection:
    return await broker_client(broker, "raw-hub", [Topics(FLEET, "d1").reply], inbox)


async def test_replayed_envelope_and_malformed_commands_get_nacks_not_crashes(
    broker: Broker, signing_hub: Hub, device: tuple[RunningDevice, list[int]]
) -> None:
    _, opened = device
    replies: list[Inbound] = []
    raw = await _raw_hub(broker, replies)
    mid = await signing_hub.send_command("d1", "door.open", {"door": 5, "reason": "r"})
    await signing_hub.wait_reply(mid, 10)
    # what a sniffer on the broker saw; each tampered copy gets a fresh message id so that the
    # device's transport dedup does not answer from its cache
    envelope = _stored_payload(signing_hub, mid)
    bad = [
        b"not json",
        b'{"v":1,"type":"command","v":1}',
        envelope.replace(b'"door.open"', b'"door.explode"').replace(mid.encode(), b"a" * 32),
        envelope.replace(b'"door":5', b'"door":"5"').replace(mid.encode(), b"b" * 32),
        envelope.replace(b'"v":1', b'"v":99').replace(mid.encode(), b"c" * 32),
        envelope.replace(mid.encode(), b"d" * 32),  # a replay: same signed content and nonce
    ]
    for payload in bad:
        await raw.publish(Topics(FLEET, "d1").command, payload)

    def nacks() -> list[dict[str, object]]:
        # the answer to `mid` may come more than once (the hub re-sends until it has it)
        return [
            n for n in (json.loads(r.payload) for r in replies) if n["command_message_id"] != mid
        ]

    await wait_for(lambda: len(nacks()) >= len(bad), 10, "a reply per bad command")
    reasons = sorted(str(n["reason"]) for n in nacks())
    assert reasons == sorted(["MALFORMED", "MALFORMED", "UNKNOWN_COMMAND", "MALFORMED",
                              "UNSUPPORTED_VERSION", "REPLAYED"])  # fmt: skip
    assert opened == [5]
    # and the client still works
    mid = await signing_hub.send_command("d1", "order.cancel", {"order_id": "o-9", "reason": "r"})
    assert (await signing_hub.wait_reply(mid, 10)).status == "ok"
    await raw.disconnect()


def _stored_payload(hub: Hub, message_id: str) -> bytes:
    db = hub._store._db
    with hub._store._lock:
        (payload,) = db.execute(
            "SELECT payload FROM commands WHERE message_id=?", (message_id,)
        ).fetchone()
    return bytes(payload)


async def test_commands_sent_while_device_offline_arrive_on_reconnect(
    broker: Broker, signing_hub: Hub, tmp_path: Path
) -> None:
    dev = ReferenceDevice(tmp_path / "d3.db")
    keys = [HUB_KEY.public_key()]
    sync = DeviceSync(broker.device_settings("d3"), dev, dev, dev, command_keys=lambda: keys,
                      clock=time.time, device_key=reply_key("d3"))  # fmt: skip
    rd = RunningDevice(dev, sync)
    rd.start()  # once, so the broker knows its persistent session
    await wait_for(lambda: sync.stats().connected, 10, "first connect")
    await rd.stop()
    mids = [
        await signing_hub.send_command("d3", "order.upsert", {**ORDER, "order_id": f"o-{i}"})
        for i in range(3)
    ]
    await asyncio.sleep(0.2)
    assert dev.order_ids() == []
    rd.start()
    try:
        for mid in mids:
            assert (await signing_hub.wait_reply(mid, 15)).status == "ok"
    finally:
        await rd.stop()
    assert dev.order_ids() == ["o-0", "o-1", "o-2"]
    await asyncio.to_thread(dev.close)


def _events(device: str, seq: int) -> bytes:
    header = Header("events", new_message_id(), FLEET, device, time.time())
    event = OutboxEvent(seq, "x", f"t{seq}", {}, time.time())
    return signed_events(header, seq - 1, [event])  # the ACL refuses it, not the signature


async def _connect_as_d1(broker: Broker, got: list[Inbound]) -> MqttConnection:
    params = ConnectParams(host="127.0.0.1", port=broker.port, client_id="d1", username="d1",
                           password=broker.passwords["d1"], clean_start=True)  # fmt: skip
    conn = MqttConnection(params, got.append)
    await conn.connect()
    return conn


async def test_device_cannot_touch_another_devices_topics(
    broker: Broker, signing_hub: Hub, tmp_path: Path
) -> None:
    got: list[Inbound] = []
    conn = await _connect_as_d1(broker, got)
    other = Topics(FLEET, "d2")
    # Mosquitto grants the SUBACK but never delivers what the ACL forbids
    for pattern in (other.command, other.confirm, f"lk/v1/{FLEET}/#"):
        await conn.subscribe([(pattern, 1)])
    mid = await signing_hub.send_command("d2", "order.cancel", {"order_id": "o", "reason": "r"})
    # a write to another device's topic: PUBACK "Not authorized" (Mosquitto 2.0.11 then also
    # drops the connection, or silently drops the message under MQTT 3.1.1)
    with pytest.raises(MqttError, match="Not authorized"):
        await conn.publish(other.events, _events("d2", 1))
    await asyncio.sleep(0.3)
    assert {m.topic for m in got} <= {Topics(FLEET, "d1").hub}  # the fleet-wide hub status only
    await conn.disconnect()
    conn = await _connect_as_d1(broker, got)
    await conn.publish(Topics(FLEET, "d1").events, _events("d1", 1))  # its own topic works
    await wait_for(lambda: signing_hub.applied == 1, 10, "d1's own event")
    await conn.disconnect()
    assert signing_hub._store.event_seqs(FLEET, "d2") == []
    assert signing_hub._store.event_seqs(FLEET, "d1") == [1]
    assert (await asyncio.to_thread(signing_hub._store.command, mid)) == ("pending", None, {})
