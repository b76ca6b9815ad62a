"""COSE_Sign1 (RFC 9052 §4.2) on top of cbor2 and cryptography.

Our own messages are strict: tag 18, deterministic CBOR, a protected header holding exactly
`alg` (1) and `kid` (4), an empty unprotected header and an embedded payload. The lenient mode
exists only to read foreign COSE (the EU DCC interop vectors): tag 61 or no tag, `kid` and
`alg` taken from the unprotected header when the protected one lacks them (some DCC issuers do
this), extra header parameters. The verifier of our tokens never uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2

from agent.reasons import Reason
from agent.tokens import codec
from agent.tokens.errors import TokenError
from agent.tokens.keys import (
    Alg,
    PrivateKey,
    PublicKey,
    alg_for_key,
    key_id,
    sign,
    verify_signature,
)

COSE_SIGN1_TAG = 18
CWT_TAG = 61
HDR_ALG = 1
HDR_KID = 4
_SIGN1_LEN = 4
_ALG_BY_ID = {int(alg): alg for alg in Alg}
_HEADER_LABELS = frozenset({HDR_ALG, HDR_KID})
_SIGN1_HEAD = b"\xd2\x84"  # tag 18, an array of 4
_EMPTY_MAP = b"\xa0"
_EMPTY_BSTR = b"\x40"
_SIG_STRUCTURE_HEAD = b"\x84\x6aSignature1"  # an array of 4, the text "Signature1"


@dataclass(frozen=True, slots=True)
class Sign1:
    """A decoded, not yet verified COSE_Sign1. `alg` is None when absent or not an integer."""

    protected: bytes
    alg: int | None
    kid: bytes | None
    payload: bytes
    signature: bytes


def decode_sign1(data: bytes, *, strict: bool = True) -> Sign1:
    """Check the COSE_Sign1 shape of `data` (steps 4-5); MALFORMED when it is wrong."""
    item = codec.loads_lenient(data)
    protected, unprotected, payload, signature = _unwrap(item, strict=strict)
    if not isinstance(protected, bytes) or not isinstance(unprotected, codec.MAP_TYPES):
        raise TokenError("COSE headers of the wrong type")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise TokenError("COSE payload detached or signature not a bstr")
    if strict:
        # The same test as `codec.loads_strict` (re-encode, compare), with the one deterministic
        # encoding this shape has written out instead of cbor2's generic encoder (5x slower).
        if unprotected or _strict_sign1_bytes(protected, payload, signature) != data:
            raise TokenError("COSE_Sign1 not deterministic or with unprotected headers")
        alg, kid = _strict_header(protected)
    else:
        alg, kid = _lenient_header(protected, unprotected)
    return Sign1(protected, alg, kid, payload, signature)


def _strict_sign1_bytes(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    """Deterministic CBOR of `#6.18([protected, {}, payload, signature])`."""
    return b"".join(
        (
            _SIGN1_HEAD,
            codec.bstr_head(len(protected)),
            protected,
            _EMPTY_MAP,
            codec.bstr_head(len(payload)),
            payload,
            codec.bstr_head(len(signature)),
            signature,
        )
    )


def _strict_header(protected: bytes) -> tuple[int | None, bytes]:
    """`alg` and `kid` of a strict protected header: exactly `{1: alg, 4: kid}`, deterministic."""
    header = codec.loads_lenient(protected)
    # Exact label types: True, 1.0 or a Decimal would pass an equality test for label 1.
    if (
        not isinstance(header, codec.MAP_TYPES)
        or set(header) != _HEADER_LABELS
        or list(map(type, header)) != [int, int]
    ):
        raise TokenError("COSE headers hold other than alg and kid")
    alg, kid = header[HDR_ALG], header[HDR_KID]
    if not isinstance(kid, bytes):
        raise TokenError("COSE kid missing or not a bstr")
    # With its labels in order and an integer alg, the header encodes the same under cbor2's
    # plain encoder, 3x faster than its canonical one; anything else takes the generic check.
    in_order = list(header) == [HDR_ALG, HDR_KID] and type(alg) is int
    if not in_order or cbor2.dumps(header) != protected:
        codec.loads_strict(protected)
    return _int_alg(alg), kid


def _int_alg(alg: object) -> int | None:
    return alg if isinstance(alg, int) and not isinstance(alg, bool) else None


def _unwrap(item: Any, *, strict: bool) -> Sequence[Any]:
    if not strict and isinstance(item, cbor2.CBORTag) and item.tag == CWT_TAG:
        item = item.value
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise TokenError(f"CBOR tag {item.tag} is not COSE_Sign1")
        item = item.value
    elif strict:
        raise TokenError("COSE_Sign1 is untagged")
    if not isinstance(item, codec.ARRAY_TYPES) or len(item) != _SIGN1_LEN:
        raise TokenError("COSE_Sign1 is not a 4-element array")
    return item


def _lenient_header(protected: bytes, unprotected: Mapping[Any, Any]) -> tuple[int | None, bytes]:
    """`alg` and `kid` of foreign COSE: from the protected header, else the unprotected one."""
    header: Mapping[Any, Any] = {}
    if protected:
        header = codec.loads_lenient(protected)
        if not isinstance(header, codec.MAP_TYPES):
            raise TokenError("protected header is not a map")
    kid = header.get(HDR_KID)
    if kid is None:
        kid = unprotected.get(HDR_KID)
    alg = header.get(HDR_ALG)
    if alg is None:
        alg = unprotected.get(HDR_ALG)
    if not isinstance(kid, bytes):
        raise TokenError("COSE kid missing or not a bstr")
    return _int_alg(alg), kid


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes that are signed: Sig_structure `["Signature1", protected, h'', payload]`."""
    # Written out (as `codec.dumps` would encode it) because this runs on every scan.
    return b"".join(
        (
            _SIG_STRUCTURE_HEAD,
            codec.bstr_head(len(protected)),
            protected,
            _EMPTY_BSTR,
            codec.bstr_head(len(payload)),
            payload,
        )
    )


def find_signer(msg: Sign1, candidates: Iterable[tuple[PublicKey, Alg]]) -> PublicKey:
    """Return the first candidate key whose signature over `msg` is valid (steps 6-7).

    Every candidate is tried (kids may collide). ALG_NOT_ALLOWED if `alg` is not allowlisted or
    matches none of the candidates' key types, UNKNOWN_KID if there is no candidate,
    BAD_SIGNATURE otherwise.
    """
    alg = _ALG_BY_ID.get(msg.alg) if msg.alg is not None else None
    if alg is None:
        raise TokenError("alg not allowlisted", reason=Reason.ALG_NOT_ALLOWED)
    to_be_signed = sig_structure(msg.protected, msg.payload)
    seen_any = seen_alg = False
    for key, key_alg in candidates:
        seen_any = True
        if key_alg is not alg:
            continue
        seen_alg = True
        if verify_signature(key, alg, msg.signature, to_be_signed):
            return key
    if not seen_any:
        raise TokenError("no trusted key with this kid", reason=Reason.UNKNOWN_KID)
    if not seen_alg:
        raise TokenError("alg does not match the key type", reason=Reason.ALG_NOT_ALLOWED)
    raise TokenError("signature does not verify", reason=Reason.BAD_SIGNATURE)


def sign1(key: PrivateKey, payload: bytes, *, kid: bytes | None = None) -> bytes:
    """Make a strict, tagged COSE_Sign1 over `payload`; `kid` defaults to the key's own kid."""
    alg = alg_for_key(key)
    protected = codec.dumps({HDR_ALG: int(alg), HDR_KID: kid or key_id(key.public_key())})
    signature = sign(key, sig_structure(protected, payload))
    return encode_sign1(protected, {}, payload, signature)


def encode_sign1(
    protected: bytes, unprotected: Mapping[Any, Any], payload: bytes, signature: bytes
) -> bytes:
    """Assemble a tagged COSE_Sign1 from its parts (also used by tests to build bad ones)."""
    return codec.dumps(
        cbor2.CBORTag(COSE_SIGN1_TAG, [protected, dict(unprotected), payload, signature])
    )
