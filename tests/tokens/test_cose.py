"""COSE_Sign1 layer: shape, kid collisions, algorithm pairing, ECDSA malleability."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from agent.reasons import Reason
from agent.tokens import cose
from agent.tokens.errors import TokenError
from agent.tokens.keys import Alg, PublicKey, alg_for_key, key_id

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _pair(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> tuple[PublicKey, Alg]:
    public = key.public_key()
    return public, alg_for_key(public)


def test_sign_then_find_signer() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    msg = cose.decode_sign1(cose.sign1(key, b"\xa0"))
    assert msg.kid == key_id(key.public_key())
    assert msg.alg == Alg.ES256
    assert cose.find_signer(msg, [_pair(key)]) == key.public_key()


def test_every_key_with_a_colliding_kid_is_tried() -> None:
    signer, other = ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()
    third = ec.generate_private_key(ec.SECP256R1())
    msg = cose.decode_sign1(cose.sign1(signer, b"\xa0"))
    # all three share the kid in this candidate list; only the last one signed
    found = cose.find_signer(msg, [_pair(other), _pair(third), _pair(signer)])
    assert found == signer.public_key()


def test_alg_must_match_the_key_type() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    msg = cose.decode_sign1(cose.sign1(key, b"\xa0"))
    with pytest.raises(TokenError) as err:
        cose.find_signer(msg, [_pair(ec.generate_private_key(ec.SECP256R1()))])
    assert err.value.reason is Reason.ALG_NOT_ALLOWED


def test_no_candidates_is_unknown_kid() -> None:
    msg = cose.decode_sign1(cose.sign1(ec.generate_private_key(ec.SECP256R1()), b"\xa0"))
    with pytest.raises(TokenError) as err:
        cose.find_signer(msg, [])
    assert err.value.reason is Reason.UNKNOWN_KID


def test_malleated_ecdsa_signature_verifies_with_the_same_payload() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    data = cose.sign1(key, b"\xa1\x07\x50" + bytes(16))
    parts = cbor2.loads(data).value
    sig = parts[3]
    s = int.from_bytes(sig[32:], "big")
    malleated = sig[:32] + (P256_N - s).to_bytes(32, "big")
    other = cose.encode_sign1(parts[0], {}, parts[2], malleated)
    assert other != data
    msg = cose.decode_sign1(other)
    assert cose.find_signer(msg, [_pair(key)]) == key.public_key()
    assert msg.payload == cose.decode_sign1(data).payload


def test_lenient_mode_reads_tag_61_and_unprotected_kid() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    protected = cbor2.dumps({1: -7})
    kid = key_id(key.public_key())
    signature = cose.decode_sign1(cose.sign1(key, b"\xa0")).signature
    wrapped = cbor2.dumps(
        cbor2.CBORTag(61, cbor2.CBORTag(18, [protected, {4: kid}, b"", signature]))
    )
    msg = cose.decode_sign1(wrapped, strict=False)
    assert msg.kid == kid
    with pytest.raises(TokenError):
        cose.decode_sign1(wrapped)
