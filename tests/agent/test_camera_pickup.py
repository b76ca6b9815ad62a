"""A token held to the (simulated) camera opens its door once; an empty scene opens nothing."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from hardware.camera.sim import SimulatedCamera
from provisioning.fleet import create_demo_fleet
from tests.agent.conftest import start_agent


async def wait_for(predicate: Callable[[], bool], within_s: float = 8.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_token_shown_to_the_camera_opens_its_door_exactly_once(tmp_path: Path) -> None:
    fleet = create_demo_fleet(tmp_path / "fleet", "LK-DEMO-001", time.time())
    camera = SimulatedCamera(fps=20)
    locker = await start_agent(tmp_path / "data", fleet=fleet, camera=camera)
    try:
        scanner = locker.agent.scanner
        assert scanner is not None
        camera.show_nothing()
        assert await wait_for(lambda: scanner.health().frames >= 10)
        assert locker.sim.pulses == []  # frames without a code open nothing

        order = locker.orders[0]
        assert order.token is not None
        camera.show_payload(order.token, carrier="phone", seed=3)
        assert await wait_for(lambda: locker.sim.pulses == [order.door])
        frames_then = scanner.health().frames
        assert await wait_for(lambda: scanner.health().frames >= frames_then + 20)
        assert locker.sim.pulses == [order.door]  # held in view: still one door

        status, body = await locker.get("/api/v1/kiosk/events?after=0")
        events = body["events"]
        assert isinstance(events, list)
        assert [(e["source"], e["result"], e["door"]) for e in events] == [
            ("camera", "open", order.door)
        ]
        assert all("LK1" not in str(e) for e in events)

        status, body = await locker.get("/api/v1/status")
        camera_health = body["camera"]
        assert isinstance(camera_health, dict)
        assert (status, camera_health["ok"], camera_health["decoded"]) == (200, True, 1)
    finally:
        await locker.close()
