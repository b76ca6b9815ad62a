"""CWT claims (RFC 8392) of a locker token: their keys, types and the checks on their shape.

A token carries no personal data: `sub` is an opaque order reference chosen by the hub.
Unknown claims and unknown flag bits are refused (fail closed: a restriction we do not understand
must not be ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from agent.tokens import codec
from agent.tokens.errors import TokenError
from agent.tokens.keys import cose_key, p256_from_point, p256_point, public_key_from_cose

ISS, SUB, AUD, EXP, NBF, IAT, CTI, CNF = 1, 2, 3, 4, 5, 6, 7, 8
# RFC 8392 private-use claim keys (below -65536)
PURPOSE, FLAGS, COMPARTMENT = -65537, -65538, -65539
_REQUIRED = frozenset({ISS, SUB, AUD, EXP, NBF, IAT, CTI, PURPOSE})
_KNOWN = _REQUIRED | {CNF, FLAGS, COMPARTMENT}
# RFC 8949 §4.2.3 length-first order of the encoded keys: 1 ... 8, then -65537, -65538, -65539
_CANONICAL_ORDER = tuple(sorted(_KNOWN, key=lambda key: (len(k := cbor2.dumps(key)), k)))
CTI_BYTES = 16
MAX_TIME = 2**40  # seconds; keeps every time a float without rounding
MAX_AUDIENCES = 16
MAX_TEXT = 64
#: Text claims (`iss`, `sub`, each `aud`): 1-64 characters, each U+0020..U+007E (ASCII printable,
#: space included). Spelled out so that another language gets the same answer as Python would not
#: with `str.isprintable` (which accepts most of Unicode).
TEXT_CHARS = frozenset(map(chr, range(0x20, 0x7F)))
MAX_COMPARTMENT = 9999
COSE_KEY = 1  # RFC 8747 cnf member holding a COSE_Key


class Purpose(StrEnum):
    """What a token (or an issuing key) may be used for. COMMAND is for keys only."""

    PICKUP = "pickup"
    RETURN = "return"
    COURIER = "courier"
    STAFF = "staff"
    COMMAND = "command"


PURPOSE_CODES: dict[Purpose, int] = {
    Purpose.PICKUP: 1,
    Purpose.RETURN: 2,
    Purpose.COURIER: 3,
    Purpose.STAFF: 4,
}
_PURPOSE_BY_CODE = {code: purpose for purpose, code in PURPOSE_CODES.items()}


@dataclass(frozen=True, slots=True)
class TokenFlags:
    """Restrictions set by the hub. Bit 0 live code, bit 1 ID check, bit 2 high value."""

    live_required: bool = False
    id_check: bool = False
    high_value: bool = False

    def to_int(self) -> int:
        """The flags as the token's integer (bit 0 live code, bit 1 ID check, bit 2 high value)."""
        return int(self.live_required) | int(self.id_check) << 1 | int(self.high_value) << 2

    @classmethod
    def from_int(cls, value: int) -> TokenFlags:
        """The flags of a token's integer; TokenError if an unknown bit is set."""
        if value & ~0b111:
            raise TokenError("unknown flag bits")
        return cls(bool(value & 1), bool(value & 2), bool(value & 4))


_FLAG_VALUES = tuple(TokenFlags.from_int(value) for value in range(8))


@dataclass(frozen=True, slots=True)
class Claims:
    """The typed claims of a token. Times are POSIX seconds; `holder_key` a SEC1 P-256 point."""

    issuer: str
    order_ref: str
    audience: tuple[str, ...]
    not_before: int
    expires: int
    issued_at: int
    cti: bytes
    purpose: Purpose
    flags: TokenFlags
    compartment: int | None = None
    holder_key: bytes | None = None


def encode_claims(claims: Claims) -> bytes:
    """The deterministic CBOR payload of `claims` (`aud` as a string when there is one locker)."""
    aud: str | list[str] = (
        claims.audience[0] if len(claims.audience) == 1 else list(claims.audience)
    )
    out: dict[int, Any] = {
        ISS: claims.issuer,
        SUB: claims.order_ref,
        AUD: aud,
        EXP: claims.expires,
        NBF: claims.not_before,
        IAT: claims.issued_at,
        CTI: claims.cti,
        PURPOSE: PURPOSE_CODES[claims.purpose],
    }
    if claims.flags.to_int():
        out[FLAGS] = claims.flags.to_int()
    if claims.compartment is not None:
        out[COMPARTMENT] = claims.compartment
    if claims.holder_key is not None:
        out[CNF] = {COSE_KEY: cose_key(p256_from_point(claims.holder_key))}
    return codec.dumps(out)


def parse_claims(payload: bytes) -> Claims:
    """Decode and type-check the claims (step 8); MALFORMED for anything missing or mistyped."""
    raw = codec.loads_lenient(payload)
    if not isinstance(raw, codec.MAP_TYPES):
        raise TokenError("claims are not a map")
    keys = set(raw)
    # Exact key types: True or 1.0 would pass an equality test for claim 1.
    if not keys >= _REQUIRED or not keys <= _KNOWN or set(map(type, raw)) != {int}:
        raise TokenError("claims missing or unknown")
    purpose = _PURPOSE_BY_CODE.get(_uint(raw[PURPOSE], 4))
    if purpose is None:
        raise TokenError("unknown purpose code")
    claims = Claims(
        issuer=_text(raw[ISS]),
        order_ref=_text(raw[SUB]),
        audience=_audience(raw[AUD]),
        not_before=_uint(raw[NBF], MAX_TIME),
        expires=_uint(raw[EXP], MAX_TIME),
        issued_at=_uint(raw[IAT], MAX_TIME),
        cti=_cti(raw[CTI]),
        purpose=purpose,
        flags=_FLAG_VALUES[_uint(raw.get(FLAGS, 0), 0b111)],
        compartment=None if COMPARTMENT not in raw else _uint(raw[COMPARTMENT], MAX_COMPARTMENT),
        holder_key=_holder_key(raw[CNF]) if CNF in raw else None,
    )
    if claims.expires <= claims.not_before:
        raise TokenError("exp is not after nbf")
    _check_deterministic(payload, raw)
    return claims


def _check_deterministic(payload: bytes, raw: Mapping[int, Any]) -> None:
    """MALFORMED unless `payload` is the deterministic encoding of `raw` (`codec.loads_strict`).

    Once the claims are typed, every value but `cnf` is a text, bytes, integer or list of texts,
    which cbor2's plain encoder writes exactly as its canonical one, only without sorting map
    keys (3x faster). With the keys already in canonical order the two encodings are equal.
    """
    ordered = list(raw) == [key for key in _CANONICAL_ORDER if key in raw]
    if not ordered or CNF in raw or cbor2.dumps(raw) != payload:
        codec.loads_strict(payload)


def _uint(value: object, maximum: int) -> int:
    # bool is an int subclass in Python; CBOR true/false is never a number here
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise TokenError("integer claim of wrong type or range")
    return value


def valid_text(value: object) -> bool:
    """True for a text claim the locker accepts (see `TEXT_CHARS`); issuers check it too."""
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and set(value) <= TEXT_CHARS


def _text(value: object) -> str:
    if not valid_text(value):
        raise TokenError("text claim of wrong type, length or characters")
    assert isinstance(value, str)  # noqa: S101 - valid_text checked it
    return value


def _audience(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_text(value),)
    if isinstance(value, codec.ARRAY_TYPES) and 0 < len(value) <= MAX_AUDIENCES:
        return tuple(_text(item) for item in value)
    raise TokenError("aud is not a string or a list of strings")


def _cti(value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != CTI_BYTES:
        raise TokenError("cti is not 16 bytes")
    return value


def _holder_key(value: object) -> bytes:
    if not isinstance(value, codec.MAP_TYPES) or set(value) != {COSE_KEY}:
        raise TokenError("cnf is not {1: COSE_Key}")
    key = public_key_from_cose(value[COSE_KEY])
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise TokenError("holder key is not P-256")
    return p256_point(key)
