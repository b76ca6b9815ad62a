"""A small mdoc issuer and holder (wallet) for tests, the bench and forgery generation.

Written against the standard's definitions with cbor2 and cryptography directly (not with the
verifier's encoders), so that a mistake in the verifier's byte layout does not cancel out here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.identity.simulated_wallet import IssuedDocument
from tests.identity.pki import T0, Pki

MDL_NS = "org.iso.18013.5.1"
PID_NS = "eu.europa.ec.eudi.pid.1"
AV_NS = "eu.europa.ec.av.1"
_ALG = {
    "secp256r1": (-7, hashes.SHA256, 32),
    "secp384r1": (-35, hashes.SHA384, 48),
    "secp521r1": (-36, hashes.SHA512, 66),
}
_CRV = {"secp256r1": 1, "secp384r1": 2, "secp521r1": 3}

# The test identity: none of these values may ever appear in a log or an output.
PERSON: dict[str, Any] = {
    "family_name": "Privacyova",
    "given_name": "Zuzanna Quill",
    "birth_date": date(2001, 2, 3),
    "document_number": "QX7Z-4411-PRIV",
    "resident_address": "17 Nowhere Lane, Testville",
    "age_over_18": True,
    "age_over_21": True,
    "age_over_65": False,
}


def tag24(data: bytes) -> cbor2.CBORTag:
    return cbor2.CBORTag(24, data)


def cose_key(key: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    size = _ALG[key.curve.name][2]
    n = key.public_numbers()
    return {
        1: 2,
        -1: _CRV[key.curve.name],
        -2: n.x.to_bytes(size, "big"),
        -3: n.y.to_bytes(size, "big"),
    }


def raw_sign(
    key: ec.EllipticCurvePrivateKey, data: bytes, alg: int | None = None
) -> tuple[int, bytes]:
    """(COSE alg, raw r||s) — `alg` overrides the header only, to forge a curve mismatch."""
    own_alg, hash_type, size = _ALG[key.curve.name]
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_type())))
    return (alg if alg is not None else own_alg), r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign1_detached_or_not(
    key: ec.EllipticCurvePrivateKey,
    payload: bytes,
    unprotected: dict[int, Any],
    *,
    detached: bool,
    alg: int | None = None,
) -> list[Any]:
    header_alg = alg if alg is not None else _ALG[key.curve.name][0]
    protected = cbor2.dumps({1: header_alg})
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    _, signature = raw_sign(key, tbs)
    return [protected, unprotected, None if detached else payload, signature]


@dataclass
class Issuer:
    pki: Pki
    digest_alg: str = "SHA-256"

    def issue(
        self,
        doctype: str,
        elements: dict[str, dict[str, Any]],
        *,
        device_key: ec.EllipticCurvePrivateKey | None = None,
        signed: datetime = T0,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        mso_doctype: str | None = None,
        alg: int | None = None,
        mso_device_key: ec.EllipticCurvePublicKey | None = None,
        corrupt_digest: bool = False,
    ) -> IssuedDocument:
        device_key = device_key or ec.generate_private_key(ec.SECP256R1())
        hash_name = self.digest_alg.replace("-", "").lower()
        items: dict[str, list[bytes]] = {}
        digests: dict[str, dict[int, bytes]] = {}
        digest_id = 0
        for ns, values in elements.items():
            for name, value in values.items():
                item = cbor2.dumps(
                    {
                        "digestID": digest_id,
                        "random": secrets.token_bytes(16),
                        "elementIdentifier": name,
                        "elementValue": value,
                    }
                )
                digest = hashlib.new(hash_name, cbor2.dumps(tag24(item))).digest()
                if corrupt_digest:
                    digest = bytes([digest[0] ^ 1]) + digest[1:]
                items.setdefault(ns, []).append(item)
                digests.setdefault(ns, {})[digest_id] = digest
                digest_id += 1
        mso = {
            "version": "1.0",
            "digestAlgorithm": self.digest_alg,
            "valueDigests": digests,
            "deviceKeyInfo": {"deviceKey": cose_key(mso_device_key or device_key.public_key())},
            "docType": mso_doctype or doctype,
            "validityInfo": {
                "signed": signed,
                "validFrom": valid_from or signed,
                "validUntil": valid_until or signed + timedelta(days=90),
            },
        }
        payload = cbor2.dumps(tag24(cbor2.dumps(mso)))
        der = self.pki.ds.public_bytes(serialization.Encoding.DER)
        auth = sign1_detached_or_not(self.pki.ds_key, payload, {33: der}, detached=False, alg=alg)
        return IssuedDocument(doctype, items, auth, device_key)


def session_transcript(
    reader_public: ec.EllipticCurvePublicKey,
) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A QR-engagement SessionTranscript (array bytes) and the mdoc's ephemeral key."""
    e_device = ec.generate_private_key(ec.SECP256R1())
    engagement = {
        0: "1.0",
        1: [1, tag24(cbor2.dumps(cose_key(e_device.public_key())))],
        2: [[2, 1, {0: False, 1: True, 11: secrets.token_bytes(16)}]],
    }
    array = cbor2.dumps(
        [tag24(cbor2.dumps(engagement)), tag24(cbor2.dumps(cose_key(reader_public))), None]
    )
    return array, e_device


@dataclass
class Wallet:
    """Presents issued documents: selective disclosure plus DeviceSignature or DeviceMac."""

    documents: list[IssuedDocument] = field(default_factory=list)

    def response_structure(
        self,
        doc: IssuedDocument,
        transcript_array: bytes,
        *,
        disclose: dict[str, list[str]] | None = None,
        method: str = "signature",
        reader_public: ec.EllipticCurvePublicKey | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        doctype: str | None = None,
    ) -> dict[str, Any]:
        name_spaces: dict[str, list[cbor2.CBORTag]] = {}
        for ns, items in doc.items.items():
            wanted = None if disclose is None else set(disclose.get(ns, []))
            chosen = [
                tag24(i)
                for i in items
                if wanted is None or cbor2.loads(i)["elementIdentifier"] in wanted
            ]
            if chosen:
                name_spaces[ns] = chosen
        doc_type = doctype or doc.doctype
        device_ns = cbor2.dumps({})
        auth_bytes = cbor2.dumps(
            tag24(
                cbor2.dumps(
                    [
                        "DeviceAuthentication",
                        cbor2.loads(transcript_array),
                        doc_type,
                        tag24(device_ns),
                    ]
                )
            )
        )
        key = signing_key or doc.device_key
        if method == "signature":
            device_auth = {
                "deviceSignature": sign1_detached_or_not(key, auth_bytes, {}, detached=True)
            }
        else:
            assert reader_public is not None
            salt = hashlib.sha256(cbor2.dumps(tag24(transcript_array))).digest()
            secret = key.exchange(ec.ECDH(), reader_public)
            mac_key = HKDF(hashes.SHA256(), 32, salt, b"EMacKey").derive(secret)
            protected = cbor2.dumps({1: 5})
            mac = hmac.new(mac_key, cbor2.dumps(["MAC0", protected, b"", auth_bytes]), "sha256")
            device_auth = {"deviceMac": [protected, {}, None, mac.digest()]}
        return {
            "version": "1.0",
            "documents": [
                {
                    "docType": doc_type,
                    "issuerSigned": {"nameSpaces": name_spaces, "issuerAuth": doc.issuer_auth},
                    "deviceSigned": {"nameSpaces": tag24(device_ns), "deviceAuth": device_auth},
                }
            ],
            "status": 0,
        }

    def present(self, doc: IssuedDocument, transcript_array: bytes, **options: Any) -> bytes:
        return cbor2.dumps(self.response_structure(doc, transcript_array, **options))


def at(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()
