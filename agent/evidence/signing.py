"""Signing evidence photos with the device's C2PA credentials (c2pa-python, ES256).

The device holds a P-256 key and a certificate chain (device certificate, then the fleet device
CA) made by `locker-admin device cert`. `EvidenceSigner.sign` embeds a manifest into a JPEG and
returns the signed JPEG. It is blocking (about 10 ms for 1280x720): call it in a worker thread.
One signer serves one thread at a time (a lock), which is all the capture path needs.
"""

from __future__ import annotations

import io
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.errors import EvidenceError
from agent.evidence.manifest import FORMAT, EvidenceFacts, ingredient_definition
from agent.evidence.manifest import manifest_definition as build_definition


def _agent_version() -> str:
    try:
        return version("locker-agent")
    except PackageNotFoundError:
        return "0"


class EvidenceSigner:
    """Embeds signed C2PA manifests into JPEGs with one device key and chain."""

    def __init__(self, key_pem: bytes, chain_pem: bytes) -> None:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
            chain = x509.load_pem_x509_certificates(chain_pem)
        except ValueError as err:
            raise EvidenceError(f"the evidence signing key or chain is not PEM: {err}") from err
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise EvidenceError("the evidence signing key must be a P-256 (ES256) key")
        if not chain or chain[0].public_key() != key.public_key():
            raise EvidenceError("the evidence chain's first certificate is not the key's")
        self.certificate = chain[0]
        self._version = _agent_version()
        self._lock = threading.Lock()
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain_pem, key_pem, None)
        try:
            self._signer: Any = c2pa.Signer.from_info(info)
            # No thumbnail: the photo is small already and a thumbnail would double the work.
            # and never a network request from the device (ingredients are read offline)
            settings = c2pa.Settings.from_dict(
                {
                    "builder": {"thumbnail": {"enabled": False}},
                    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                }
            )
            self._context: Any = c2pa.Context(settings)
        except c2pa.C2paError as err:
            raise EvidenceError(f"c2pa refused the evidence signing credentials: {err}") from err

    @classmethod
    def from_files(cls, key_path: Path, chain_path: Path) -> EvidenceSigner:
        """Blocking file reads: call from a thread or at start-up."""
        try:
            return cls(key_path.read_bytes(), chain_path.read_bytes())
        except OSError as err:
            raise EvidenceError(f"cannot read the evidence signing credentials: {err}") from err

    def sign(
        self, jpeg: bytes, facts: EvidenceFacts, before: tuple[str, bytes] | None = None
    ) -> bytes:
        """`jpeg` with an embedded manifest for `facts`.

        `before` is an earlier signed photo `(photo_id, jpeg)` of the same door and order, linked
        as an ingredient (its own manifest travels with it and is validated with this one).
        """
        with self._lock:
            try:
                builder = c2pa.Builder(
                    build_definition(facts, version=self._version), context=self._context
                )
                if before is not None:
                    builder.add_ingredient(
                        ingredient_definition(before[0]), FORMAT, io.BytesIO(before[1])
                    )
                out = io.BytesIO()
                builder.sign(self._signer, FORMAT, io.BytesIO(jpeg), out)
            except c2pa.C2paError as err:
                raise EvidenceError(f"signing the evidence photo failed: {err}") from err
        return out.getvalue()
