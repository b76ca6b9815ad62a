"""Confirm signatures (docs/protocol.md, "Confirms are signed"): exact bytes, and what they bind."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hub_sync.errors import SignatureError
from hub_sync.protocol.signing import PrivateKey, confirm_bytes, sign_confirm, verify_confirm


def test_confirm_bytes_are_the_documented_canonical_json() -> None:
    data = confirm_bytes(fleet="f1", device="d1", through_seq=42, in_reply_to="m1")
    assert data == (
        b'{"ctx":"lk-confirm/v1","device":"d1","fleet":"f1","in_reply_to":"m1","through_seq":42}'
    )


@pytest.mark.parametrize(
    "key", [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())]
)
def test_a_confirm_signature_binds_device_seq_and_message(key: PrivateKey) -> None:
    fields = {"fleet": "f1", "device": "d1", "through_seq": 42, "in_reply_to": "m1"}
    sig = sign_confirm(key, fleet="f1", device="d1", through_seq=42, in_reply_to="m1")
    keys = [key.public_key()]
    verify_confirm(keys, sig, fleet="f1", device="d1", through_seq=42, in_reply_to="m1")
    for change in ({"through_seq": 43}, {"device": "d2"}, {"in_reply_to": "m2"}, {"fleet": "f2"}):
        with pytest.raises(SignatureError) as bad:
            verify_confirm(keys, sig, **{**fields, **change})  # type: ignore[arg-type]
        assert bad.value.reason == "BAD_SIGNATURE"
    other = [ed25519.Ed25519PrivateKey.generate().public_key()]
    with pytest.raises(SignatureError):
        verify_confirm(other, sig, fleet="f1", device="d1", through_seq=42, in_reply_to="m1")
    broken_sigs = [
        (None, "SIG_MISSING"),
        ({"alg": "none", "value": "AA"}, "ALG_NOT_ALLOWED"),
        ({"alg": "EdDSA"}, "SIG_MALFORMED"),
    ]
    for broken, reason in broken_sigs:
        with pytest.raises(SignatureError) as refused:
            verify_confirm(keys, broken, fleet="f1", device="d1", through_seq=42, in_reply_to="m1")
        assert refused.value.reason == reason
