"""The hub's side of the photo upload, shared by the reference hub and the fleet hub.

`merge_chunk` is the one rule both stores apply in the transaction that stores a chunk: the hub
keeps the contiguous prefix of the file it has; a chunk that starts at or before its end adds
what is new, any other chunk adds nothing (the device resumes from `received`). Applying a chunk
twice therefore changes nothing: a redelivered or re-sent chunk cannot duplicate or corrupt a
photo. When the prefix is the whole file, its SHA-256 must match the declared one, then the
manifest is checked (`PhotoCheck`) and the photo is stored as `stored` or `rejected`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from hub_sync.protocol.c2pa_verify import verify_photo
from hub_sync.protocol.photo_wire import AckStatus, PhotoAck, PhotoChunk, encode_ack, sign_ack
from hub_sync.protocol.signing import PrivateKey
from hub_sync.protocol.wire import Header, new_message_id

_LOG = logging.getLogger(__name__)
#: the alarm a rejected photo raises at the hub
ALARM_REJECTED = "EVIDENCE_REJECTED"
#: (fleet, device, file bytes) -> None when the photo is acceptable, else a reason code
PhotoCheck = Callable[[str, str, bytes], str | None]


@dataclass(frozen=True, slots=True)
class PhotoState:
    """What the hub holds of one photo after a chunk: the ack's content."""

    sha256: str
    size: int
    received: int
    status: AckStatus
    reason: str | None = None


def merge_chunk(received: int, chunk: PhotoChunk) -> tuple[bytes, int]:
    """(bytes to append, new `received`) for a chunk against a prefix of `received` bytes."""
    end = chunk.offset + len(chunk.data)
    if chunk.offset > received or end <= received:
        return b"", received
    return chunk.data[received - chunk.offset :], end


class C2paPhotoCheck:
    """A photo is acceptable when its C2PA manifest is valid against the fleet device CA, signed
    by the sending device's certificate (its common name is the device id), names the sending
    device as its locker, and the device is enrolled (`enrolled`, when given)."""

    def __init__(self, ca_pem: str, enrolled: Collection[str] | None = None) -> None:
        self._ca_pem = ca_pem
        self._enrolled = enrolled

    def __call__(self, fleet: str, device: str, data: bytes) -> str | None:
        """None when the photo is acceptable, else the reason code."""
        del fleet
        if self._enrolled is not None and device not in self._enrolled:
            return "not_enrolled"
        verdict = verify_photo(data, self._ca_pem, device)
        return verdict.reason if not verdict.valid else None


def signed_ack(
    key: PrivateKey | None, chunk: PhotoChunk, state: PhotoState, now: float
) -> tuple[str, bytes]:
    """(topic leaf owner device, payload) of the ack for `chunk`; unsigned without a key (the
    device then ignores it, as it ignores unsigned event confirms)."""
    h = chunk.header
    ack = PhotoAck(
        header=Header("photo_ack", new_message_id(), h.fleet, h.device, now),
        photo=chunk.photo,
        sha256=state.sha256,
        received=state.received,
        status=state.status,
        in_reply_to=h.message_id,
        reason=state.reason,
    )
    if key is not None:
        ack = replace(ack, sig=sign_ack(key, ack))
    return h.device, encode_ack(ack)


def log_rejected(fleet: str, device: str, photo: str, reason: str) -> None:
    """Log a rejected photo (ids and reason only)."""
    _LOG.warning("evidence photo %s of %s/%s rejected: %s", photo, fleet, device, reason)
