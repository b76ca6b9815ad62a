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
_ALLOWED = frozenset(int(alg) for alg in Alg)


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
    item = codec.loads_strict(data) if strict else codec.loads_lenient(data)
    parts = _unwrap(item, strict=strict)
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes) or not isinstance(unprotected, codec.MAP_TYPES):
        raise TokenError("COSE headers of the wrong type")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise TokenError("COSE payload detached or signature not a bstr")
    header = _protected_map(protected, strict=strict)
    if strict and (set(header) != {HDR_ALG, HDR_KID} or unprotected):
        raise TokenError("COSE headers hold other than alg and kid")
    kid = header.get(HDR_KID)
    if kid is None and not strict:
        kid = unprotected.get(HDR_KID)
    alg = header.get(HDR_ALG)
    if alg is None and not strict:
        alg = unprotected.get(HDR_ALG)
    if not isinstance(kid, bytes):
        raise TokenError("COSE kid missing or not a bstr")
    if not isinstance(alg, int) or isinstance(alg, bool):
        alg = None
    return Sign1(protected, alg, kid, payload, signature)


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


def _protected_map(protected: bytes, *, strict: bool) -> Mapping[Any, Any]:
    if not protected:
        return {}
    header = codec.loads_strict(protected) if strict else codec.loads_lenient(protected)
    if not isinstance(header, codec.MAP_TYPES):
        raise TokenError("protected header is not a map")
    return header


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes that are signed: Sig_structure `["Signature1", protected, h'', payload]`."""
    return codec.dumps(["Signature1", protected, b"", payload])


def find_signer(msg: Sign1, candidates: Iterable[tuple[PublicKey, Alg]]) -> PublicKey:
    """Return the first candidate key whose signature over `msg` is valid (steps 6-7).

    Every candidate is tried (kids may collide). ALG_NOT_ALLOWED if `alg` is not allowlisted or
    matches none of the candidates' key types, UNKNOWN_KID if there is no candidate,
    BAD_SIGNATURE otherwise.
    """
    if msg.alg is None or msg.alg not in _ALLOWED:
        raise TokenError("alg not allowlisted", reason=Reason.ALG_NOT_ALLOWED)
    alg = Alg(msg.alg)
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
