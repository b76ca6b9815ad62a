"""One share of the fleet benchmark's simulated lockers, in a process of its own.

    python bench/fleet_sim.py --dir D --key hub.pub.pem --ports P1,P2,P3 --first 0 --count 1000

Each locker is the reference device (its own SQLite file, WAL) with `DeviceSync` over MQTT 3.1.1
to one of the cluster's nodes (locker i -> node i % 3), all sockets driven by this process's event
loop. `bench/fleet_cluster.py` drives it over stdin/stdout, one command and one answer per line:

- `connect RATE`: start every locker's sync, RATE new connections per second; answers `ok`;
- `append E`: every locker commits E events in its outbox (one transaction each, as the agent
  does after a change) and wakes its publisher; answers `ok`;
- `stats`: `{"connected", "unconfirmed", "confirmed"}`: lockers online, events appended but not
  yet confirmed by the hub (from each sync's in-memory confirmed seq), events confirmed;
- `depth`: the outbox rows left in every SQLite file; `trust`: lockers that applied a
  `trust.update`; `quit`: disconnect everything and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_keys import bench_device_key

from hub_sync.adapters.mqtt import MQTT_V311
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.protocol.signing import load_public_key

FLEET = "bench"


class Share:
    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns
        self.names = [f"L{i:05d}" for i in range(ns.first, ns.first + ns.count)]
        self.devices = [ReferenceDevice(Path(ns.dir) / f"{n}.db") for n in self.names]
        self.last = [0] * ns.count
        self.syncs: list[DeviceSync] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.ports = [int(p) for p in ns.ports.split(",")]
        self.key = load_public_key(Path(ns.key).read_bytes())

    async def connect(self, rate: float) -> None:
        for i, (name, dev) in enumerate(zip(self.names, self.devices, strict=True)):
            settings = SyncSettings(
                host="127.0.0.1", port=self.ports[(self.ns.first + i) % len(self.ports)],
                device_id=name, fleet_id=FLEET, protocol=MQTT_V311, backoff_min_s=0.5,
                backoff_max_s=10.0, confirm_timeout_s=15.0, state_interval_s=3600,
                keepalive=60,
            )  # fmt: skip
            signer = bench_device_key(name)  # the hub holds its public key (fleet_cluster.py)
            sync = DeviceSync(settings, dev, dev, dev, command_keys=lambda: [self.key],
                              clock=time.time, device_key=lambda k=signer: k)  # fmt: skip
            self.syncs.append(sync)
            self.tasks.append(asyncio.create_task(sync.run()))
            await asyncio.sleep(1 / rate)

    async def append(self, n: int) -> None:
        def write_all() -> list[int]:
            return [
                dev.append_sync([("sim.event", f"{name}-{dev_last + k}", {"k": dev_last + k})
                                 for k in range(1, n + 1)])
                for name, dev, dev_last in zip(self.names, self.devices, self.last, strict=True)
            ]  # fmt: skip

        self.last = await asyncio.to_thread(write_all)
        for sync in self.syncs:
            sync.outbox_changed()

    def stats(self) -> dict[str, int]:
        snaps = [s.stats() for s in self.syncs]
        return {
            "connected": sum(1 for s in snaps if s.connected),
            "unconfirmed": sum(max(0, last - s.confirmed_seq)
                               for last, s in zip(self.last, snaps, strict=False)),
            "confirmed": sum(s.confirmed for s in snaps),
        }  # fmt: skip

    async def depth(self) -> int:
        return sum([(await d.stats()).depth for d in self.devices])

    async def trust(self) -> int:
        def applied(dev: ReferenceDevice) -> bool:
            with dev._lock:  # the reference device has no query for it; bench only
                row = dev._db.execute(
                    "SELECT count(*) FROM command_results WHERE name = 'trust.update'"
                ).fetchone()
            return bool(row[0])

        return await asyncio.to_thread(lambda: sum(applied(d) for d in self.devices))

    async def quit(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for d in self.devices:
            d.close()


async def serve(ns: argparse.Namespace) -> None:
    share = Share(ns)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", flush=True)
    background: set[asyncio.Task[None]] = set()
    while line := (await reader.readline()).decode().strip():
        cmd, _, arg = line.partition(" ")
        answer: object = "ok"
        if cmd == "connect":
            task = asyncio.create_task(share.connect(float(arg)))
            background.add(task)
        elif cmd == "append":
            await share.append(int(arg))
        elif cmd == "stats":
            answer = json.dumps(share.stats())
        elif cmd == "depth":
            answer = await share.depth()
        elif cmd == "trust":
            answer = await share.trust()
        elif cmd == "quit":
            await share.quit()
            print("ok", flush=True)
            return
        print(answer, flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("--dir", "--key", "--ports"):
        p.add_argument(name, required=True)
    p.add_argument("--first", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
