"""A reference phone wallet: holds a token and its holder key, shows live codes.

This is what an app does (docs/tokens.md, "Live codes"): every `refresh_s` seconds it signs the
current time with the holder key and shows `LK1L:...` as a QR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from agent.tokens.keys import p256_point
from agent.tokens.live import DEFAULT_REFRESH_S, encode_frame
from provisioning.errors import ProvisioningError
from provisioning.keyfiles import load_private_key, write_key_pair
from provisioning.mint import read_claims, token_bytes


def create_holder_key(private_path: Path, public_path: Path) -> ec.EllipticCurvePrivateKey:
    """A new P-256 holder key, written as PEM (private 0600); the public file goes to the hub."""
    key = ec.generate_private_key(ec.SECP256R1())
    write_key_pair(private_path, public_path, key)
    return key


def load_holder_key(path: Path, passphrase_file: Path | None = None) -> ec.EllipticCurvePrivateKey:
    """The holder's P-256 private key; a ProvisioningError if the file holds another kind of key."""
    key = load_private_key(path, passphrase_file)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvisioningError(f"{path} is not a P-256 holder key")
    return key


@dataclass(frozen=True, slots=True)
class Wallet:
    """One token plus the holder key its `cnf` names."""

    token: str
    holder_key: ec.EllipticCurvePrivateKey
    refresh_s: int = DEFAULT_REFRESH_S

    def __post_init__(self) -> None:
        claims = read_claims(self.token)
        if claims.holder_key != p256_point(self.holder_key.public_key()):
            raise ProvisioningError("this holder key is not the one the token is bound to")

    def live_code(self, now: float) -> str:
        """The live code shown at `now`; its frame time `t` steps every `refresh_s` seconds."""
        t = int(now) - int(now) % self.refresh_s
        return encode_frame(token_bytes(self.token), t, self.holder_key)
