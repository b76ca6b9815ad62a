"""Base45 and strict CBOR: the layers below COSE."""

from __future__ import annotations

import os

import base45
import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.reasons import Reason
from agent.tokens import codec
from agent.tokens.errors import TokenError


@given(st.binary(max_size=700))
@settings(max_examples=300, deadline=None)
def test_b45_round_trips_like_the_reference_package(data: bytes) -> None:
    text = base45.b45encode(data).decode()
    assert codec.b45encode(data) == text
    assert codec.b45decode(text, limit=1024) == data


@given(st.text(alphabet=codec.B45_ALPHABET + "abz", max_size=60))
@settings(max_examples=300, deadline=None)
def test_b45_accepts_exactly_what_the_reference_package_accepts(text: str) -> None:
    # (the package also strips a trailing newline; we do not, see the next test)
    try:
        expected: bytes | None = base45.b45decode(text)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(TokenError) as err:
            codec.b45decode(text)
        assert err.value.reason is Reason.DECODE_FAILED
    else:
        assert codec.b45decode(text) == expected


@pytest.mark.parametrize("size", [0, 1, 2, 767, 768, 769, 5000])
def test_b45_decodes_inputs_longer_than_the_precomputed_masks(size: int) -> None:
    data = os.urandom(size)
    text = base45.b45encode(data).decode()
    assert codec.b45decode(text, limit=10**6) == data
    # a group over 0xFFFF at the very end and in the middle is found at any length
    for bad in (text[: 3 * (size // 2)] + "GGW", "GGW" + text):
        with pytest.raises(TokenError) as err:
            codec.b45decode(bad, limit=10**6)
        assert err.value.reason is Reason.DECODE_FAILED


@pytest.mark.parametrize("text", ["GGW", "ZZ", "A", "aa", "AB\n", "€€€"])
def test_b45_rejects_invalid_groups_and_characters(text: str) -> None:
    with pytest.raises(TokenError) as err:
        codec.b45decode(text)
    assert err.value.reason is Reason.DECODE_FAILED


def test_b45_size_cap_applies_before_decoding() -> None:
    with pytest.raises(TokenError) as err:
        codec.b45decode("0" * 1200 + "not even base45")
    assert err.value.reason is Reason.TOO_LARGE


def test_text_cap() -> None:
    codec.check_text_size("x" * 1024)
    with pytest.raises(TokenError) as err:
        codec.check_text_size("x" * 1025)
    assert err.value.reason is Reason.TOO_LARGE


def test_strict_cbor_accepts_deterministic_encoding() -> None:
    data = codec.dumps({1: "a", -65537: 2, 3: [b"x", 4]})
    decoded = codec.loads_strict(data)
    assert decoded[1] == "a"
    assert decoded[-65537] == 2
    assert list(decoded[3]) == [b"x", 4]


def test_duplicate_key_makes_the_reencoding_shorter_and_is_refused() -> None:
    duplicate = bytes.fromhex("a2" + "0401" + "0402")  # {4: 1, 4: 2}
    assert cbor2.loads(duplicate) == {4: 2}  # the library silently keeps the last one
    assert len(cbor2.dumps(cbor2.loads(duplicate), canonical=True)) < len(duplicate)
    with pytest.raises(TokenError) as err:
        codec.loads_strict(duplicate)
    assert err.value.reason is Reason.MALFORMED


@pytest.mark.parametrize(
    ("name", "hexdata"),
    [
        ("trailing byte", "a1040100"),
        ("indefinite array", "9f0102ff"),
        ("indefinite bytes", "5f4101ff"),
        ("non-minimal int", "1800"),
        ("non-minimal length", "580141"),
        ("unsorted keys", "a2050104 01"),
        ("float64 that fits float16", "fb3ff0000000000000"),
        ("declared 2^32 bytes", "5b0000000100000000"),
        ("declared 2^32 items", "9b0000000100000000"),
        ("declared 2^64-1 map", "bbffffffffffffffff"),
        ("truncated", "a104"),
        ("empty", ""),
    ],
)
def test_strict_cbor_refuses(name: str, hexdata: str) -> None:
    with pytest.raises(TokenError) as err:
        codec.loads_strict(bytes.fromhex(hexdata.replace(" ", "")))
    assert err.value.reason is Reason.MALFORMED, name


def test_nesting_bomb_is_malformed_not_a_crash() -> None:
    with pytest.raises(TokenError) as err:
        codec.loads_strict(b"\x81" * 100_000 + b"\x00")
    assert err.value.reason is Reason.MALFORMED


def test_random_bytes_raise_only_token_errors() -> None:
    outcomes = {"decoded": 0, "refused": 0}
    for _ in range(2000):
        data = os.urandom(int.from_bytes(os.urandom(1), "big") % 64)
        try:
            codec.loads_strict(data)
            outcomes["decoded"] += 1
        except TokenError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 1000  # random bytes are rarely deterministic CBOR
    assert sum(outcomes.values()) == 2000
