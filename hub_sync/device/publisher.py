"""Publishing the outbox in order, with a window, and forgetting events only on the hub's confirm.

Confirms are trusted only when hub-signed, for a message sent in the current connection session,
and for no more than that session sent (docs/protocol.md, "Confirms are signed").

Back-pressure: at most `inflight_window` messages wait for a PUBACK, and at most
`inflight_window * batch_size` events wait for the hub's confirm. When the hub makes no progress
for `confirm_timeout_s` (a broker dropped a message, the hub was down), the cursor rewinds to the
last confirmed seq and the rest is sent again; the hub discards what it already has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence

from hub_sync.adapters.mqtt import MqttConnection
from hub_sync.adapters.settings import SyncSettings
from hub_sync.device.ports import DeviceState, OutboxSource
from hub_sync.errors import WireError
from hub_sync.protocol.event_sig import sign_events
from hub_sync.protocol.signing import PrivateKey, PublicKey, verify_confirm
from hub_sync.protocol.strict_json import canonical_json, get
from hub_sync.protocol.wire import (
    Header,
    OutboxEvent,
    Topics,
    decode,
    decode_confirm,
    encode,
    encode_events,
    new_message_id,
)

_LOG = logging.getLogger(__name__)
_IDLE_POLL_S = 2.0
_SENT_IDS = 4096


class Publisher:
    """Outbox cursor, confirm bookkeeping and the retained state snapshot of one device."""

    def __init__(
        self,
        settings: SyncSettings,
        topics: Topics,
        outbox: OutboxSource,
        state: DeviceState,
        *,
        clock: Callable[[], float],
        command_keys: Callable[[], Sequence[PublicKey]],
        device_key: Callable[[], PrivateKey],
        time_floor: Callable[[], Awaitable[float | None]] | None = None,
    ) -> None:
        """`device_key`: the device key now, which signs every events message (hubs store
        only signed batches, docs/protocol.md "Events are signed")."""
        self._s = settings
        self._device_key = device_key
        self._floor_source = time_floor
        self._topics = topics
        self._outbox = outbox
        self._state = state
        self._clock = clock
        self._wake = asyncio.Event()
        #: set while every event sent is confirmed and none waits: photo chunks may go
        self.idle = asyncio.Event()
        self._cursor = 0
        self._progress_at = time.monotonic()
        self._rewind_after = settings.confirm_timeout_s
        self._state_dirty = True
        self._state_sent: bytes | None = None
        self._state_at = 0.0
        self._time_floor: float | None = None
        self.published = 0
        self.confirmed = 0
        self.confirmed_seq = 0
        self.last_confirm_at: float | None = None
        self.depth = 0
        self.oldest_created_at: float | None = None
        self.alarm = False
        self._sent_ids: OrderedDict[str, None] = OrderedDict()
        self._session_max = 0
        self._keys = command_keys
        self._hub_rewind_at = -float("inf")  # when a hub status last made us resend

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll (rows were committed)."""
        self.idle.clear()  # new rows may be waiting: events go before photos
        self._wake.set()

    def oldest_age(self) -> float | None:
        """Seconds since the oldest unconfirmed row was made, or None when the outbox is empty."""
        if self.oldest_created_at is None:
            return None
        return max(0.0, self._clock() - self.oldest_created_at)

    async def run(self, conn: MqttConnection) -> None:
        """Publish until the connection ends (a `ConnectionLostError` from a PUBACK future)."""
        self._cursor = self.confirmed_seq  # a new connection sends everything unconfirmed again
        # confirms are accepted only for what this connection session sent
        self._sent_ids.clear()
        self._session_max = 0
        self._progress_at = time.monotonic()
        self._state_dirty = True
        self.idle.clear()
        inflight: deque[asyncio.Future[None]] = deque()
        try:
            while True:
                self._wake.clear()
                while inflight and inflight[0].done():
                    inflight.popleft().result()
                if await self._fill(conn, inflight):
                    continue
                await self._maybe_state(conn)
                self._maybe_rewind()
                waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
                if inflight:
                    waiters.append(inflight[0])  # type: ignore[arg-type]
                await asyncio.wait(
                    waiters, timeout=_IDLE_POLL_S, return_when=asyncio.FIRST_COMPLETED
                )
                waiters[0].cancel()
        finally:
            # the connection's end fails the PUBACK futures still in flight: nothing waits for
            # them any more (the next connection resends), so take their errors here instead of
            # asyncio logging "Future exception was never retrieved" for each
            for fut in inflight:
                fut.add_done_callback(_forget)

    async def _fill(self, conn: MqttConnection, inflight: deque[asyncio.Future[None]]) -> bool:
        """Publish one more batch if the window allows; True when one was sent."""
        window = self._s.inflight_window
        if (
            len(inflight) >= window
            or self._cursor - self.confirmed_seq >= window * self._s.batch_size
        ):
            return False
        after = self._cursor
        rows = await self._outbox.pending(after, self._s.batch_size)
        if self._floor_source is not None:
            # the envelope carries the floor persisted now, not the one of the last snapshot
            self._time_floor = await self._floor_source()
        if self._cursor != after:
            return True  # a confirm or a rewind moved the cursor meanwhile: read again
        if not rows:
            if self._cursor == self.confirmed_seq:
                self.idle.set()
            return False
        self.idle.clear()
        if after == self.confirmed_seq and rows[0].seq - 1 > after:
            # rows below the first pending one were deleted, which only a hub confirm does
            self.confirmed_seq = rows[0].seq - 1
        events = _consecutive(rows)
        header = self._header("events")
        sig = sign_events(self._device_key(), header, self.confirmed_seq, events)
        payload = encode_events(header, self.confirmed_seq, events, sig)
        self._sent_ids[header.message_id] = None
        while len(self._sent_ids) > _SENT_IDS:
            self._sent_ids.popitem(last=False)
        self._session_max = max(self._session_max, events[-1].seq)
        inflight.append(conn.publish_future(self._topics.events, payload, qos=1))
        self._cursor = events[-1].seq
        self.published += len(events)
        return True

    def _maybe_rewind(self) -> None:
        if self._cursor <= self.confirmed_seq:
            return
        if time.monotonic() - self._progress_at < self._rewind_after:
            return
        _LOG.warning(
            "hub confirmed nothing for %.0f s, resending from seq %d",
            self._rewind_after,
            self.confirmed_seq + 1,
        )
        self._cursor = self.confirmed_seq
        self._progress_at = time.monotonic()
        self._rewind_after = min(self._rewind_after * 2, self._s.confirm_timeout_max_s)

    def on_hub_status(self, payload: bytes) -> None:
        """A hub that (re)connects may have missed what the broker did not keep: resend now.

        Raises `WireError` for a malformed status. A forged "online" only causes a resend, and
        at most one per `confirm_timeout_s`: the status is not signed and goes to the whole
        fleet, so a flood of them made every locker resend its whole window once per message
        (100 forged statuses, 100 resends), all at the hub at once: now no more often than a
        hub that never confirms. A hub that really comes back twice within that time gets the
        second resend from the confirm timeout, brought back to `confirm_timeout_s` here."""
        header, obj = decode(payload, "hub_status")
        if header.fleet != self._s.fleet_id:
            raise WireError("WRONG_DEVICE", "hub status of another fleet")
        online = get(obj, "online", bool)
        if online and self._cursor > self.confirmed_seq:
            now = time.monotonic()
            if now - self._hub_rewind_at < self._s.confirm_timeout_s:
                self._rewind_after = self._s.confirm_timeout_s
                return
            self._hub_rewind_at = now
            self._cursor = self.confirmed_seq
            self._progress_at = time.monotonic()
            self._wake.set()

    async def on_confirm(self, payload: bytes) -> None:
        """Forget events the hub confirmed. Raises `WireError` (the confirm changes nothing) for
        a malformed, foreign, stale, over-reaching or unsigned/forged confirm."""
        confirm = decode_confirm(payload)
        if confirm.header.device != self._s.device_id or confirm.header.fleet != self._s.fleet_id:
            raise WireError("WRONG_DEVICE", "confirm for another device")
        if confirm.in_reply_to not in self._sent_ids:
            raise WireError("STALE", "confirm of a message not sent in this session")
        through = confirm.through_seq
        if through > self._session_max:
            raise WireError("BEYOND_SENT", f"through_seq above {self._session_max}")
        if through <= self.confirmed_seq:
            return
        verify_confirm(
            self._keys(),
            confirm.sig,
            fleet=self._s.fleet_id,
            device=self._s.device_id,
            through_seq=through,
            in_reply_to=confirm.in_reply_to,
        )
        await self._outbox.confirm_through(through)
        self.confirmed += through - self.confirmed_seq
        self.confirmed_seq = through
        self._cursor = max(self._cursor, through)
        self.last_confirm_at = self._clock()
        self._progress_at = time.monotonic()
        self._rewind_after = self._s.confirm_timeout_s
        self._wake.set()

    async def check_alarm(self, threshold_s: float) -> bool:
        """Refresh outbox figures; True when the drain alarm switched on or off."""
        stats = await self._outbox.stats()
        self.depth, self.oldest_created_at = stats.depth, stats.oldest_created_at
        if stats.depth == 0:
            self._progress_at = time.monotonic()
        stalled = stats.depth > 0 and time.monotonic() - self._progress_at > threshold_s
        if stalled == self.alarm:
            return False
        self.alarm = stalled
        return True

    async def _maybe_state(self, conn: MqttConnection) -> None:
        due = time.monotonic() - self._state_at >= self._s.state_interval_s
        if not (self._state_dirty or due):
            return
        self._state_dirty = False
        snapshot = dict(await self._state.snapshot())
        floor = snapshot.get("time_floor")
        if isinstance(floor, int | float) and not isinstance(floor, bool):
            self._time_floor = float(floor)
        stats = await self._outbox.stats()
        self.depth, self.oldest_created_at = stats.depth, stats.oldest_created_at
        body = {
            "state": snapshot,
            "outbox": {"depth": stats.depth, "oldest_created_at": stats.oldest_created_at},
        }
        raw = canonical_json(body)
        if raw == self._state_sent and not due:
            return
        await conn.publish(self._topics.state, encode(self._header("state"), body), retain=True)
        self._state_sent, self._state_at = raw, time.monotonic()

    def _header(self, kind: str) -> Header:
        return Header(
            type=kind,
            message_id=new_message_id(),
            fleet=self._s.fleet_id,
            device=self._s.device_id,
            sent_at=self._clock(),
            time_floor=self._time_floor,
        )


def _forget(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


def _consecutive(rows: Sequence[OutboxEvent]) -> list[OutboxEvent]:
    """The longest gapless prefix: a source that breaks the gapless contract is not skipped over."""
    out: list[OutboxEvent] = []
    for row in rows:
        if out and row.seq != out[-1].seq + 1:
            break
        out.append(row)
    return out
