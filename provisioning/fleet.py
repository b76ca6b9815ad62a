"""A complete small fleet in one directory, for the demo and for tests.

Layout written by `create_demo_fleet`:

    root-primary.key.pem / .pub.pem   fleet root (signs bundles), pinned on the device
    root-backup.key.pem / .pub.pem    backup root, pinned too, kept offline
    issuing.key.pem / .pub.pem / .json   ES256 issuing key: pickup, return, courier, staff
    command.key.pem / .pub.pem / .json   ES256 key for hub-signed remote commands
    bundle.cose                       trust bundle v1 signed by the primary root
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from agent.tokens.claims import Purpose, TokenFlags
from agent.tokens.keys import PublicKey
from agent.tokens.trust import TrustBundle, load_trust_bundle
from provisioning.keyfiles import (
    IssuingKeyEntry,
    SigningKey,
    generate_key,
    write_descriptor,
    write_key_pair,
)
from provisioning.mint import build_bundle, mint_token

TOKEN_PURPOSES = frozenset({Purpose.PICKUP, Purpose.RETURN, Purpose.COURIER, Purpose.STAFF})
KEY_VALIDITY_S = 2 * 365 * 24 * 3600
BUNDLE_VALIDITY_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class DemoFleet:
    """Paths and keys of a demo fleet. Root public key files are what the device pins."""

    directory: Path
    locker_id: str
    root_public_paths: tuple[Path, Path]
    root_private_paths: tuple[Path, Path]
    issuing_key_path: Path
    command_key_path: Path
    bundle_path: Path
    roots: tuple[PublicKey, PublicKey]
    issuing_key: SigningKey
    command_key: SigningKey
    bundle_bytes: bytes

    def trust_bundle(self) -> TrustBundle:
        """The verified bundle, as the device loads it."""
        return load_trust_bundle(self.bundle_bytes, self.roots, current_version=None)

    def mint_pickup(
        self,
        order_ref: str,
        *,
        now: float,
        hold_s: float,
        flags: TokenFlags = TokenFlags(),  # noqa: B008 (frozen, so a shared default is safe)
        compartment: int | None = None,
        holder_key: ec.EllipticCurvePublicKey | None = None,
        purpose: Purpose = Purpose.PICKUP,
    ) -> str:
        """A token for this fleet's locker (the `LK1:` string)."""
        return mint_token(
            self.issuing_key,
            order_ref=order_ref,
            lockers=[self.locker_id],
            now=now,
            hold_s=hold_s,
            purpose=purpose,
            flags=flags,
            compartment=compartment,
            holder_key=holder_key,
        )


def _key_pair(directory: Path, name: str) -> tuple[SigningKey, Path, Path]:
    key = generate_key("es256")
    private_path, public_path = directory / f"{name}.key.pem", directory / f"{name}.pub.pem"
    write_key_pair(private_path, public_path, key)
    return key, private_path, public_path


def fleet_trust_files(directory: Path) -> tuple[tuple[Path, Path], Path]:
    """The root public keys a device pins, and the signed bundle, of a fleet in `directory`."""
    return (
        directory / "root-primary.pub.pem",
        directory / "root-backup.pub.pem",
    ), directory / "bundle.cose"


def create_demo_fleet(directory: Path, locker_id: str, now: float) -> DemoFleet:
    """Create roots, issuing and command keys and a signed bundle in `directory` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    primary, primary_priv, _ = _key_pair(directory, "root-primary")
    backup, backup_priv, _ = _key_pair(directory, "root-backup")
    issuing, issuing_path, _ = _key_pair(directory, "issuing")
    command, command_path, _ = _key_pair(directory, "command")
    start, end = int(now) - 3600, int(now) + KEY_VALIDITY_S
    entries = [
        IssuingKeyEntry(issuing.public_key(), TOKEN_PURPOSES, start, end),
        IssuingKeyEntry(command.public_key(), frozenset({Purpose.COMMAND}), start, end),
    ]
    write_descriptor(directory / "issuing.json", entries[0])
    write_descriptor(directory / "command.json", entries[1])
    bundle = build_bundle(primary, entries, version=1, now=now, valid_s=BUNDLE_VALIDITY_S)
    root_public_paths, bundle_path = fleet_trust_files(directory)
    bundle_path.write_bytes(bundle)
    return DemoFleet(
        directory=directory,
        locker_id=locker_id,
        root_public_paths=root_public_paths,
        root_private_paths=(primary_priv, backup_priv),
        issuing_key_path=issuing_path,
        command_key_path=command_path,
        bundle_path=bundle_path,
        roots=(primary.public_key(), backup.public_key()),
        issuing_key=issuing,
        command_key=command,
        bundle_bytes=bundle,
    )
