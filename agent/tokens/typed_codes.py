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
from collections.abc import Sequence

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


CodeKeys = tuple[str, ...]
"""The lookup digests of one typed code, one per key of the locker's key ring, current first."""


def parse_code_keys(text: str) -> tuple[bytes, ...]:
    """A key ring file: one hex key a line, the current key first, then older keys still
    accepted until their codes have expired (docs/provisioning.md, "Rotating keys"). Blank
    lines and `#` comments are ignored; a single-key file is a ring of one."""
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    keys = tuple(parse_code_key(line) for line in lines if line)
    if not keys:
        raise ValueError("no key in the file")
    if len(set(keys)) != len(keys):
        raise ValueError("a key is listed twice")
    return keys


def code_key_id(key: bytes) -> str:
    """A name for a typed-code key that reveals nothing of it (for logs, status and audit)."""
    return hmac.new(key, b"locker typed-code key id", hashlib.sha256).hexdigest()[:16]


def lookup_keys(code: str, keys: Sequence[bytes]) -> CodeKeys:
    """The code's digest under every key of the ring (TokenError if the code is malformed)."""
    return tuple(code_lookup_key(code, key) for key in keys)
