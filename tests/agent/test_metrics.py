"""/metrics on prometheus-client: true types, KPIs from the database, the real outbox depth."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import demo_config, seed_orders
from agent.domain.clock import ManualClock
from hardware.doors.sim import SimulatedLocker
from tests.agent.conftest import RunningAgent, start_agent


async def _metrics(running: RunningAgent) -> dict[str, str]:
    """`name{labels}` -> value, plus `# TYPE name` -> type."""
    async with running.http.get(running.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            out[f"# TYPE {name}"] = kind
        elif line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = value
    return out


async def test_kpis_come_from_the_database_and_survive_a_restart(tmp_path: Path) -> None:
    running = await start_agent(tmp_path / "data")
    try:
        order = running.orders[0]
        running.clock.advance(2 * 3600)  # two hours in the locker
        assert (await running.post("/api/v1/pickup/code", {"code": order.code}))[0] == 200
        assert (await running.post("/api/v1/pickup/code", {"code": "ZZZZ-ZZZZ"}))[0] == 404
        clock = running.clock
    finally:
        await running.close()
    again = await start_agent(tmp_path / "data", clock, seed=False)
    try:
        values = await _metrics(again)
    finally:
        await again.close()
    assert values["# TYPE locker_orders_collected_total"] == "counter"
    assert values["locker_orders_collected_total"] == "1.0"
    assert values["locker_orders_collected_within_hold_total"] == "1.0"
    assert values["locker_orders_expired_total"] == "0.0"
    assert values["# TYPE locker_order_dwell_seconds"] == "histogram"
    assert values['locker_order_dwell_seconds_bucket{le="3600"}'] == "0.0"
    assert values['locker_order_dwell_seconds_bucket{le="14400"}'] == "1.0"
    assert values["locker_order_dwell_seconds_count"] == "1.0"
    key = 'locker_failed_attempts_total{reason="CODE_UNKNOWN",via="pickup"}'
    assert values[key] == "1.0"  # counted before the restart, still there after it
    # in-process counters are saved at shutdown and restored at start
    assert values['locker_typed_code_pickups_total{result="open"}'] == "1.0"
    assert values['locker_typed_code_pickups_total{result="CODE_UNKNOWN"}'] == "1.0"


async def test_counters_are_counters_and_latencies_histograms(running: RunningAgent) -> None:
    await running.post("/api/v1/pickup/scan", {"payload": "LK1:NOPE"})
    values = await _metrics(running)
    assert values["# TYPE locker_scans_total"] == "counter"
    assert values["# TYPE locker_storage_faults_total"] == "counter"
    assert values["# TYPE locker_storage_ok"] == "gauge"
    assert values["# TYPE locker_outbox_depth"] == "gauge"
    assert not any(k.startswith("# TYPE") and v == "summary" for k, v in values.items())


async def test_the_outbox_depth_is_true_while_the_hub_is_unreachable(tmp_path: Path) -> None:
    config = demo_config(tmp_path / "data", 0, hub_url="mqtt://127.0.0.1:9")  # nobody there
    config = config.model_copy(
        update={"camera": config.camera.model_copy(update={"enabled": False})}
    )
    clock = ManualClock(time.time())
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=clock, hardware=DoorHardware(sim, sim))
    await agent.start()
    orders = await agent.db.run(seed_orders, agent.typed_code_secret, now=clock.now(), hold_s=86400)
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop))
    running = RunningAgent(agent, sim, clock, aiohttp.ClientSession(), orders, stop, serving)
    try:
        assert (await running.post("/api/v1/pickup/code", {"code": orders[0].code}))[0] == 200
        queued = await agent.db.read(
            lambda conn: conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        )
        assert queued > 0
        _, status = await running.get("/api/v1/status")
        assert status["outbox_depth"] == queued
        hub = status["hub"]
        assert isinstance(hub, dict)
        assert hub["connected"] is False
        assert hub["outbox_depth"] == queued
        values = await _metrics(running)
        assert float(values["locker_outbox_depth"]) == queued
        assert float(values["locker_outbox_oldest_age_seconds"]) >= 0
    finally:
        await running.close()


async def test_a_daily_kpi_snapshot_goes_to_the_hub(running: RunningAgent) -> None:
    kpis = running.agent.running.kpis
    assert (await running.post("/api/v1/pickup/code", {"code": running.orders[0].code}))[0] == 200
    assert await kpis.maybe_send_snapshot() in {True, False}  # the serve task may have sent one
    running.clock.advance(86_401)
    assert await kpis.maybe_send_snapshot() is True
    assert await kpis.maybe_send_snapshot() is False  # once a day
    rows = await running.agent.db.read(
        lambda conn: conn.execute(
            "SELECT body FROM outbox WHERE kind = 'kpi.snapshot' ORDER BY seq DESC"
        ).fetchall()
    )
    body = json.loads(rows[0][0])
    assert body["collected"] == 1
    assert body["dwell_buckets"][-1] == ["+Inf", 1]
    assert set(body) >= {"expired", "returns", "failed_attempts", "collected_within_hold"}
