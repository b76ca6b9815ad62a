"""Rules of docs/tokens.md that another implementation must reproduce exactly (issue 10.9)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from agent.reasons import Reason
from agent.tokens import Purpose, TokenError, TokenFlags, VerifyContext, codec, cose, verify_token
from agent.tokens.claims import Claims, encode_claims
from agent.tokens.keys import alg_for_key
from provisioning.fleet import DemoFleet
from provisioning.keyfiles import IssuingKeyEntry, write_descriptor
from tests.tokens.conftest import LOCKER, NOW


def _signed(fleet: DemoFleet, *, order_ref: str, audience: tuple[str, ...] = (LOCKER,)) -> str:
    """A token signed by the fleet's real issuing key, bypassing the issuer's own checks."""
    claims = Claims(
        issuer="hub", order_ref=order_ref, audience=audience, not_before=int(NOW),
        expires=int(NOW) + 3600, issued_at=int(NOW), cti=os.urandom(16),
        purpose=Purpose.PICKUP, flags=TokenFlags(),
    )  # fmt: skip
    raw = cose.sign1(fleet.issuing_key, encode_claims(claims))
    return codec.TOKEN_PREFIX + codec.b45encode(raw)


@pytest.mark.parametrize("order_ref", ["é-1", "O\u00a0R", "O\tR", "O\x7fR", "Ω", ""])
def test_text_claims_outside_ascii_printable_are_refused(
    fleet: DemoFleet, ctx: VerifyContext, order_ref: str
) -> None:
    """U+0020..U+007E only: Python's `isprintable` accepted é, Ω and the no-break space."""
    with pytest.raises(TokenError) as err:
        verify_token(_signed(fleet, order_ref=order_ref), ctx, now=NOW + 60)
    assert err.value.reason is Reason.MALFORMED


@pytest.mark.parametrize("order_ref", [" ", "~", "A B", "x" * 64, "ORD/2027:7#a"])
def test_every_ascii_printable_text_is_accepted(
    fleet: DemoFleet, ctx: VerifyContext, order_ref: str
) -> None:
    assert verify_token(_signed(fleet, order_ref=order_ref), ctx, now=NOW + 60).order_ref == (
        order_ref
    )


def test_aud_matches_one_locker_id_exactly(fleet: DemoFleet, ctx: VerifyContext) -> None:
    """Exact, case-sensitive comparison with the locker id; any member of an array will do."""
    assert verify_token(_signed(fleet, order_ref="o", audience=("X", LOCKER)), ctx, now=NOW + 60)
    with pytest.raises(TokenError) as err:
        verify_token(_signed(fleet, order_ref="o", audience=(LOCKER.lower(),)), ctx, now=NOW + 60)
    assert err.value.reason is Reason.WRONG_LOCKER


@pytest.mark.parametrize(("bits", "allowed"), [(1024, False), (2048, True), (4096, True),
                                               (4104, False)])  # fmt: skip
def test_rsa_keys_are_2048_to_4096_bits(bits: int, allowed: bool) -> None:
    # a public key of the size only: PS256 is verify-only, nobody here signs with it
    key = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) + 1).public_key()
    assert key.key_size == bits
    if allowed:
        alg_for_key(key)
    else:
        with pytest.raises(TokenError) as err:
            alg_for_key(key)
        assert err.value.reason is Reason.ALG_NOT_ALLOWED


def test_the_byte_cap_is_what_the_character_cap_allows() -> None:
    """1024 characters with the 4-character prefix leave 1020 Base45 characters: 680 bytes."""
    assert codec.MAX_CBOR_BYTES == 680
    longest = codec.TOKEN_PREFIX + codec.b45encode(bytes(680))
    assert len(longest) == codec.MAX_TEXT_CHARS
    assert codec.b45decode(longest[len(codec.TOKEN_PREFIX) :]) == bytes(680)


def test_a_key_entry_file_spells_the_algorithm_as_the_docs_do(tmp_path: Path) -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    write_descriptor(
        tmp_path / "k.json", IssuingKeyEntry(public, frozenset({Purpose.PICKUP}), 0, 1)
    )
    assert json.loads((tmp_path / "k.json").read_text())["alg"] == "EdDSA"
