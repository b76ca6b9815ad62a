"""A broker behind a faulty network: Mosquitto in its own network namespace, reached over veth
pairs, with faults made by the kernel where this machine's kernel can.

What this machine offers (checked 2026-11-30, kernel 6.18 in the CI container, as root):
`ip netns`, veth pairs, `ip link set down/up` and iptables' `statistic` match work; `tc qdisc ...
netem` does NOT ("Error: Specified qdisc kind is unknown.": no sch_netem module and no way to load
one). So partition and flapping are the kernel's (the agent's veth goes down), 30 % loss is the
kernel's (iptables `-m statistic --mode random --probability 0.3 -j DROP` on the broker's side,
both directions), and only the 2 s latency is made in user space: `DelayRelay` forwards the
agent's TCP stream after a delay, a weaker stand-in for netem (it delays bytes, not packets, and
cannot reorder).

Topology (addresses are ours alone: 10.213.x.0/30 inside namespaces this module creates):

    agent (root ns) -> DelayRelay 127.0.0.1:P -> veth a0 10.213.1.1 == a1 10.213.1.2 -+
                                                                                     | broker ns
    hub   (root ns) ---------------------------> veth h0 10.213.2.1 == h1 10.213.2.2 -+ mosquitto
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.hub_sync.conftest import HUB_PASSWORD, HUB_USER, Broker

AGENT_NET, HUB_NET = "10.213.1", "10.213.2"
BROKER_PORT = 1883


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _iptables_cmd() -> str:
    for name in ("iptables-legacy", "iptables"):
        if shutil.which(name):
            return name
    raise RuntimeError("iptables is not installed: run scripts/system-deps.sh")


@dataclass
class NetLab:
    """Namespace, two veth pairs and the broker in it. `with NetLab(root) as lab:`."""

    root: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    broker: Broker | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ns(self) -> str:
        return f"lkr-{self.tag}"

    @property
    def agent_if(self) -> str:
        return f"lka{self.tag}"  # root side of the agent's link (<= 15 characters)

    @property
    def broker_host(self) -> str:
        return f"{AGENT_NET}.2"

    @property
    def hub_host(self) -> str:
        return f"{HUB_NET}.2"

    def __enter__(self) -> NetLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        ns, t = self.ns, self.tag
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        for side, net in (("a", AGENT_NET), ("h", HUB_NET)):
            outer, inner = f"lk{side}{t}", f"lk{side}{t}x"
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            _ip("addr", "add", f"{net}.1/30", "dev", outer)
            _ip("-n", ns, "addr", "add", f"{net}.2/30", "dev", inner)
            _ip("link", "set", outer, "up")
            _ip("-n", ns, "link", "set", inner, "up")
        self._start_broker()

    def _start_broker(self) -> None:
        root = self.root / "broker"
        root.mkdir(parents=True, exist_ok=True)
        b = Broker(root=root, port=BROKER_PORT)
        b.passwords = {HUB_USER: HUB_PASSWORD}
        self.broker = b

    def add_device(self, device: str, password: str) -> None:
        assert self.broker is not None
        self.broker.passwords[device] = password

    def start_broker(self) -> None:
        """Write the config (listening on the namespace's addresses) and start Mosquitto there."""
        b = self.broker
        assert b is not None
        conf = b.write_config()
        text = conf.read_text().replace(f"listener {b.port} 127.0.0.1", f"listener {b.port}")
        conf.write_text(text)
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, exe, "-c", str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.hub_host, b.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start in the namespace")

    # -- faults on the agent's link only -----------------------------------------------------
    def link(self, up: bool) -> None:
        _ip("link", "set", self.agent_if, "up" if up else "down")

    def loss(self, probability: float | None) -> None:
        """Random loss both ways on the broker's side of the agent link; None removes it."""
        ipt = _iptables_cmd()
        inner = f"{self.agent_if}x"
        base = ["ip", "netns", "exec", self.ns, ipt]
        subprocess.run([*base, "-F"], check=True, capture_output=True, timeout=10)
        if probability is None:
            return
        for chain, flag in (("INPUT", "-i"), ("OUTPUT", "-o")):
            rule = [chain, flag, inner, "-m", "statistic", "--mode", "random",
                    "--probability", str(probability), "-j", "DROP"]  # fmt: skip
            subprocess.run([*base, "-A", *rule], check=True, capture_output=True, timeout=10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            _ip("netns", "delete", self.ns)  # takes the inner veth ends, and so the pairs
        for side in ("a", "h"):
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                _ip("link", "delete", f"lk{side}{self.tag}")


def can_build_namespaces() -> str | None:
    """None when this process may create namespaces, else why not."""
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


class DelayRelay:
    """A TCP relay on 127.0.0.1 that delivers each direction's bytes `delay_s` after they arrived
    (user space: see the module docstring for why not netem)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.delay_s = 0.0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 5)
            except (OSError, TimeoutError):
                return
            try:
                await asyncio.gather(self._pump(reader, up_w), self._pump(up_r, writer))
            finally:
                up_w.close()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + self.delay_s, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()
            # one side ended: end the other too (a relay holds no half-open links)
            writer.close()
