"""Key files: PEM PKCS#8 private keys (mode 0600) and PEM SubjectPublicKeyInfo public keys.

PEM is used for both halves so that standard tools (openssl) can inspect them. An issuing key's
trust-bundle entry (purposes, validity) lives next to it in a small JSON descriptor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from agent.tokens.claims import Purpose
from agent.tokens.errors import TokenError
from agent.tokens.keys import PrivateKey, PublicKey, alg_for_key, key_id, load_public_key_pem
from agent.tokens.trust import TrustedKey
from provisioning.errors import ExitStatus, ProvisioningError

# The keys the fleet signs with (tokens, bundles, hub commands): ES256 or EdDSA, never RSA.
SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

KEY_KINDS = ("es256", "eddsa")


def generate_key(kind: str = "es256") -> SigningKey:
    """A new private key: ES256 (P-256) or EdDSA (Ed25519)."""
    if kind == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "eddsa":
        return ed25519.Ed25519PrivateKey.generate()
    raise ProvisioningError(f"unknown key kind {kind!r} (use es256 or eddsa)", ExitStatus.USAGE)


def write_new_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create `path` with `mode`; never overwrite (a key must not be silently replaced)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as err:
        raise ProvisioningError(f"{path} exists already", ExitStatus.OUTPUT_FAILED) from err
    except OSError as err:
        raise ProvisioningError(
            f"cannot write {path}: {err.strerror}", ExitStatus.OUTPUT_FAILED
        ) from err
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_key_pair(private_path: Path, public_path: Path, key: PrivateKey) -> None:
    """Write the private key (0600) and its public key."""
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_new_file(private_path, private_pem, 0o600)
    write_new_file(public_path, public_pem(key.public_key()))


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ProvisioningError(
            f"cannot read {path}: {reason}", ExitStatus.INPUT_UNREADABLE
        ) from err


def load_private_key(path: Path) -> SigningKey:
    problem = f"{path} is not an ES256 or EdDSA private key (PEM)"
    try:
        key = serialization.load_pem_private_key(read_file(path), password=None)
        alg_for_key(key)  # type: ignore[arg-type]
    except (ValueError, TypeError, TokenError) as err:
        raise ProvisioningError(problem) from err
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ProvisioningError(problem)
    return key


def load_public_key(path: Path) -> PublicKey:
    try:
        return load_public_key_pem(read_file(path))
    except TokenError as err:
        raise ProvisioningError(f"{path} is not a usable public key (PEM)") from err


@dataclass(frozen=True, slots=True)
class IssuingKeyEntry:
    """What a trust bundle says about one issuing key."""

    public_key: PublicKey
    purposes: frozenset[Purpose]
    not_before: int
    not_after: int

    def trusted(self) -> TrustedKey:
        return TrustedKey(
            key_id(self.public_key),
            alg_for_key(self.public_key),
            self.public_key,
            self.purposes,
            self.not_before,
            self.not_after,
        )


def write_descriptor(path: Path, entry: IssuingKeyEntry) -> None:
    doc = {
        "kid": key_id(entry.public_key).hex(),
        "alg": alg_for_key(entry.public_key).label,
        "public_key_pem": public_pem(entry.public_key).decode("ascii"),
        "purposes": sorted(p.value for p in entry.purposes),
        "not_before": entry.not_before,
        "not_after": entry.not_after,
    }
    write_new_file(path, json.dumps(doc, indent=2).encode() + b"\n")


def load_descriptor(path: Path) -> IssuingKeyEntry:
    """Read an issuing-key descriptor JSON written by `keys issuing-create`."""
    try:
        doc = json.loads(read_file(path))
        return IssuingKeyEntry(
            load_public_key_pem(doc["public_key_pem"].encode("ascii")),
            parse_purposes(doc["purposes"]),
            int(doc["not_before"]),
            int(doc["not_after"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError, TokenError) as err:
        raise ProvisioningError(f"{path} is not an issuing-key descriptor") from err


def parse_purposes(values: Iterable[str]) -> frozenset[Purpose]:
    try:
        purposes = frozenset(Purpose(v) for v in values)
    except ValueError as err:
        raise ProvisioningError(f"unknown purpose: {err}", ExitStatus.USAGE) from err
    if not purposes:
        raise ProvisioningError("at least one purpose is needed", ExitStatus.USAGE)
    return purposes
