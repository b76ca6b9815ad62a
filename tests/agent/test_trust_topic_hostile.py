"""The retained trust topic under attack: whatever a broker publisher puts there, the locker writes
nothing for it, keeps its bundle, and a rollback or a bundle no root signed is refused.

The trust topic is not hub-signed (the bundle is signed by the fleet's roots), so anyone who can
publish there can send any number of distinct payloads: junk, or the fleet's own retained bundle
under another `version` field. Each one used to claim an inbox row and write an audit entry in
a write transaction of its own, so a flood grew the database (and held its write lock) without
limit. In process: the agent's real `HubCommands` behind the real `CommandHandler`.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.services.hub_link import HubCommands
from hub_sync.device.commands import CommandHandler
from hub_sync.errors import WireError
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.signing import CommandVerifier
from provisioning.fleet import BUNDLE_VALIDITY_S, DemoFleet, create_demo_fleet
from provisioning.keyfiles import load_descriptor, load_private_key
from provisioning.mint import build_bundle
from tests.agent.conftest import RunningAgent, start_agent

FLEET_ID = "demo"


@pytest.fixture
def demo_fleet(tmp_path: Path) -> DemoFleet:
    return create_demo_fleet(tmp_path / "fleet", "LK-DEMO-001", time.time())


@pytest.fixture
async def trusted(tmp_path: Path, demo_fleet: DemoFleet) -> AsyncIterator[RunningAgent]:
    running = await start_agent(tmp_path / "data", fleet=demo_fleet, seed=False, serve=False)
    try:
        yield running
    finally:
        await running.close()


def _handler(running: RunningAgent) -> CommandHandler:
    agent, services, trust = running.agent, running.agent.services, running.agent.trust
    assert services is not None
    assert trust is not None
    sink = HubCommands(agent.db, agent.clock, expiry=services.expiry, trust=trust,
                       remote_open=services.staff.open_for_hub, default_hold_s=3600.0)  # fmt: skip
    return CommandHandler(
        fleet=FLEET_ID,
        device="LK-DEMO-001",
        sink=sink,
        verifier=CommandVerifier(list, agent.clock.now),
        clock=agent.clock.now,
        refusals=RefusalLog(logging.getLogger("test.trust")),
    )


def _trust_message(bundle: bytes | str, version: int) -> bytes:
    text = bundle if isinstance(bundle, str) else base64.b64encode(bundle).decode("ascii")
    return json.dumps({
        "v": 1, "type": "trust", "message_id": f"m-{version}", "fleet": FLEET_ID,
        "device": "*", "sent_at": time.time(), "bundle": text, "version": version,
    }).encode()  # fmt: skip


def _bundle(fleet: DemoFleet, version: int, *, root_index: int = 0) -> bytes:
    root = load_private_key(fleet.root_private_paths[root_index])
    entries = [load_descriptor(fleet.directory / f"{n}.json") for n in ("issuing", "command")]
    return build_bundle(root, entries, version=version, now=time.time(), valid_s=BUNDLE_VALIDITY_S)


def _count_rows(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(inbox rows, audit entries, outbox events)."""
    inbox = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
    audit = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    return int(inbox), int(audit), int(outbox)


async def _counts(running: RunningAgent) -> tuple[int, int, int]:
    return await running.agent.db.read(_count_rows)


async def test_a_flood_on_the_trust_topic_writes_nothing(
    trusted: RunningAgent, demo_fleet: DemoFleet
) -> None:
    handler = _handler(trusted)
    trust = trusted.agent.trust
    assert trust is not None
    assert trust.bundle is not None
    assert trust.bundle.version == 1
    before = await _counts(trusted)
    junk = [
        _trust_message(b"not a bundle", 2),
        _trust_message(b"\xd2\x84" + b"\x00" * 64, 3),  # a COSE_Sign1 tag, then nonsense
        _trust_message(_bundle(demo_fleet, 1)[:-3] + b"abc", 4),  # a broken signature
    ]
    # the fleet's own bundle, as retained on the topic, under other version fields
    same = [_trust_message(demo_fleet.bundle_bytes, v) for v in range(5, 45)]
    for payload in junk:
        with pytest.raises(WireError):  # refused: DeviceSync logs it once and carries on
            await handler.trust_bundle(payload)
    for payload in same:
        await handler.trust_bundle(payload)  # the bundle in force: nothing to do
    assert await _counts(trusted) == before
    assert trust.bundle.version == 1


def _not_from_a_root(fleet: DemoFleet) -> bytes:
    signer = load_private_key(fleet.issuing_key_path)  # a fleet key, but not a root
    entries = [load_descriptor(fleet.directory / f"{n}.json") for n in ("issuing", "command")]
    return build_bundle(signer, entries, version=9, now=time.time(), valid_s=BUNDLE_VALIDITY_S)


async def test_a_bundle_no_root_signed_is_refused_and_writes_nothing(
    trusted: RunningAgent, demo_fleet: DemoFleet
) -> None:
    handler = _handler(trusted)
    trust = trusted.agent.trust
    assert trust is not None
    before = await _counts(trusted)
    with pytest.raises(WireError):
        await handler.trust_bundle(_trust_message(_not_from_a_root(demo_fleet), 9))
    assert trust.bundle is not None
    assert trust.bundle.version == 1
    assert await _counts(trusted) == before


async def test_a_rollback_on_the_trust_topic_is_refused_and_the_newer_bundle_stays(
    trusted: RunningAgent, demo_fleet: DemoFleet
) -> None:
    handler = _handler(trusted)
    trust = trusted.agent.trust
    assert trust is not None
    await handler.trust_bundle(_trust_message(_bundle(demo_fleet, 3), 3))
    assert trust.bundle is not None
    assert trust.bundle.version == 3
    installed = await _counts(trusted)
    for version in (2, 1):
        with pytest.raises(WireError):
            await handler.trust_bundle(_trust_message(_bundle(demo_fleet, version), version))
    assert trust.bundle.version == 3
    assert await _counts(trusted) == installed
