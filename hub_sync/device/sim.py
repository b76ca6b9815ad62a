"""A simulated locker in its own process: the reference device plus `DeviceSync`.

    python -m hub_sync.device.sim --broker mqtt://d1:pw@127.0.0.1:1883 --fleet f1 --device d1 \
        --db d1.db --command-key hub.pub.pem [--device-key d1.key.pem] [--generate 3000] \
        [--protocol 3.1.1]

The device key (Ed25519, PEM; made on first start, default `<db>.key.pem`) signs its events
messages and the replies to commands; the hub must hold its public key (`locker-admin hub
device-key`).

It is what the crash tests kill with SIGKILL, and an example of wiring `DeviceSync` for the agent.
SIGTERM or SIGINT stops it cleanly (status "offline" is published before it disconnects).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.adapters.mqtt import TlsSettings
from hub_sync.adapters.settings import SyncSettings, parse_broker, parse_protocol
from hub_sync.device.outbox import ReferenceDevice
from hub_sync.device.sync import DeviceSync
from hub_sync.protocol.signing import PublicKey, load_private_key, load_public_key
from hub_sync.protocol.wire import OutboxEvent


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hub_sync.device.sim")
    p.add_argument("--broker", required=True)
    p.add_argument("--ca", help="CA bundle for mqtts://")
    p.add_argument("--fleet", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--db", required=True, type=Path)
    p.add_argument("--generate", type=int, default=0, help="commit this many events first")
    p.add_argument(
        "--command-key", type=Path, action="append", required=True,
        help="the hub's public key (PEM); it signs commands and confirms (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--device-key", type=Path,
        help="the device key (PEM, Ed25519; made if missing): signs events and replies",
    )  # fmt: skip
    p.add_argument("--protocol", default="5")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--read-delay-ms", type=float, default=0.0, help="simulate a slow disk")
    return p.parse_args(argv)


class SlowDisk(ReferenceDevice):
    """The reference device on a slow disk: every outbox read takes `delay_s` longer."""

    delay_s = 0.0

    async def pending(self, after_seq: int, limit: int) -> Sequence[OutboxEvent]:
        """Wait `delay_s`, then read the outbox as the reference device does."""
        await asyncio.sleep(self.delay_s)
        return await super().pending(after_seq, limit)


def build(ns: argparse.Namespace, device: ReferenceDevice) -> DeviceSync:
    """The `DeviceSync` of the simulated locker, from the command line's options."""
    host, port, user, password, tls = parse_broker(ns.broker)
    settings = SyncSettings(
        host=host, port=port, device_id=ns.device, fleet_id=ns.fleet, username=user,
        password=password, tls=TlsSettings(ca=ns.ca) if tls else None,
        protocol=parse_protocol(ns.protocol), batch_size=ns.batch_size,
        backoff_min_s=0.1, backoff_max_s=2.0,
    )  # fmt: skip
    keys: list[PublicKey] = [load_public_key(p.read_bytes()) for p in ns.command_key]
    signer = load_or_create_key(ns.device_key or ns.db.with_name(ns.db.name + ".key.pem"))
    return DeviceSync(settings, device, device, device, command_keys=lambda: keys,
                      clock=time.time, device_key=lambda: signer)  # fmt: skip


def load_or_create_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key in `path` (PKCS#8 PEM), made (mode 0600) if the file does not exist."""
    if not path.exists():
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )  # fmt: skip
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    key = load_private_key(path.read_bytes())
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise TypeError(f"{path}: the device key must be Ed25519")
    return key


async def _main(ns: argparse.Namespace) -> None:
    device = SlowDisk(ns.db)
    device.delay_s = ns.read_delay_ms / 1000
    for start in range(0, ns.generate, 1000):
        n = min(1000, ns.generate - start)
        await device.append(
            [("sim.event", f"{ns.device}-{i}", {"i": i}) for i in range(start, start + n)]
        )
    sync = build(ns, device)
    task = asyncio.create_task(sync.run(), name="sim-device-sync")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    device.close()


def main(argv: list[str] | None = None) -> int:
    """Run the simulated locker until SIGTERM or SIGINT; 0."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_main(_args(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
