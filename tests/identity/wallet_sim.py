"""A simulated EU wallet speaking the 18013-5 session protocol (the mdoc side), for tests.

Its session cryptography is written here with cryptography directly (HKDF, AES-GCM), not with
`agent.identity.session`, so the two sides of a test are independent implementations.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.identity import MdocError, parse_session_transcript
from agent.identity.request import parse_device_request, verify_reader_auth
from tests.identity.conftest import NOW
from tests.identity.holder import IssuedDocument, Wallet, cose_key, tag24


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(secret)


@dataclass
class SimulatedWallet:
    """One phone with one credential: answers a single request, then ends."""

    doc: IssuedDocument
    method: str = "signature"
    decline: bool = False
    garble: bool = False
    requested: list[dict[str, dict[str, bool]]] = field(default_factory=list)
    reader_roots: list[x509.Certificate] | None = None  # set: ReaderAuth is required and checked
    reader_seen: list[str] = field(default_factory=list)
    closed_with: Any = None
    e_device: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        self.engagement_bytes = cbor2.dumps(
            {
                0: "1.0",
                1: [1, tag24(cbor2.dumps(cose_key(self.e_device.public_key())))],
                2: [[2, 1, {0: False, 1: True, 11: secrets.token_bytes(16)}]],
            }
        )

    async def engagement(self) -> tuple[bytes, Any]:
        return self.engagement_bytes, None  # QR engagement: Handover is null

    async def exchange(self, message: bytes) -> bytes:
        establishment = cbor2.loads(message)
        key_bytes = establishment["eReaderKey"].value
        key = cbor2.loads(key_bytes)
        reader_public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + key[-2] + key[-3]
        )
        transcript = cbor2.dumps([tag24(self.engagement_bytes), tag24(key_bytes), None])
        salt = hashlib.sha256(cbor2.dumps(tag24(transcript))).digest()
        shared = self.e_device.exchange(ec.ECDH(), reader_public)
        sk_reader, sk_device = _hkdf(shared, salt, b"SKReader"), _hkdf(shared, salt, b"SKDevice")
        plain = AESGCM(sk_reader).decrypt(bytes(8) + b"\0\0\0\1", establishment["data"], None)
        if self.reader_roots is not None:  # the wallet side of reader authentication
            (doc_request,) = parse_device_request(plain)
            transcript_parsed = parse_session_transcript(transcript)
            try:
                cert = verify_reader_auth(
                    doc_request, transcript_parsed, self.reader_roots, now=NOW
                )
            except MdocError:
                return cbor2.dumps({"status": 20})  # an unknown reader gets nothing
            self.reader_seen.append(cert.subject.rfc4514_string())
        items = cbor2.loads(cbor2.loads(plain)["docRequests"][0]["itemsRequest"].value)
        self.requested.append(items["nameSpaces"])
        if self.decline:
            return cbor2.dumps({"status": 20})
        disclose = {ns: list(elements) for ns, elements in items["nameSpaces"].items()}
        response = Wallet().present(
            self.doc, transcript, disclose=disclose, method=self.method, reader_public=reader_public
        )
        sealed = AESGCM(sk_device).encrypt(bytes(7) + b"\1\0\0\0\1", response, None)
        if self.garble:
            sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
        return cbor2.dumps({"data": sealed})

    async def close(self, message: bytes) -> None:
        self.closed_with = cbor2.loads(message)
