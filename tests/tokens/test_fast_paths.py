"""The hand-written encodings on the hot path give exactly what the generic code would.

`decode_sign1`, `parse_claims`, `sig_structure` and the ES256 DER conversion skip cbor2's
canonical encoder or `encode_dss_signature` for speed. Each is checked here against the plain
definition it replaces: same result, same reason code, on valid and on edited input.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.reasons import Reason
from agent.tokens import codec, cose
from agent.tokens.claims import Claims, parse_claims
from agent.tokens.errors import TokenError
from agent.tokens.keys import raw_to_der
from provisioning.fleet import DemoFleet
from tests.tokens.conftest import NOW

_HOLDER = ec.generate_private_key(ec.SECP256R1())
_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _reference_sign1(data: bytes) -> cose.Sign1:
    """The strict COSE_Sign1 check written with the generic strict decoder."""
    item = codec.loads_strict(data)
    if not isinstance(item, cbor2.CBORTag) or item.tag != cose.COSE_SIGN1_TAG:
        raise TokenError("not tag 18")
    if not isinstance(item.value, tuple | list) or len(item.value) != 4:
        raise TokenError("not 4 items")
    protected, unprotected, payload, signature = item.value
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise TokenError("not bstr")
    header = codec.loads_strict(protected)
    if unprotected != {} or not isinstance(header, dict) or list(map(type, header)) != [int, int]:
        raise TokenError("headers")
    if set(header) != {1, 4} or not isinstance(header[4], bytes):
        raise TokenError("headers")
    alg = header[1] if type(header[1]) is int else None
    return cose.Sign1(protected, alg, header[4], payload, signature)


def _reference_claims(payload: bytes) -> Claims:
    codec.loads_strict(payload)
    return parse_claims(payload)


def _outcome(check: Any, data: bytes) -> object:
    try:
        return check(data)
    except TokenError as err:
        return err.reason


def _edit(data: bytes, draw: st.DataObject) -> bytes:
    raw = bytearray(data)
    position = draw.draw(st.integers(0, len(raw) - 1))
    raw[position] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(raw)))
    return bytes(raw[:cut]) + draw.draw(st.binary(max_size=3)) + bytes(raw[cut:])


@_SETTINGS
@given(st.data())
def test_strict_sign1_matches_the_generic_check(fleet: DemoFleet, data: st.DataObject) -> None:
    token = fleet.mint_pickup("ORD-F", now=NOW, hold_s=3600, compartment=3)
    raw = codec.b45decode(token[4:])
    edited = _edit(raw, data) if data.draw(st.booleans()) else raw
    assert _outcome(cose.decode_sign1, edited) == _outcome(_reference_sign1, edited)


@_SETTINGS
@given(st.data())
def test_strict_claims_match_the_generic_check(fleet: DemoFleet, data: st.DataObject) -> None:
    # with a holder key (cnf), the claims take the generic strict check
    holder = _HOLDER.public_key() if data.draw(st.booleans()) else None
    token = fleet.mint_pickup("ORD-F", now=NOW, hold_s=3600, holder_key=holder)
    payload = cose.decode_sign1(codec.b45decode(token[4:])).payload
    edited = _edit(payload, data)
    assert _outcome(parse_claims, edited) == _outcome(_reference_claims, edited)


def test_labels_must_be_integers_not_equal_values(fleet: DemoFleet) -> None:
    # simple(4) and simple(7) compare equal to 4 and 7 in cbor2; a label is an integer
    msg = cose.decode_sign1(codec.b45decode(fleet.mint_pickup("ORD-L", now=NOW, hold_s=60)[4:]))
    header = msg.protected.replace(b"\x04\x48", b"\xe4\x48", 1)
    with pytest.raises(TokenError) as err:
        cose.decode_sign1(cose.encode_sign1(header, {}, msg.payload, msg.signature))
    assert err.value.reason is Reason.MALFORMED
    with pytest.raises(TokenError) as err:
        parse_claims(msg.payload.replace(b"\x07\x50", b"\xe7\x50", 1))
    assert err.value.reason is Reason.MALFORMED


@given(st.binary(min_size=64, max_size=64) | st.sampled_from([bytes(64), b"\xff" * 64]))
@settings(max_examples=500, deadline=None)
def test_raw_to_der_matches_encode_dss_signature(signature: bytes) -> None:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    assert raw_to_der(signature) == encode_dss_signature(r, s)


@given(st.binary(max_size=300), st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_sig_structure_is_the_deterministic_array(protected: bytes, payload: bytes) -> None:
    expected = codec.dumps(["Signature1", protected, b"", payload])
    assert cose.sig_structure(protected, payload) == expected


@pytest.mark.parametrize("size", [0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32])
def test_bstr_head_is_the_shortest_form(size: int) -> None:
    encoded = cbor2.dumps(b"\0" * size) if size <= 65536 else None
    if encoded is not None:
        assert codec.bstr_head(size) == encoded[: len(encoded) - size]
    else:
        assert len(codec.bstr_head(size)) == (5 if size < 2**32 else 9)
