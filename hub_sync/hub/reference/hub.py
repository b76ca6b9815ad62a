"""The reference hub: consumes events (dedup by device and seq), confirms them, sends commands.

Used by the tests, the fleet simulator and `locker-admin hub`. A production hub may be written in
any language from docs/protocol.md; this one shows the rules: store, then confirm the highest
contiguous seq; re-send unanswered commands when a device comes back online.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from hub_sync.adapters.mqtt import ConnectParams, Inbound, MqttConnection, Will
from hub_sync.errors import MqttError, WireError
from hub_sync.hub.photo_ingest import PhotoCheck, signed_ack
from hub_sync.hub.reference.store import HubStore, PendingCommand
from hub_sync.protocol.commands import CommandEnvelope, encode_command, parse_args
from hub_sync.protocol.photo_wire import PhotoChunk, decode_chunk
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.signing import PrivateKey, sign, sign_confirm
from hub_sync.protocol.wire import (
    Confirm,
    EventBatch,
    Header,
    Reply,
    Topics,
    decode_events,
    decode_reply,
    decode_status,
    encode,
    encode_confirm,
    fleet_filter,
    hub_topic,
    new_message_id,
    split_topic,
)

_LOG = logging.getLogger(__name__)
_DRAIN_MAX = 2000
ALL_LEAVES = ("evt", "reply", "status", "state")


@dataclass(frozen=True, slots=True)
class HubSettings:
    """The fleet, the connection, command re-send and expiry times, reconnect backoff, and the
    topics to consume."""

    fleet: str
    connect: ConnectParams
    resend_after_s: float = 30.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    open_ttl_s: int = 120
    command_ttl_s: int = 14 * 86_400
    #: what to consume; a one-shot CLI sender only listens for replies
    leaves: tuple[str, ...] = ALL_LEAVES


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """Where a command stands: `pending`, `ok` or `nack` (with its reason), and its result."""

    status: str
    reason: str | None
    result: Mapping[str, object]


class Hub:
    """One fleet's hub. `run()` reconnects forever; the other methods work connected or not."""

    def __init__(
        self,
        settings: HubSettings,
        store: HubStore,
        *,
        sign_key: PrivateKey | None = None,
        clock: Callable[[], float] = time.time,
        photo_check: PhotoCheck | None = None,
    ) -> None:
        """`photo_check`: verifies uploaded evidence photos (`C2paPhotoCheck`); without it the
        hub does not take photos (devices keep them until a hub that can check them does)."""
        self._s = settings
        self._photo_check = photo_check
        self._store = store
        self._key = sign_key
        self._clock = clock
        self._inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        self._conn: MqttConnection | None = None
        self._waiters: dict[str, asyncio.Future[CommandOutcome]] = {}
        self._background: set[asyncio.Future[None]] = set()
        self.connected = asyncio.Event()
        self.applied = 0
        self.duplicates = 0
        #: refused input (forged replies and events), counted by kind and logged once per kind
        self.refusals = RefusalLog(_LOG)

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff forever; only cancellation ends it."""
        attempt = 0
        params = self._s.connect
        if "evt" in self._s.leaves:
            params = replace(params, will=Will(hub_topic(self._s.fleet), self._hub_status(False)))
        while True:
            conn = MqttConnection(params, self._inbox.put_nowait)
            try:
                await conn.connect()
                attempt = 0
                await self._serve(conn)
            except MqttError as err:
                _LOG.warning("hub connection: %s", err)
            finally:
                self._conn = None
                self.connected.clear()
                await conn.disconnect()
            attempt += 1
            cap = min(self._s.backoff_max_s, self._s.backoff_min_s * 2 ** min(attempt, 20))
            await asyncio.sleep(random.uniform(self._s.backoff_min_s, cap))  # noqa: S311

    async def _serve(self, conn: MqttConnection) -> None:
        f = self._s.fleet
        leaves = list(self._s.leaves)
        if self._photo_check is not None and "evt" in leaves:
            leaves.append("photo")
        await conn.subscribe([(fleet_filter(f, leaf), 1) for leaf in leaves])
        if "evt" in self._s.leaves:
            await conn.publish(hub_topic(f), self._hub_status(True), retain=True)
        self._conn = conn
        self.connected.set()
        if "status" in self._s.leaves:
            await self._send_pending(device=None, online_only=False, older_than=None)
        consumer = asyncio.create_task(self._consume(conn), name="hub-consume")
        resender = asyncio.create_task(self._resend_loop(), name="hub-resend")
        try:
            await asyncio.wait([asyncio.ensure_future(conn.closed), consumer, resender],
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if consumer.done() and not consumer.cancelled() and consumer.exception():
                _LOG.error("hub consumer failed", exc_info=consumer.exception())
        finally:
            consumer.cancel()
            resender.cancel()
            await asyncio.gather(consumer, resender, return_exceptions=True)

    def _hub_status(self, online: bool) -> bytes:
        header = Header("hub_status", new_message_id(), self._s.fleet, "*", self._clock())
        return encode(header, {"online": online})

    async def _consume(self, conn: MqttConnection) -> None:
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < _DRAIN_MAX and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            # a batch whose events are stored must also be counted and confirmed, even when the
            # session ends meanwhile: cancelling mid-way would leave the counters behind the store
            await asyncio.shield(self._process(conn, batch))

    async def _process(self, conn: MqttConnection, batch: list[Inbound]) -> None:
        # Parsing a large backlog takes long enough to stall the loop: do it in a thread.
        by_leaf = await asyncio.to_thread(_decode_all, batch)
        now = self._clock()
        if by_leaf["evt"]:
            await self._on_events(conn, by_leaf["evt"], now)
        if by_leaf["reply"]:
            await self._on_replies(by_leaf["reply"], now)
        for chunk in by_leaf["photo"]:
            await self._on_chunk(conn, chunk, now)
        for fleet, device, payload in by_leaf["state"]:
            await asyncio.to_thread(self._store.set_state, fleet, device, payload)
        for status in by_leaf["status"]:
            h = status.header
            await asyncio.to_thread(
                self._store.set_status, h.fleet, h.device, status.online, status.alarm, now
            )
            if status.online:
                await self._send_pending(device=h.device, online_only=False, older_than=None)

    async def _on_events(self, conn: MqttConnection, batches: list[EventBatch], now: float) -> None:
        # a batch not signed by its device is neither stored nor confirmed: whoever can publish
        # on the broker cannot add events in a locker's name (the device resends its own)
        applied = await asyncio.to_thread(self._store.apply_events, batches, now)
        self.applied += applied.applied
        self.duplicates += applied.duplicates
        for reason in applied.refused:
            self.refusals.refused("events", reason)
        for (fleet, device), seq in applied.through.items():
            header = Header("confirm", new_message_id(), fleet, device, self._clock())
            in_reply_to = applied.in_reply_to[fleet, device]
            sig = None
            if self._key is not None:  # without a key devices ignore the confirm (and alarm)
                sig = sign_confirm(self._key, fleet=fleet, device=device, through_seq=seq,
                                   in_reply_to=in_reply_to)  # fmt: skip
            payload = encode_confirm(Confirm(header, seq, in_reply_to, sig))
            self._track(conn.publish_future(Topics(fleet, device).confirm, payload))

    async def _on_chunk(self, conn: MqttConnection, chunk: PhotoChunk, now: float) -> None:
        check = self._photo_check
        if check is None:
            return
        state = await asyncio.to_thread(self._store.apply_chunk, chunk, check, now)
        device, payload = signed_ack(self._key, chunk, state, self._clock())
        self._track(conn.publish_future(Topics(chunk.header.fleet, device).photo_ack, payload))

    async def _on_replies(self, replies: list[Reply], now: float) -> None:
        # a reply not signed by the device (or not to a command sent to it) is dropped: the
        # command stays pending and is re-sent until the device's own answer arrives
        recorded = await asyncio.to_thread(self._store.record_replies, replies, now)
        for reason in recorded.refused:
            self.refusals.refused("reply", reason)
        for reply in recorded.taken:
            fut = self._waiters.pop(reply.command_message_id, None)
            outcome = CommandOutcome("ok" if reply.ok else "nack", reply.reason, reply.result)
            if fut is not None and not fut.done():
                fut.set_result(outcome)

    def _track(self, fut: asyncio.Future[None]) -> None:
        self._background.add(fut)
        fut.add_done_callback(_settle)
        fut.add_done_callback(self._background.discard)

    async def _resend_loop(self) -> None:
        if "status" not in self._s.leaves:
            await asyncio.Event().wait()  # a reply-only sender re-sends nothing
        while True:
            await asyncio.sleep(self._s.resend_after_s / 2)
            cutoff = self._clock() - self._s.resend_after_s
            await self._send_pending(device=None, online_only=True, older_than=cutoff)

    async def _send_pending(
        self, *, device: str | None, online_only: bool, older_than: float | None
    ) -> None:
        conn = self._conn
        if conn is None:
            return
        pending = await asyncio.to_thread(
            self._store.pending_commands, self._s.fleet, device=device,
            online_only=online_only, sent_before=older_than,
        )  # fmt: skip
        await self._publish_commands(conn, pending)

    async def _publish_commands(self, conn: MqttConnection, cmds: list[PendingCommand]) -> None:
        for cmd in cmds:
            self._track(conn.publish_future(Topics(self._s.fleet, cmd.device).command, cmd.payload))
        if cmds:
            ids = [c.message_id for c in cmds]
            await asyncio.to_thread(self._store.mark_sent, ids, self._clock())

    async def send_command(
        self,
        device: str,
        name: str,
        args: Mapping[str, Any],
        *,
        transaction_id: str | None = None,
        ttl_s: int | None = None,
    ) -> str:
        """Store, sign and publish a command; its message id.

        The args are validated with the device's own parser first, so the hub never sends what a
        device would nack as malformed. Every command is signed (devices refuse unsigned ones).
        Raises `WireError` for bad args or a missing key.
        """
        parse_args(name, args)
        fleet = self._s.fleet
        tx = transaction_id or new_message_id()
        header = Header("command", new_message_id(), fleet, device, self._clock())
        if self._key is None:
            raise WireError("SIG_MISSING", f"{name} needs a hub signing key")
        ttl = ttl_s or (self._s.open_ttl_s if name == "door.open" else self._s.command_ttl_s)
        exp = int(self._clock()) + ttl
        sig = sign(self._key, fleet=fleet, device=device, name=name, transaction_id=tx,
                   args=args, exp=exp)  # fmt: skip
        payload = encode_command(CommandEnvelope(header, tx, name, args, sig))
        await asyncio.to_thread(
            self._store.add_command, message_id=header.message_id, fleet=fleet, device=device,
            transaction_id=tx, name=name, payload=payload, now=self._clock(),
        )  # fmt: skip
        self._waiters[header.message_id] = asyncio.get_running_loop().create_future()
        if self._conn is not None:
            # a device that is offline gets it from its persistent session or on its next "online"
            cmd = PendingCommand(header.message_id, device, payload)
            await self._publish_commands(self._conn, [cmd])
        return header.message_id

    async def wait_reply(self, message_id: str, within_s: float) -> CommandOutcome:
        """The device's ack or nack; raises `TimeoutError`."""
        fut = self._waiters.get(message_id)
        row = await asyncio.to_thread(self._store.command, message_id)
        if row is not None and row[0] != "pending":
            return CommandOutcome(*row)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._waiters[message_id] = fut
        async with asyncio.timeout(within_s):
            return await asyncio.shield(fut)


def _decode(leaf: str, payload: bytes, fleet: str, device: str) -> Any:
    """Decode by topic leaf; a header that names another device than its topic is refused."""
    decoded: Any
    if leaf == "state":
        return fleet, device, payload.decode("utf-8", "replace")
    if leaf == "evt":
        decoded = decode_events(payload)
    elif leaf == "reply":
        decoded = decode_reply(payload)
    elif leaf == "status":
        decoded = decode_status(payload)
    elif leaf == "photo":
        decoded = decode_chunk(payload)
    else:
        raise WireError("BAD_TOPIC", leaf)
    if decoded.header.fleet != fleet or decoded.header.device != device:
        raise WireError("WRONG_DEVICE", "header does not match topic")
    return decoded


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()  # a lost connection is handled by the session; mark it retrieved


def _decode_all(batch: list[Inbound]) -> dict[str, list[Any]]:
    """Messages grouped by topic leaf, decoded into wire types; malformed ones are dropped."""
    by_leaf: dict[str, list[Any]] = defaultdict(list)
    for msg in batch:
        try:
            fleet, device, leaf = split_topic(msg.topic)
            by_leaf[leaf].append(_decode(leaf, msg.payload, fleet, device))
        except WireError as err:
            _LOG.warning("dropped message on %s: %s", msg.topic, err.reason)
    return by_leaf
