"""Fleet benchmark: N simulated lockers, one Mosquitto, the reference hub.

    python bench/fleet.py [--devices 1000] [--events 20] [--backlog 50000] [--workers 4]

Starts its own Mosquitto (password file + ACL, a free loopback port), then:
1. backlog: one device with `--backlog` committed events connects; events/s to the hub;
2. fleet: `--devices` devices (each its own SQLite file), spread over `--workers` processes that
   drive their sockets from asyncio (paho's select() loop stops near 340 clients per process),
   drain `--events` each; then one hub-signed order per device, paced at `--rate` per second,
   timed from send to the device's ack (p50/p99);
3. checks at the hub: every device's seqs are exactly 1..n (losses), nothing stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_keys import bench_device_key, bench_device_public
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.mqtt import ConnectParams
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.hub.reference.hub import Hub, HubSettings
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.signing import load_public_key

FLEET = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(root: Path, users: list[str], hub_pw: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    pw = root / "passwd"
    pw.write_text(f"hub:{hub_pw}\n" + "".join(f"{u}:{u}\n" for u in users))
    subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True)  # hash all lines at once
    acl = [f"user hub\ntopic readwrite lk/v1/{FLEET}/#\n"]
    acl += [
        f"pattern write lk/v1/{FLEET}/%u/{leaf}\n"
        for leaf in ("evt", "reply", "state", "status", "photo")
    ]
    acl += [f"pattern read lk/v1/{FLEET}/%u/{leaf}\n" for leaf in ("cmd", "confirm", "photo_ack")]
    acl += [f"pattern read lk/v1/{FLEET}/{leaf}\n" for leaf in ("trust", "hub")]
    (root / "acl").write_text("".join(acl))
    conf = root / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\n"
        f"acl_file {root / 'acl'}\nmax_queued_messages 0\npersistence false\n"
        # without it small replies wait for Nagle's algorithm: +40 ms per command round trip
        "set_tcp_nodelay true\n" + ("user root\n" if os.geteuid() == 0 else "")
    )
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(500):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, port
        time.sleep(0.01)
    proc.kill()
    raise SystemExit("mosquitto did not start")


async def worker(ns: argparse.Namespace) -> None:
    """One process's share of the fleet; runs until SIGTERM."""
    key = load_public_key(await asyncio.to_thread(Path(ns.key).read_bytes))
    syncs: list[asyncio.Task[None]] = []
    devices = []
    for name in ns.ids.split(","):
        dev = ReferenceDevice(Path(ns.dir) / f"{name}.db")
        for start in range(0, ns.events, 5000):
            n = min(5000, ns.events - start)
            await dev.append(
                [("bench.event", f"{name}-{i}", {"i": i}) for i in range(start, start + n)]
            )
        settings = SyncSettings(
            host="127.0.0.1", port=ns.port, device_id=name, fleet_id=FLEET, username=name,
            password=name, backoff_min_s=0.2, backoff_max_s=5.0, keepalive=60,
        )  # fmt: skip
        signer = bench_device_key(name)
        sync = DeviceSync(settings, dev, dev, dev, command_keys=lambda: [key], clock=time.time,
                          device_key=lambda signer=signer: signer)  # fmt: skip
        devices.append(dev)
        syncs.append(asyncio.create_task(sync.run()))
    print("READY", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for task in syncs:
        task.cancel()
    await asyncio.gather(*syncs, return_exceptions=True)


async def spawn(
    ids: list[str], events: int, *, port: int, key: Path, root: Path
) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--worker", "--ids", ",".join(ids), "--events", str(events),
        "--port", str(port), "--key", str(key), "--dir", str(root),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    assert line.strip() == b"READY", line
    return proc


async def until(pred: object, limit_s: float) -> float:
    t0 = time.perf_counter()
    while not pred():  # type: ignore[operator]
        if time.perf_counter() - t0 > limit_s:
            raise SystemExit(f"timed out after {limit_s} s")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        await p.wait()


async def run_backlog(
    ns: argparse.Namespace, hub: Hub, *, port: int, key: Path, root: Path
) -> None:
    proc = await spawn(["backlog-0"], ns.backlog, port=port, key=key, root=root)
    await until(lambda: hub.applied > 0, 60)
    t0 = time.perf_counter()
    t1 = await until(lambda: hub.applied >= ns.backlog, 600)
    await stop_all([proc])
    rate = (ns.backlog - 100) / (t1 - t0)  # the clock starts at the first stored batch of 100
    print(f"backlog: {ns.backlog} events drained in {t1 - t0:.2f} s = {rate:,.0f} events/s")


async def run_fleet(
    ns: argparse.Namespace, hub: Hub, store: HubStore, *, port: int, key: Path, root: Path
) -> None:
    names = [f"dev-{i:05d}" for i in range(ns.devices)]
    shards = [names[i :: ns.workers] for i in range(ns.workers)]
    t0 = time.perf_counter()
    base = hub.applied
    procs = [await spawn(s, ns.events, port=port, key=key, root=root) for s in shards if s]
    total = ns.devices * ns.events
    t1 = await until(lambda: hub.applied - base >= total, 600)
    print(f"fleet: {ns.devices} devices, {total} events at the hub in {t1 - t0:.2f} s "
          f"(including process start and {ns.devices} connects)")  # fmt: skip
    await until(lambda: sum(r.online for r in store.devices(FLEET)) >= ns.devices, 60)
    latencies = await send_orders(hub, names, ns.rate)
    # each order also wrote a "command.applied" event; the device sends it on its next poll
    await until(lambda: hub.applied - base >= total + ns.devices, 60)
    await stop_all(procs)
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    print(f"commands: {len(lat)} hub-signed orders at {ns.rate}/s, ack p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms, max {lat[-1] * 1000:.1f} ms")  # fmt: skip
    check(store, names, ns.events + 1)  # each order wrote one "command.applied" event


async def send_orders(hub: Hub, names: list[str], rate: float) -> list[float]:
    async def one(name: str) -> float:
        t = time.perf_counter()
        args = {"order_id": f"o-{name}", "size": "M", "hold_s": 172_800}
        mid = await hub.send_command(name, "order.upsert", args)
        outcome = await hub.wait_reply(mid, 30)
        assert outcome.status == "ok", outcome
        return time.perf_counter() - t

    tasks = []
    for name in names:
        tasks.append(asyncio.create_task(one(name)))
        await asyncio.sleep(1 / rate)
    return list(await asyncio.gather(*tasks))


def check(store: HubStore, names: list[str], expected: int) -> None:
    lost = dup = 0
    for name in names:
        seqs = store.event_seqs(FLEET, name)
        lost += expected - len(set(seqs))
        dup += len(seqs) - len(set(seqs))
        if seqs != list(range(1, len(seqs) + 1)):
            lost += 1
    transport = sum(r.duplicates for r in store.devices(FLEET))
    print(f"check: lost {lost}, stored twice {dup} (transport duplicates discarded: {transport})")


async def main(ns: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    names = ["backlog-0", *(f"dev-{i:05d}" for i in range(ns.devices))]
    hub_pw = secrets.token_hex(8)
    broker, port = start_broker(root, names, hub_pw)
    sign_key = ed25519.Ed25519PrivateKey.generate()
    key = root / "hub.pub.pem"
    key.write_bytes(sign_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    store = HubStore(root / "hub.db")
    for name in names:  # the hub holds each device's key: it signs events and replies
        store.add_device_key(FLEET, name, bench_device_public(name), 0.0)
    params = ConnectParams(host="127.0.0.1", port=port, client_id="hub-bench", username="hub",
                           password=hub_pw, max_inflight=1000)  # fmt: skip
    hub = Hub(HubSettings(fleet=FLEET, connect=params), store, sign_key=sign_key)
    hub_task = asyncio.create_task(hub.run())
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        if ns.backlog:
            await run_backlog(ns, hub, port=port, key=key, root=root)
        if ns.devices:
            await run_fleet(ns, hub, store, port=port, key=key, root=root)
    finally:
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task
        store.close()
        broker.kill()
        broker.wait()
        shutil.rmtree(root, ignore_errors=True)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--events", type=int, default=20, help="events per fleet device")
    p.add_argument("--backlog", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--rate", type=float, default=200.0, help="orders per second")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ids", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse(sys.argv[1:])
    asyncio.run(worker(args) if args.worker else main(args))
