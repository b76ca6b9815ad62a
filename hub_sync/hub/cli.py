"""`locker-hub`: run the fleet hub's workers (and, from provisioning, its offline tools).

    locker-hub run --workers 2 --fleet F --dsn postgresql://... --nats nats://a:4222,...
        --mqtt a:1883,b:1883 --sign-key command.key.pem
    locker-hub worker ...            one worker in this process (what `run` starts N times)
    locker-hub device-key --dsn D --fleet F --device L --public-key device_key.pub.pem

`run` supervises: a worker that dies is started again after a second. Workers hold no fixed
identity, so N is only a matter of capacity (docs/hub.md, "Scaling").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from hub_sync.hub.audit import enroll_device_key
from hub_sync.hub.db import connect_pool
from hub_sync.hub.leader import Leader, LeaderSettings
from hub_sync.hub.worker import FleetWorker, WorkerSettings
from hub_sync.protocol.signing import load_private_key_file

_LOG = logging.getLogger("locker-hub")


def _hostports(text: str) -> list[tuple[str, int]]:
    out = []
    for item in text.split(","):
        host, _, port = item.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port)))
    return out


def add_worker_args(p: argparse.ArgumentParser) -> None:
    """The options of a worker: fleet, database, cluster, MQTT listeners, command key, trust
    bundles, and the JetStream tuning."""
    p.add_argument("--fleet", required=True)
    p.add_argument("--dsn", required=True, help="PostgreSQL DSN of the hub database")
    p.add_argument("--nats", required=True, help="comma-separated nats:// URLs of the cluster")
    p.add_argument("--mqtt", required=True, help="comma-separated host:port MQTT listeners")
    p.add_argument("--sign-key", required=True, type=Path, help="fleet command key (PEM)")
    p.add_argument(
        "--passphrase-file",
        type=Path,
        help="passphrase of an encrypted --sign-key (else $LOCKER_ADMIN_PASSPHRASE)",
    )
    p.add_argument("--bundles", type=Path, help="folder of pre-signed trust bundles to publish")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--ack-wait", type=float, default=30.0, help="redelivery after (s)")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument(
        "--device-ca",
        type=Path,
        help="fleet device CA (PEM): store evidence photos and check each C2PA manifest",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="locker-hub")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run N supervised worker processes")
    run.add_argument("--workers", type=int, default=2)
    add_worker_args(run)
    add_worker_args(sub.add_parser("worker", help="one worker in this process"))
    key = sub.add_parser("device-key", help="enroll a locker's audit device key (public PEM)")
    key.add_argument("--dsn", required=True)
    key.add_argument("--fleet", required=True)
    key.add_argument("--device", required=True)
    key.add_argument("--public-key", required=True, type=Path)
    return p


async def _device_key(ns: argparse.Namespace) -> str:
    pool = await connect_pool(ns.dsn, size=1)
    try:
        async with pool.acquire() as conn:
            return await enroll_device_key(
                conn, ns.fleet, ns.device, ns.public_key.read_bytes(), time.time()
            )
    finally:
        await pool.close()


async def run_worker(ns: argparse.Namespace) -> None:
    """Run one worker and its `Leader` in this process until SIGTERM or SIGINT."""
    settings = WorkerSettings(
        fleet=ns.fleet, nats_urls=ns.nats.split(","), mqtt=_hostports(ns.mqtt), dsn=ns.dsn,
        batch=ns.batch, ack_wait_s=ns.ack_wait, replicas=ns.replicas,
        device_ca_pem=None if ns.device_ca is None else ns.device_ca.read_text(encoding="utf-8"),
    )  # fmt: skip
    key = load_private_key_file(ns.sign_key, ns.passphrase_file)
    pool = await connect_pool(ns.dsn)
    worker = FleetWorker(settings, key)
    leader = Leader(worker, LeaderSettings(bundles=ns.bundles))
    task = asyncio.gather(worker.run(pool), leader.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await pool.close()


def _supervise(ns: argparse.Namespace, argv: list[str]) -> int:
    child = [sys.executable, "-m", "hub_sync.hub.cli", "worker", *argv]
    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_a: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    procs = [subprocess.Popen(child) for _ in range(ns.workers)]  # noqa: S603
    while not stopping:
        time.sleep(0.5)
        for i, proc in enumerate(procs):
            if proc.poll() is not None and not stopping:
                _LOG.warning("worker %s exited with %s; restarting", proc.pid, proc.returncode)
                time.sleep(1.0)
                procs[i] = subprocess.Popen(child)  # noqa: S603
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`locker-hub`: `run` supervises N workers, `worker` is one, `device-key` enrolls a key."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    args = sys.argv[1:] if argv is None else argv
    ns = _parser().parse_args(args)
    if ns.cmd == "run":
        rest = [a for a in args if a != "run"]
        drop = rest.index("--workers") if "--workers" in rest else -1
        if drop >= 0:
            del rest[drop : drop + 2]
        return _supervise(ns, rest)
    if ns.cmd == "device-key":
        try:
            raw = asyncio.run(_device_key(ns))
        except (OSError, ValueError, TypeError) as err:
            print(f"locker-hub: error: {err}", file=sys.stderr)
            return 1
        print(f"device key of {ns.device} enrolled: {raw[:16]}…")
        return 0
    asyncio.run(run_worker(ns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
