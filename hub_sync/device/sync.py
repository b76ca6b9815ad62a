"""The device sync client: publishes the outbox in order until the hub confirms it; runs commands.

`DeviceSync.run()` is one long task. It reconnects forever with jittered, capped backoff; a
network error never escapes it; cancelling it publishes "offline" and disconnects cleanly. Events
stay in the agent's outbox until the hub's application-level confirm (a PUBACK only means the
broker has them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from hub_sync.adapters.mqtt import Inbound, MqttConnection, Will
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.commands import CommandHandler
from hub_sync.device.photos import PhotoUploader
from hub_sync.device.ports import CommandSink, DeviceState, OutboxSource, PhotoSource, SyncStats
from hub_sync.device.publisher import Publisher
from hub_sync.errors import MqttError, WireError
from hub_sync.protocol.refusals import RefusalLog
from hub_sync.protocol.reply_sig import DeviceKey
from hub_sync.protocol.signing import CommandVerifier, PublicKey
from hub_sync.protocol.wire import (
    Header,
    Status,
    Topics,
    encode_reply,
    encode_status,
    new_message_id,
)

_LOG = logging.getLogger(__name__)
_INBOX_MAX = 1000
AlarmCallback = Callable[[bool, SyncStats], Awaitable[None]]


class DeviceSync:
    """Keeps one device in sync with the hub. Build once; `run()` goes in the agent's TaskGroup."""

    def __init__(
        self,
        settings: SyncSettings,
        outbox: OutboxSource,
        sink: CommandSink,
        state: DeviceState,
        *,
        command_keys: Callable[[], Sequence[PublicKey]],
        clock: Callable[[], float],
        on_alarm: AlarmCallback | None = None,
        time_floor: Callable[[], Awaitable[float | None]] | None = None,
        photos: PhotoSource | None = None,
        device_key: DeviceKey,
    ) -> None:
        """`time_floor`: reads the device's persisted time floor, for every events envelope
        (without it, the floor of the last state snapshot is sent). `photos`: evidence photos
        to upload after the events (none without it). `device_key`: the device key now (it
        follows rotations), which signs every events message and every reply; hubs refuse
        unsigned ones."""
        self._s = settings
        self._topics = Topics(settings.fleet_id, settings.device_id)
        self._clock = clock
        self._on_alarm = on_alarm
        self._pub = Publisher(
            settings,
            self._topics,
            outbox,
            state,
            clock=clock,
            command_keys=command_keys,
            device_key=device_key,
            time_floor=time_floor,
        )
        self._photos: PhotoUploader | None = None
        if photos is not None:
            self._photos = PhotoUploader(
                settings,
                self._topics,
                photos,
                clock=clock,
                command_keys=command_keys,
                events_idle=self._pub.idle.wait,
            )
        self._refusals = RefusalLog(_LOG)
        self._commands = CommandHandler(
            fleet=settings.fleet_id,
            device=settings.device_id,
            sink=sink,
            verifier=CommandVerifier(command_keys, clock),
            clock=clock,
            refusals=self._refusals,
            reply_key=device_key,
        )
        self._stats = SyncStats(
            connected=False, reconnects=0, outbox_depth=0, oldest_age_s=None, published=0,
            confirmed_seq=0, confirmed=0, commands_ok=0, commands_nack=0, last_confirm_at=None,
            drain_alarm=False,
        )  # fmt: skip
        self._inbox: asyncio.Queue[Inbound] = asyncio.Queue(_INBOX_MAX)
        self._conn: MqttConnection | None = None  # the live session's connection, if any

    def stats(self) -> SyncStats:
        """A snapshot for `GET /metrics` (cheap, no I/O)."""
        p = self._pub
        return replace(
            self._stats,
            published=p.published,
            confirmed_seq=p.confirmed_seq,
            confirmed=p.confirmed,
            last_confirm_at=p.last_confirm_at,
            outbox_depth=p.depth,
            oldest_age_s=p.oldest_age(),
            drain_alarm=p.alarm,
            refused=self._refusals.total,
            photos_uploaded=0 if self._photos is None else self._photos.uploaded,
            photo_chunks=0 if self._photos is None else self._photos.chunks,
        )

    async def reconnect_with(self, settings: SyncSettings) -> None:
        """New credentials (a rotation): the live session ends, the next one uses `settings`.
        Nothing is lost: unconfirmed events are resent from the last confirmed seq."""
        self._s = settings
        conn = self._conn
        if conn is not None:
            await conn.disconnect()

    async def notify_outbox(self) -> None:
        """Call after committing outbox rows: the publisher wakes now instead of on its timer."""
        self._pub.wake()

    def outbox_changed(self) -> None:
        """`notify_outbox` for synchronous callers on the loop (e.g. an after-commit hook)."""
        self._pub.wake()
        if self._photos is not None:  # a new photo comes with its `evidence.captured` event
            self._photos.wake()

    async def run(self) -> None:
        """Connect, sync, reconnect forever. Only cancellation ends it.

        The drain alarm is watched for the whole run, not per session: an outbox that cannot
        drain because the link is down (a partition, a dead broker) is as stalled as one the hub
        does not confirm."""
        watcher = asyncio.create_task(self._watch_alarm(), name="sync-alarm")
        try:
            await self._connect_forever()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    async def _connect_forever(self) -> None:
        attempt = 0
        while True:
            conn = MqttConnection(self._s.connect_params(self._will()), self._enqueue)
            try:
                await conn.connect()
            except MqttError as err:
                _LOG.warning("hub broker unreachable: %s", err)
            else:
                began = time.monotonic()
                await self._serve(conn)
                # only a session that lasted resets the backoff: a broker that accepts and then
                # drops (overloaded, its store timing out) must not get every locker back within
                # a second, which is how a fleet keeps an overloaded cluster overloaded
                if time.monotonic() - began >= self._s.backoff_max_s:
                    attempt = 0
            attempt += 1
            cap = min(self._s.backoff_max_s, self._s.backoff_min_s * 2 ** min(attempt, 20))
            await asyncio.sleep(random.uniform(self._s.backoff_min_s, cap))  # noqa: S311

    def _will(self) -> Will:
        return Will(topic=self._topics.status, payload=self._status_payload(online=False))

    def _status_payload(self, *, online: bool) -> bytes:
        header = Header(
            type="status",
            message_id=new_message_id(),
            fleet=self._s.fleet_id,
            device=self._s.device_id,
            sent_at=self._clock(),
        )
        alarm = "OUTBOX_STALLED" if self._pub.alarm else None
        return encode_status(Status(header=header, online=online, alarm=alarm))

    def _enqueue(self, msg: Inbound) -> None:
        try:
            self._inbox.put_nowait(msg)
        except asyncio.QueueFull:
            # the hub re-sends unanswered commands and confirms again on the next batch; a flood
            # from the broker is counted and logged once, not one warning line per message
            self._refusals.refused("inbox", "FULL", msg.topic.rsplit("/", 1)[-1][:16])

    async def _serve(self, conn: MqttConnection) -> None:
        self._stats = replace(self._stats, connected=True)
        self._conn = conn
        tasks: list[asyncio.Task[None]] = []
        try:
            t = self._topics
            topics = [(t.command, 1), (t.confirm, 1), (t.trust, 1), (t.hub, 1)]
            if self._photos is not None:
                topics.append((t.photo_ack, 1))
            await conn.subscribe(topics)
            await conn.publish(t.status, self._status_payload(online=True), retain=True)
            tasks = [
                asyncio.create_task(self._pub.run(conn), name="sync-publish"),
                asyncio.create_task(self._inbound(conn), name="sync-inbound"),
            ]
            if self._photos is not None:
                tasks.append(asyncio.create_task(self._photos.run(conn), name="sync-photos"))
            done, _ = await asyncio.wait(
                [asyncio.ensure_future(conn.closed), *tasks], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                err = (
                    task.exception()
                    if isinstance(task, asyncio.Task) and not task.cancelled()
                    else None
                )
                if isinstance(err, MqttError):
                    _LOG.info("hub session ended: %s", err)
                elif err is not None:
                    _LOG.error("sync task failed", exc_info=err)
        except MqttError as err:
            _LOG.warning("hub session ended: %s", err)
        finally:
            self._conn = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.shield(self._goodbye(conn))
            self._stats = replace(
                self._stats, connected=False, reconnects=self._stats.reconnects + 1
            )

    async def _goodbye(self, conn: MqttConnection) -> None:
        if conn.connected:
            with contextlib.suppress(MqttError, TimeoutError):
                async with asyncio.timeout(2.0):
                    payload = self._status_payload(online=False)
                    await conn.publish(self._topics.status, payload, retain=True)
        await conn.disconnect()

    async def _inbound(self, conn: MqttConnection) -> None:
        """One message at a time; nothing in a message can end this loop (or the session)."""
        while True:
            msg = await self._inbox.get()
            leaf = msg.topic.rsplit("/", 1)[-1][:16]
            try:
                await self._dispatch(conn, msg)
            except WireError as err:
                self._refusals.refused(leaf, err.reason, err.detail)
            except MqttError:
                raise
            except Exception as err:  # a defect of ours: logged without the payload, go on
                self._refusals.refused(leaf, "INTERNAL", type(err).__name__)

    async def _dispatch(self, conn: MqttConnection, msg: Inbound) -> None:
        if msg.topic == self._topics.confirm:
            await self._pub.on_confirm(msg.payload)
        elif msg.topic == self._topics.command:
            outcome = await self._commands.handle(msg.payload)
            if not outcome.duplicate:
                key = "commands_ok" if outcome.ok else "commands_nack"
                self._stats = replace(self._stats, **{key: getattr(self._stats, key) + 1})
            with contextlib.suppress(MqttError):
                await conn.publish(self._topics.reply, encode_reply(outcome.reply))
        elif msg.topic == self._topics.trust:
            await self._commands.trust_bundle(msg.payload)
        elif msg.topic == self._topics.hub:
            self._pub.on_hub_status(msg.payload)
        elif msg.topic == self._topics.photo_ack and self._photos is not None:
            self._photos.on_ack(msg.payload)
        else:
            raise WireError("BAD_TOPIC")

    async def _watch_alarm(self) -> None:
        period = min(5.0, self._s.drain_alarm_s / 4)
        while True:
            await asyncio.sleep(period)
            changed = await self._pub.check_alarm(self._s.drain_alarm_s)
            if not changed:
                continue
            if self._pub.alarm:
                _LOG.warning("outbox has not drained for %.0f s", self._s.drain_alarm_s)
            conn = self._conn
            if conn is not None:  # offline, the next session's first status carries the alarm
                payload = self._status_payload(online=True)
                with contextlib.suppress(MqttError):
                    await conn.publish(self._topics.status, payload, retain=True)
            if self._on_alarm is not None:
                try:
                    await self._on_alarm(self._pub.alarm, self.stats())
                except Exception:
                    _LOG.exception("alarm callback failed")
