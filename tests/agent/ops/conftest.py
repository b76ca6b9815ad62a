"""An agent for operations tests: real SQLite file, simulated doors, HTTP on a free port,
a courier PIN and a staff PIN, and a short jam check so fault tests stay fast."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.bootstrap.app import Agent, DoorHardware
from agent.config.evidence import EvidenceConfig
from agent.config.model import (
    AgentConfig,
    ApiConfig,
    LockerConfig,
    OperationsConfig,
    StaffPinConfig,
    TrustConfig,
)
from agent.domain.clock import ManualClock
from agent.domain.doors import DoorSize
from agent.domain.orders import Order, OrderPolicy
from agent.services.orders import Announcement
from agent.services.sessions import hash_pin
from agent.store.doors import list_doors
from agent.store.orders import get_order
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from hardware.doors.sim import SimulatedLocker

COURIER_PIN = "246810"
STAFF_PIN = "135790"
_PINS = (
    StaffPinConfig(actor="courier-7", role="courier", pin_hash=hash_pin(COURIER_PIN)),
    StaffPinConfig(actor="staff-3", role="staff", pin_hash=hash_pin(STAFF_PIN)),
)
JAM_CHECK_MS = 100
_RNG = random.Random(7)


@dataclass
class OpsAgent:
    agent: Agent
    sim: SimulatedLocker
    clock: ManualClock
    http: aiohttp.ClientSession
    courier: str = ""
    staff: str = ""

    @property
    def url(self) -> str:
        assert self.agent.url is not None
        return self.agent.url.rstrip("/")

    async def call(
        self, method: str, path: str, body: object = None, *, session: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {session}"} if session else {}
        async with self.http.request(
            method, self.url + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json()

    async def courier_post(self, path: str, body: object = None) -> tuple[int, Any]:
        return await self.call("POST", path, body if body is not None else {}, session=self.courier)

    async def staff_post(self, path: str, body: object) -> tuple[int, Any]:
        return await self.call("POST", path, body, session=self.staff)

    async def sign_in(self, pin: str) -> str:
        status, body = await self.call("POST", "/api/v1/staff/sign-in", {"pin": pin})
        assert status == 200, body
        return str(body["session"])

    async def sign_in_again(self) -> None:
        """New sessions after the clock moved past their lifetime."""
        self.courier = await self.sign_in(COURIER_PIN)
        self.staff = await self.sign_in(STAFF_PIN)

    async def announce(
        self,
        order_id: str,
        size: DoorSize = DoorSize.S,
        *,
        hold_s: float = 3 * 86400,
        parcels: tuple[str, ...] = ("P1",),
        policy: OrderPolicy | None = None,
    ) -> str:
        """Announce an order like the hub does; returns its typed code (display form)."""
        code = new_typed_code(_RNG)
        await self.agent.expiry.upsert_announcement(
            Announcement(
                order_id,
                size,
                hold_s,
                policy=policy or OrderPolicy(),
                parcels=parcels,
                code_key=code_lookup_key(code, self.agent.typed_code_secret),
            )
        )
        return display_code(code)

    def code_key(self, code: str) -> str:
        return code_lookup_key(code, self.agent.typed_code_secret)

    async def order(self, order_id: str) -> Order:
        found = await self.agent.db.read(get_order, order_id)
        assert found is not None
        return found

    async def events(self, kind: str | None = None) -> list[dict[str, object]]:
        """Outbox events (the hub's view), oldest first, each body with its `kind`."""

        def read(conn: sqlite3.Connection) -> list[dict[str, object]]:
            rows = conn.execute("SELECT kind, body FROM outbox ORDER BY seq").fetchall()
            return [{"kind": r[0], **json.loads(r[1])} for r in rows]

        found = await self.agent.db.read(read)
        return [e for e in found if kind is None or e["kind"] == kind]

    async def audit_actions(self) -> list[tuple[str, str]]:
        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            return [
                (str(r[0]), str(r[1])) for r in conn.execute("SELECT action, detail FROM audit")
            ]

        return await self.agent.db.read(read)

    async def load(self, label: str, size: str | None = None) -> dict[str, object]:
        body: dict[str, object] = {"label": label}
        if size:
            body["size"] = size
        status, answer = await self.courier_post("/api/v1/courier/load", body)
        assert status == 200, answer
        loaded: dict[str, object] = answer
        return loaded

    async def load_and_close(self, label: str, size: str | None = None) -> dict[str, object]:
        ticket = await self.load(label, size)
        self.sim.close_door(int(str(ticket["door"])))
        status, body = await self.courier_post(f"/api/v1/courier/load/{ticket['load']}/confirm")
        assert status == 200, body
        return ticket

    async def free_doors(self) -> set[int]:
        doors = await self.agent.db.read(list_doors)
        return {d.number for d in doors if d.assignable}


def ops_config(data_dir: Path, mode: str) -> AgentConfig:
    raw = {
        "locker": LockerConfig(id="LK-OPS-001", data_dir=data_dir, mode=mode),
        "api": ApiConfig(host="127.0.0.1", port=0),
        "operations": OperationsConfig(door_open_check_ms=JAM_CHECK_MS),
        "staff": _PINS,
    }
    config = AgentConfig(**raw)
    camera = config.camera.model_copy(update={"enabled": False})
    return config.model_copy(update={"camera": camera})


async def start_ops_agent(
    data_dir: Path,
    *,
    mode: str = "locker",
    clock: ManualClock | None = None,
    trust: TrustConfig | None = None,
    evidence: EvidenceConfig | None = None,
) -> OpsAgent:
    config = ops_config(data_dir, mode)
    if trust is not None:
        config = config.model_copy(update={"trust": trust})
    if evidence is not None:
        config = config.model_copy(update={"evidence": evidence})
    clock = clock or ManualClock(time.time())
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=clock, hardware=DoorHardware(sim, sim))
    await agent.start()
    ops = OpsAgent(agent, sim, clock, aiohttp.ClientSession())
    ops.courier = await ops.sign_in(COURIER_PIN)
    ops.staff = await ops.sign_in(STAFF_PIN)
    return ops


@contextlib.asynccontextmanager
async def running_ops_agent(
    data_dir: Path,
    *,
    mode: str = "locker",
    trust: TrustConfig | None = None,
    evidence: EvidenceConfig | None = None,
    clock: ManualClock | None = None,
) -> AsyncIterator[OpsAgent]:
    """`start_ops_agent`, stopped (and its HTTP session closed) on the way out."""
    running = await start_ops_agent(
        data_dir, mode=mode, trust=trust, evidence=evidence, clock=clock
    )
    try:
        yield running
    finally:
        await running.http.close()
        await running.agent.stop()


@pytest.fixture
async def ops(tmp_path: Path) -> AsyncIterator[OpsAgent]:
    async with running_ops_agent(tmp_path / "data") as running:
        yield running


@pytest.fixture
async def counter(tmp_path: Path) -> AsyncIterator[OpsAgent]:
    async with running_ops_agent(tmp_path / "data", mode="counter") as running:
        yield running
