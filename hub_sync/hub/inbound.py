"""One pull's messages from the ingest stream as wire types, and the refusal of revoked devices.

Pure: `decode_batch` turns NATS subjects (`lk.v1.<fleet>.<device>.<leaf>`) and payloads into
wire types by leaf, counting and logging the malformed ones; `drop_revoked` removes what revoked
devices sent. The worker (`worker.py`) stores what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub_sync.errors import WireError
from hub_sync.protocol.photo_wire import PhotoChunk, decode_chunk
from hub_sync.protocol.wire import (
    EventBatch,
    Reply,
    Status,
    decode_events,
    decode_reply,
    decode_status,
)

_LOG = logging.getLogger(__name__)


@dataclass
class Decoded:
    """One pull's messages as wire types, by leaf; `dropped` counts the malformed ones."""

    events: list[EventBatch] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    states: list[tuple[str, str, bytes]] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    photos: list[PhotoChunk] = field(default_factory=list)
    dropped: int = 0


_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "evt": decode_events,
    "reply": decode_reply,
    "status": decode_status,
    "photo": decode_chunk,
}


def decode_batch(msgs: Sequence[tuple[str, bytes]]) -> Decoded:
    """NATS subject `lk.v1.F.D.leaf` and payload → wire types; malformed ones are counted."""
    out = Decoded()
    lists: dict[str, list[Any]] = {
        "evt": out.events, "reply": out.replies, "status": out.statuses, "photo": out.photos,
    }  # fmt: skip
    for subject, payload in msgs:
        parts = subject.split(".")
        try:
            if len(parts) != 5:
                raise WireError("BAD_TOPIC", subject[:80])
            _, _, fleet, device, leaf = parts
            if leaf == "state":
                out.states.append((fleet, device, payload))
                continue
            if leaf not in _DECODERS:
                raise WireError("BAD_TOPIC", leaf[:16])
            decoded = _DECODERS[leaf](payload)
            if decoded.header.fleet != fleet or decoded.header.device != device:
                raise WireError("WRONG_DEVICE", "header does not match topic")
            lists[leaf].append(decoded)
        except WireError as err:
            out.dropped += 1
            _LOG.warning("dropped message on %s: %s", subject[:120], err.reason)
    return out


def drop_revoked(decoded: Decoded, revoked: set[str]) -> set[str]:
    """Remove what revoked devices sent (counted as dropped); the devices it came from."""
    if not revoked:
        return set()
    hit = {b.header.device for b in decoded.events} | {r.header.device for r in decoded.replies}
    hit |= {s.header.device for s in decoded.statuses} | {d for _f, d, _p in decoded.states}
    hit |= {p.header.device for p in decoded.photos}
    hit &= revoked
    if hit:
        before = len(decoded.events) + len(decoded.replies) + len(decoded.statuses)
        before += len(decoded.photos)
        decoded.events = [b for b in decoded.events if b.header.device not in hit]
        decoded.replies = [r for r in decoded.replies if r.header.device not in hit]
        decoded.statuses = [s for s in decoded.statuses if s.header.device not in hit]
        decoded.states = [t for t in decoded.states if t[1] not in hit]
        decoded.photos = [p for p in decoded.photos if p.header.device not in hit]
        after = len(decoded.events) + len(decoded.replies) + len(decoded.statuses)
        after += len(decoded.photos)
        decoded.dropped += before - after
        _LOG.warning("refused messages of revoked devices: %s", sorted(hit))
    return hit
