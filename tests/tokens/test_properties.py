"""Property tests: whatever the input, only TokenError escapes and nothing foreign is authorised."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.tokens import SeenFrames, TokenError, VerifyContext, codec, verify_token
from provisioning.fleet import DemoFleet
from tests.tokens.conftest import NOW

_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _refused(payload: str, ctx: VerifyContext) -> bool:
    try:
        verify_token(payload, ctx, now=NOW + 10, live_frame_seen=SeenFrames())
    except TokenError:
        return True
    return False


@_SETTINGS
@given(st.text(max_size=1200))
def test_any_text_is_refused_with_a_token_error(ctx: VerifyContext, text: str) -> None:
    assert _refused(text, ctx)


@_SETTINGS
@given(st.binary(max_size=800), st.sampled_from([codec.TOKEN_PREFIX, codec.LIVE_PREFIX]))
def test_any_base45_payload_is_refused(ctx: VerifyContext, data: bytes, prefix: str) -> None:
    assert _refused(prefix + codec.b45encode(data), ctx)


@_SETTINGS
@given(st.data())
def test_any_edit_of_a_valid_token_is_refused(
    fleet: DemoFleet, ctx: VerifyContext, data: st.DataObject
) -> None:
    token = fleet.mint_pickup("ORD-P", now=NOW, hold_s=3600, compartment=2)
    raw = bytearray(codec.b45decode(token[4:]))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(raw)))
    edited = bytes(raw[:cut]) + data.draw(st.binary(max_size=4))
    assert _refused(codec.TOKEN_PREFIX + codec.b45encode(edited), ctx)
