"""Key files: PEM PKCS#8 private keys (mode 0600) and PEM SubjectPublicKeyInfo public keys.

PEM is used for both halves so that standard tools (openssl) can inspect them. An issuing key's
trust-bundle entry (purposes, validity) lives next to it in a small JSON descriptor.

Private keys at rest are encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`: PBES2, PBKDF2-HMAC-SHA256,
AES-256-CBC, what cryptography's `BestAvailableEncryption` writes and `openssl pkey` reads). The
passphrase comes from, in this order: a file (`--passphrase-file`), the environment variable
`LOCKER_ADMIN_PASSPHRASE`, or a prompt on the terminal; never from a command-line value (it would
be in the shell history and in `ps`). `load_private_key` reads plain and encrypted keys alike, so
every command that reads a key accepts both; it asks for the passphrase only when a key needs it.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
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
PASSPHRASE_ENV = "LOCKER_ADMIN_PASSPHRASE"  # noqa: S105 (a variable name)
MIN_PASSPHRASE = 12  # PKCS#8's PBKDF2 runs only 2,048 rounds: the length is the protection
_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def read_passphrase(file: Path | None = None, *, new: bool = False) -> bytes:
    """The key passphrase from `file`, else `$LOCKER_ADMIN_PASSPHRASE`, else a terminal prompt.

    `new`: a passphrase that is about to encrypt keys (asked twice at a prompt, at least
    MIN_PASSPHRASE characters). Without a file, the variable or a terminal the error says how to
    give one (exit status PASSPHRASE)."""
    if file is not None:
        text = read_file(file).decode("utf-8", "replace").rstrip("\r\n")
        where = str(file)
    elif os.environ.get(PASSPHRASE_ENV):
        text, where = os.environ[PASSPHRASE_ENV], f"${PASSPHRASE_ENV}"
    elif sys.stdin.isatty():
        text, where = _prompt(new), "the prompt"
    else:
        raise ProvisioningError(
            f"a key passphrase is needed: give --passphrase-file FILE or set {PASSPHRASE_ENV}",
            ExitStatus.PASSPHRASE,
        )
    if not text:
        raise ProvisioningError(f"the passphrase from {where} is empty", ExitStatus.PASSPHRASE)
    if new and len(text) < MIN_PASSPHRASE:
        raise ProvisioningError(
            f"the passphrase from {where} is shorter than {MIN_PASSPHRASE} characters",
            ExitStatus.PASSPHRASE,
        )
    return text.encode("utf-8")


def _prompt(new: bool) -> str:
    text = getpass.getpass("key passphrase: ")
    if new and getpass.getpass("the same again: ") != text:
        raise ProvisioningError("the two passphrases differ", ExitStatus.PASSPHRASE)
    return text


def passphrase_if_given(file: Path | None) -> bytes | None:
    """For commands that write keys: a passphrase when a file or the variable gives one."""
    if file is None and not os.environ.get(PASSPHRASE_ENV):
        return None
    return read_passphrase(file, new=True)


def private_pem(key: PrivateKey, passphrase: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if passphrase is None
        else serialization.BestAvailableEncryption(passphrase)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def is_encrypted(pem: bytes) -> bool:
    """Whether a PEM is an encrypted private key."""
    return _ENCRYPTED_PEM in pem


def decrypt_pem(
    pem: bytes,
    path: Path,
    passphrase_file: Path | None,
    problem: str = "is not a private key (PEM)",
) -> object:
    """Any PEM private key object, decrypting with the passphrase (asked only if encrypted)."""
    password = read_passphrase(passphrase_file) if is_encrypted(pem) else None
    try:
        return serialization.load_pem_private_key(pem, password=password)
    except ValueError as err:
        # an encrypted key that does not load: a wrong passphrase, whatever the message (about 1
        # in 200 wrong passphrases decrypts to padding that passes, and the DER parse fails)
        if password is not None:
            raise ProvisioningError(
                f"{path}: wrong passphrase (or a damaged key file)", ExitStatus.PASSPHRASE
            ) from None
        raise ProvisioningError(f"{path} {problem}") from err
    except TypeError as err:
        raise ProvisioningError(f"{path} {problem}") from err


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


def write_key_pair(
    private_path: Path, public_path: Path, key: PrivateKey, passphrase: bytes | None = None
) -> None:
    """Write the private key (0600, encrypted when `passphrase` is given) and its public key."""
    write_new_file(private_path, private_pem(key, passphrase), 0o600)
    write_new_file(public_path, public_pem(key.public_key()))


def public_pem(key: PublicKey) -> bytes:
    """A public key as PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_file(path: Path) -> bytes:
    """The bytes of `path`; a ProvisioningError that says why if it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ProvisioningError(
            f"cannot read {path}: {reason}", ExitStatus.INPUT_UNREADABLE
        ) from err


def load_private_key(path: Path, passphrase_file: Path | None = None) -> SigningKey:
    """An ES256 or EdDSA private key, plain or encrypted (see `read_passphrase`)."""
    problem = "is not an ES256 or EdDSA private key (PEM)"
    key = decrypt_pem(read_file(path), path, passphrase_file, problem)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ProvisioningError(f"{path} {problem}")
    try:
        alg_for_key(key)
    except TokenError as err:
        raise ProvisioningError(f"{path} {problem}") from err
    return key


def load_public_key(path: Path) -> PublicKey:
    """The public key in a PEM file; a ProvisioningError if it is not one we allow."""
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
        """The entry as the `TrustedKey` a bundle carries."""
        return TrustedKey(
            key_id(self.public_key),
            alg_for_key(self.public_key),
            self.public_key,
            self.purposes,
            self.not_before,
            self.not_after,
        )


def write_descriptor(path: Path, entry: IssuingKeyEntry) -> None:
    """Write the issuing-key descriptor JSON that `load_descriptor` reads; never overwrites."""
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
    """The purposes named; a ProvisioningError for an unknown one or none."""
    try:
        purposes = frozenset(Purpose(v) for v in values)
    except ValueError as err:
        raise ProvisioningError(f"unknown purpose: {err}", ExitStatus.USAGE) from err
    if not purposes:
        raise ProvisioningError("at least one purpose is needed", ExitStatus.USAGE)
    return purposes
