"""A running agent plus the supervision, staff and door-help services, served over real HTTP.

The services are built here the way `agent/bootstrap/app.py` wires them, on the agent's own
database,
simulated doors and manual clock, so the tests do not depend on the composition root's timing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent.api.context import ApiContext
from agent.api.staff_routes import door_tool_routes
from agent.api.web import make_web_app
from agent.domain.attempts import AttemptPolicy
from agent.domain.clock import ManualClock
from agent.services.attempts import AttemptGate
from agent.services.door_help import DoorHelpService
from agent.services.pickup import PickupService
from agent.services.sessions import Role
from agent.services.staff import StaffService
from agent.services.supervision import DoorSupervisor
from agent.services.supervision_records import SupervisionPolicy
from agent.tokens.typed_codes import code_lookup_key
from hardware.doors.sim import SimulatedLocker
from tests.agent.conftest import RunningAgent, start_agent

GRACE_S = 60.0


@dataclass
class Locker:
    running: RunningAgent
    supervisor: DoorSupervisor
    staff: StaffService
    help: DoorHelpService
    pickup: PickupService
    runner: web.AppRunner
    url: str
    staff_session: str
    callbacks: list[tuple[str, int]] = field(default_factory=list)

    @property
    def sim(self) -> SimulatedLocker:
        return self.running.sim

    @property
    def clock(self) -> ManualClock:
        return self.running.clock

    async def request(
        self, method: str, path: str, body: object = None, *, staff: bool = False
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.staff_session}"} if staff else {}
        async with self.running.http.request(
            method, self.url + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: object = None, *, staff: bool = False) -> tuple[int, Any]:
        return await self.request("POST", path, body, staff=staff)

    async def get(self, path: str, *, staff: bool = False) -> tuple[int, Any]:
        return await self.request("GET", path, staff=staff)

    async def sweep(self, seconds: float = 0.0) -> list[str]:
        """Move the clock, poll once, return the alarm kinds raised."""
        self.clock.advance(seconds)
        return [a.kind for a in await self.supervisor.poll_once()]

    async def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        def query() -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(self.running.agent.config.database_path)
            try:
                return [tuple(r) for r in conn.execute(sql, params)]
            finally:
                conn.close()

        return await asyncio.to_thread(query)


async def start_locker(data_dir: Path) -> Locker:
    running = await start_agent(data_dir, serve=False)
    agent = running.agent
    assert agent.sessions is not None
    assert agent.status is not None
    calls: list[tuple[str, int]] = []

    def recorder(kind: str):  # type: ignore[no-untyped-def]
        async def record(door: int, now: float) -> None:
            del now
            calls.append((kind, door))

        return record

    supervisor = DoorSupervisor(
        agent.db,
        running.sim,
        running.clock,
        SupervisionPolicy(),
        on_door_fault=recorder("fault"),
        on_door_closed=recorder("closed"),
    )
    secret = agent.typed_code_secret

    def key(code: str) -> str:
        return code_lookup_key(code, secret)

    attempts = AttemptGate(agent.db, running.clock, AttemptPolicy())
    pickup = PickupService(
        agent.db,
        running.sim,
        running.clock,
        typed_code_key=key,
        attempts=attempts,
        reopen_grace_s=GRACE_S,
    )
    staff = StaffService(
        agent.db, running.sim, running.sim, running.clock, on_fault_cleared=recorder("cleared")
    )
    door_help = DoorHelpService(
        agent.db,
        running.sim,
        running.clock,
        supervisor,
        typed_code_key=key,
        attempts=attempts,
        grace_s=GRACE_S,
    )
    context = ApiContext(
        pickup=pickup,
        sessions=agent.sessions,
        status=agent.status.snapshot,
        locker_id=agent.config.locker.id,
        version=agent.version,
        extra_routes=(door_tool_routes(staff, door_help),),
    )
    runner = web.AppRunner(make_web_app(context), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    session = agent.sessions.open_session("staff-42", Role.STAFF)
    await supervisor.poll_once()  # baseline: every door read once
    return Locker(
        running,
        supervisor,
        staff,
        door_help,
        pickup,
        runner,
        f"http://127.0.0.1:{port}",
        session.session_id,
        calls,
    )


@pytest.fixture
async def locker(tmp_path: Path) -> AsyncIterator[Locker]:
    started = await start_locker(tmp_path / "data")
    try:
        yield started
    finally:
        await started.runner.cleanup()
        await started.running.http.close()
        await started.running.agent.stop()
