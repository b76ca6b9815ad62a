"""What the agent implements for the sync client, and what the client reports back.

The client never reads the agent's database or domain: it asks these ports. Each contract below
is what `DeviceSync` relies on; the reference device (`hub_sync.device.outbox`) implements
all three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hub_sync.protocol.commands import Command, CommandResult
from hub_sync.protocol.wire import OutboxEvent, OutboxStats


class OutboxSource(Protocol):
    """The device's outbox. Rows are written in the same transaction as the change they record."""

    async def pending(self, after_seq: int, limit: int) -> Sequence[OutboxEvent]:
        """Up to `limit` rows with seq > `after_seq`, ascending. Committed rows are gapless."""
        ...

    async def confirm_through(self, seq: int) -> None:
        """The hub has stored every event with seq <= `seq`: delete them. Idempotent."""
        ...

    async def stats(self) -> OutboxStats:
        """Depth and the `created_at` of the oldest row (None when empty)."""
        ...


@dataclass(frozen=True, slots=True)
class PendingPhoto:
    """An evidence photo the hub has not confirmed yet."""

    photo_id: str
    sha256: str
    size: int


class PhotoSource(Protocol):
    """The device's evidence photos waiting for upload (docs/evidence.md, "Upload")."""

    async def pending_photos(self, limit: int) -> Sequence[PendingPhoto]:
        """Up to `limit` photos the hub has not confirmed, oldest first."""
        ...

    async def read_chunk(self, photo_id: str, offset: int, size: int) -> bytes:
        """Up to `size` bytes of the photo's file from `offset`. Raises `OSError`."""
        ...

    async def uploaded(self, photo_id: str, *, rejected: str | None) -> None:
        """The hub holds the whole photo (`rejected`: the hub's reason if its check failed);
        from now on the retention rules may delete it. Idempotent."""
        ...


class CommandSink(Protocol):
    """Applies hub commands to the agent's domain."""

    async def apply(self, command: Command) -> CommandResult:
        """Apply idempotently by `command.transaction_id`: a repeated id returns the stored result.

        Refusals are returned (`ok=False` with a reason), not raised. An exception is reported to
        the hub as a nack with reason INTERNAL and the command may be re-sent later.
        """
        ...


class DeviceState(Protocol):
    """The retained state snapshot (doors, health, versions, clock, time floor)."""

    async def snapshot(self) -> Mapping[str, object]:
        """A JSON-able mapping with no personal data; published retained when it changes."""
        ...


@dataclass(frozen=True, slots=True)
class SyncStats:
    """Client figures for `GET /metrics`. Ages and times are device wall-clock seconds."""

    connected: bool
    reconnects: int
    outbox_depth: int
    oldest_age_s: float | None
    published: int
    confirmed_seq: int
    confirmed: int
    commands_ok: int
    commands_nack: int
    last_confirm_at: float | None
    drain_alarm: bool
    #: messages from the broker refused (malformed, unsigned, forged, stale confirms, ...)
    refused: int = 0
    #: evidence photos the hub confirmed whole in this run, and the chunks it acknowledged
    photos_uploaded: int = 0
    photo_chunks: int = 0
