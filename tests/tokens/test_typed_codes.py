"""Typed codes: generation, normalisation of what people type, keyed hashing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.reasons import Reason
from agent.tokens.errors import TokenError
from agent.tokens.typed_codes import (
    ALPHABET,
    code_lookup_key,
    display_code,
    new_typed_code,
    normalise_code,
)


def test_new_codes_are_8_crockford_characters_and_reproducible_with_a_seed() -> None:
    codes = [new_typed_code(random.Random(7)) for _ in range(2)]
    assert codes[0] == codes[1]
    assert len(codes[0]) == 8
    assert set(codes[0]) <= set(ALPHABET)
    many = {new_typed_code(random.SystemRandom()) for _ in range(500)}
    assert len(many) == 500


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("abcd-1234", "ABCD1234"),
        (" ab cd 12 34 ", "ABCD1234"),
        ("OOII-LLoo", "00111100"),
        ("zzzz\t9999", "ZZZZ9999"),
    ],
)
def test_normalise(typed: str, code: str) -> None:
    assert normalise_code(typed) == code


@pytest.mark.parametrize("junk", ["", "ABC", "ABCD12345", "ABCU1234", "ABCD-12€4", "x" * 500])
def test_junk_is_code_unknown(junk: str) -> None:
    with pytest.raises(TokenError) as err:
        normalise_code(junk)
    assert err.value.reason is Reason.CODE_UNKNOWN


@given(st.text(alphabet=ALPHABET, min_size=8, max_size=8))
@settings(max_examples=300, deadline=None)
def test_displayed_or_lowercased_code_normalises_back(code: str) -> None:
    assert normalise_code(display_code(code).lower()) == code


def test_lookup_key_is_keyed_and_ignores_typing_variants() -> None:
    secret = b"s" * 32
    key = code_lookup_key("ABCD-1234", secret)
    assert key == code_lookup_key("abcd 1234", secret)
    assert key != code_lookup_key("ABCD1234", b"t" * 32)
    assert "ABCD1234" not in key
    assert len(key) == 64
