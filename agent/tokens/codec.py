"""The byte layers shared by tokens, live codes and bundles: size caps, prefix, Base45, strict CBOR.

Strict CBOR means RFC 8949 §4.2 deterministic encoding with length-first map key order (what
`cbor2.dumps(..., canonical=True)` writes): minimal integers and lengths, definite lengths only, no
duplicate map keys, no trailing bytes. It is enforced by decoding and re-encoding: any of those
defects makes the re-encoding differ from the input (a duplicate key is dropped by the decoder, so
the re-encoding is shorter).
"""

from __future__ import annotations

from typing import Any

import base45
import cbor2

from agent.reasons import Reason
from agent.tokens.errors import TokenError

MAX_TEXT_CHARS = 1024
TOKEN_PREFIX = "LK1:"  # noqa: S105 (a format prefix, not a secret)
LIVE_PREFIX = "LK1L:"
# What the 1024-character cap leaves after the prefix: 1020 Base45 characters are 680 bytes. A
# larger byte cap could never be reached by a string that passed the character cap.
MAX_CBOR_BYTES = (MAX_TEXT_CHARS - len(TOKEN_PREFIX)) // 3 * 2
B45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INVALID = 0xFF
_B45_VALUES = bytes(
    B45_ALPHABET.index(chr(i)) if chr(i) in B45_ALPHABET else _B45_INVALID for i in range(256)
)
# Masks for every group a token under the cap can have; longer input (interop) builds its own.
_MASK_GROUPS = MAX_CBOR_BYTES // 2
_FIRST_MASK = int.from_bytes(b"\xff\x00\x00" * _MASK_GROUPS, "big")


# What cbor2 decodes maps and arrays into (maps inside tags become frozendict, arrays tuples).
# Exact type checks are a third of the cost of `Mapping`/`Sequence` ABC checks on the hot path.
MAP_TYPES = (dict, cbor2.frozendict)
ARRAY_TYPES = (list, tuple)


def check_text_size(text: str, limit: int = MAX_TEXT_CHARS) -> None:
    """Refuse text longer than `limit` before anything else looks at it."""
    if len(text) > limit:
        raise TokenError(f"text of {len(text)} chars over cap {limit}", reason=Reason.TOO_LARGE)


def b45decode(text: str, limit: int = MAX_CBOR_BYTES) -> bytes:
    """Decode RFC 9285 Base45; DECODE_FAILED on any invalid character or group.

    Our own decoder (same results as the `base45` package, checked by the tests) because the
    package's per-character loop was a third of a whole token check. It works on whole strings
    instead of characters: each 3-character group `c0 c1 c2` becomes the 24-bit slot
    `c0 + 45 * c1 + 2025 * c2` of one big integer (at most 91124, so no slot carries into the
    next), and a slot above 0xFFFF shows as a non-zero top byte.
    """
    full, rest = divmod(len(text), 3)
    # Base45 packs 2 bytes into 3 chars; checking the bound first keeps the cap ahead of decoding.
    if full * 2 + (rest > 0) > limit:
        raise TokenError("decoded size over cap", reason=Reason.TOO_LARGE)
    if not text.isascii() or rest == 1:
        raise TokenError("invalid Base45", reason=Reason.DECODE_FAILED)
    values = text.encode("ascii").translate(_B45_VALUES)
    if _B45_INVALID in values:
        raise TokenError("invalid Base45", reason=Reason.DECODE_FAILED)
    end = full * 3
    digits = int.from_bytes(values[:end], "big")
    first, second, third = _group_masks(full)
    slots = ((digits & first) >> 16) + 45 * ((digits & second) >> 8) + 2025 * (digits & third)
    words = slots.to_bytes(end, "big")
    if 1 in words[0::3]:  # the top byte of a slot is 0 or 1
        raise TokenError("invalid Base45 group", reason=Reason.DECODE_FAILED)
    out = bytearray(2 * full + (rest > 0))
    out[0 : 2 * full : 2] = words[1::3]
    out[1 : 2 * full : 2] = words[2::3]
    if rest:
        last = values[-2] + 45 * values[-1]
        if last > 0xFF:
            raise TokenError("invalid Base45 group", reason=Reason.DECODE_FAILED)
        out[-1] = last
    return bytes(out)


def _group_masks(groups: int) -> tuple[int, int, int]:
    """Masks picking the first, second and third character of every 3-byte group."""
    if groups > _MASK_GROUPS:
        first = int.from_bytes(b"\xff\x00\x00" * groups, "big")
        return first, first >> 8, first >> 16
    shift = 24 * (_MASK_GROUPS - groups)
    return _FIRST_MASK >> shift, _FIRST_MASK >> (shift + 8), _FIRST_MASK >> (shift + 16)


def b45encode(data: bytes) -> str:
    """`data` in Base45 (the QR alphanumeric alphabet)."""
    encoded: str = base45.b45encode(data).decode("ascii")
    return encoded


def loads_lenient(data: bytes) -> Any:
    """Decode one CBOR item as the library does (for foreign data such as the EU DCC vectors)."""
    try:
        return cbor2.loads(data)
    # cbor2 is a foreign parser fed attacker bytes: whatever it raises is "malformed" to us.
    except Exception as err:
        raise TokenError("invalid CBOR", reason=Reason.MALFORMED) from err


def loads_strict(data: bytes) -> Any:
    """Decode one deterministic CBOR item; MALFORMED for anything a canonical encoder never emits.

    Decoded maps inside tags are `cbor2.frozendict` and arrays may be tuples: callers check types
    with `Mapping` / `Sequence`.
    """
    item = loads_lenient(data)
    try:
        again = cbor2.dumps(item, canonical=True)
    except Exception as err:
        raise TokenError("CBOR cannot be re-encoded", reason=Reason.MALFORMED) from err
    if again != data:
        raise TokenError("CBOR is not deterministic", reason=Reason.MALFORMED)
    return item


def bstr_head(size: int) -> bytes:
    """The deterministic CBOR head of a byte string of `size` bytes (RFC 8949 §3, shortest form)."""
    if size < 24:
        return bytes((0x40 | size,))
    if size <= 0xFF:
        return bytes((0x58, size))
    if size <= 0xFFFF:
        return b"\x59" + size.to_bytes(2, "big")
    if size <= 0xFFFFFFFF:
        return b"\x5a" + size.to_bytes(4, "big")
    return b"\x5b" + size.to_bytes(8, "big")


def dumps(item: Any) -> bytes:
    """Encode `item` deterministically (the only encoding our verifier accepts)."""
    encoded: bytes = cbor2.dumps(item, canonical=True)
    return encoded
