"""`locker-agent run` SIGKILLed while it drains a large outbox: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cli.demo import DEMO_LOCKER_ID
from agent.store import journal
from agent.store.db import Database
from provisioning.fleet import DemoFleet
from tests.integration.conftest import (
    FLEET,
    Broker,
    hub_config,
    hub_events,
    outbox_rows,
    start_hub,
    stop_hub,
    wait_for,
)

EVENTS = 20_000


def _fill(conn: sqlite3.Connection, count: int, now: float) -> None:
    for n in range(count):
        journal.record(conn, "test.backlog", {"n": n}, now=now + n / 1000)


async def _prepare(
    data_dir: Path, broker: Broker, fleet: DemoFleet
) -> tuple[Path, list[tuple[int, str]]]:
    """A data folder whose outbox already holds `EVENTS` committed events, and its config."""
    db = Database(data_dir / "agent.db")
    await db.open()
    try:
        await db.run(_fill, EVENTS, time.time() - 3600)
        queued = [(e.seq, e.transaction_id) for e in await db.read(outbox_rows)]
    finally:
        await db.close()
    hub = hub_config(broker, data_dir.parent / "secrets")
    config = data_dir.parent / "agent.toml"
    config.write_text(
        f'[locker]\nid = "{DEMO_LOCKER_ID}"\ndata_dir = "{data_dir}"\n\n'
        '[api]\nhost = "127.0.0.1"\nport = 0\n\n[camera]\nenabled = false\n\n'
        '[doors.driver]\ntype = "simulator"\n\n'
        # the trust bundle holds the hub's command key, which signs the hub's confirms
        f"[trust]\nroot_keys = {[str(p) for p in fleet.root_public_paths]}\n"
        f'bundle = "{fleet.bundle_path}"\n\n'
        f'[hub]\nurl = "{hub.url}"\nfleet = "{FLEET}"\nusername = "{hub.username}"\n'
        f'password_file = "{hub.password_file}"\n',
        encoding="utf-8",
    )
    return config, queued


def _spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)],
            stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def _agent_outbox(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [int(r[0]) for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    finally:
        conn.close()


@pytest.mark.slow
async def test_an_agent_killed_mid_drain_delivers_every_event_exactly_once(
    tmp_path: Path, broker: Broker, fleet: DemoFleet
) -> None:
    data_dir = tmp_path / "data"
    config, queued = await _prepare(data_dir, broker, fleet)
    assert [seq for seq, _ in queued] == list(range(1, EVENTS + 1))
    hub = await start_hub(broker, tmp_path / "hub.db", sign_key=fleet.command_key,
                          agent_data=data_dir)  # fmt: skip
    log = tmp_path / "agent.log"
    proc = _spawn(config, log)
    try:
        await wait_for(lambda: hub.hub.applied >= 1000, 30, "the drain to start")
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
        stored_at_kill = hub.hub.applied
        assert stored_at_kill < EVENTS, "drained before the kill: the test proves nothing"
        left = await asyncio.to_thread(_agent_outbox, data_dir / "agent.db")
        # rows are deleted only after the hub confirmed them: what is left starts at or below
        # the first event the hub does not have yet
        assert left
        assert left[0] <= stored_at_kill + 1
        assert left[-1] >= EVENTS

        proc = _spawn(config, log)

        async def delivered() -> bool:
            return not await asyncio.to_thread(_agent_outbox, data_dir / "agent.db")

        await wait_for(delivered, 40, "the restarted agent to drain its outbox")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        await stop_hub(hub)

    stored = await asyncio.to_thread(hub_events, tmp_path / "hub.db")
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))  # gapless, each once
    assert [(e.seq, e.transaction_id) for e in stored[:EVENTS]] == queued
    assert [e.body for e in stored[:EVENTS]] == [{"n": n} for n in range(EVENTS)]
    # anything after the backlog is what the agent itself recorded while running
    assert all(e.kind != "test.backlog" for e in stored[EVENTS:])
