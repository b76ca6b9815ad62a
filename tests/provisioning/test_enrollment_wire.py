"""Answers to a device count only when signed by the CA its invite pins; secrets are sealed."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from hub_sync.errors import EnrollmentError
from hub_sync.protocol import enrollment as wire
from provisioning.credentials import answer
from provisioning.device_ca import create_ca


def test_answer_from_the_pinned_ca_verifies_and_others_do_not() -> None:
    ca, other = create_ca("f", now=time.time()), create_ca("f", now=time.time())
    pin = wire.spki_pin(ca.cert.public_key())  # type: ignore[arg-type]
    good = answer(ca, kind="enroll.refused", nonce="a" * 32, device=None, now=1.0,
                  fields={"reason": "CODE_USED"})  # fmt: skip
    message, _ = wire.verify_hub_message(good, pin)
    assert message["reason"] == "CODE_USED"
    forged = answer(other, kind="enroll.refused", nonce="a" * 32, device=None, now=1.0,
                    fields={"reason": "CODE_USED"})  # fmt: skip
    with pytest.raises(EnrollmentError, match="WRONG_CA"):
        wire.verify_hub_message(forged, pin)
    tampered = good.replace(b"CODE_USED", b"CODE_OK!!")
    with pytest.raises(EnrollmentError, match="BAD_SIGNATURE"):
        wire.verify_hub_message(tampered, pin)
    for junk in (b"", b"[]", b"{", b'{"ca_pem": 5}'):
        with pytest.raises(EnrollmentError):
            wire.verify_hub_message(junk, pin)


def test_sealed_secret_opens_only_with_the_device_key_and_nonce() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    box = wire.seal(key.public_key(), b"broker-password", b"n1")
    assert wire.unseal(key, box, b"n1") == b"broker-password"
    with pytest.raises(EnrollmentError, match="BAD_SEAL"):
        wire.unseal(ec.generate_private_key(ec.SECP256R1()), box, b"n1")
    with pytest.raises(EnrollmentError, match="BAD_SEAL"):
        wire.unseal(key, box, b"n2")


@pytest.mark.parametrize("text", ["", "LKE1:f", "LKE2:f:AAAA:BBBB", "LKE1:f/x:" + "A" * 32 + ":" +
                                  "A" * 32, "LKE1:f:" + "a" * 32 + ":" + "A" * 32])  # fmt: skip
def test_malformed_invites_are_refused(text: str) -> None:
    with pytest.raises(EnrollmentError):
        wire.parse_invite(text)


def test_invite_round_trip_and_repr_hides_the_code() -> None:
    invite = wire.Invite("f", wire.new_code(), "A" * 32)
    assert wire.parse_invite(invite.text()) == invite
    assert invite.code not in repr(invite)


def test_locker_agent_enroll_refuses_a_malformed_invite_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent", "enroll", "LKE1:f:nonsense", "--hub", "mqtt://127.0.0.1:1",
         "--data-dir", str(tmp_path / "d"), "--config", str(tmp_path / "agent.toml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "BAD_INVITE" in done.stderr
    assert not (tmp_path / "d").exists()


def _self_signed_with_a_broken_key(point: bytes) -> bytes:
    """A hub answer whose `ca_pem` parses as a certificate but whose P-256 key is `point`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    real = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    der = cert.public_bytes(serialization.Encoding.DER).replace(real, point)
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode()
    return json.dumps(
        {"ca_pem": pem + "-----END CERTIFICATE-----\n", "type": "cred.issued"}
    ).encode()


@pytest.mark.parametrize(
    "point",
    [b"\x04" + b"\x00" * 64, b"\x04" + b"\xff" * 64, b"\x05" + b"\x01" * 64],
    ids=["zero-point", "off-curve", "bad-prefix"],
)
def test_a_ca_certificate_with_an_unusable_key_is_an_enrollment_error(point: bytes) -> None:
    """cryptography reads a certificate's key lazily: such a `ca_pem` passed `load_cert` and
    `public_key()` raised `ValueError` outside every handler, which ended the credential task
    (and the agent's task group with it) for anyone who could publish on the credential topic."""
    with pytest.raises(EnrollmentError, match="MALFORMED"):
        wire.verify_hub_message(_self_signed_with_a_broken_key(point), "any-pin")


def test_a_device_key_proof_binds_the_key_to_the_fleet_and_the_request_nonce() -> None:
    key, nonce = ed25519.Ed25519PrivateKey.generate(), wire.new_nonce()
    proof = wire.device_key_proof(key, "f", nonce)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert wire.verify_device_key(proof, "f", nonce) == raw
    # the signed bytes, as docs/protocol.md states them
    signed = json.dumps({"ctx": "lk-enroll-device-key/v1", "fleet": "f", "nonce": nonce,
                         "public_key": proof["public_key"]}, separators=(",", ":"),
                        sort_keys=True).encode()  # fmt: skip
    key.public_key().verify(base64.urlsafe_b64decode(proof["sig"] + "=="), signed)
    with pytest.raises(EnrollmentError, match="DEVICE_KEY_BAD_PROOF"):
        wire.verify_device_key(proof, "f", wire.new_nonce())  # a proof for another request
    with pytest.raises(EnrollmentError, match="DEVICE_KEY_BAD_PROOF"):
        wire.verify_device_key(proof, "g", nonce)  # for another fleet


def test_a_missing_forged_or_malformed_device_key_proof_is_refused() -> None:
    key, nonce = ed25519.Ed25519PrivateKey.generate(), wire.new_nonce()
    with pytest.raises(EnrollmentError, match="DEVICE_KEY_MISSING"):
        wire.verify_device_key(None, "f", nonce)
    # someone else's public key with a proof made by our key: the holder of that key never signed
    other = wire.device_key_proof(ed25519.Ed25519PrivateKey.generate(), "f", nonce)
    forged = {**wire.device_key_proof(key, "f", nonce), "public_key": other["public_key"]}
    with pytest.raises(EnrollmentError, match="DEVICE_KEY_BAD_PROOF"):
        wire.verify_device_key(forged, "f", nonce)
    good = wire.device_key_proof(key, "f", nonce)
    for bad in ({**good, "sig": other["sig"]}, {**good, "sig": "A" * 86}):
        with pytest.raises(EnrollmentError, match="DEVICE_KEY_BAD_PROOF"):
            wire.verify_device_key(bad, "f", nonce)
    unsigned = {k: v for k, v in good.items() if k != "sig"}
    malformed: list[object] = ["x", {**good, "alg": "ES256"}, {**good, "public_key": "AAAA"},
                               {**good, "public_key": 5}, unsigned]  # fmt: skip
    for junk in malformed:
        with pytest.raises(EnrollmentError, match="DEVICE_KEY_MALFORMED"):
            wire.verify_device_key(junk, "f", nonce)
