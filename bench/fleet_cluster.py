"""Fleet hub benchmark: simulated lockers -> 3-node NATS cluster -> 2+ hub workers -> PostgreSQL.

    python bench/fleet_cluster.py [--lockers 2000] [--events 50] [--workers 2] [--commands 200]

Starts everything itself (cluster on free ports in a temp dir, a scratch database, worker
processes, `--sims` simulator processes of `bench/fleet_sim.py`) and stops and drops it at the end.
Each simulated locker is the reference device (its own SQLite file) with `DeviceSync` over MQTT
3.1.1, locker i on node i % 3, connecting at `--connect-rate` per second in all. Then:
1. clean drain: every locker commits `--events` events; events/s stored is timed from the moment
   all have committed until every locker verified a hub-signed confirm for all of them (confirms
   are sent only after the commit);
2. the same, with one hub worker and one broker node killed (SIGKILL) once a third is stored (the
   node comes back 2 s later);
3. commands: `--commands` signed `order.upsert` commands, one at a time, timed from the database
   insert to the locker's answer recorded by the hub (p50/p99);
4. trust: a new bundle is published retained; time until every locker applied it;
5. checks: per locker, seqs stored = 1..n exactly (lost), no (locker, seq) twice.
Each drain prints the CPU seconds of NATS, PostgreSQL, the workers, the simulators and the rest of
the machine. The last line is one JSON object with those figures (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import nats
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_keys import bench_device_pem

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, MqttConnection
from hub_sync.hub.audit import enroll_device_key
from hub_sync.hub.cluster import NatsCluster, wait_ready
from hub_sync.hub.db import create_database, drop_database, migrate
from hub_sync.hub.leader import trust_payload
from hub_sync.hub.store import add_command
from hub_sync.hub.worker import stream_name
from hub_sync.protocol.commands import CommandEnvelope, encode_command
from hub_sync.protocol.signing import sign
from hub_sync.protocol.wire import Header, new_message_id, trust_topic

FLEET = "bench"
KEY = ed25519.Ed25519PrivateKey.generate()
SIM = Path(__file__).resolve().parent / "fleet_sim.py"


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--lockers", type=int, default=2000)
    p.add_argument("--events", type=int, default=50, help="events per locker per drain")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--sims", type=int, default=2, help="simulator processes")
    p.add_argument("--connect-rate", type=float, default=100.0, help="new connections/s in all")
    p.add_argument("--commands", type=int, default=200)
    p.add_argument("--batch", type=int, default=500, help="hub worker: messages per pull")
    p.add_argument("--pg", default="postgresql://postgres:postgres@127.0.0.1:5432/postgres")
    p.add_argument("--no-kill", action="store_true", help="skip the worker and node kills")
    p.add_argument("--profile", type=Path, help="cProfile the workers and simulators into DIR")
    return p.parse_args()


class Sim:
    """One `bench/fleet_sim.py` process: a share of the lockers, driven line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        return (await self.proc.stdout.readline()).decode().strip()


async def _ask_all(sims: list[Sim], line: str) -> list[str]:
    return list(await asyncio.gather(*(s.ask(line) for s in sims)))


async def _stats(sims: list[Sim]) -> dict[str, int]:
    out = {"connected": 0, "unconfirmed": 0, "confirmed": 0}
    for raw in await _ask_all(sims, "stats"):
        for k, v in json.loads(raw).items():
            out[k] += v
    return out


async def _stored(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM events"))


def _jiffies(pid: int | str) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def _cpu(
    cluster: NatsCluster, procs: list[subprocess.Popen[bytes]], sims: list[Sim]
) -> dict[str, int]:
    """CPU jiffies so far of each part of the benchmark, and of the whole machine ("all")."""
    postgres = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
                and _comm(p) == "postgres"]  # fmt: skip
    parts: dict[str, list[int] | list[str]] = {
        "nats": [n.proc.pid for n in cluster.nodes if n.proc is not None],
        "postgres": postgres, "hub workers": [p.pid for p in procs],
        "lockers (sims)": [s.proc.pid for s in sims], "bench": [os.getpid()],
    }  # fmt: skip
    out = {name: sum(_jiffies(pid) for pid in pids) for name, pids in parts.items()}
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    out["all"] = sum(int(x) for x in cpu) - int(cpu[3]) - int(cpu[4])  # minus idle, iowait
    return out


def _comm(p: Path) -> str:
    try:
        return (p / "comm").read_text().strip()
    except OSError:
        return ""


def _cpu_split(before: dict[str, int], after: dict[str, int], wall: float) -> str:
    tick = os.sysconf("SC_CLK_TCK")
    used = {k: (after[k] - before[k]) / tick for k in after}
    ours = sum(v for k, v in used.items() if k != "all")
    parts = ", ".join(f"{k} {v:.1f}" for k, v in used.items() if k != "all")
    return (f"CPU s over {wall:.1f} s wall on {os.cpu_count()} cores: {parts};"
            f" other jobs on the machine {max(0.0, used['all'] - ours):.1f}")  # fmt: skip


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


async def main(ns: argparse.Namespace, root: Path) -> dict[str, object]:
    cluster = NatsCluster(root / "nats")
    await asyncio.to_thread(cluster.start)
    db = f"lkhub_bench_{secrets.token_hex(4)}"
    procs: list[subprocess.Popen[bytes]] = []
    sims: list[Sim] = []
    try:
        await wait_ready(cluster)
        dsn = await create_database(ns.pg, db)
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        for i in range(ns.lockers):  # the hub stores only events signed by a key it holds
            name = f"L{i:05d}"
            await enroll_device_key(conn, FLEET, name, bench_device_pem(name), 0.0)
        await conn.close()
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        procs += await asyncio.to_thread(_start_workers, ns, root, cluster, dsn)
        await _until(lambda: _consumer_exists(cluster), 60)  # else NATS captures nothing yet
        sims = await _start_sims(ns, root, cluster)
        names = [f"L{i:05d}" for i in range(ns.lockers)]
        t0 = time.monotonic()
        await _ask_all(sims, f"connect {ns.connect_rate / len(sims)}")
        online = await _until(lambda: _online(sims, ns.lockers), 900)
        connect_s = online - t0
        print(f"connect: {ns.lockers} lockers online in {connect_s:.1f} s (load {_load()})")
        clean = await _drain(ns, sims, pool, cluster, procs, kill=False)
        print(
            f"drain (no kill): {clean['events']} events in {clean['s']:.1f} s ="
            f" {clean['rate']:,.0f} events/s stored and confirmed (load {_load()})"
        )
        killed = None
        if not ns.no_kill:
            killed = await _drain(ns, sims, pool, cluster, procs, kill=True)
            print(
                f"drain (worker + node killed at 1/3): {killed['events']} events in"
                f" {killed['s']:.1f} s = {killed['rate']:,.0f} events/s (load {_load()})"
            )
        rtts = await _commands(pool, names, ns.commands)
        trust_s = await _trust(cluster, sims, ns.lockers)
        trust_s = None if trust_s is None else round(trust_s, 2)
        await _until(lambda: _drained(sims), 120)
        lost, twice = await _check(pool, names, 2 * ns.events if killed else ns.events)
        await pool.close()
        p50 = round(statistics.median(rtts), 1) if rtts else None
        p99 = round(sorted(rtts)[max(0, int(len(rtts) * 0.99) - 1)], 1) if rtts else None
        print(f"commands: {len(rtts)} signed order.upsert, round trip p50 {p50} ms, p99 {p99} ms")
        print(f"trust: new bundle applied by all {ns.lockers} lockers in {trust_s} s")
        print(f"check: lost {lost}, stored twice {twice} (load {_load()})")
        return {
            "lockers": ns.lockers, "events": clean["events"] + (killed["events"] if killed else 0),
            "hub_workers": ns.workers, "broker_nodes": 3, "connect_s": round(connect_s, 1),
            "events_per_s_stored": clean["rate"],
            "events_per_s_stored_with_kills": killed["rate"] if killed else None,
            "command_p50_ms": p50, "command_p99_ms": p99,
            "trust_bundle_to_all_s": trust_s,
            "killed_worker_and_node": killed is not None, "lost": lost, "stored_twice": twice,
            "load_avg_1m": round(os.getloadavg()[0], 1),
        }  # fmt: skip
    finally:
        await asyncio.gather(*(_quit(s) for s in sims), return_exceptions=True)
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(20)
        await asyncio.to_thread(cluster.stop)
        with contextlib.suppress(Exception):
            await drop_database(ns.pg, db)


async def _consumer_exists(cluster: NatsCluster) -> bool:
    nc = await nats.connect(servers=cluster.urls)
    try:
        await nc.jetstream(timeout=2).consumer_info(stream_name(FLEET), f"hub-{FLEET}")
    except (nats.errors.Error, TimeoutError):
        return False
    finally:
        await nc.close()
    return True


async def _quit(sim: Sim) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(60):
            await sim.ask("quit")
    with contextlib.suppress(ProcessLookupError):
        sim.proc.kill()
    await sim.proc.wait()


async def _online(sims: list[Sim], n: int) -> bool:
    return (await _stats(sims))["connected"] >= n


async def _drained(sims: list[Sim]) -> bool:
    return sum(int(x) for x in await _ask_all(sims, "depth")) == 0


async def _until(pred: Callable[[], Awaitable[bool]], limit_s: float) -> float:
    t0 = time.monotonic()
    while not await pred():
        if time.monotonic() - t0 > limit_s:
            raise SystemExit(f"timed out after {limit_s} s")
        await asyncio.sleep(0.25)
    return time.monotonic()


async def _drain(
    ns: argparse.Namespace, sims: list[Sim], pool: asyncpg.Pool, cluster: NatsCluster,
    procs: list[subprocess.Popen[bytes]], *, kill: bool,
) -> dict[str, Any]:  # fmt: skip
    """Every locker commits `--events` events; time until the hub confirmed all of them."""
    total = ns.lockers * ns.events
    base = await _stored(pool)
    t_append = time.monotonic()
    await _ask_all(sims, f"append {ns.events}")
    # the clock starts once every locker has committed its events (the simulator writes 1,000
    # SQLite files from one thread; real lockers each write their own at the same time)
    t0 = time.monotonic()
    cpu0 = _cpu(cluster, procs, sims)
    killed = not kill
    while time.monotonic() - t0 < 900:
        if not killed and await _stored(pool) - base >= total // 3:
            procs[0].send_signal(signal.SIGKILL)
            await asyncio.to_thread(cluster.kill, 2)
            await asyncio.sleep(2)
            await asyncio.to_thread(cluster.start, 2)
            killed = True
        if (await _stats(sims))["unconfirmed"] == 0:
            break
        await asyncio.sleep(0.1)
    took = time.monotonic() - t0
    print(f"  lockers committed {total} events in {t0 - t_append:.1f} s; "
          + _cpu_split(cpu0, _cpu(cluster, procs, sims), took))  # fmt: skip
    return {"events": total, "s": took, "rate": round(total / took)}


def _prof(ns: argparse.Namespace, name: str) -> list[str]:
    return [] if ns.profile is None else ["-m", "cProfile", "-o", str(ns.profile / f"{name}.prof")]


def _start_workers(
    ns: argparse.Namespace, root: Path, cluster: NatsCluster, dsn: str
) -> list[subprocess.Popen[bytes]]:
    key_file = root / "command.key.pem"
    pem = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    key_file.write_bytes(pem)
    argv = ["--fleet", FLEET, "--dsn", dsn, "--nats", ",".join(cluster.urls),
            "--mqtt", ",".join(f"127.0.0.1:{n.mqtt_port}" for n in cluster.nodes),
            "--sign-key", str(key_file), "--ack-wait", "5", "--batch", str(ns.batch)]  # fmt: skip
    procs = []
    for i in range(ns.workers):
        prof = (
            []
            if ns.profile is None
            else ["-m", "cProfile", "-o", str(ns.profile / f"worker{i}.prof")]
        )
        with (root / f"worker{i}.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, *prof, "-m", "hub_sync.hub.cli", "worker", *argv],
                stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
    return procs


async def _start_sims(ns: argparse.Namespace, root: Path, cluster: NatsCluster) -> list[Sim]:
    pub = root / "command.pub.pem"
    pub.write_bytes(KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    ports = ",".join(str(n.mqtt_port) for n in cluster.nodes)
    sims = []
    per = -(-ns.lockers // ns.sims)
    for i in range(ns.sims):
        first, count = i * per, min(per, ns.lockers - i * per)
        if count <= 0:
            break
        prof = (
            [] if ns.profile is None else ["-m", "cProfile", "-o", str(ns.profile / f"sim{i}.prof")]
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *prof, str(SIM), "--dir", str(root), "--key", str(pub),
            "--ports", ports, "--first", str(first), "--count", str(count),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=(root / f"sim{i}.log").open("wb"), limit=1 << 20,
        )  # fmt: skip
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if line.strip() != b"READY":
            raise SystemExit(f"simulator {i} did not start: see {root}/sim{i}.log")
        sims.append(Sim(proc))
    return sims


async def _commands(pool: asyncpg.Pool, names: list[str], count: int) -> list[float]:
    rtts = []
    for i in range(count):
        device = names[i % len(names)]
        args = {"order_id": f"o-{i}", "size": "M", "hold_s": 3600, "policy": {}}
        now = time.time()
        header = Header("command", new_message_id(), FLEET, device, now)
        sig = sign(KEY, fleet=FLEET, device=device, name="order.upsert",
                   transaction_id=f"tx-{i}", args=args, exp=int(now) + 3600)  # fmt: skip
        payload = encode_command(CommandEnvelope(header, f"tx-{i}", "order.upsert", args, sig))
        t0 = time.monotonic()
        async with pool.acquire() as conn:
            await add_command(conn, message_id=header.message_id, fleet=FLEET, device=device,
                              transaction_id=f"tx-{i}", name="order.upsert", payload=payload,
                              now=now)  # fmt: skip
        while time.monotonic() - t0 < 30:
            status = await pool.fetchval("SELECT status FROM commands WHERE message_id = $1",
                                         header.message_id)  # fmt: skip
            if status != "pending":
                rtts.append((time.monotonic() - t0) * 1000)
                break
            await asyncio.sleep(0.005)
    return rtts


async def _trust(cluster: NatsCluster, sims: list[Sim], n: int) -> float | None:
    params = ConnectParams("127.0.0.1", cluster.nodes[0].mqtt_port, "bench-trust",
                           protocol=MQTT_V311, clean_start=True)  # fmt: skip
    conn = MqttConnection(params, lambda _m: None)
    await conn.connect()
    bundle = secrets.token_urlsafe(48)  # the reference device applies any bundle; timing only
    t0 = time.monotonic()
    await conn.publish(trust_topic(FLEET), trust_payload(FLEET, bundle, 7, time.time()),
                       retain=True)  # fmt: skip
    await conn.disconnect()
    while time.monotonic() - t0 < 120:
        if sum(int(x) for x in await _ask_all(sims, "trust")) >= n:
            return time.monotonic() - t0
        await asyncio.sleep(0.1)
    return None


async def _check(pool: asyncpg.Pool, names: list[str], events: int) -> tuple[int, int]:
    """Lost: holes in each locker's 1..top (top >= its appended events); twice: repeats."""
    rows = await pool.fetch("SELECT device, count(*) AS n, count(DISTINCT seq) AS d,"
                            " max(seq) AS top FROM events GROUP BY device")  # fmt: skip
    got = {r["device"]: (int(r["n"]), int(r["d"]), int(r["top"])) for r in rows}
    # seqs past the appended ones are the lockers' own "command.applied" events
    lost = sum(max(events, got.get(n, (0, 0, 0))[2]) - got.get(n, (0, 0, 0))[1] for n in names)
    twice = sum(v[0] - v[1] for v in got.values())
    return lost, twice


if __name__ == "__main__":
    args = _args()
    with tempfile.TemporaryDirectory(prefix="lk-fleet-bench-") as tmp:
        result = asyncio.run(main(args, Path(tmp)))
    print(f"ran {result['lockers']} lockers x {args.events} events, {args.workers} hub workers,"
          " 3 broker nodes")  # fmt: skip
    print(json.dumps(result))
