"""One fleet hub worker: a JetStream durable pull consumer in, MQTT out, PostgreSQL in between.

Devices publish over MQTT to the NATS cluster; the stream `LK_IN_<fleet>` (3 replicas, work
queue) keeps their `evt`, `reply`, `state` and `status` messages until a worker acknowledges
them. N workers pull from the same durable consumer (`hub-<fleet>`), so they share the ingest
with no fixed client id. Per pull: decode, one PostgreSQL transaction, commit, then publish the
hub-signed confirms over MQTT (client id `hub-<fleet>-<random>`, clean session), then
acknowledge. A worker killed anywhere before the ack leaves its messages to be redelivered after
`ack_wait_s` to another worker, which finds them stored and only confirms again: nothing lost,
nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from hub_sync.adapters.mqtt import MQTT_V311, ConnectParams, MqttConnection
from hub_sync.errors import MqttError, WireError
from hub_sync.hub import store
from hub_sync.hub.audit import verify_checkpoints
from hub_sync.hub.inbound import Decoded, decode_batch, drop_revoked
from hub_sync.hub.ingest import Applied, apply_events, raise_alarms
from hub_sync.hub.photo_ingest import C2paPhotoCheck, PhotoState, signed_ack
from hub_sync.hub.photos import apply_chunks
from hub_sync.protocol.photo_wire import PhotoChunk
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.signing import PrivateKey, sign_confirm
from hub_sync.protocol.wire import (
    Confirm,
    EventBatch,
    Header,
    Topics,
    encode,
    encode_confirm,
    hub_topic,
    new_message_id,
)

_LOG = logging.getLogger(__name__)


def stream_name(fleet: str) -> str:
    """One work-queue stream per fleet (NATS 2.9 consumers take a single filter subject)."""
    return f"LK_IN_{fleet}"


LEAVES = ("evt", "reply", "state", "status", "photo")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """The fleet, the NATS cluster, the MQTT listeners, the database, and the ingest tuning."""

    fleet: str
    nats_urls: Sequence[str]
    mqtt: Sequence[tuple[str, int]]
    dsn: str
    batch: int = 500
    #: how long a pull waits for its batch to fill once a message is there (nats-py's fetch
    #: waits until the batch is full or this ends): the latency a lone reply or event gets
    fetch_wait_s: float = 0.1
    ack_wait_s: float = 30.0
    replicas: int = 3
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    #: the fleet device CA (PEM): without it photo chunks are dropped (devices keep the photos)
    device_ca_pem: str | None = None


@dataclass
class WorkerStats:
    """What this worker has done: events stored, duplicates, confirms, dropped messages,
    batches, alarms by kind."""

    stored: int = 0
    duplicates: int = 0
    confirms: int = 0
    dropped: int = 0
    batches: int = 0
    photo_acks: int = 0
    #: replies refused: unsigned, not signed by the device, or not to a command sent to it
    refused_replies: int = 0
    #: events batches refused: unsigned, or not signed by a key the device has had
    refused_events: int = 0
    alarms: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def ensure_stream(
    js: JetStreamContext, fleet: str, *, replicas: int, ack_wait_s: float
) -> None:
    """The ingest stream and the fleet's durable consumer (idempotent, any worker may do it)."""
    config = StreamConfig(
        name=stream_name(fleet),
        subjects=[f"lk.v1.{fleet}.*.{leaf}" for leaf in LEAVES],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_age=14 * 86_400,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)
    consumer = ConsumerConfig(
        durable_name=f"hub-{fleet}",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_ack_pending=50_000,
        max_deliver=-1,
    )
    with contextlib.suppress(nats.js.errors.BadRequestError):  # exists with other settings
        await js.add_consumer(stream_name(fleet), consumer)


class FleetWorker:
    """One hub worker: pulls from the fleet's durable consumer, stores in PostgreSQL, confirms
    over MQTT, then acknowledges."""

    def __init__(
        self,
        settings: WorkerSettings,
        sign_key: PrivateKey,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.s = settings
        self._key = sign_key
        self._clock = clock
        self.stats = WorkerStats()
        self._refusals = RefusalLog(_LOG)
        self.pool: asyncpg.Pool | None = None
        self.mqtt: MqttConnection | None = None
        self.mqtt_ready = asyncio.Event()
        self.started = asyncio.Event()
        #: the fleet's stream and consumer exist and MQTT is up: what devices publish from now on
        #: is captured (before the stream exists, NATS captures nothing: a fresh fleet's first
        #: statuses would be lost)
        self.consuming = asyncio.Event()
        self.client_id = f"hub-{settings.fleet}-{secrets.token_hex(4)}"
        ca = settings.device_ca_pem
        self._photo_check = None if ca is None else C2paPhotoCheck(ca)

    async def run(self, pool: asyncpg.Pool) -> None:
        """Consume forever (cancel to stop); reconnects to NATS and MQTT on its own."""
        self.pool = pool
        self.started.set()
        nc = await nats.connect(
            servers=list(self.s.nats_urls), max_reconnect_attempts=-1, reconnect_time_wait=0.5,
            name=self.client_id,
        )  # fmt: skip
        out = asyncio.create_task(self._mqtt_loop(), name="fleet-mqtt")
        handling: asyncio.Task[None] | None = None
        try:
            js = nc.jetstream(timeout=10)
            await _retry(lambda: ensure_stream(js, self.s.fleet, replicas=self.s.replicas,
                                               ack_wait_s=self.s.ack_wait_s))  # fmt: skip
            sub = await _retry(
                lambda: js.pull_subscribe_bind(f"hub-{self.s.fleet}", stream_name(self.s.fleet))
            )
            await self.mqtt_ready.wait()
            self.consuming.set()
            while True:
                try:
                    msgs = await sub.fetch(self.s.batch, timeout=self.s.fetch_wait_s)
                except (NatsTimeout, TimeoutError):
                    continue
                except nats.errors.Error as err:
                    _LOG.warning("fetch: %s", err)
                    await asyncio.sleep(0.5)
                    continue
                # a batch being stored is finished even if this task is cancelled meanwhile
                handling = asyncio.create_task(self._handle(msgs), name="fleet-batch")
                await asyncio.shield(handling)
        finally:
            if handling is not None and not handling.done():
                # ... before its MQTT connection (the confirms) and NATS (the acks) are closed
                await asyncio.wait({handling}, timeout=10)
            out.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await out
            with contextlib.suppress(Exception):  # bounded: a reconnecting client may hang
                await asyncio.wait_for(nc.close(), 5)

    async def _handle(self, msgs: list[Msg]) -> None:
        raw = [(m.subject, m.data) for m in msgs]
        decoded = await asyncio.to_thread(decode_batch, raw) if len(raw) > 50 else decode_batch(raw)
        assert self.pool is not None  # noqa: S101
        now = self._clock()
        photos: list[PhotoState] = []
        refused_replies: list[str] = []
        refused_events: list[store.RefusedBatch] = []
        signed: list[EventBatch] = []
        while True:
            try:
                async with self.pool.acquire() as conn:
                    revoked = await store.revoked_devices(conn, self.s.fleet)
                    refused = drop_revoked(decoded, revoked)
                    if refused:  # the hub refuses a revoked device's messages, and says so
                        await raise_alarms(
                            conn,
                            [
                                (self.s.fleet, d, "DEVICE_REVOKED", "message refused")
                                for d in refused
                            ],
                            now,
                        )
                    if decoded.photos and self._photo_check is not None:
                        photos = await apply_chunks(conn, decoded.photos, self._photo_check, now)
                    signed, refused_events = await store.signed_batches(conn, decoded.events)
                    await raise_alarms(
                        conn, [(r.fleet, r.device, r.alarm, r.reason) for r in refused_events], now
                    )
                    applied = await apply_events(conn, signed, now)
                    await verify_checkpoints(conn, signed, now)
                    refused_replies = await store.record_replies(conn, decoded.replies, now)
                    await store.record_states(conn, decoded.states, now)
                    await store.record_statuses(conn, decoded.statuses, now)
                break
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as err:
                _LOG.warning("database: %s; retrying", type(err).__name__)
                await asyncio.sleep(1.0)
            except WireError as err:  # a state that is not JSON: drop the states, keep the rest
                _LOG.warning("dropped state: %s", err.reason)
                decoded.states = []
        decoded.events = signed  # a refused batch is neither stored nor confirmed
        await self._confirm(decoded.events, applied)
        await self._ack_photos(decoded.photos, photos)
        online = [s.header.device for s in decoded.statuses if s.online]
        if online:
            await self.send_pending(online)
        self._count(decoded, applied)
        for reason in refused_replies:  # the command stays pending and is re-sent
            self.stats.refused_replies += 1
            self._refusals.refused("reply", reason)
        for r in refused_events:  # the device resends its own events
            self.stats.refused_events += 1
            self.stats.alarms[r.alarm] += 1
            self._refusals.refused("events", r.reason)
        for m in msgs:  # after the commit and the confirms: a crash before this redelivers
            with contextlib.suppress(Exception):
                await m.ack()

    def _count(self, decoded: Decoded, applied: Applied) -> None:
        self.stats.stored += applied.stored
        self.stats.duplicates += applied.duplicates
        self.stats.dropped += decoded.dropped
        self.stats.batches += 1
        for _f, _d, kind, _detail in applied.alarms:
            self.stats.alarms[kind] += 1

    async def _confirm(self, batches: list[EventBatch], applied: Applied) -> None:
        """Publish a hub-signed confirm per device, after the commit, at QoS 0 without waiting.

        A device accepts a confirm only for a message of its current connection, so a confirm
        the broker queued for a device that went away is refused as stale when it comes back:
        QoS 1 would buy nothing, and cost a replicated JetStream write per confirm on NATS. A
        lost confirm only delays: the device resends after `confirm_timeout_s` and this worker
        finds the events stored and confirms again."""
        last = {(b.header.fleet, b.header.device): b.header.message_id for b in batches}
        conn = self.mqtt
        if conn is None:
            return
        for (fleet, device), seq in applied.through.items():
            in_reply_to = last[fleet, device]
            sig = sign_confirm(self._key, fleet=fleet, device=device, through_seq=seq,
                               in_reply_to=in_reply_to)  # fmt: skip
            header = Header("confirm", new_message_id(), fleet, device, self._clock())
            payload = encode_confirm(Confirm(header, seq, in_reply_to, sig))
            with contextlib.suppress(MqttError):  # not connected: the device will resend
                await conn.publish(Topics(fleet, device).confirm, payload, qos=0)
            self.stats.confirms += 1

    async def _ack_photos(self, chunks: list[PhotoChunk], states: list[PhotoState]) -> None:
        conn = self.mqtt
        if conn is None or not states:
            return  # a lost ack only delays: the device sends the chunk again
        futures = []
        for chunk, state in zip(chunks, states, strict=True):
            device, payload = signed_ack(self._key, chunk, state, self._clock())
            futures.append(conn.publish_future(Topics(self.s.fleet, device).photo_ack, payload))
        self.stats.photo_acks += len(futures)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(*futures, return_exceptions=True)

    async def send_pending(self, devices: Sequence[str | None]) -> int:
        """Publish due commands (to `devices` that just came online, or `[None]`: every due one)."""
        conn, pool = self.mqtt, self.pool
        if conn is None or pool is None:
            return 0
        sent = 0
        async with pool.acquire() as db:
            for device in devices:
                cutoff = self._clock() - 30.0
                cmds = await store.pending_commands(db, self.s.fleet, device=device,
                                                    resend_before=cutoff)  # fmt: skip
                for c in cmds:
                    conn.publish_future(Topics(self.s.fleet, c.device).command, c.payload)
                if cmds:
                    await store.mark_sent(db, [c.message_id for c in cmds], self._clock())
                sent += len(cmds)
        return sent

    async def publish_retained(self, topic: str, payload: bytes) -> None:
        """Publish retained on the worker's MQTT connection; `MqttError` when it has none."""
        conn = self.mqtt
        if conn is None:
            raise MqttError("hub worker has no MQTT connection")
        await conn.publish(topic, payload, retain=True)

    async def _mqtt_loop(self) -> None:
        attempt = 0
        while True:
            host, port = self.s.mqtt[attempt % len(self.s.mqtt)]
            params = ConnectParams(
                host, port, self.client_id, username=self.s.mqtt_username,
                password=self.s.mqtt_password, protocol=MQTT_V311, clean_start=True,
                max_inflight=1000,
            )  # fmt: skip
            conn = MqttConnection(params, lambda _m: None)
            try:
                await conn.connect()
                header = Header("hub_status", new_message_id(), self.s.fleet, "*", self._clock())
                await conn.publish(hub_topic(self.s.fleet), encode(header, {"online": True}),
                                   retain=True)  # fmt: skip
                self.mqtt = conn
                self.mqtt_ready.set()
                attempt = 0
                await conn.closed
            except MqttError as err:
                _LOG.warning("hub mqtt %s:%s: %s", host, port, err)
            finally:
                self.mqtt = None
                await conn.disconnect()
            attempt += 1
            await asyncio.sleep(random.uniform(0.1, 0.5))  # noqa: S311


async def _retry(make: Callable[[], Any], tries: int = 60) -> Any:
    """Cluster calls fail while a JetStream leader is being elected: retry for ~30 s."""
    for _ in range(tries - 1):
        try:
            return await make()
        except (nats.errors.Error, TimeoutError) as err:
            _LOG.info("jetstream not ready: %s", err)
            await asyncio.sleep(0.5)
    return await make()
