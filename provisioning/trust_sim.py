"""`locker-hub simulate-trust --days N`: a real locker and the fleet hub for N simulated days.

Starts a 3-node NATS cluster and a scratch PostgreSQL database, a demo fleet (roots, issuing and
command keys), pre-signs the bundle series offline (provisioning/trust_series.py), runs one hub
worker with its leader and one real locker agent (its own SQLite, MQTT 3.1.1 to the cluster),
all on one injected clock. Every `--step-hours` the clock moves on, the leader publishes what is
due, the locker installs it, and the locker checks an ordinary and a strict (high-value) pickup
token with its own verifier and its installed bundle. Exit 0 when every check passed (so
none met TRUSTLIST_STALE); every refusal reason met is printed. `--no-hub` shows the failure
the hub prevents. Everything it starts is stopped and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp  # noqa: F401 (the agent's API stack; imported early for a clear error)

from agent.bootstrap.app import Agent, DoorHardware
from agent.config.hub import HubConfig
from agent.config.model import AgentConfig, ApiConfig, LockerConfig, TrustConfig
from agent.domain.clock import ManualClock
from agent.tokens.claims import TokenFlags
from agent.tokens.errors import TokenError
from agent.tokens.verify import verify_token
from hardware.doors.sim import SimulatedLocker
from hub_sync.hub.cluster import NatsCluster, wait_ready
from hub_sync.hub.db import connect_pool, create_database, drop_database
from hub_sync.hub.leader import Leader, LeaderSettings, import_series
from hub_sync.hub.worker import FleetWorker, WorkerSettings
from hub_sync.protocol.signing import PrivateKey as HubKey
from hub_sync.protocol.signing import load_private_key as load_hub_key
from provisioning.fleet import DemoFleet, create_demo_fleet
from provisioning.keyfiles import load_descriptor, load_private_key
from provisioning.trust_series import DAY, presign_series

LOCKER = "LK-DEMO-001"  # the demo locker's id
FLEET = "sim"


def hub_key(path: Path) -> HubKey:
    """The fleet command key as the hub loads it (Ed25519 or P-256 only)."""
    return load_hub_key(path.read_bytes())


def add_args(p: argparse.ArgumentParser) -> None:
    """Add the `simulate-trust` options."""
    p.add_argument("--days", type=int, required=True, help="simulated days (1..365)")
    p.add_argument("--step-hours", type=float, default=6.0, help="clock step between checks")
    p.add_argument("--every-days", type=float, default=1.0, help="bundle publishing interval")
    p.add_argument("--valid-days", type=float, default=7.0, help="each bundle's validity")
    p.add_argument("--no-hub", action="store_true",
                   help="the hub publishes nothing (shows what happens without it)")  # fmt: skip
    p.add_argument(
        "--pg", default="postgresql://postgres:postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server DSN (a scratch database is created and dropped)",
    )  # fmt: skip


async def _run(ns: argparse.Namespace, root: Path) -> tuple[int, Counter[str], list[int]]:
    start = time.time()
    clock = ManualClock(start)
    fleet = create_demo_fleet(root / "fleet", LOCKER, start)
    entries = [load_descriptor(fleet.directory / f"{n}.json") for n in ("issuing", "command")]
    series = root / "series"
    presign_series(
        load_private_key(fleet.root_private_paths[0]), entries, series, first_version=2,
        start=start, count=int(ns.days / ns.every_days) + 2, every_s=ns.every_days * DAY,
        valid_s=ns.valid_days * DAY,
    )  # fmt: skip
    cluster = NatsCluster(root / "nats")
    await asyncio.to_thread(cluster.start)
    db_name = f"lkhub_sim_{secrets.token_hex(4)}"
    try:
        await wait_ready(cluster)
        dsn = await create_database(ns.pg, db_name)
        try:
            return await _simulate(ns, clock, fleet, cluster, dsn=dsn, series=series, root=root)
        finally:
            await drop_database(ns.pg, db_name)
    finally:
        await asyncio.to_thread(cluster.stop)


async def _simulate(
    ns: argparse.Namespace, clock: ManualClock, fleet: DemoFleet, cluster: NatsCluster, *,
    dsn: str, series: Path, root: Path,
) -> tuple[int, Counter[str], list[int]]:  # fmt: skip
    pool = await connect_pool(dsn)
    mqtt = [("127.0.0.1", n.mqtt_port) for n in cluster.nodes]
    worker = FleetWorker(
        WorkerSettings(FLEET, cluster.urls, mqtt, dsn),
        hub_key(fleet.command_key_path),
        clock=clock.now,
    )
    leader = Leader(worker, LeaderSettings(), clock=clock.now)
    worker_task = asyncio.create_task(worker.run(pool), name="sim-hub-worker")
    agent, stop, serving = await _start_locker(root, fleet, cluster, clock)
    reasons: Counter[str] = Counter()
    checks = 0
    try:
        async with pool.acquire() as conn:
            await import_series(conn, FLEET, series)
        await asyncio.wait_for(worker.consuming.wait(), 30)
        end = clock.now() + ns.days * DAY
        while clock.now() < end:
            if not ns.no_hub:
                await leader.tick(pool)
            if leader.published:
                await _until_installed(agent, leader.published[-1])
            for flags in (TokenFlags(), TokenFlags(high_value=True)):
                checks += 1
                token = fleet.mint_pickup(f"o-{checks}", now=clock.now(), hold_s=3 * DAY,
                                          flags=flags)  # fmt: skip
                try:
                    assert agent.trust is not None  # noqa: S101 (started)
                    verify_token(token, agent.trust.context(), now=clock.now())
                except TokenError as err:
                    reasons[str(err.reason.value)] += 1
            clock.advance(ns.step_hours * 3600)
        assert agent.services is not None  # noqa: S101 (started)
        reported = (await agent.services.status.snapshot()).get("trust")
        print(f"the locker's state reports trust {reported}")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, 10)
        await agent.stop()
        worker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker_task
        await pool.close()
    return checks, reasons, leader.published


async def _until_installed(agent: Agent, version: int, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        bundle = agent.trust.bundle if agent.trust is not None else None
        if bundle is not None and bundle.version >= version:
            return
        await asyncio.sleep(0.05)


async def _start_locker(
    root: Path, fleet: DemoFleet, cluster: NatsCluster, clock: ManualClock
) -> tuple[Agent, asyncio.Event, asyncio.Task[None]]:
    hub = HubConfig(url=f"mqtt://127.0.0.1:{cluster.nodes[0].mqtt_port}", fleet=FLEET,
                    protocol="3.1.1")  # fmt: skip
    config = AgentConfig(
        locker=LockerConfig(id=LOCKER, data_dir=root / "locker"),
        api=ApiConfig(host="127.0.0.1", port=0),
        trust=TrustConfig(root_keys=fleet.root_public_paths, bundle=fleet.bundle_path),
        hub=hub,
    )
    config = config.model_copy(
        update={"camera": config.camera.model_copy(update={"enabled": False})}
    )
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=clock, hardware=DoorHardware(sim, sim))
    await agent.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop), name="sim-locker")
    return agent, stop, serving


def run(ns: argparse.Namespace) -> int:
    """Run the simulation and print what the locker met; 0 when every check passed."""
    if not 1 <= ns.days <= 365:
        print("locker-hub: --days must be 1..365", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lk-trust-sim-") as tmp:
        checks, reasons, published = asyncio.run(_run(ns, Path(tmp)))
    stale = reasons.get("TRUSTLIST_STALE", 0)
    refused = sum(reasons.values())
    print(f"simulated {ns.days} days: {checks} token checks, bundles published "
          f"{published[:1]}..{published[-1:]} ({len(published)})")  # fmt: skip
    for reason, count in sorted(reasons.items()):
        print(f"refused {count}x: {reason}")
    print("TRUSTLIST_STALE never met" if stale == 0 else f"TRUSTLIST_STALE met {stale} times")
    return 0 if refused == 0 else 1
