"""Evidence photo upload on the wire: chunks (device -> hub) and hub-signed acks (hub -> device).

A device sends one photo at a time as `photo_chunk` messages on its `photo` leaf, each at most
`MAX_CHUNK` bytes of the file (base64 in the JSON envelope) at an `offset`. The hub keeps the
contiguous prefix it has (`received`) and answers every chunk with a `photo_ack` on the device's
`photo_ack` leaf: `partial` with `received` (a chunk at another offset than `received` is not
stored: the device continues from `received`, which is how an upload resumes after a crash or a
reconnect), or, once the whole file is there and its SHA-256 matches, `stored` or `rejected`
(the manifest failed the hub's check; `reason` says why). A repeated chunk of a finished photo
gets the final ack again. Acks are signed by the hub's command key over every field the device
acts on (docs/protocol.md, "Photo upload").
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from hub_sync.errors import WireError
from hub_sync.protocol.signing import (
    PrivateKey,
    PublicKey,
    sign_detached,
    verify_detached,
)
from hub_sync.protocol.strict_json import canonical_json, get
from hub_sync.protocol.wire import Header, check_id, decode, encode

#: the largest chunk (file bytes): base64 makes it ~350 KiB, under every broker's 1 MiB default
MAX_CHUNK: Final = 256 * 1024
#: the largest photo the hub accepts (a 4096x4096 JPEG at quality 95 is ~8 MiB)
MAX_PHOTO: Final = 16 * 1024 * 1024
ACK_CONTEXT: Final = "lk-photo-ack/v1"
_SHA_RE: Final = re.compile(r"^[0-9a-f]{64}$")
AckStatus = Literal["partial", "stored", "rejected"]
_STATUSES: Final = ("partial", "stored", "rejected")


@dataclass(frozen=True, slots=True)
class PhotoChunk:
    """`data` is the file's bytes [offset, offset + len(data)); `size` and `sha256` the file's."""

    header: Header
    photo: str
    sha256: str
    size: int
    offset: int
    data: bytes


def encode_chunk(chunk: PhotoChunk) -> bytes:
    """The JSON envelope of a chunk (data in base64)."""
    fields = {
        "photo": chunk.photo,
        "sha256": chunk.sha256,
        "size": chunk.size,
        "offset": chunk.offset,
        "data": base64.b64encode(chunk.data).decode("ascii"),
    }
    return encode(chunk.header, fields)


def decode_chunk(payload: bytes) -> PhotoChunk:
    """Parse a chunk; `WireError` for anything malformed, oversized or outside the photo."""
    header, obj = decode(payload, "photo_chunk")
    photo = check_id(get(obj, "photo", str), "photo")
    sha256 = get(obj, "sha256", str)
    if not _SHA_RE.match(sha256):
        raise WireError("MALFORMED", "sha256 must be 64 lower-case hex digits")
    size = get(obj, "size", int)
    offset = get(obj, "offset", int)
    text = get(obj, "data", str)
    if len(text) > (MAX_CHUNK // 3 + 1) * 4:
        raise WireError("TOO_LARGE", "chunk above the size cap")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise WireError("MALFORMED", "data is not base64") from err
    if not 0 < size <= MAX_PHOTO:
        raise WireError("TOO_LARGE", f"photo size must be 1..{MAX_PHOTO}")
    if offset < 0 or not data or offset + len(data) > size:
        raise WireError("MALFORMED", "chunk outside the photo")
    return PhotoChunk(header, photo, sha256, size, offset, data)


@dataclass(frozen=True, slots=True)
class PhotoAck:
    """The hub holds the first `received` bytes of `photo`; `status` final once it is whole."""

    header: Header
    photo: str
    sha256: str
    received: int
    status: AckStatus
    in_reply_to: str
    reason: str | None = None
    sig: Mapping[str, Any] | None = None


def encode_ack(ack: PhotoAck) -> bytes:
    """The JSON envelope of an ack."""
    fields: dict[str, object] = {
        "photo": ack.photo,
        "sha256": ack.sha256,
        "received": ack.received,
        "status": ack.status,
        "in_reply_to": ack.in_reply_to,
        "reason": ack.reason,
    }
    if ack.sig is not None:
        fields["sig"] = dict(ack.sig)
    return encode(ack.header, fields)


def decode_ack(payload: bytes) -> PhotoAck:
    """Parse an ack; `WireError` for anything malformed."""
    header, obj = decode(payload, "photo_ack")
    status = get(obj, "status", str)
    if status not in _STATUSES:
        raise WireError("MALFORMED", "unknown status")
    received = get(obj, "received", int)
    if received < 0:
        raise WireError("MALFORMED", "received must be >= 0")
    reason = get(obj, "reason", str, optional=True)
    return PhotoAck(
        header=header,
        photo=check_id(get(obj, "photo", str), "photo"),
        sha256=get(obj, "sha256", str)[:64],
        received=received,
        status=status,  # checked against _STATUSES above
        in_reply_to=get(obj, "in_reply_to", str)[:64],
        reason=None if reason is None else reason[:64],
        sig=get(obj, "sig", dict, optional=True),
    )


def ack_bytes(ack: PhotoAck) -> bytes:
    """The exact bytes a hub signs in a photo ack: every field the device acts on."""
    return canonical_json(
        {
            "ctx": ACK_CONTEXT,
            "fleet": ack.header.fleet,
            "device": ack.header.device,
            "photo": ack.photo,
            "sha256": ack.sha256,
            "received": ack.received,
            "status": ack.status,
            "reason": ack.reason,
            "in_reply_to": ack.in_reply_to,
        }
    )


def sign_ack(key: PrivateKey, ack: PhotoAck) -> dict[str, object]:
    """The `sig` object of an ack, with the hub's command key."""
    return sign_detached(key, ack_bytes(ack))


def verify_ack(keys: Sequence[PublicKey], ack: PhotoAck) -> None:
    """Raises `SignatureError` unless a trusted command key signed this ack. No expiry or nonce:
    `in_reply_to` is a random id the device minted for one chunk of its current session."""
    verify_detached(keys, ack.sig, ack_bytes(ack), "photo ack")
