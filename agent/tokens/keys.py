"""Algorithms, key ids and COSE_Key (RFC 9052 §7) encoding of public keys.

Allowed algorithms: ES256 (P-256), EdDSA (Ed25519) and PS256 (RSA, verify only, for interop).
An algorithm is only ever used with the key type it belongs to, so a header cannot talk a verifier
into checking an ECDSA key with another scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from agent.reasons import Reason
from agent.tokens.errors import TokenError
from hub_sync.protocol.signing import key_id_bytes

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# RFC 6979: no dependence on the signing host's RNG, and reproducible test vectors
_ECDSA_SIGN = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_P256_COORD = 32


RSA_MIN_BITS = 2048  # below: too weak
RSA_MAX_BITS = 4096  # above: a bundle entry could make every verification slow


class Alg(IntEnum):
    """COSE algorithm identifiers we accept."""

    ES256 = -7
    EDDSA = -8
    PS256 = -37

    @property
    def label(self) -> str:
        """The IANA COSE name (`ES256`, `EdDSA`, `PS256`) used in files and docs."""
        return _ALG_LABELS[self]


_ALG_LABELS = {Alg.ES256: "ES256", Alg.EDDSA: "EdDSA", Alg.PS256: "PS256"}


def alg_for_key(key: PublicKey | PrivateKey) -> Alg:
    """The one algorithm a key may be used with; MALFORMED for any other key type."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return Alg.ES256
    elif isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return Alg.EDDSA
    elif (
        isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey)
        and RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS
    ):
        return Alg.PS256
    raise TokenError("key type not allowed", reason=Reason.ALG_NOT_ALLOWED)


def key_id(key: PublicKey) -> bytes:
    """`kid`: the first 8 bytes of SHA-256 over the key's DER SubjectPublicKeyInfo.

    One definition for tokens, trust bundles and hub commands
    (`hub_sync.protocol.signing.key_id_bytes`)."""
    return key_id_bytes(key)


def verify_signature(key: PublicKey, alg: Alg, signature: bytes, data: bytes) -> bool:
    """True if `signature` is valid for `data` and `alg` belongs to the key's type.

    ES256 signatures are raw r||s (64 bytes); a DER signature is simply invalid.
    """
    # Key types and curves were checked when the key was parsed (`alg_for_key`); here only the
    # pairing of algorithm and key type is, because this is the hot path of every scan.
    try:
        if alg is Alg.ES256 and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 2 * _P256_COORD:
                return False
            key.verify(raw_to_der(signature), data, _ECDSA_SHA256)
        elif alg is Alg.EDDSA and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif alg is Alg.PS256 and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, _pss(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def raw_to_der(signature: bytes) -> bytes:
    """The DER `Ecdsa-Sig-Value` of a raw 64-byte P-256 `r || s` signature.

    What `encode_dss_signature` returns (the tests compare them), built from the bytes directly:
    half the cost of going through two Python integers, on every scan.
    """
    r = signature[:_P256_COORD].lstrip(b"\0")
    s = signature[_P256_COORD:].lstrip(b"\0")
    # DER INTEGERs are signed: zero is one 0x00 byte, and a set top bit needs a 0x00 in front
    if not r or r[0] & 0x80:
        r = b"\0" + r
    if not s or s[0] & 0x80:
        s = b"\0" + s
    return b"".join((b"\x30", bytes((4 + len(r) + len(s), 2, len(r))), r, bytes((2, len(s))), s))


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign `data` with the key's one algorithm, in COSE form (raw r||s for ECDSA)."""
    alg_for_key(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, _ECDSA_SIGN))
        return r.to_bytes(_P256_COORD, "big") + s.to_bytes(_P256_COORD, "big")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, _pss(), hashes.SHA256())


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def cose_key(key: PublicKey) -> dict[int, Any]:
    """The public COSE_Key map of `key` (EC2 P-256, OKP Ed25519 or RSA)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {
            1: 2,
            -1: 1,
            -2: numbers.x.to_bytes(_P256_COORD, "big"),
            -3: numbers.y.to_bytes(_P256_COORD, "big"),
        }
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {1: 1, -1: 6, -2: raw}
    rsa_numbers = key.public_numbers()
    return {1: 3, -1: _int_bytes(rsa_numbers.n), -2: _int_bytes(rsa_numbers.e)}


def public_key_from_cose(value: object) -> PublicKey:
    """Parse a public COSE_Key map; MALFORMED if it is not a valid P-256, Ed25519 or RSA key."""
    if not isinstance(value, Mapping):
        raise TokenError("COSE_Key is not a map")
    try:
        return _parse_cose_key(value)
    except (ValueError, TypeError, KeyError, OverflowError) as err:
        raise TokenError("invalid COSE_Key") from err


def _parse_cose_key(value: Mapping[Any, Any]) -> PublicKey:
    kty = value[1]
    if kty == 2 and value.get(-1) == 1 and set(value) == {1, -1, -2, -3}:
        x, y = value[-2], value[-3]
        if not (_is_bstr(x, _P256_COORD) and _is_bstr(y, _P256_COORD)):
            raise ValueError("bad P-256 coordinates")
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    if kty == 1 and value.get(-1) == 6 and set(value) == {1, -1, -2}:
        if not _is_bstr(value[-2], 32):
            raise ValueError("bad Ed25519 key")
        return ed25519.Ed25519PublicKey.from_public_bytes(value[-2])
    if kty == 3 and set(value) == {1, -1, -2}:
        n, e = value[-1], value[-2]
        if not (isinstance(n, bytes) and isinstance(e, bytes) and 256 <= len(n) <= 512):
            raise ValueError("bad RSA key")
        numbers = rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big"))
        return numbers.public_key()
    raise ValueError("unsupported COSE_Key")


def _is_bstr(value: object, size: int) -> bool:
    return isinstance(value, bytes) and len(value) == size


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def p256_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed SEC1 point (65 bytes) of a P-256 key."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def p256_from_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its encoded point; TokenError if it is not one."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, TypeError) as err:
        raise TokenError("invalid P-256 point") from err


def load_public_key_pem(data: bytes) -> PublicKey:
    """Parse a PEM SubjectPublicKeyInfo (pinned root files); MALFORMED if it is not one we allow."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as err:
        raise TokenError("not a PEM public key") from err
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise TokenError("public key type not allowed", reason=Reason.ALG_NOT_ALLOWED)
    alg_for_key(key)
    return key
