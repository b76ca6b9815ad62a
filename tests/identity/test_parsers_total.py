"""Every parser of untrusted input raises only its own error type, whatever the bytes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.identity import MdocError, MdocReason, parse_session_transcript
from agent.identity.aamva import parse_aamva
from agent.identity.errors import IdDocumentError
from agent.identity.id_documents import IdDocumentKind
from agent.identity.mrz import parse_mrz
from agent.identity.request import parse_device_request
from agent.identity.session import parse_session_data, parse_session_establishment
from agent.identity.transcript import (
    engagement_from_qr,
    engagement_qr,
    parse_device_engagement,
)
from tests.identity import annexd

_BYTE_PARSERS: list[Callable[[bytes], Any]] = [
    parse_session_transcript,
    parse_device_engagement,
    parse_session_data,
    parse_session_establishment,
    parse_device_request,
]
_SEEDS = [
    annexd.raw("D.5.1/SessionTranscriptBytes"),
    annexd.raw("D.3.1"),
    annexd.raw("D.5.1/SessionData-termination"),
    annexd.raw("D.5.1/SessionEstablishment"),
    annexd.raw("D.4.1.1"),
]

# CBOR values of every shape, so that parsers see well-formed input of the wrong structure too.
_CBOR = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(-3, 3) | st.text(max_size=12), inner, max_size=4)
        | st.builds(lambda v: cbor2.CBORTag(24, cbor2.dumps(v)), inner)
    ),
    max_leaves=20,
)


def _result(parser: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The parsed value or our error; any other exception escapes and fails the test."""
    try:
        return parser(*args, **kwargs)
    except (MdocError, IdDocumentError) as err:
        return err


def _only_mdoc_errors(parser: Callable[[bytes], Any], data: bytes) -> None:
    result = _result(parser, data)
    assert result is not None
    if isinstance(result, MdocError):
        assert isinstance(result.code, MdocReason)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(_BYTE_PARSERS))), st.binary(max_size=600))
def test_arbitrary_bytes(index: int, data: bytes) -> None:
    _only_mdoc_errors(_BYTE_PARSERS[index], data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(_BYTE_PARSERS))), _CBOR)
def test_arbitrary_cbor_structures(index: int, value: object) -> None:
    _only_mdoc_errors(_BYTE_PARSERS[index], cbor2.dumps(value))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_bit_flips_of_the_annex_d_session_messages(data: st.DataObject) -> None:
    index = data.draw(st.sampled_from(range(len(_BYTE_PARSERS))))
    seed = bytearray(_SEEDS[index])
    bit = data.draw(st.integers(0, len(seed) * 8 - 1))
    seed[bit // 8] ^= 1 << (bit % 8)
    _only_mdoc_errors(_BYTE_PARSERS[index], bytes(seed))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_qr_text(text: str) -> None:
    for candidate in (text, "mdoc:" + text):
        result = _result(engagement_from_qr, candidate)
        if isinstance(result, MdocError):
            assert result.code in {MdocReason.MALFORMED, MdocReason.TOO_LARGE}
        else:
            assert candidate == engagement_qr(result)


_MRZ_CHARS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<", min_size=30, max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=200), st.lists(_MRZ_CHARS, min_size=3, max_size=3).map("\n".join))
)
def test_arbitrary_mrz_text(text: str) -> None:
    result = _result(parse_mrz, text, today=date(2026, 1, 1))
    if isinstance(result, IdDocumentError):
        assert result.detail.startswith("MRZ")
    else:
        assert result.kind in {IdDocumentKind.TD1, IdDocumentKind.TD3}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_aamva_bytes(data: bytes) -> None:
    for candidate in (data, b"@\n\x1e\rANSI " + data):
        with pytest.raises(IdDocumentError):
            parse_aamva(candidate)


@pytest.mark.parametrize(
    "header",
    [
        b"@\n\x1e\rANSI 636000090002DL00410\xb379ZZ00000000",  # `³` in a subfile offset
        b"@\n\x1e\rANSI 636000090002DL0041\xb2279ZZ00000000",  # `²` in an offset
    ],
)
def test_latin1_superscript_digits_in_an_aamva_header_are_an_id_document_error(
    header: bytes,
) -> None:
    """Latin-1 `²`/`³` pass `str.isdigit` and then broke `int()` with a bare ValueError."""
    data = header + b"\nDLDCSX\nDACY\nDBB0101199\xb3\n"
    with pytest.raises(IdDocumentError):
        parse_aamva(data)
