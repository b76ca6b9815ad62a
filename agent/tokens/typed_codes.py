"""Typed pickup codes: 8 Crockford base32 characters (40 bits), never stored in clear.

`code_lookup_key` is HMAC-SHA256 keyed with the locker's typed-code key (created at enrollment and
shared with the hub, which sends this same digest in `order.upsert`). Deterministic, so the store
can find the order by code; useless to whoever reads the database without the key, which lives in
its own file. Typed attempts are rate limited, so the 40-bit code is not guessed at the kiosk.
"""

from __future__ import annotations

import hashlib
import hmac
import random

from agent.reasons import Reason
from agent.tokens.errors import TokenError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -\t")
_MAX_INPUT = 64


def new_typed_code(rng: random.Random | random.SystemRandom) -> str:
    """A fresh code; pass `random.SystemRandom()` in production, a seeded Random in tests."""
    return "".join(rng.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """Upper-case, drop spaces and hyphens, read O as 0 and I/L as 1.

    Raises `TokenError(CODE_UNKNOWN)` if what remains is not 8 characters of the alphabet.
    """
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        raise TokenError("typed code input unusable", reason=Reason.CODE_UNKNOWN)
    code = text.upper().translate(_SEPARATORS).translate(_CONFUSABLE)
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        raise TokenError("typed code not 8 Crockford characters", reason=Reason.CODE_UNKNOWN)
    return code


def display_code(code: str) -> str:
    """Show a code in two groups of four ("ABCD-1234") for people to type."""
    return f"{code[:4]}-{code[4:]}"


MIN_KEY_BYTES = 16


def parse_code_key(text: str) -> bytes:
    """A typed-code key file's content (hex, at least 16 bytes); ValueError saying what is wrong.

    The key is created at enrollment and shared by the locker and the hub."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError("not a hex key") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError("the key is too short")
    return key


def code_lookup_key(code: str, locker_secret: bytes) -> str:
    """Keyed hash (hex) of a normalised code, to index orders by code without storing it.

    Also the `hmac-sha256` code digest a hub sends in `order.upsert` (`docs/protocol.md`)."""
    return hmac.new(locker_secret, normalise_code(code).encode("ascii"), hashlib.sha256).hexdigest()
