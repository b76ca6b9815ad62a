"""The ISO/IEC 18013-5 Annex D vectors, read from ../shared at test time (never copied here)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

# `../shared` beside the repository (the project's layout); LOCKER_ANNEX_D_VECTORS overrides it.
VECTORS = Path(
    os.environ.get(
        "LOCKER_ANNEX_D_VECTORS",
        Path(__file__).resolve().parents[3] / "shared/datasets/iso18013-5-annex-d/vectors.json",
    )
)
# Inside every Annex D validity period (MSO 2020-10-01T13:30:02Z .. 2021-10-01T13:30:02Z).
ANNEX_D_TIME = datetime(2021, 1, 1, tzinfo=UTC).timestamp()
ANNEX_D_AT = "2021-01-01T00:00:00Z"


@cache
def _all() -> dict[str, dict[str, object]]:
    # A missing dataset is an error, not a skip: these are the known-answer tests of the verifier.
    entries = json.loads(VECTORS.read_text())
    return {e["id"]: e for e in entries}


def ids() -> list[str]:
    return list(_all())


def raw(vector_id: str) -> bytes:
    return bytes.fromhex(str(_all()[vector_id]["value"]))


def expected(vector_id: str) -> dict[str, object]:
    value = _all()[vector_id].get("expected")
    assert isinstance(value, dict)
    return value


def private_key(vector_id: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(raw(vector_id), "big"), ec.SECP256R1())


def public_key(vector_id: str) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw(vector_id))


def cert(vector_id: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(raw(vector_id))
