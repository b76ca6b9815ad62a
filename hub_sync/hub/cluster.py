"""A local NATS cluster (MQTT + JetStream) on free loopback ports in a temp dir.

For the tests, the benchmark and `locker-hub simulate-trust`; production runs the same
`nats-server` configuration on three machines (docs/deployment.md, "Fleet broker"). Every node has
an MQTT listener (devices), a client listener (hub workers) and a cluster route to the others.
`kill(i)` is SIGKILL; `start(i)` brings the node back on the same ports and store.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, MqttConnection
from hub_sync.errors import ClusterError, MqttError


def free_ports(n: int) -> list[int]:
    """`n` distinct free loopback ports (bound together so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def nats_server() -> str:
    path = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if path is None:
        raise ClusterError("nats-server is not installed (apt-get install nats-server)")
    return path


@dataclass
class Node:
    name: str
    client_port: int
    route_port: int
    mqtt_port: int
    store: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class NatsCluster:
    """`size` nodes named n1..nN under `root`. Use as a context manager or call stop()."""

    root: Path
    size: int = 3
    nodes: list[Node] = field(default_factory=list)
    mqtt_user: str | None = None
    mqtt_password: str | None = None

    def __post_init__(self) -> None:
        ports = free_ports(3 * self.size)
        for i in range(self.size):
            store = self.root / f"n{i + 1}"
            store.mkdir(parents=True, exist_ok=True)
            client, route, mqtt = ports[3 * i : 3 * i + 3]
            self.nodes.append(Node(f"n{i + 1}", client, route, mqtt, store))

    def _config(self, node: Node) -> str:
        routes = ", ".join(f"nats-route://127.0.0.1:{n.route_port}" for n in self.nodes)
        return "\n".join(
            [
                f"server_name: {node.name}",
                f"listen: 127.0.0.1:{node.client_port}",
                f"jetstream {{ store_dir: {node.store}, max_mem: 64MB, max_file: 4GB }}",
                f"cluster {{ name: lk, listen: 127.0.0.1:{node.route_port}, routes: [{routes}] }}",
                # devices: MQTT 3.1.1; QoS 1 sessions and retained messages live in JetStream,
                # replicated on 3 nodes; ack_wait is the redelivery time of an unacked QoS 1
                f"mqtt {{ listen: 127.0.0.1:{node.mqtt_port}, stream_replicas: {min(3, self.size)},"
                " ack_wait: 30s, max_ack_pending: 1024 }",
                "max_payload: 2MB",
                "",
            ]
        )

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{n.client_port}" for n in self.nodes]

    def start(self, i: int | None = None) -> None:
        """Start every node (or node `i`) and wait until it answers on its ports."""
        targets = self.nodes if i is None else [self.nodes[i]]
        binary = nats_server()
        for node in targets:
            conf = self.root / f"{node.name}.conf"
            conf.write_text(self._config(node))
            log = (self.root / f"{node.name}.log").open("ab")
            node.proc = subprocess.Popen(  # noqa: S603 (our own binary and config)
                [binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
            log.close()
        deadline = time.monotonic() + 20
        for node in targets:
            while not (_listening(node.client_port) and _listening(node.mqtt_port)):
                if node.proc is not None and node.proc.poll() is not None:
                    raise ClusterError(f"{node.name} exited: see {self.root}/{node.name}.log")
                if time.monotonic() > deadline:
                    raise ClusterError(f"{node.name} did not start")
                time.sleep(0.05)

    def kill(self, i: int) -> None:
        """SIGKILL node `i` (what it held only in memory is lost)."""
        proc = self.nodes[i].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        for node in self.nodes:
            proc = node.proc
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def wait_ready(cluster: NatsCluster, within_s: float = 30.0) -> None:
    """Until JetStream has a meta leader and every node's MQTT side has its streams.

    A fresh cluster answers on its ports before it can store anything: MQTT connects and retained
    publishes time out until the JetStream meta leader is elected and the `$MQTT_*` streams exist.
    """

    deadline = asyncio.get_running_loop().time() + within_s
    nc = await nats.connect(servers=cluster.urls, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream(timeout=2)
        while True:
            try:
                await js.account_info()
                break
            except (nats.errors.Error, TimeoutError):
                if asyncio.get_running_loop().time() > deadline:
                    raise ClusterError("JetStream did not elect a leader") from None
                await asyncio.sleep(0.2)
    finally:
        await nc.close()
    for node in cluster.nodes:
        while True:
            params = ConnectParams(
                "127.0.0.1", node.mqtt_port, f"probe-{node.name}", protocol=MQTT_V311,
                clean_start=True, connect_timeout_s=5,
            )  # fmt: skip
            conn = MqttConnection(params, lambda _m: None)
            try:
                await conn.connect()
                await asyncio.wait_for(conn.publish("lk/probe", b"", retain=True), 5)
                break
            except (MqttError, TimeoutError):
                if asyncio.get_running_loop().time() > deadline:
                    raise ClusterError(f"{node.name}: MQTT not ready") from None
                await asyncio.sleep(0.2)
            finally:
                await conn.disconnect()
