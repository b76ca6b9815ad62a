"""The compartment check decides pickups a real SIGKILL interrupted (issue 16 item 3, 17 item 5).

`locker-agent run` with a 4 s simulated relay pulse and evidence photos on (the simulated
compartment camera reads its scene from a file, so the test says what lies where across the
crash). Two customers enter their codes; the agent is SIGKILLed while both doors are being
opened. Before the restart one parcel is gone (the customer took it) and one is still there:
after the restart the first order is a completed pickup (`door.open_concluded`, its code is
"already used"), the second is collectable again and its code opens the door. Without a
compartment camera the same crash leaves both to staff (`tests/agent/test_recovery.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from agent.bootstrap.app import Agent
from agent.cli.demo import seed_orders
from agent.config.loader import load_config
from agent.domain.clock import ManualClock
from agent.domain.doors import DoorSize
from agent.domain.orders import OrderPolicy
from provisioning import device_ca
from tests.hub_sync.conftest import free_port, wait_for
from tests.reliability.chaos_records import AGENT_ID


def _write_config(root: Path, data: Path, port: int) -> Path:
    ca = device_ca.create_ca("fleet-int", now=time.time())
    device_ca.write_device_credentials(ca, AGENT_ID, data, now=time.time())
    key = root / "typed-code.key"
    key.write_text("cd" * 32 + "\n")
    key.chmod(0o600)
    config = root / "agent.toml"
    config.write_text(
        f'[locker]\nid = "{AGENT_ID}"\ndata_dir = "{data}"\n\n'
        f'[api]\nhost = "127.0.0.1"\nport = {port}\n\n'
        "[camera]\nenabled = false\n\n"
        '[doors.driver]\ntype = "simulator"\nrelay_pulse_ms = 4000\n\n'
        "[evidence]\nenabled = true\nwidth = 640\nheight = 360\n"
        f'simulator_scene = "{root / "scene.json"}"\n\n'
        f'[typed_codes]\nkey_file = "{key}"\n',
        encoding="utf-8",
    )
    return config


async def _prepare(config_path: Path, scene: Path) -> list[tuple[str, int, str]]:
    """Two loaded orders, their doors photographed empty first (as a courier's load does)."""
    config = load_config(config_path)
    agent = Agent(config, clock=ManualClock(time.time()))
    await agent.start()
    try:
        orders = await agent.db.run(
            seed_orders, agent.typed_code_secret, now=agent.clock.now(), hold_s=86400,
            orders=[(DoorSize.S, OrderPolicy()), (DoorSize.S, OrderPolicy())],
        )  # fmt: skip
        for o in orders:  # the empty reference of each door
            await agent.evidence.door_opened("courier_load", door=o.door, order_ref=o.order_id)
        scene_text = json.dumps({str(o.door): "box" for o in orders})
        await asyncio.to_thread(scene.write_text, scene_text)
        for o in orders:
            await agent.evidence.door_closed(o.door)
    finally:
        await agent.stop()
    return [(o.order_id, o.door, o.code) for o in orders]


def _spawn(root: Path, config: Path) -> subprocess.Popen[bytes]:
    with (root / "agent.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)],
            stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def _rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [tuple(r) for r in conn.execute(query).fetchall()]


async def test_the_compartment_check_decides_pickups_a_sigkill_interrupted(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = await asyncio.to_thread(_write_config, tmp_path, data, port)
    scene = tmp_path / "scene.json"
    (taken, door_taken, code_taken), (left, door_left, code_left) = await _prepare(config, scene)
    db = data / "agent.db"
    proc = await asyncio.to_thread(_spawn, tmp_path, config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

            async def up() -> bool:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{base}/api/v1/health") as r:
                        return r.status == 200
                return False

            await wait_for(up, 30, "the agent")

            async def pickup(code: str) -> tuple[int, dict[str, object]]:
                async with http.post(f"{base}/api/v1/pickup/code", json={"code": code}) as r:
                    return r.status, await r.json()

            calls = [asyncio.create_task(pickup(c)) for c in (code_taken, code_left)]

            def both_opening() -> bool:
                q = "SELECT COUNT(*) FROM door_openings WHERE result IS NULL AND purpose = 'pickup'"
                return _rows(db, q)[0][0] == 2

            await wait_for(both_opening, 10, "both doors to be commanded")
            proc.send_signal(signal.SIGKILL)  # mid-pulse: neither opening finished
            await asyncio.to_thread(proc.wait, 10)
            for c in calls:
                c.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            # one customer took the parcel, the other's is still in its compartment
            await asyncio.to_thread(scene.write_text, json.dumps({str(door_left): "box"}))
            proc = await asyncio.to_thread(_spawn, tmp_path, config)
            await wait_for(up, 30, "the agent after the crash")
            status, body = await pickup(code_taken)
            assert (status, body["error"]) == (409, "ALREADY_USED")
            status, body = await pickup(code_left)
            assert status == 200, body  # the customer's retry opens the door
        concluded = _rows(db, "SELECT detail FROM audit WHERE action = 'door.open_concluded'")
        outcomes = {json.loads(str(r[0]))["order"]: json.loads(str(r[0])) for r in concluded}
        assert outcomes[taken]["outcome"] == "collected"
        assert outcomes[left]["outcome"] == "collectable"
        assert outcomes[taken]["door"] == door_taken
        photos = _rows(db, "SELECT order_ref, occupied FROM evidence_photos"
                           " WHERE event = 'interrupted_opening' ORDER BY order_ref")  # fmt: skip
        assert sorted(photos) == sorted([(taken, 0), (left, 1)])
        rows = _rows(db, "SELECT order_id, needs_attention FROM orders")
        states = {r[0]: r[1] for r in rows}
        assert states[taken] is None
        assert states[left] is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
