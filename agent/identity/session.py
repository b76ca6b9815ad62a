"""Session encryption (18013-5 9.1.1): ECDH + HKDF session keys, AES-256-GCM with counters.

`SKReader`/`SKDevice = HKDF-SHA256(ECDH(EReaderKey, EDeviceKey), salt = SHA-256(
SessionTranscriptBytes), info "SKReader"/"SKDevice", 32 bytes)`. Every message is sealed with
AES-256-GCM, no AAD, under the IV `identifier (8 bytes) || counter (4 bytes, big-endian)`: the
identifier is 0 for reader-to-mdoc messages (SKReader) and 1 for mdoc-to-reader (SKDevice); each
direction's counter starts at 1 and goes up by one per message. A message that does not decrypt
ends the session (18013-5: status 10/11 and termination); so does counter exhaustion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.identity import cose, wire
from agent.identity.errors import MdocError, MdocReason
from agent.identity.transcript import SessionTranscript

READER_ID = bytes(8)
MDOC_ID = bytes(7) + b"\x01"
MAX_COUNTER = 0xFFFFFFFF
STATUS_SESSION_TERMINATION = 20


def hkdf32(secret: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 to 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def shared_secret(
    own_private: ec.EllipticCurvePrivateKey, peer_public: ec.EllipticCurvePublicKey
) -> bytes:
    """ECDH `Z_AB` (the same from either side)."""
    if own_private.curve.name != peer_public.curve.name:
        raise MdocError(MdocReason.MALFORMED, "ECDH keys on different curves")
    return own_private.exchange(ec.ECDH(), peer_public)


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The two session keys: SKReader (locker to wallet) and SKDevice (wallet to locker)."""

    sk_reader: bytes
    sk_device: bytes


def derive_session_keys(
    own_private: ec.EllipticCurvePrivateKey,
    peer_public: ec.EllipticCurvePublicKey,
    transcript: SessionTranscript,
) -> SessionKeys:
    """Both keys from either side's private key and the other side's public key."""
    shared = shared_secret(own_private, peer_public)
    salt = transcript.salt
    return SessionKeys(hkdf32(shared, salt, b"SKReader"), hkdf32(shared, salt, b"SKDevice"))


@dataclass(slots=True)
class SealingDirection:
    """One direction of a session: a key, an IV identifier and its message counter."""

    key: bytes
    identifier: bytes
    counter: int = 0
    _aead: AESGCM = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._aead = AESGCM(self.key)

    def _next_iv(self) -> bytes:
        if self.counter >= MAX_COUNTER:
            raise MdocError(MdocReason.SESSION_CLOSED, "message counter exhausted")
        self.counter += 1
        return self.identifier + self.counter.to_bytes(4, "big")

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt the next message in this direction (AES-256-GCM)."""
        return self._aead.encrypt(self._next_iv(), plaintext, None)

    def open(self, ciphertext: bytes) -> bytes:
        """Decrypt the next message in this direction; MdocError if it does not authenticate."""
        try:
            return self._aead.decrypt(self._next_iv(), ciphertext, None)
        except InvalidTag as err:
            raise MdocError(MdocReason.SESSION_DECRYPT_FAILED, "session message") from err


class Session:
    """An established session from one side's point of view (`reader=True` for the locker)."""

    def __init__(self, keys: SessionKeys, *, reader: bool) -> None:
        to_mdoc = SealingDirection(keys.sk_reader, READER_ID)
        to_reader = SealingDirection(keys.sk_device, MDOC_ID)
        self._out, self._in = (to_mdoc, to_reader) if reader else (to_reader, to_mdoc)
        self.closed = False

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt a message to the other side."""
        self._check_open()
        return self._out.seal(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt a message from the other side; a failure closes the session."""
        self._check_open()
        try:
            return self._in.open(ciphertext)
        except MdocError:
            self.closed = True
            raise

    def _check_open(self) -> None:
        if self.closed:
            raise MdocError(MdocReason.SESSION_CLOSED, "session ended")


def session_establishment(e_reader_key: ec.EllipticCurvePublicKey, encrypted: bytes) -> bytes:
    """`{"eReaderKey": EReaderKeyBytes, "data": encrypted DeviceRequest}` (reader to mdoc)."""
    key_bytes = wire.dumps(cose.cose_key(e_reader_key))
    return wire.dumps(
        {"eReaderKey": cbor2.CBORTag(wire.TAG_ENCODED_CBOR, key_bytes), "data": encrypted}
    )


def parse_session_establishment(data: bytes) -> tuple[bytes, ec.EllipticCurvePublicKey, bytes]:
    """(EReaderKeyBytes, EReaderKey, encrypted data) of a SessionEstablishment (mdoc side)."""
    what = "SessionEstablishment"
    message = wire.as_map(wire.loads(data, what, wire.MAX_SESSION_MESSAGE_BYTES), what)
    key_bytes = wire.untag24(message.get("eReaderKey"), what)
    key = cose.public_key_from_cose(wire.loads(key_bytes, "EReaderKey"), "EReaderKey")
    return key_bytes, key, wire.field(message, "data", bytes, what)


def session_data(encrypted: bytes | None = None, status: int | None = None) -> bytes:
    """`SessionData` with `data`, `status`, or both."""
    message: dict[str, Any] = {}
    if encrypted is not None:
        message["data"] = encrypted
    if status is not None:
        message["status"] = status
    return wire.dumps(message)


def parse_session_data(data: bytes) -> tuple[bytes | None, int | None]:
    """(encrypted data, status) of a SessionData; at least one is present."""
    what = "SessionData"
    message = wire.as_map(wire.loads(data, what, wire.MAX_SESSION_MESSAGE_BYTES), what)
    if set(message) - {"data", "status"} or not message:
        raise MdocError(MdocReason.MALFORMED, f"{what}: unexpected keys")
    encrypted = message.get("data")
    status = message.get("status")
    if (encrypted is not None and not isinstance(encrypted, bytes)) or (
        status is not None and type(status) is not int
    ):
        raise MdocError(MdocReason.MALFORMED, f"{what}: fields of the wrong type")
    return encrypted, status
