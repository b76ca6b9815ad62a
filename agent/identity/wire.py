"""The byte layer of the mdoc verifier: size caps, strict CBOR and tag-24 embedded CBOR.

Strict CBOR here is RFC 8949 preferred serialisation as 18013-5 data is written: shortest
integer and length heads, definite lengths, no duplicate map keys, no trailing bytes. Map order
is the sender's (18013-5 does not require canonical order; the Annex D data is not canonical).
It is enforced by decoding and re-encoding with cbor2, which keeps map order: any of those
defects makes the re-encoding differ from the input. Digests and signatures are computed over
bytes as received, and strictness is what makes "as received" and "as decoded" the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cbor2

from agent.identity.errors import MdocError, MdocReason
from agent.tokens.codec import bstr_head  # the same shortest CBOR head as tokens

MAX_RESPONSE_BYTES = 512 * 1024
MAX_TRANSCRIPT_BYTES = 16 * 1024
MAX_SESSION_MESSAGE_BYTES = MAX_RESPONSE_BYTES + 1024
TAG_ENCODED_CBOR = 24
_TAG24_HEAD = b"\xd8\x18"
MAP_TYPES = (dict, cbor2.frozendict)
ARRAY_TYPES = (list, tuple)


def loads(data: bytes, what: str, limit: int = MAX_RESPONSE_BYTES) -> Any:
    """Decode one strict CBOR item of at most `limit` bytes; TOO_LARGE / MALFORMED otherwise."""
    if len(data) > limit:
        raise MdocError(MdocReason.TOO_LARGE, f"{what}: {len(data)} bytes over cap {limit}")
    try:
        item = cbor2.loads(data)
        again = cbor2.dumps(item)
    # cbor2 is a foreign parser fed attacker bytes: whatever it raises is "malformed" to us.
    except Exception as err:
        raise MdocError(MdocReason.MALFORMED, f"{what}: invalid CBOR") from err
    if again != data:
        raise MdocError(MdocReason.MALFORMED, f"{what}: CBOR not in preferred serialisation")
    return item


def dumps(item: Any) -> bytes:
    """Encode in preferred serialisation, keeping map order (what `loads` accepts)."""
    encoded: bytes = cbor2.dumps(item)
    return encoded


def tag24(content: bytes) -> bytes:
    """`#6.24(bstr .cbor)` around already encoded CBOR (e.g. IssuerSignedItemBytes)."""
    return _TAG24_HEAD + bstr_head(len(content)) + content


def untag24(item: object, what: str) -> bytes:
    """The embedded bytes of a `#6.24(bstr)`; MALFORMED for anything else."""
    if (
        not isinstance(item, cbor2.CBORTag)
        or item.tag != TAG_ENCODED_CBOR
        or not isinstance(item.value, bytes)
    ):
        raise MdocError(MdocReason.MALFORMED, f"{what}: not a tag-24 byte string")
    return item.value


def as_map(item: object, what: str) -> Mapping[Any, Any]:
    """`item` if it is a CBOR map; MdocError (MALFORMED) otherwise."""
    if not isinstance(item, MAP_TYPES):
        raise MdocError(MdocReason.MALFORMED, f"{what}: not a map")
    return item


def as_array(item: object, what: str, *, max_len: int = 64) -> list[Any] | tuple[Any, ...]:
    """`item` if it is a CBOR array of at most `max_len` entries; MdocError otherwise."""
    if not isinstance(item, ARRAY_TYPES):
        raise MdocError(MdocReason.MALFORMED, f"{what}: not an array")
    if len(item) > max_len:
        raise MdocError(MdocReason.TOO_LARGE, f"{what}: more than {max_len} entries")
    return item


def field(
    mapping: Mapping[Any, Any], key: str | int, kind: type | tuple[type, ...], what: str
) -> Any:
    """`mapping[key]`, which must exist and be of `kind` (bool is never an int here)."""
    value = mapping.get(key)
    if value is None or not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise MdocError(MdocReason.MALFORMED, f"{what}: {key!r} missing or of the wrong type")
    return value
