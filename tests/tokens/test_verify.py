"""The verifier end to end with a real fleet: order of checks, spend key, live codes, delegation."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from agent.reasons import Reason, user_message
from agent.tokens import (
    Purpose,
    SeenFrames,
    TokenError,
    TokenFlags,
    VerifyContext,
    check_token,
    codec,
    cose,
    verify_signed,
    verify_token,
)
from agent.tokens.live import decode_frame
from provisioning.fleet import DemoFleet
from provisioning.mint import mint_delegate, mint_token
from provisioning.wallet import Wallet
from tests.tokens.conftest import LOCKER, NOW

HOLD = 2 * 86400.0
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _reason(payload: str, ctx: VerifyContext, **kwargs: object) -> Reason:
    with pytest.raises(TokenError) as err:
        verify_token(payload, ctx, **kwargs)  # type: ignore[arg-type]
    return err.value.reason


def test_a_fresh_token_verifies_and_exposes_its_spend_key(
    fleet: DemoFleet, ctx: VerifyContext
) -> None:
    token = fleet.mint_pickup("ORD-1", now=NOW, hold_s=HOLD, compartment=5)
    result = verify_token(token, ctx, now=NOW + 60, compartment=5)
    assert result.order_ref == "ORD-1"
    assert len(result.cti) == 16
    assert result.audience == (LOCKER,)
    assert result.expires == NOW + HOLD
    assert result.compartment == 5
    assert not result.holder_proven


def test_token_is_small_enough_for_a_version_10_to_11_qr(fleet: DemoFleet) -> None:
    token = fleet.mint_pickup("ORD-1", now=NOW, hold_s=HOLD, compartment=5)
    assert len(token) < 300


def test_signature_is_checked_before_any_claim(fleet: DemoFleet, ctx: VerifyContext) -> None:
    # expired AND for another locker AND forged: the forgery is what gets reported
    other = ec.generate_private_key(ec.SECP256R1())
    forged = mint_token(other, order_ref="X", lockers=["ELSEWHERE"], now=NOW - 10 * HOLD, hold_s=60)
    assert _reason(forged, ctx, now=NOW) is Reason.UNKNOWN_KID


def test_forged_unknown_and_malformed_share_one_user_message() -> None:
    messages = {
        user_message(r)
        for r in (Reason.BAD_SIGNATURE, Reason.UNKNOWN_KID, Reason.MALFORMED, Reason.TOO_LARGE)
    }
    assert len(messages) == 1


def test_live_code_flow_with_replay_cache(fleet: DemoFleet, ctx: VerifyContext) -> None:
    holder = ec.generate_private_key(ec.SECP256R1())
    flags = TokenFlags(live_required=True, high_value=True)
    token = fleet.mint_pickup(
        "ORD-2", now=NOW, hold_s=HOLD, flags=flags, holder_key=holder.public_key()
    )
    wallet = Wallet(token, holder)
    seen = SeenFrames()
    assert _reason(token, ctx, now=NOW + 100) is Reason.HOLDER_PROOF_REQUIRED
    code = wallet.live_code(NOW + 100)
    assert verify_token(code, ctx, now=NOW + 101, live_frame_seen=seen).holder_proven
    assert wallet.live_code(NOW + 95) == code  # same refresh period, same frame (RFC 6979)
    assert _reason(code, ctx, now=NOW + 102, live_frame_seen=seen) is Reason.HOLDER_PROOF_STALE
    # a malleated signature makes a different string for the same frame: still a replay
    again = _malleated_frame(code)
    assert again != code
    assert _reason(again, ctx, now=NOW + 102, live_frame_seen=seen) is Reason.HOLDER_PROOF_STALE
    later = wallet.live_code(NOW + 130)
    assert verify_token(later, ctx, now=NOW + 131, live_frame_seen=seen).holder_proven
    assert _reason(code, ctx, now=NOW + 200) is Reason.HOLDER_PROOF_STALE


def _malleated_frame(code: str) -> str:
    frame = decode_frame(codec.b45decode(code[len(codec.LIVE_PREFIX) :]))
    s = int.from_bytes(frame.signature[32:], "big")
    signature = frame.signature[:32] + (P256_N - s).to_bytes(32, "big")
    return codec.LIVE_PREFIX + codec.b45encode(codec.dumps([frame.token, frame.t, signature]))


def test_delegate_token_has_its_own_cti_and_the_same_order(
    fleet: DemoFleet, ctx: VerifyContext
) -> None:
    token = fleet.mint_pickup("ORD-3", now=NOW, hold_s=HOLD)
    delegate = mint_delegate(fleet.issuing_key, token, now=NOW + 10)
    first, second = (
        verify_token(token, ctx, now=NOW + 20),
        verify_token(delegate, ctx, now=NOW + 20),
    )
    assert first.order_ref == second.order_ref == "ORD-3"
    assert first.cti != second.cti
    assert second.expires == first.expires


def test_check_token_reports_without_spending(fleet: DemoFleet, ctx: VerifyContext) -> None:
    token = fleet.mint_pickup("ORD-4", now=NOW, hold_s=HOLD)
    ok = check_token(token, ctx, now=NOW + 5)
    assert ok["valid"] is True
    assert ok["reason"] is None
    assert ok["order_ref"] == "ORD-4"
    assert check_token(token, ctx, now=NOW + 5)["valid"] is True  # nothing was spent
    late = check_token(token, ctx, now=NOW + HOLD + 3600)
    assert late == {
        "valid": False,
        "reason": "EXPIRED",
        "message": user_message(Reason.EXPIRED),
        "detail": "at or after exp",
        "checked_at": "2027-01-17T09:00:00Z",
    }


def test_check_token_never_raises_on_junk(ctx: VerifyContext) -> None:
    result = check_token("LK1:%%%", ctx, now=NOW)
    assert result["valid"] is False
    assert result["reason"] == "DECODE_FAILED"
    assert check_token("LK1:" + "A" * 300, ctx, now=NOW)["reason"] == "MALFORMED"


def test_verify_signed_for_hub_commands(fleet: DemoFleet, ctx: VerifyContext) -> None:
    envelope = cose.sign1(fleet.command_key, b"\xa1\x61c\x64open")
    assert (
        verify_signed(envelope, ctx.trust, purpose=Purpose.COMMAND, now=NOW) == b"\xa1\x61c\x64open"
    )
    pickup_signed = cose.sign1(fleet.issuing_key, b"\xa0")
    with pytest.raises(TokenError) as err:
        verify_signed(pickup_signed, ctx.trust, purpose=Purpose.COMMAND, now=NOW)
    assert err.value.reason is Reason.WRONG_PURPOSE


def test_logs_never_contain_the_token(
    fleet: DemoFleet, ctx: VerifyContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = fleet.mint_pickup("ORD-5", now=NOW, hold_s=HOLD)
    verify_token(token, ctx, now=NOW)
    check_token(token[:-5], ctx, now=NOW)
    assert all(token[4:40] not in record.getMessage() for record in caplog.records)


def test_no_personal_data_fields_in_the_token(fleet: DemoFleet) -> None:
    from provisioning.mint import read_claims

    claims = read_claims(fleet.mint_pickup("ORD-6", now=NOW, hold_s=HOLD))
    assert set(claims.__slots__) == {
        "issuer", "order_ref", "audience", "not_before", "expires", "issued_at", "cti",
        "purpose", "flags", "compartment", "holder_key",
    }  # fmt: skip


def test_two_bundle_keys_sharing_a_kid_are_both_tried(fleet: DemoFleet) -> None:
    from agent.tokens.claims import Claims, encode_claims
    from agent.tokens.keys import Alg
    from agent.tokens.trust import TrustedKey, make_bundle

    shared_kid = b"\x01" * 8
    decoy, signer = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    keys = [
        TrustedKey(shared_kid, Alg.ES256, k.public_key(), frozenset({Purpose.PICKUP}), 0, 2**40)
        for k in (decoy, signer)
    ]
    bundle = make_bundle(version=1, issued_at=NOW, next_update=NOW + 3600, keys=keys)
    claims = Claims(
        "hub", "ORD-K", (LOCKER,), int(NOW), int(NOW + 60), int(NOW), bytes(16),
        Purpose.PICKUP, TokenFlags(),
    )  # fmt: skip
    token = "LK1:" + codec.b45encode(cose.sign1(signer, encode_claims(claims), kid=shared_kid))
    ctx = VerifyContext(locker_id=LOCKER, trust=bundle)
    assert verify_token(token, ctx, now=NOW).kid == shared_kid
    impostor = ec.generate_private_key(ec.SECP256R1())
    forged = "LK1:" + codec.b45encode(cose.sign1(impostor, encode_claims(claims), kid=shared_kid))
    assert _reason(forged, ctx, now=NOW) is Reason.BAD_SIGNATURE
