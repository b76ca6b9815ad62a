"""SessionTranscript (18013-5 9.1.5.1) and DeviceEngagement (8.2.1.1).

`SessionTranscript = [DeviceEngagementBytes, EReaderKeyBytes, Handover]`. It is accepted both as
the bare CBOR array and as `SessionTranscriptBytes = #6.24(bstr .cbor SessionTranscript)`. The
array's bytes are kept exactly as given: DeviceAuthentication embeds them, and the HKDF salt of
the session and MAC keys is SHA-256 over `SessionTranscriptBytes` (the tag-24 wrapper included).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from agent.identity import cose, wire
from agent.identity.errors import MdocError, MdocReason

CIPHER_SUITE_1 = 1
QR_ENGAGEMENT_PREFIX = "mdoc:"
MAX_QR_TEXT = 4096


@dataclass(frozen=True, slots=True)
class SessionTranscript:
    """A checked SessionTranscript; `array` is the CBOR array's bytes as received."""

    array: bytes
    device_engagement: bytes | None
    e_reader_key: bytes | None
    handover: Any

    @property
    def tagged(self) -> bytes:
        """SessionTranscriptBytes: `#6.24(bstr .cbor SessionTranscript)`."""
        return wire.tag24(self.array)

    @property
    def salt(self) -> bytes:
        """The HKDF salt of SKReader, SKDevice and EMacKey."""
        return hashlib.sha256(self.tagged).digest()


def parse_session_transcript(data: bytes) -> SessionTranscript:
    """Either encoding; MALFORMED unless it is `[bstr-24 / nil, bstr-24 / nil, Handover]`."""
    what = "SessionTranscript"
    item = wire.loads(data, what, wire.MAX_TRANSCRIPT_BYTES)
    array = data
    if isinstance(item, cbor2.CBORTag):
        array = wire.untag24(item, what)
        item = wire.loads(array, what, wire.MAX_TRANSCRIPT_BYTES)
    parts = wire.as_array(item, what)
    if len(parts) != 3:
        raise MdocError(MdocReason.MALFORMED, f"{what}: not a 3-element array")
    engagement, reader_key, handover = parts
    return SessionTranscript(
        array=array,
        device_engagement=None if engagement is None else wire.untag24(engagement, what),
        e_reader_key=None if reader_key is None else wire.untag24(reader_key, what),
        handover=handover,
    )


def session_transcript(
    device_engagement: bytes, e_reader_key: bytes, handover: Any
) -> SessionTranscript:
    """Build the transcript of a proximity session (QR engagement: `handover` is None)."""
    array = wire.dumps(
        [
            cbor2.CBORTag(wire.TAG_ENCODED_CBOR, device_engagement),
            cbor2.CBORTag(wire.TAG_ENCODED_CBOR, e_reader_key),
            handover,
        ]
    )
    return SessionTranscript(array, device_engagement, e_reader_key, handover)


@dataclass(frozen=True, slots=True)
class DeviceEngagement:
    """What a reader needs from the mdoc's engagement: version and the mdoc's ephemeral key."""

    version: str
    e_device_key_bytes: bytes
    e_device_key: ec.EllipticCurvePublicKey
    retrieval_methods: tuple[Any, ...]


def parse_device_engagement(data: bytes) -> DeviceEngagement:
    """`{0: version, 1: Security, ? 2: DeviceRetrievalMethods, ...}` with cipher suite 1."""
    what = "DeviceEngagement"
    engagement = wire.as_map(wire.loads(data, what, wire.MAX_TRANSCRIPT_BYTES), what)
    version = wire.field(engagement, 0, str, what)
    if not version.startswith("1."):
        raise MdocError(MdocReason.MALFORMED, f"{what}: version {version!r} not supported")
    security = wire.as_array(wire.field(engagement, 1, wire.ARRAY_TYPES, what), what)
    if len(security) != 2 or security[0] != CIPHER_SUITE_1 or type(security[0]) is not int:
        raise MdocError(MdocReason.MALFORMED, f"{what}: not cipher suite 1")
    key_bytes = wire.untag24(security[1], what)
    key = cose.public_key_from_cose(wire.loads(key_bytes, "EDeviceKey"), "EDeviceKey")
    methods = engagement.get(2, ())
    return DeviceEngagement(version, key_bytes, key, tuple(wire.as_array(methods, what)))


def engagement_from_qr(text: str) -> bytes:
    """DeviceEngagement bytes from a wallet's QR code, `mdoc:` + base64url without padding
    (18013-5 8.2.2.3); MALFORMED otherwise. The bytes still go through `parse_device_engagement`.
    """
    if len(text) > MAX_QR_TEXT:
        raise MdocError(MdocReason.TOO_LARGE, "engagement QR text over cap")
    if not text.startswith(QR_ENGAGEMENT_PREFIX):
        raise MdocError(MdocReason.MALFORMED, "not an mdoc: engagement")
    body = text[len(QR_ENGAGEMENT_PREFIX) :]
    if (
        not body
        or "=" in body
        or not all(c.isalnum() or c in "-_" for c in body)
        or not body.isascii()
    ):
        raise MdocError(MdocReason.MALFORMED, "engagement is not base64url")
    try:
        decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as err:
        raise MdocError(MdocReason.MALFORMED, "engagement is not base64url") from err
    if engagement_qr(decoded) != text:  # non-zero padding bits: not the one encoding
        raise MdocError(MdocReason.MALFORMED, "engagement is not canonical base64url")
    return decoded


def engagement_qr(device_engagement: bytes) -> str:
    """The QR text a wallet shows for its engagement (used by the simulated wallet)."""
    body = base64.urlsafe_b64encode(device_engagement).rstrip(b"=").decode("ascii")
    return QR_ENGAGEMENT_PREFIX + body
