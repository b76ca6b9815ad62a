"""The deployed agent's memory: `locker-agent run` as its own process, with its camera pipeline.

The compressed soak (`soak_rig.py`) holds the agent and its driver in one process, so its RSS
also counts the driver (the scene renderer, the fleet's minting tools, the hub client). This rig
measures the agent alone, started as the unit starts it (`python -m agent run --config`, the
unit's malloc settings): the crash loop's rig (`crash_rig.py`: real Mosquitto, the reference hub
signing commands, the fleet) with the camera on and doors that shut by themselves. The camera is
an MJPEG stream over HTTP that this process serves, so the agent captures with its real camera
driver (`OpenCvCamera`, as for an IP camera) and decodes with its real pipeline; the stream
shows each camera pickup's token the way `SimulatedCamera` renders it (a phone held into view).

Each round: the hub announces 4 orders (`order.upsert` with code material), the courier loads
them over HTTP, two are collected by showing the token to the camera (the hub then holds their
`order.collected`), two by typing the code. The agent's RSS, own memory (RssAnon) and open
descriptors are read from /proc after every round. Wall-clock time: the agent's clock is its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import cv2
import numpy as np
from aiohttp import web

from hardware.decoding.synthetic import params_for_category, render_scene
from tests.hub_sync.conftest import free_port
from tests.integration.conftest import hub_events
from tests.reliability.crash_rig import COURIER_PIN, CrashRig, Parcel
from tests.reliability.soak_rig import PER_ROUND

FRAME_SIZE = (1280, 720)
FPS = 10.0
AUTO_CLOSE_MS = 300
_BOUNDARY = "frame"


@dataclass(slots=True)
class DeployedFigures:
    rounds: int = 0
    pickups_code: int = 0
    pickups_camera: int = 0
    refused: int = 0
    loads: int = 0
    rss_mb: list[float] = field(default_factory=list)
    anon_mb: list[float] = field(default_factory=list)
    file_mb: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    by_mapping: dict[str, float] = field(default_factory=dict)
    page_cache: str = "as installed"  # or "dropped" (as after a reboot)

    def summary(self) -> dict[str, object]:
        if not self.rss_mb:
            return {"rounds": self.rounds, "problems": self.problems}
        warm = max(1, len(self.rss_mb) // 4)  # imports, caches and pools settle first
        base_rss, base_fds = self.rss_mb[warm - 1], self.fds[warm - 1]
        return {
            "process": "locker-agent run",
            "page_cache": self.page_cache,
            "rounds": self.rounds,
            "loads": self.loads,
            "pickups_code": self.pickups_code,
            "pickups_camera": self.pickups_camera,
            "refused": self.refused,
            "rss_mb_start": round(self.rss_mb[0], 1),
            "rss_mb_after_warmup": round(base_rss, 1),
            "rss_mb_max": round(max(self.rss_mb), 1),
            "rss_mb_end": round(self.rss_mb[-1], 1),
            "rss_growth_after_warmup": round(max(self.rss_mb[-warm:]) / base_rss - 1, 4),
            "anon_mb_max": round(max(self.anon_mb), 1),
            "file_mb_max": round(max(self.file_mb), 1),
            "fds_after_warmup": base_fds,
            "fds_end": self.fds[-1],
            "fds_max": max(self.fds),
            "problems": self.problems[:10],
            "resident_mb_by_mapping": self.by_mapping,
        }


def process_memory(pid: int) -> tuple[float, float, float, int]:
    """VmRSS, RssAnon and RssFile (MB) and the open descriptors of process `pid`."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            values[name] = int(rest.split()[0]) / 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return values["VmRSS"], values["RssAnon"], values["RssFile"], fds


def resident_by_mapping(pid: int, top: int = 12) -> dict[str, float]:
    """Where the resident pages of process `pid` are (MB, largest first): each library (a
    package's files together), `[heap]`, and `[anon]` (Python's object arenas, frames)."""
    resident: Counter[str] = Counter()
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split(None, 5)
            path = parts[5].strip() if len(parts) > 5 else "[anon]"
            package = re.search(r"site-packages/([^/]+)", path)
            name = package.group(1) if package else path.rsplit("/", 1)[-1]
        elif line.startswith("Rss:"):
            resident[name] += int(line.split()[1])
    return {k: round(v / 1024, 1) for k, v in resident.most_common(top)}


class CameraStream:
    """An MJPEG stream over HTTP (`multipart/x-mixed-replace`) of what the camera sees."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._jpeg = self._encode(None, 0)
        self._runner: web.AppRunner | None = None

    def show(self, text: str | None, seed: int = 0) -> None:
        """Show `text` as a QR code on a phone (None: the empty scene). Blocking: a thread."""
        jpeg = self._encode(text, seed)
        with self._lock:
            self._jpeg = jpeg

    @staticmethod
    def _encode(text: str | None, seed: int) -> bytes:
        rng = np.random.default_rng([seed, 7])
        params = replace(params_for_category("nominal", 0, rng), carrier="phone")
        ok, jpeg = cv2.imencode(".jpg", render_scene(text, params, rng, FRAME_SIZE))
        assert ok
        return jpeg.tobytes()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/camera.mjpg", self._stream)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": f"multipart/x-mixed-replace; boundary={_BOUNDARY}"}
        )
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, aiohttp.ClientConnectionResetError):
            while True:
                with self._lock:
                    jpeg = self._jpeg
                head = f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                head += f"Content-Length: {len(jpeg)}\r\n\r\n"
                await response.write(head.encode() + jpeg + b"\r\n")
                await asyncio.sleep(1 / FPS)
        return response


class DeployedAgentRig(CrashRig):
    """`locker-agent run` with the camera on a stream this rig serves; `run()` measures it."""

    def __init__(
        self,
        root: Path,
        seed: int = 7,
        *,
        env: dict[str, str] | None = None,
        page_cache: str = "as installed",
    ) -> None:
        super().__init__(root, seed)
        self.camera = CameraStream(free_port())
        self.camera_section = (
            f'[camera]\nsource = "http://127.0.0.1:{self.camera.port}/camera.mjpg"\nfps = {FPS}\n'
        )
        self.doors_section = (
            f'[doors.driver]\ntype = "simulator"\nauto_close_s = {AUTO_CLOSE_MS / 1000}\n'
        )
        self.child_env = dict(env or {})
        # how the venv's files sat in the page cache when this process started (bench/soak.py
        # drops it before importing anything heavy unless told not to): the total RSS depends on it
        self.deployed = DeployedFigures(page_cache=page_cache)
        self._shown = random.Random(seed)

    async def run(self, seconds: float) -> DeployedFigures:
        await self.camera.start()
        try:
            await asyncio.to_thread(self.spawn)
            timeout = aiohttp.ClientTimeout(total=15)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                await self.wait_ready(http)
                status, body = await self._post(http, "/api/v1/staff/sign-in", {"pin": COURIER_PIN})
                assert status == 200, body
                session = str(body["session"])
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    await self._round(http, session)
                    self.deployed.rounds += 1
                    assert self.proc is not None
                    rss, anon, file_mb, fds = process_memory(self.proc.pid)
                    self.deployed.rss_mb.append(rss)
                    self.deployed.anon_mb.append(anon)
                    self.deployed.file_mb.append(file_mb)
                    self.deployed.fds.append(fds)
                assert self.proc is not None
                self.deployed.by_mapping = resident_by_mapping(self.proc.pid)
        finally:
            await asyncio.to_thread(self.kill)
            await self.camera.stop()
        self.deployed.problems += self.figures.problems
        return self.deployed

    async def _round(self, http: aiohttp.ClientSession, session: str) -> None:
        parcels: list[Parcel] = []
        for _ in range(PER_ROUND):
            await self._announce()
            parcels.append(list(self.parcels.values())[-1])
        for parcel in parcels:
            self.deployed.loads += int(await self._load_parcel(http, session, parcel))
        for i, parcel in enumerate(parcels):
            if parcel.stage != "loaded":
                continue
            if i % 2 == 0:
                opened = await self._show_to_camera(parcel)
                self.deployed.pickups_camera += int(opened)
            else:
                status, _ = await self._post(http, "/api/v1/pickup/code", {"code": parcel.code})
                opened = status == 200
                self.deployed.pickups_code += int(opened)
            self.deployed.refused += int(not opened)
            parcel.stage = "collected" if opened else parcel.stage
            await asyncio.sleep(AUTO_CLOSE_MS / 1000 + 0.15)  # the door shuts, the agent sees it

    async def _load_parcel(self, http: aiohttp.ClientSession, session: str, parcel: Parcel) -> bool:
        """The courier loads `parcel` once the hub's announcement has reached the agent."""
        auth = {"Authorization": f"Bearer {session}"}
        label = {"label": f"PCL:{parcel.order_id}:P1"}
        for _ in range(50):
            status, body = await self._post(http, "/api/v1/courier/load", label, auth)
            if status == 200:
                break
            await asyncio.sleep(0.1)  # the order.upsert is still on its way
        else:
            self.deployed.problems.append(f"{parcel.order_id}: load refused {body}")
            return False
        confirm = f"/api/v1/courier/load/{body['load']}/confirm"
        for _ in range(50):
            await asyncio.sleep(AUTO_CLOSE_MS / 1000)  # the door shuts behind the parcel
            if (await self._post(http, confirm, {}, auth))[0] == 200:
                parcel.stage = "loaded"
                return True
        self.deployed.problems.append(f"{parcel.order_id}: load not confirmed")
        return False

    async def _show_to_camera(self, parcel: Parcel, within_s: float = 10.0) -> bool:
        """Hold the token into the camera's view until the hub has the pickup."""
        seed = self._shown.randrange(1 << 16)
        await asyncio.to_thread(self.camera.show, parcel.token, seed)
        try:
            deadline = time.monotonic() + within_s
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                events = await asyncio.to_thread(hub_events, self.root / "hub.db")
                if any(
                    e.kind == "order.collected" and e.body.get("order") == parcel.order_id
                    for e in events
                ):
                    return True
            return False
        finally:
            await asyncio.to_thread(self.camera.show, None)
