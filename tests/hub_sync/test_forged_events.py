"""Forged events are not stored: the reference hub against a real Mosquitto.

Whoever holds the broker (here: the hub's own credentials) can publish on a device's `evt` topic.
An events message the device did not sign exactly as it is (unsigned, signed by another device's
key, altered after signing, or a genuine signature under another device's header) is refused and
counted: nothing of it is stored or confirmed, and the real device's events, sent afterwards under
the same seqs, all arrive exactly once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub_sync.adapters.mqtt import Inbound, MqttConnection
from hub_sync.protocol.wire import Topics
from tests.hub_sync.conftest import (
    FLEET,
    Broker,
    RunningHub,
    broker_client,
    wait_for,
)
from tests.hub_sync.forged_events import VARIANTS, forgery
from tests.hub_sync.test_sync import backlog, make_device


@pytest.fixture
async def mallory(broker: Broker) -> AsyncIterator[tuple[MqttConnection, list[Inbound]]]:
    got: list[Inbound] = []
    conn = await broker_client(
        broker, "mallory", [Topics(FLEET, d).confirm for d in ("d1", "d2")], got
    )
    try:
        yield conn, got
    finally:
        await conn.disconnect()


def stored_events(path: Path, device: str) -> list[tuple[int, str, str]]:
    """(seq, kind, transaction id) of each event the hub stored for `device`."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT seq, kind, transaction_id FROM events WHERE fleet=? AND device=? ORDER BY seq",
            (FLEET, device),
        ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


@pytest.mark.parametrize("variant", VARIANTS)
async def test_a_forged_events_message_is_refused_and_the_devices_own_events_arrive_once(
    broker: Broker,
    hub: RunningHub,
    mallory: tuple[MqttConnection, list[Inbound]],
    tmp_path: Path,
    variant: str,
) -> None:
    conn, confirms = mallory
    forged = forgery(variant)
    await conn.publish(Topics(FLEET, forged.device).events, forged.payload)
    await wait_for(lambda: hub.hub.refusals.counts[("events", forged.reason)] == 1, 5, "refused")
    await asyncio.sleep(0.2)  # a confirm would have been published with the refusal
    assert confirms == []
    db = tmp_path / "hub.db"
    assert await asyncio.to_thread(stored_events, db, forged.device) == []
    assert hub.hub.applied == 0

    rd = make_device(broker, tmp_path, "d1")  # the locker's own events, under the same seqs
    await rd.device.append(backlog(10))
    rd.start()
    try:
        await wait_for(lambda: rd.sync.stats().confirmed_seq == 10, 20, "device drained")
    finally:
        await rd.stop()
        await asyncio.to_thread(rd.device.close)
    own = [(i + 1, "order.collected", f"tx-{i}") for i in range(10)]
    assert await asyncio.to_thread(stored_events, db, "d1") == own
    assert await asyncio.to_thread(stored_events, db, "d2") == []
    assert hub.hub.applied == 10
    assert hub.hub.refusals.total == 1
