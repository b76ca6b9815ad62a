"""Uploading evidence photos to the hub in confirmed chunks, after the events (docs/protocol.md).

One photo at a time, one chunk in flight: a chunk of at most `photo_chunk_bytes` is published
only when the event publisher is idle (every event it sent is confirmed and none is waiting), so
a photo backlog never holds up the outbox by more than one chunk. Each chunk waits for the hub's
signed `photo_ack`; without one in `confirm_timeout_s` the same chunk is sent again. A session
starts every photo at offset 0 and the hub's first ack says how much it already holds, so an
upload cut by a crash or a reconnect resumes where the hub's copy ends.

An ack counts only when it is hub-signed, replies to a chunk of this photo sent in this
connection session, names the photo's SHA-256, and holds no more than the photo's size; a final
ack (`stored`/`rejected`) must hold all of it. Only then does the device skip ahead or mark the
photo uploaded (which lets the retention rules delete it later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from hub_sync.adapters.mqtt import MqttConnection
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.ports import PendingPhoto, PhotoSource
from hub_sync.errors import WireError
from hub_sync.protocol.photo_wire import PhotoAck, PhotoChunk, decode_ack, encode_chunk, verify_ack
from hub_sync.protocol.signing import PublicKey
from hub_sync.protocol.wire import Header, Topics, new_message_id

_LOG = logging.getLogger(__name__)
_SENT_IDS = 1024
_IDLE_POLL_S = 5.0


class PhotoUploader:
    """The photo queue of one device; `run(conn)` per connection session."""

    def __init__(
        self,
        settings: SyncSettings,
        topics: Topics,
        source: PhotoSource,
        *,
        clock: Callable[[], float],
        command_keys: Callable[[], Sequence[PublicKey]],
        events_idle: Callable[[], Awaitable[object]],
    ) -> None:
        self._s = settings
        self._topics = topics
        self._source = source
        self._clock = clock
        self._keys = command_keys
        self._events_idle = events_idle
        self._wake = asyncio.Event()
        #: chunk message id -> the photo it carried (this session only)
        self._sent: OrderedDict[str, PendingPhoto] = OrderedDict()
        self._waiting: tuple[str, asyncio.Future[PhotoAck]] | None = None
        self._unreadable: set[str] = set()
        self.uploaded = 0
        self.chunks = 0

    def wake(self) -> None:
        """A new photo may be waiting: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, conn: MqttConnection) -> None:
        """Upload until the connection ends (a `ConnectionLostError` from a PUBACK)."""
        self._sent.clear()  # acks are accepted only for chunks of this session
        while True:
            self._wake.clear()
            photos = [
                p
                for p in await self._source.pending_photos(16)
                if p.photo_id not in self._unreadable
            ]
            for photo in photos:
                await self._upload(conn, photo)
            if not photos:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_IDLE_POLL_S):
                        await self._wake.wait()

    async def _upload(self, conn: MqttConnection, photo: PendingPhoto) -> None:
        offset = 0
        timeout = self._s.confirm_timeout_s
        while True:
            await self._events_idle()
            try:
                data = await self._source.read_chunk(
                    photo.photo_id, offset, self._s.photo_chunk_bytes
                )
            except OSError as err:
                data, detail = b"", type(err).__name__
            else:
                detail = "file shorter than its record"
            if not data:
                # never marked uploaded: a photo the hub does not have is never deleted
                _LOG.error("evidence photo %s cannot be uploaded: %s", photo.photo_id, detail)
                self._unreadable.add(photo.photo_id)
                return
            ack = await self._send(conn, photo, offset, data, wait_s=timeout)
            if ack is None:
                timeout = min(timeout * 2, self._s.confirm_timeout_max_s)
                continue
            timeout = self._s.confirm_timeout_s
            self.chunks += 1
            if ack.status == "partial":
                offset = ack.received
                continue
            await self._source.uploaded(photo.photo_id, rejected=ack.reason)
            self.uploaded += 1
            if ack.status == "rejected":
                _LOG.warning("hub rejected evidence photo %s: %s", photo.photo_id, ack.reason)
            return

    async def _send(
        self, conn: MqttConnection, photo: PendingPhoto, offset: int, data: bytes, *, wait_s: float
    ) -> PhotoAck | None:
        """Publish one chunk and wait for its valid ack; None after `wait_s`."""
        header = Header(
            type="photo_chunk",
            message_id=new_message_id(),
            fleet=self._s.fleet_id,
            device=self._s.device_id,
            sent_at=self._clock(),
        )
        self._sent[header.message_id] = photo
        while len(self._sent) > _SENT_IDS:
            self._sent.popitem(last=False)
        fut: asyncio.Future[PhotoAck] = asyncio.get_running_loop().create_future()
        self._waiting = (photo.photo_id, fut)
        try:
            chunk = PhotoChunk(header, photo.photo_id, photo.sha256, photo.size, offset, data)
            await conn.publish(self._topics.photo, encode_chunk(chunk), qos=1)
            async with asyncio.timeout(wait_s):
                return await fut
        except TimeoutError:
            _LOG.info("no ack for photo %s at %d within %.0f s", photo.photo_id, offset, wait_s)
            return None
        finally:
            self._waiting = None

    def on_ack(self, payload: bytes) -> None:
        """A `photo_ack` from the broker. Raises `WireError` (and changes nothing) for a
        malformed, foreign, stale, over-reaching or unsigned/forged ack."""
        ack = decode_ack(payload)
        if ack.header.device != self._s.device_id or ack.header.fleet != self._s.fleet_id:
            raise WireError("WRONG_DEVICE", "photo ack for another device")
        photo = self._sent.get(ack.in_reply_to)
        if photo is None or photo.photo_id != ack.photo:
            raise WireError("STALE", "ack of a chunk not sent in this session")
        if ack.sha256 != photo.sha256:
            raise WireError("MALFORMED", "ack names another file")
        if ack.received > photo.size or (ack.status != "partial" and ack.received != photo.size):
            raise WireError("BEYOND_SENT", f"received {ack.received} of {photo.size}")
        verify_ack(self._keys(), ack)
        waiting = self._waiting
        if waiting is not None and waiting[0] == ack.photo and not waiting[1].done():
            waiting[1].set_result(ack)
