"""One key id for tokens, trust bundles and hub commands (issue 10.9).

docs/tokens.md 1.1: the first 8 bytes of SHA-256 over the key's DER SubjectPublicKeyInfo.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from agent.tokens.claims import Purpose
from agent.tokens.cose import decode_sign1
from agent.tokens.trust import load_trust_bundle
from hub_sync.protocol.signing import sign
from provisioning.keyfiles import IssuingKeyEntry, write_descriptor
from provisioning.mint import build_bundle, mint_token, token_bytes

NOW = 1_800_000_000


def _spki_kid(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> str:
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()[:8].hex()


@pytest.mark.parametrize("kind", ["es256", "eddsa"])
def test_the_same_key_has_the_same_kid_in_a_token_a_bundle_and_a_command(
    kind: str, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "es256" else (
        ed25519.Ed25519PrivateKey.generate()
    )  # fmt: skip
    public = key.public_key()
    expected = _spki_kid(public)

    token = mint_token(key, order_ref="O-1", lockers=["L1"], now=NOW, hold_s=3600)
    token_kid = decode_sign1(token_bytes(token)).kid
    assert token_kid is not None

    root = ec.generate_private_key(ec.SECP256R1())
    entry = IssuingKeyEntry(public, frozenset({Purpose.PICKUP, Purpose.COMMAND}), NOW, NOW + 10**6)
    bundle = load_trust_bundle(
        build_bundle(root, [entry], version=1, now=NOW, valid_s=3600),
        [root.public_key()], current_version=None,
    )  # fmt: skip
    write_descriptor(tmp_path / "k.json", entry)
    descriptor_kid = json.loads((tmp_path / "k.json").read_text())["kid"]

    sig = sign(key, fleet="f", device="d", name="door.open", transaction_id="t",
               args={"door": 1, "reason": "r"}, exp=int(time.time()) + 60)  # fmt: skip

    assert token_kid.hex() == expected
    assert [k.kid.hex() for k in bundle.keys] == [expected]
    assert descriptor_kid == expected
    assert sig["kid"] == expected
