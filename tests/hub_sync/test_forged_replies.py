"""Forged command replies do not answer a command: the reference hub against a real Mosquitto.

Whoever holds the broker (here: the hub's own credentials) can publish on a device's `reply`
topic. A reply the device did not sign for exactly that command (unsigned, signed by another
device's key, signed for another transaction, or an earlier genuine reply moved onto this
command) is dropped and counted; the command stays pending, is re-sent when the device comes
online, and the hub records the device's own answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from hub_sync.adapters.mqtt import Inbound, MqttConnection
from hub_sync.protocol.reply_sig import sign_reply
from hub_sync.protocol.wire import Header, Reply, Topics, decode_reply, encode_reply, new_message_id
from tests.hub_sync.conftest import (
    FLEET,
    Broker,
    RunningHub,
    broker_client,
    device_key,
    wait_for,
)
from tests.hub_sync.test_sync import make_device

TOPICS = Topics(FLEET, "d1")
OPEN = {"door": 2, "reason": "support call"}


@pytest.fixture
async def mallory(broker: Broker) -> AsyncIterator[tuple[MqttConnection, list[Inbound]]]:
    got: list[Inbound] = []
    conn = await broker_client(broker, "mallory", [TOPICS.reply], got)
    try:
        yield conn, got
    finally:
        await conn.disconnect()


def _reply(mid: str, tx: str, *, ok: bool, result: dict[str, object]) -> Reply:
    header = Header("reply", new_message_id(), FLEET, "d1", time.time())
    reason = None if ok else "DOOR_FAILED"
    return Reply(header, tx, mid, ok, reason, "", result)


async def _earlier_genuine_reply(
    hub: RunningHub, broker: Broker, tmp_path: Path, got: list[Inbound]
) -> Reply:
    """The device answers a first command while online; the broker holder keeps its reply."""
    rd = make_device(broker, tmp_path, "d1")
    rd.start()
    try:
        mid = await hub.hub.send_command("d1", "door.open", {"door": 1, "reason": "first"})
        assert (await hub.hub.wait_reply(mid, 10)).status == "ok"
        await wait_for(lambda: any(m.topic == TOPICS.reply for m in got), 5, "reply seen")
    finally:
        await rd.stop()
        await asyncio.to_thread(rd.device.close)
    return decode_reply(next(m.payload for m in got if m.topic == TOPICS.reply))


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("unsigned", "SIG_MISSING"), id="unsigned"),
        pytest.param(("another_devices_key", "BAD_SIGNATURE"), id="another_devices_key"),
        pytest.param(("another_transaction", "UNKNOWN_COMMAND"), id="another_transaction"),
        pytest.param(("earlier_reply_moved", "BAD_SIGNATURE"), id="earlier_reply_moved"),
    ],
)
async def test_a_forged_reply_is_dropped_and_the_command_is_still_applied(
    broker: Broker,
    hub: RunningHub,
    mallory: tuple[MqttConnection, list[Inbound]],
    tmp_path: Path,
    case: tuple[str, str],
) -> None:
    variant, refused_as = case
    conn, got = mallory
    earlier = None
    if variant == "earlier_reply_moved":
        earlier = await _earlier_genuine_reply(hub, broker, tmp_path, got)
    # the device is offline: the broker holder answers first
    mid = await hub.hub.send_command("d1", "door.open", OPEN, transaction_id="tx-open-2")
    forged = _reply(mid, "tx-open-2", ok=True, result={"door": 9})
    if variant == "another_devices_key":
        forged = replace(forged, sig=sign_reply(device_key("d2"), forged))
    elif variant == "another_transaction":
        other = replace(forged, transaction_id="tx-other")
        forged = replace(other, sig=sign_reply(device_key("d1"), other))
    elif earlier is not None:  # d1's genuine signature, over another command's answer
        forged = replace(earlier, command_message_id=mid, transaction_id="tx-open-2")
    await conn.publish(TOPICS.reply, encode_reply(forged))
    if earlier is not None:  # and the earlier reply replayed as it was: it answers nothing new
        await conn.publish(TOPICS.reply, encode_reply(earlier))
    await wait_for(lambda: hub.hub.refusals.counts[("reply", refused_as)] == 1, 5, "refused")
    row = await asyncio.to_thread(hub.store.command, mid)
    assert row is not None
    assert row[0] == "pending"

    rd = make_device(broker, tmp_path, "d1")  # back online: the hub re-sends, the device applies
    rd.start()
    try:
        outcome = await hub.hub.wait_reply(mid, 10)
        assert ("tx-open-2", 2) in await asyncio.to_thread(rd.device.door_opens)
    finally:
        await rd.stop()
        await asyncio.to_thread(rd.device.close)
    assert (outcome.status, dict(outcome.result)) == ("ok", {"door": 2})
    assert await asyncio.to_thread(hub.store.command, mid) == ("ok", None, {"door": 2})
    assert hub.hub.refusals.total == 1
