"""COSE (RFC 9052) as 18013-5 uses it: untagged COSE_Sign1 / COSE_Mac0, ECDSA with curve binding.

An algorithm is accepted only with its own curve (18013-5 9.1.3.6 / RFC 9053 2.1): ES256 with
P-256, ES384 with P-384, ES512 with P-521. Signatures are raw `r || s`. External AAD is empty.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from agent.identity import wire
from agent.identity.errors import MdocError, MdocReason

HDR_ALG = 1
HDR_X5CHAIN = 33
ALG_HMAC256 = 5
_TAG_SIGN1 = 18
_TAG_MAC0 = 17


@dataclass(frozen=True, slots=True)
class EcdsaAlg:
    """One COSE ECDSA algorithm and the curve and hash it is bound to."""

    cose_id: int
    curve: type[ec.EllipticCurve]
    hash: type[hashes.HashAlgorithm]
    coord_bytes: int
    cose_crv: int


ECDSA_ALGS: dict[int, EcdsaAlg] = {
    -7: EcdsaAlg(-7, ec.SECP256R1, hashes.SHA256, 32, 1),
    -35: EcdsaAlg(-35, ec.SECP384R1, hashes.SHA384, 48, 2),
    -36: EcdsaAlg(-36, ec.SECP521R1, hashes.SHA512, 66, 3),
}
_CURVE_BY_CRV = {a.cose_crv: a for a in ECDSA_ALGS.values()}


@dataclass(frozen=True, slots=True)
class CoseMessage:
    """A decoded, not yet verified COSE_Sign1 or COSE_Mac0 (`tail` is the signature or tag)."""

    protected: bytes
    alg: int
    unprotected: Mapping[Any, Any]
    payload: bytes | None
    tail: bytes


def parse(item: object, what: str, *, mac: bool = False) -> CoseMessage:
    """Check the shape of a COSE_Sign1 (or COSE_Mac0) array; `alg` must be protected."""
    if isinstance(item, cbor2.CBORTag) and item.tag == (_TAG_MAC0 if mac else _TAG_SIGN1):
        item = item.value
    parts = wire.as_array(item, what)
    if len(parts) != 4:
        raise MdocError(MdocReason.MALFORMED, f"{what}: not a 4-element COSE array")
    protected, unprotected, payload, tail = parts
    if not isinstance(protected, bytes) or not isinstance(tail, bytes):
        raise MdocError(MdocReason.MALFORMED, f"{what}: COSE parts of the wrong type")
    if payload is not None and not isinstance(payload, bytes):
        raise MdocError(MdocReason.MALFORMED, f"{what}: COSE payload not a bstr or nil")
    header = wire.as_map(wire.loads(protected, what + " protected header"), what)
    alg = header.get(HDR_ALG)
    if type(alg) is not int:
        raise MdocError(MdocReason.ALG_NOT_ALLOWED, f"{what}: no protected integer alg")
    return CoseMessage(protected, alg, wire.as_map(unprotected, what), payload, tail)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """`["Signature1", protected, h'', payload]` (the bytes an ECDSA signature covers)."""
    return wire.dumps(["Signature1", protected, b"", payload])


def mac_structure(protected: bytes, payload: bytes) -> bytes:
    """`["MAC0", protected, h'', payload]` (the bytes an HMAC tag covers)."""
    return wire.dumps(["MAC0", protected, b"", payload])


def ecdsa_alg(alg: int, key: ec.EllipticCurvePublicKey, what: str) -> EcdsaAlg:
    """The algorithm, which must be an allowed ECDSA one on the key's own curve."""
    spec = ECDSA_ALGS.get(alg)
    if spec is None or not isinstance(key.curve, spec.curve):
        raise MdocError(
            MdocReason.ALG_NOT_ALLOWED, f"{what}: alg {alg} with curve {key.curve.name}"
        )
    return spec


def verify_ecdsa(
    key: ec.EllipticCurvePublicKey, spec: EcdsaAlg, signature: bytes, data: bytes
) -> bool:
    """True if the raw `r || s` signature is valid for `data`."""
    size = spec.coord_bytes
    if len(signature) != 2 * size:
        return False
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(spec.hash()))
    except (InvalidSignature, ValueError):
        return False
    return True


def hmac_sha256_ok(key: bytes, tag: bytes, data: bytes) -> bool:
    """Whether `tag` is the HMAC-SHA256 of `data` under `key` (compared in constant time)."""
    return hmac.compare_digest(hmac.new(key, data, "sha256").digest(), tag)


def public_key_from_cose(value: object, what: str) -> ec.EllipticCurvePublicKey:
    """An EC2 COSE_Key on P-256, P-384 or P-521 (uncompressed `x`, `y`); MALFORMED otherwise."""
    key = wire.as_map(value, what)
    crv = key.get(-1)
    spec = _CURVE_BY_CRV.get(crv) if key.get(1) == 2 and type(crv) is int else None
    x, y = key.get(-2), key.get(-3)
    if spec is None or not isinstance(x, bytes) or not isinstance(y, bytes):
        raise MdocError(MdocReason.MALFORMED, f"{what}: not an EC2 P-256/384/521 COSE_Key")
    if len(x) != spec.coord_bytes or len(y) != spec.coord_bytes:
        raise MdocError(MdocReason.MALFORMED, f"{what}: coordinates of the wrong size")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(spec.curve(), b"\x04" + x + y)
    except ValueError as err:
        raise MdocError(MdocReason.MALFORMED, f"{what}: point not on the curve") from err


def cose_key(key: ec.EllipticCurvePublicKey) -> dict[int, Any]:
    """The EC2 COSE_Key of `key` (for the reader's EReaderKey and the test holder)."""
    spec = alg_for_key(key)
    numbers = key.public_numbers()
    size = spec.coord_bytes
    return {
        1: 2,
        -1: spec.cose_crv,
        -2: numbers.x.to_bytes(size, "big"),
        -3: numbers.y.to_bytes(size, "big"),
    }


def alg_for_key(key: ec.EllipticCurvePublicKey) -> EcdsaAlg:
    """The one ECDSA algorithm bound to the key's curve (for signing)."""
    for spec in ECDSA_ALGS.values():
        if isinstance(key.curve, spec.curve):
            return spec
    raise MdocError(MdocReason.ALG_NOT_ALLOWED, f"curve {key.curve.name} not allowed")


def sign_raw(key: ec.EllipticCurvePrivateKey, spec: EcdsaAlg, data: bytes) -> bytes:
    """A raw `r || s` ECDSA signature (reader authentication, and the test holder)."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(spec.hash())))
    return r.to_bytes(spec.coord_bytes, "big") + s.to_bytes(spec.coord_bytes, "big")
