"""Typed-code key rotation of a running agent: no restart, no event lost, old codes till retired."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import demo_config, seed_orders
from agent.domain.clock import ManualClock
from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy
from agent.tokens.typed_codes import code_key_id, parse_code_keys
from hardware.doors.sim import SimulatedLocker
from provisioning import enroll
from provisioning.cli import main
from provisioning.errors import ExitStatus
from tests.agent.conftest import start_agent

LOCKER = "LCK-ROT"
HOUR = 3600.0


async def _pickup(http: aiohttp.ClientSession, url: str, code: str) -> int:
    async with http.post(url + "/api/v1/pickup/code", json={"code": code}) as response:
        return response.status


def _admin(*argv: str) -> int:
    return main(list(argv))


def _outbox_seqs(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [int(r[0]) for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    finally:
        conn.close()


async def _wait_for(predicate: Callable[[], bool]) -> None:
    for _ in range(100):  # the agent re-reads the file every 0.1 s
        if predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail("the agent did not pick up the new key file")


async def test_rotating_the_typed_code_key_of_a_running_locker(tmp_path: Path) -> None:
    enrolled = tmp_path / "enrolled"
    enroll.enroll_device(enrolled, LOCKER, "acme", "mqtts://hub.invalid:8883")
    hub_file = enrolled / LOCKER / "typed-code.key"
    device_file = tmp_path / "device-typed-code.key"
    shutil.copyfile(hub_file, device_file)
    old_key = enroll.read_code_key(hub_file)

    config = demo_config(tmp_path / "data", port=0)
    config = config.model_copy(
        update={
            "locker": config.locker.model_copy(update={"id": LOCKER}),
            "typed_codes": config.typed_codes.model_copy(
                update={"key_file": device_file, "reload_s": 0.1}
            ),
        }
    )
    clock = ManualClock(time.time())
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=clock, hardware=DoorHardware(sim, sim))
    await agent.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop))
    http = aiohttp.ClientSession()
    url = (agent.url or "").rstrip("/")
    one = [(DoorSize.S, OrderPolicy())]
    try:
        # an order whose code the hub made with the old key, outstanding through the rotation
        before = await agent.db.run(seed_orders, old_key, now=clock.now(), hold_s=48 * HOUR,
                                    orders=one * 2)  # fmt: skip
        assert agent.typed_code_secret == old_key

        # stage: the locker accepts both; the hub still makes codes with the old key
        assert _admin("device", "rotate-code-key", "--enrolled", str(enrolled), "--locker",
                      LOCKER, "--step", "stage") == 0  # fmt: skip
        assert enroll.read_code_key(hub_file) == old_key
        shutil.copyfile(hub_file, device_file)  # what the admin copies to the locker
        new_key = parse_code_keys(hub_file.read_text())[1]
        ring = agent.typed_code_keys
        assert ring is not None
        await _wait_for(lambda: len(ring.key_ids) == 2)

        # activate: the hub makes new codes with the new key; both kinds open doors
        assert _admin("device", "rotate-code-key", "--enrolled", str(enrolled), "--locker",
                      LOCKER, "--step", "activate") == 0  # fmt: skip
        assert enroll.read_code_key(hub_file) == new_key
        shutil.copyfile(hub_file, device_file)
        await _wait_for(lambda: agent.typed_code_secret == new_key)
        after = await agent.db.run(seed_orders, new_key, now=clock.now(), hold_s=48 * HOUR,
                                   orders=one)  # fmt: skip
        assert await _pickup(http, url, before[0].code) == 200
        assert await _pickup(http, url, after[0].code) == 200

        # retire too early is refused: an old code may still be outstanding
        too_early = _admin("device", "rotate-code-key", "--enrolled", str(enrolled), "--locker",
                           LOCKER, "--step", "retire", "--max-hold-hours", "48")  # fmt: skip
        assert too_early == ExitStatus.USAGE
        assert _admin("device", "rotate-code-key", "--enrolled", str(enrolled), "--locker",
                      LOCKER, "--step", "retire", "--force") == 0  # fmt: skip
        shutil.copyfile(hub_file, device_file)
        await _wait_for(lambda: len(ring.key_ids) == 1)
        assert await _pickup(http, url, before[1].code) == 404  # the old key is gone
        assert old_key.hex() not in device_file.read_text()

        status = await (await http.get(url + "/api/v1/status")).json()
        assert status["typed_code_keys"] == [code_key_id(new_key)]
    finally:
        stop.set()
        await serving
        await http.close()
        await agent.stop()
    db = config.locker.data_dir / "agent.db"
    conn = sqlite3.connect(db)
    rotated = [json.loads(r[0]) for r in conn.execute(
        "SELECT detail FROM audit WHERE action = 'secret.rotated' ORDER BY seq")]  # fmt: skip
    conn.close()
    assert [len(r["keys"]) for r in rotated] == [2, 2, 1]  # the ids, never a key
    assert all(old_key.hex() not in json.dumps(r) for r in rotated)
    seqs = _outbox_seqs(db)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no event lost on the way


def test_rotate_all_shows_progress_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enrolled = tmp_path / "enrolled"
    for i in range(5):
        enroll.enroll_device(enrolled, f"LCK-{i}", "acme", "mqtts://hub.invalid:8883")
    assert _admin("rotate", "--all", "--enrolled", str(enrolled), "--step", "stage") == 0
    out = capsys.readouterr().out
    assert "5/5" in out
    assert "rotation: 5 done, 0 failed" in out
    for i in range(5):
        assert len(parse_code_keys((enrolled / f"LCK-{i}" / "typed-code.key").read_text())) == 2
    # staging twice fails per locker, is reported, and the run goes on
    assert _admin("rotate", "--all", "--enrolled", str(enrolled), "--step", "stage") == 1
    assert "5 failed" in capsys.readouterr().out


async def test_an_unusable_key_file_leaves_the_ring_in_force(tmp_path: Path) -> None:
    running = await start_agent(tmp_path / "data", seed=False, serve=False)
    try:
        ring = running.agent.typed_code_keys
        assert ring is not None
        before = ring.key_ids
        ring.path.write_text("not hex\n")  # a half-copied or wrong file
        assert not await ring.reload(running.agent.db, running.clock)
        ring.path.write_text("")
        assert not await ring.reload(running.agent.db, running.clock)
        assert ring.key_ids == before  # codes keep working on the keys in force
    finally:
        await running.close()
