"""The compressed soak: hours of locker traffic in minutes, measuring memory and descriptors.

One process holds the agent (real SQLite, simulated doors, the simulated camera feeding the real
decode pipeline) and drives it; a real Mosquitto (anonymous, on 127.0.0.1 only) and the reference
hub (`locker-admin hub run`) are child processes, so the figures are the agent's own:
each round the courier loads parcels, customers collect them (every other one by showing the
token to the camera, the others by typing the code over HTTP), the doors are shut, and the
agent's injected clock moves on `step_s` (10 simulated minutes by default). Events sync to the
hub all the while. RSS (VmRSS) and open descriptors of this process are sampled every round.

`bench/soak.py` runs it (`--seconds`, `--json`); `tests/reliability/test_soak.py` runs that
script as a child process, so the figures are those of a process doing only this.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import DEMO_LOCKER_ID, demo_config
from agent.config.hub import HubConfig
from agent.config.model import AgentConfig
from agent.domain.clock import ManualClock
from agent.domain.doors import DoorSize
from agent.services.orders import Announcement, announce_order, load_into_door
from agent.store.audit import DEVICE_KEY_FILE, load_or_create_device_key
from agent.tokens.typed_codes import code_lookup_key, display_code, new_typed_code
from hardware.camera.sim import SimulatedCamera
from hardware.doors.sim import SimulatedLocker
from provisioning.fleet import DemoFleet, create_demo_fleet

AGENT_ID, FLEET = DEMO_LOCKER_ID, "soak"

HOLD_S = 3 * 86_400
PER_ROUND = 4


@dataclass(slots=True)
class SoakFigures:
    rounds: int = 0
    simulated_hours: float = 0.0
    pickups_code: int = 0
    pickups_camera: int = 0
    refused: int = 0
    rss_mb: list[float] = field(default_factory=list)
    anon_mb: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    outbox_depth_end: int = -1
    frames: int = 0

    def summary(self) -> dict[str, object]:
        warm = max(1, len(self.rss_mb) // 4)  # imports, caches and pools settle first
        base_rss, base_fds = self.rss_mb[warm - 1], self.fds[warm - 1]
        tail = self.rss_mb[-warm:]
        return {
            "rounds": self.rounds,
            "simulated_hours": round(self.simulated_hours, 1),
            "pickups_code": self.pickups_code,
            "pickups_camera": self.pickups_camera,
            "refused": self.refused,
            "frames_decoded": self.frames,
            "rss_mb_start": round(self.rss_mb[0], 1),
            "rss_mb_after_warmup": round(base_rss, 1),
            "rss_mb_max": round(max(self.rss_mb), 1),
            "rss_mb_end": round(self.rss_mb[-1], 1),
            "rss_growth_after_warmup": round(max(tail) / base_rss - 1, 4),
            # the process's own memory (heap, frames), without the shared libraries' file pages,
            # whose resident share depends on the kernel's page cache, not on the agent
            "anon_mb_max": round(max(self.anon_mb), 1),
            "fds_after_warmup": base_fds,
            "fds_end": self.fds[-1],
            "fds_max": max(self.fds),
            "outbox_depth_end": self.outbox_depth_end,
        }


def rss_mb(field: str = "VmRSS") -> float:
    """`VmRSS` (all resident pages) or `RssAnon` (the process's own) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Soak:
    def __init__(self, root: Path, *, seed: int = 7, step_s: float = 600.0) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.step_s = step_s
        self.clock = ManualClock(time.time())
        self.figures = SoakFigures()
        self.broker_port = _free_port()
        self.children: list[subprocess.Popen[bytes]] = []
        self.camera = SimulatedCamera(fps=10)
        self.fleet: DemoFleet | None = None

    async def run(self, seconds: float) -> SoakFigures:
        try:
            self.fleet = await asyncio.to_thread(
                create_demo_fleet, self.root / "fleet", AGENT_ID, time.time()
            )
            await asyncio.to_thread(self._start_children, self.fleet)
            await self._with_agent(seconds)
        finally:
            for child in reversed(self.children):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
                    await asyncio.to_thread(child.wait, 10)
        return self.figures

    def _start_children(self, fleet: DemoFleet) -> None:
        broker = self.root / "broker"
        broker.mkdir(parents=True)
        conf = broker / "mosquitto.conf"
        conf.write_text(
            f"listener {self.broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {broker / 'mosquitto.log'}\n"
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.children.append(subprocess.Popen([exe, "-c", str(conf)]))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.broker_port), 0.2),
            ):
                break
            time.sleep(0.05)
        hub = [str(Path(sys.executable).parent / "locker-admin"), "hub", "run", "--db",
               str(self.root / "hub.db"), "--fleet", FLEET,
               "--broker", f"mqtt://127.0.0.1:{self.broker_port}",
               "--sign-key", str(fleet.command_key_path)]  # fmt: skip
        # the hub stores only events signed by the locker's device key: record it first (the
        # agent then loads the same file)
        locker = self.config().locker
        load_or_create_device_key(locker.data_dir / DEVICE_KEY_FILE)
        subprocess.run(
            [hub[0], "hub", "device-key", "--db", str(self.root / "hub.db"), "--fleet", FLEET,
             "--device", locker.id, "--public-key", str(locker.data_dir / DEVICE_KEY_FILE)],
            check=True, capture_output=True,
        )  # fmt: skip
        with (self.root / "hub.log").open("wb") as log:
            self.children.append(subprocess.Popen(hub, stdout=log, stderr=log))

    def config(self) -> AgentConfig:
        assert self.fleet is not None
        config = demo_config(self.root / "data", port=0, fleet=self.fleet)
        hub = HubConfig(url=f"mqtt://127.0.0.1:{self.broker_port}", fleet=FLEET)
        return config.model_copy(
            update={
                "hub": hub,
                "camera": config.camera.model_copy(update={"enabled": True}),
                "supervision": config.supervision.model_copy(update={"poll_ms": 50}),
            }
        )

    async def _with_agent(self, seconds: float) -> None:
        config = self.config()
        sim = SimulatedLocker(len(config.doors.layout()))
        agent = Agent(config, clock=self.clock, hardware=DoorHardware(sim, sim), camera=self.camera)
        await agent.start()
        stop = asyncio.Event()
        serving = asyncio.create_task(agent.serve(stop), name="soak-agent")
        try:
            async with aiohttp.ClientSession() as http:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    await self._round(agent, sim, http)
                    self.clock.advance(self.step_s)
                    self.figures.rounds += 1
                    self.figures.simulated_hours += self.step_s / 3600
                    self.figures.rss_mb.append(rss_mb())
                    self.figures.anon_mb.append(rss_mb("RssAnon"))
                    self.figures.fds.append(open_fds())
            if agent.sync is not None:
                self.figures.outbox_depth_end = agent.sync.stats().outbox_depth
            if agent.scanner is not None:
                self.figures.frames = agent.scanner.health().frames
        finally:
            stop.set()
            await serving
            await agent.stop()

    async def _round(self, agent: Agent, sim: SimulatedLocker, http: aiohttp.ClientSession) -> None:
        assert self.fleet is not None
        now = self.clock.now()
        parcels = []
        for _ in range(PER_ROUND):
            code = display_code(new_typed_code(self.rng))
            order_id = f"SOAK-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:12].upper()}"
            ann = Announcement(order_id, self.rng.choice(list(DoorSize)), HOLD_S,
                               code_key=code_lookup_key(code, agent.typed_code_secret))  # fmt: skip
            await agent.db.run(announce_order, ann, now=now)
            order = await agent.db.run(load_into_door, order_id, now=now, actor="soak-courier")
            token = self.fleet.mint_pickup(order_id, now=now, hold_s=HOLD_S)
            parcels.append((order.door, code, token))
        assert agent.url is not None
        base = agent.url.rstrip("/")
        for i, (door, code, token) in enumerate(parcels):
            assert door is not None
            if i % 2 == 0:
                self.camera.show_payload(token, carrier="phone", seed=i)
                opened = await _until(lambda d=door: sim.is_open(d), 8)
                self.camera.show_nothing()
                self.figures.pickups_camera += int(opened)
            else:
                async with http.post(f"{base}/api/v1/pickup/code", json={"code": code}) as r:
                    opened = r.status == 200
                self.figures.pickups_code += int(opened)
            self.figures.refused += int(not opened)
            await asyncio.sleep(0.15)  # the supervisor sees the door open ...
            sim.close_door(door)  # ... and the customer shuts it
        await asyncio.sleep(0.15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(predicate: object, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False
