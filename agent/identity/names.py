"""The recipient's name as a salted digest: the order carries the digest, never the name.

`name_digest = SHA-256(salt || UTF-8(normalised "given family"))`, where normalising is Unicode
NFKC, case folding, and single spaces between words (so "  ZUZANNA  quill" and "Zuzanna Quill"
agree). The hub computes the digest when it sends the order; the locker recomputes it from the
wallet's disclosed, digest-checked `given_name` and `family_name` and compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

MIN_SALT_BYTES = 16


@dataclass(frozen=True, slots=True)
class NameCheck:
    """What an order says about its recipient: a salt and the salted digest of the name."""

    salt: bytes
    digest: bytes

    def __post_init__(self) -> None:
        if len(self.salt) < MIN_SALT_BYTES or len(self.digest) != hashlib.sha256().digest_size:
            raise ValueError("name check needs a salt of 16+ bytes and a SHA-256 digest")

    def matches(self, given_name: str, family_name: str) -> bool:
        """Whether the name, normalised, has this salted digest (compared in constant time)."""
        return hmac.compare_digest(name_digest(self.salt, given_name, family_name), self.digest)


def normalise_name(given_name: str, family_name: str) -> str:
    """The name as compared: NFKC, case-folded, runs of white space made one space."""
    text = unicodedata.normalize("NFKC", f"{given_name} {family_name}").casefold()
    return " ".join(text.split())


def name_digest(salt: bytes, given_name: str, family_name: str) -> bytes:
    """The salted SHA-256 digest of the normalised name."""
    return hashlib.sha256(salt + normalise_name(given_name, family_name).encode()).digest()
