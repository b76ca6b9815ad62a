"""The real agent against a real Mosquitto (per-device passwords and ACLs) and the reference hub.

The broker comes from `tests/hub_sync/conftest.py` (same config writer, ACL and kill/restart), with
the agent's locker id as one more device user. The agent is a real `Agent` on a real SQLite file
with simulated doors; the hub is `hub_sync.hub.reference.hub.Hub` in-process on its own SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from agent.bootstrap.app import Agent, DoorHardware
from agent.cli.demo import DEMO_LOCKER_ID, demo_config
from agent.config.hub import HubConfig
from agent.config.model import AgentConfig
from agent.domain.clock import ManualClock
from agent.store.audit import DEVICE_KEY_FILE, load_or_create_device_key
from hardware.doors.sim import SimulatedLocker
from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection
from hub_sync.hub.photo_ingest import PhotoCheck
from hub_sync.hub.reference.hub import ALL_LEAVES, Hub
from hub_sync.hub.reference.store import HubStore
from hub_sync.protocol.commands import CommandEnvelope, decode_command, encode_command
from hub_sync.protocol.signing import PrivateKey, sign
from hub_sync.protocol.wire import Header, Reply, Topics, decode_reply, new_message_id
from provisioning.fleet import DemoFleet, create_demo_fleet
from tests.agent.conftest import RunningAgent
from tests.hub_sync.conftest import (
    DEVICES,
    FLEET,
    HUB_PASSWORD,
    HUB_USER,
    Broker,
    RunningHub,
    free_port,
    wait_for,
)

AGENT_ID = DEMO_LOCKER_ID
OTHER_DEVICE = DEVICES[1]
__all__ = ["AGENT_ID", "FLEET", "OTHER_DEVICE", "Broker", "RunningHub", "free_port", "wait_for"]


def _configured_broker(tmp_path: Path) -> Broker:
    root = tmp_path / "broker"
    root.mkdir()
    b = Broker(root=root, port=free_port())
    b.passwords = {HUB_USER: HUB_PASSWORD, AGENT_ID: "pw-agent", OTHER_DEVICE: "pw-other"}
    b.write_config()
    return b


@pytest.fixture
def idle_broker(tmp_path: Path) -> Iterator[Broker]:
    """Configured (passwords, ACL) but not started: the test starts it when the link comes up."""
    b = _configured_broker(tmp_path)
    try:
        yield b
    finally:
        b.kill()


@pytest.fixture
def broker(idle_broker: Broker) -> Broker:
    idle_broker.start()
    return idle_broker


@pytest.fixture
def fleet(tmp_path: Path) -> DemoFleet:
    return create_demo_fleet(tmp_path / "fleet", AGENT_ID, time.time())


def hub_config(broker: Broker, folder: Path, *, fleet: str = FLEET) -> HubConfig:
    """`[hub]` for the agent: its own user and a password file (never the password inline)."""
    password_file = folder / "mqtt-password"
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(broker.passwords[AGENT_ID] + "\n")
    password_file.chmod(0o600)
    return HubConfig(
        url=f"mqtt://127.0.0.1:{broker.port}",
        fleet=fleet,
        username=AGENT_ID,
        password_file=password_file,
    )


def agent_config(data_dir: Path, hub: HubConfig, fleet: DemoFleet | None) -> AgentConfig:
    """The demo locker's config with a hub link, the camera off and a fast door poll."""
    config = demo_config(data_dir, port=0, fleet=fleet)
    return config.model_copy(
        update={
            "hub": hub,
            "camera": config.camera.model_copy(update={"enabled": False}),
            "supervision": config.supervision.model_copy(update={"poll_ms": 50}),
        }
    )


async def start_hub_agent(
    data_dir: Path, broker: Broker, fleet: DemoFleet | None, clock: ManualClock
) -> RunningAgent:
    """A started and serving agent (sync task included) linked to `broker`; no seeded orders."""
    config = agent_config(data_dir, hub_config(broker, data_dir.parent / "secrets"), fleet)
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, clock=clock, hardware=DoorHardware(sim, sim))
    await agent.start()
    stop = asyncio.Event()
    serving = asyncio.create_task(agent.serve(stop), name="test.agent-serve")
    return RunningAgent(agent, sim, clock, aiohttp.ClientSession(), [], stop, serving)


@pytest.fixture
async def hub_agent(
    tmp_path: Path, broker: Broker, fleet: DemoFleet
) -> AsyncIterator[RunningAgent]:
    running = await start_hub_agent(tmp_path / "data", broker, fleet, ManualClock(time.time()))
    try:
        yield running
    finally:
        await running.close()


async def start_hub(
    broker: Broker,
    db_path: Path,
    *,
    sign_key: PrivateKey,
    clock: Callable[[], float] = time.time,
    client_id: str | None = None,
    leaves: tuple[str, ...] = ALL_LEAVES,
    photo_check: PhotoCheck | None = None,
    agent_data: Path | None = None,
) -> RunningHub:
    """A connected reference hub; another `client_id` for a second one (e.g. a forger);
    `photo_check` to take evidence photos; `agent_data`: the agent's data folder, whose device
    key (made now if the agent has not started yet) the hub holds to verify its events and
    replies (without it the hub refuses them)."""
    settings = broker.hub_settings(leaves=leaves)
    if client_id is not None:
        settings = replace(settings, connect=replace(settings.connect, client_id=client_id))
    store = HubStore(db_path)
    if agent_data is not None:
        store.add_device_key(FLEET, AGENT_ID, agent_device_key(agent_data), time.time())
    hub = Hub(settings, store, sign_key=sign_key, clock=clock, photo_check=photo_check)
    task = asyncio.create_task(hub.run(), name=f"test-hub-{client_id or 'main'}")
    async with asyncio.timeout(10):
        await hub.connected.wait()
    return RunningHub(hub, store, task)


def agent_device_key(data_dir: Path) -> bytes:
    """The raw public key of the agent's device key in `data_dir` (made if it is not there yet:
    the agent then loads the same file), as a hub holds it."""
    key = load_or_create_device_key(data_dir / DEVICE_KEY_FILE)
    return key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


async def stop_hub(running: RunningHub) -> None:
    running.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running.task
    await asyncio.to_thread(running.store.close)


@pytest.fixture
async def signing_hub(
    broker: Broker, fleet: DemoFleet, tmp_path: Path, hub_agent: RunningAgent
) -> AsyncIterator[RunningHub]:
    """The fleet's hub, signing with the fleet's command key on the agent's clock."""
    running = await start_hub(
        broker, tmp_path / "hub.db", sign_key=fleet.command_key, clock=hub_agent.clock.now,
        agent_data=hub_agent.agent.config.locker.data_dir,
    )  # fmt: skip
    try:
        yield running
    finally:
        await stop_hub(running)


@dataclass(frozen=True, slots=True)
class HubEvent:
    seq: int
    kind: str
    transaction_id: str
    body: dict[str, Any]
    created_at: float


def hub_events(db_path: Path, device: str = AGENT_ID, fleet: str = FLEET) -> list[HubEvent]:
    """Every event the hub stored for `device`, by seq (a second reader on the hub's WAL file)."""
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT seq, kind, transaction_id, body, created_at FROM events"
            " WHERE fleet = ? AND device = ? ORDER BY seq",
            (fleet, device),
        ).fetchall()
    finally:
        conn.close()
    return [HubEvent(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]


def outbox_rows(conn: sqlite3.Connection) -> list[HubEvent]:
    """The agent's outbox as the hub would store it (for `Database.read`)."""
    rows = conn.execute(
        "SELECT seq, kind, transaction_id, body, created_at FROM outbox ORDER BY seq"
    ).fetchall()
    return [HubEvent(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]


def audit_rows(conn: sqlite3.Connection) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, actor, detail) of every audit entry, oldest first (for `Database.read`)."""
    rows = conn.execute("SELECT action, actor, detail FROM audit ORDER BY seq").fetchall()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


class CommandProbe:
    """A raw hub-user connection that publishes hand-made command payloads and reads the replies.

    For what the reference hub will not send: replays of a signed command, foreign payloads."""

    def __init__(self, broker: Broker, device: str = AGENT_ID) -> None:
        self._topics = Topics(FLEET, device)
        self._broker = broker
        self._replies: dict[str, asyncio.Future[Reply]] = {}
        self._conn: MqttConnection | None = None

    async def __aenter__(self) -> CommandProbe:
        params = ConnectParams(
            host="127.0.0.1", port=self._broker.port, client_id=f"probe-{new_message_id()[:8]}",
            username=HUB_USER, password=HUB_PASSWORD, clean_start=True,
        )  # fmt: skip
        self._conn = MqttConnection(params, self._on_message)
        await self._conn.connect()
        await self._conn.subscribe([(self._topics.reply, 1)])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.disconnect()

    def _on_message(self, msg: Inbound) -> None:
        reply = decode_reply(msg.payload)
        fut = self._replies.get(reply.command_message_id)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    async def send(self, payload: bytes, within_s: float = 10.0) -> Reply:
        assert self._conn is not None
        message_id = decode_command(payload).header.message_id
        fut = self._replies.setdefault(message_id, asyncio.get_running_loop().create_future())
        await self._conn.publish(self._topics.command, payload)
        async with asyncio.timeout(within_s):
            return await fut


def resent_as_new_message(payload: bytes, sent_at: float) -> bytes:
    """The same signed command (same transaction, nonce and signature) under a new message id:
    what an attacker who recorded it replays (a transport duplicate would keep the id)."""
    env = decode_command(payload)
    h = env.header
    header = Header(h.type, new_message_id(), h.fleet, h.device, sent_at)
    return encode_command(CommandEnvelope(header, env.transaction_id, env.name, env.args, env.sig))


def command_bytes(
    name: str,
    args: Mapping[str, Any],
    *,
    sent_at: float,
    key: PrivateKey | None = None,
    exp: int | None = None,
    transaction_id: str | None = None,
) -> bytes:
    """A command to the agent, signed with `key` (any key: a forger's too) or unsigned."""
    tx = transaction_id or new_message_id()
    header = Header("command", new_message_id(), FLEET, AGENT_ID, sent_at)
    sig = None
    if key is not None:
        assert exp is not None
        sig = sign(key, fleet=FLEET, device=AGENT_ID, name=name, transaction_id=tx,
                   args=args, exp=exp)  # fmt: skip
    return encode_command(CommandEnvelope(header, tx, name, args, sig))


def command_payload(db_path: Path, message_id: str) -> bytes:
    """The bytes the hub published for `message_id` (as recorded by anyone on the broker)."""
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute(
            "SELECT payload FROM commands WHERE message_id = ?", (message_id,)
        ).fetchone()
    finally:
        conn.close()
    assert row is not None
    return bytes(row[0])


def json_lines(text: str) -> list[Mapping[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
