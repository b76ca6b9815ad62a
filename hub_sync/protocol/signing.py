"""Hub signatures on commands: Ed25519 or ES256 over canonical JSON, with expiry and a nonce.

A device refuses a remote open that is not signed by a key the agent trusts for purpose "command",
so whoever controls the broker still cannot open a door. The exact bytes signed are documented in
docs/protocol.md ("Signatures") so a hub written in another language can produce them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from hub_sync.errors import SignatureError, WireError
from hub_sync.protocol.commands import COMMANDS, DEFAULT_MAX_TTL_S, CommandEnvelope
from hub_sync.protocol.strict_json import canonical_json, get

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
SIGN_CONTEXT: Final = "lk-cmd/v1"
_P256_LEN: Final = 32


KID_BYTES: Final = 8
#: Any public key a kid is computed for: command keys here, token and bundle keys in agent.tokens.
SpkiKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def key_id_bytes(key: SpkiKey) -> bytes:
    """THE key id of the fleet (tokens, trust bundles, commands): the first 8 bytes of SHA-256
    over the key's DER SubjectPublicKeyInfo (docs/tokens.md, section 1.1)."""
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()[:KID_BYTES]


def key_id(key: SpkiKey) -> str:
    """`key_id_bytes` as lower-case hex, as it appears in a command's `sig.kid`."""
    return key_id_bytes(key).hex()


def signed_bytes(
    *,
    fleet: str,
    device: str,
    name: str,
    transaction_id: str,
    args: Mapping[str, Any],
    exp: int,
    nonce: str,
) -> bytes:
    """The exact bytes a hub signs: canonical JSON of the command bound to one device."""
    return canonical_json(
        {
            "ctx": SIGN_CONTEXT,
            "fleet": fleet,
            "device": device,
            "name": name,
            "transaction_id": transaction_id,
            "args": dict(args),
            "exp": exp,
            "nonce": nonce,
        }
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as err:
        raise SignatureError("SIG_MALFORMED", "signature is not base64url") from err


def sign(
    key: PrivateKey,
    *,
    fleet: str,
    device: str,
    name: str,
    transaction_id: str,
    args: Mapping[str, Any],
    exp: int,
    nonce: str | None = None,
) -> dict[str, object]:
    """The `sig` object of a command envelope."""
    nonce = nonce or secrets.token_hex(16)
    data = signed_bytes(
        fleet=fleet,
        device=device,
        name=name,
        transaction_id=transaction_id,
        args=args,
        exp=exp,
        nonce=nonce,
    )
    alg, value = _raw_sign(key, data)
    kid = key_id(key.public_key())
    return {"alg": alg, "kid": kid, "exp": exp, "nonce": nonce, "value": _b64(value)}


def _raw_sign(key: PrivateKey, data: bytes) -> tuple[str, bytes]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA", key.sign(data)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return "ES256", r.to_bytes(_P256_LEN, "big") + s.to_bytes(_P256_LEN, "big")


def _verify_one(key: PublicKey, alg: str, sig: bytes, data: bytes) -> bool:
    try:
        if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, data)
            return True
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, ec.SECP256R1) or len(sig) != 2 * _P256_LEN:
                return False
            r = int.from_bytes(sig[:_P256_LEN], "big")
            s = int.from_bytes(sig[_P256_LEN:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


class NonceCache:
    """Nonces seen until their command expires; bounded, evicting the soonest-expiring first."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._seen: dict[str, int] = {}
        self._max = max_entries

    def check_and_add(self, nonce: str, exp: int, now: float) -> bool:
        """False when `nonce` was already used (a replay)."""
        if nonce in self._seen:
            return False
        if len(self._seen) >= self._max:
            self._seen = {n: e for n, e in self._seen.items() if e >= now}
            while len(self._seen) >= self._max:
                del self._seen[min(self._seen, key=self._seen.__getitem__)]
        self._seen[nonce] = exp
        return True


class CommandVerifier:
    """Checks hub signatures on commands. `keys` is read on every check (trust bundle updates)."""

    def __init__(
        self,
        keys: Callable[[], Sequence[PublicKey]],
        clock: Callable[[], float],
        *,
        max_ttl_s: Mapping[str, int] | None = None,
        default_max_ttl_s: int = DEFAULT_MAX_TTL_S,
        nonces: NonceCache | None = None,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._max_ttl = dict(max_ttl_s or {name: spec.max_ttl_s for name, spec in COMMANDS.items()})
        self._default_ttl = default_max_ttl_s
        self._nonces = nonces or NonceCache()

    def verify(self, env: CommandEnvelope, *, fleet: str, device: str) -> None:
        """Raises `SignatureError` unless `env` carries a valid, unexpired, unreplayed signature."""
        if env.sig is None:
            raise SignatureError("SIG_MISSING", env.name)
        try:
            alg: str = get(env.sig, "alg", str)
            exp: int = get(env.sig, "exp", int)
            nonce: str = get(env.sig, "nonce", str)
            value = _unb64(get(env.sig, "value", str))
        except WireError as err:
            raise SignatureError("SIG_MALFORMED", err.detail) from err
        if alg not in ("EdDSA", "ES256") or not 16 <= len(nonce) <= 64:
            raise SignatureError("ALG_NOT_ALLOWED" if len(nonce) >= 16 else "SIG_MALFORMED")
        data = signed_bytes(
            fleet=fleet,
            device=device,
            name=env.name,
            transaction_id=env.transaction_id,
            args=env.args,
            exp=exp,
            nonce=nonce,
        )
        # kid is only a hint for hubs and logs: every trusted key is tried, there are few
        if not any(_verify_one(k, alg, value, data) for k in self._keys()):
            raise SignatureError("BAD_SIGNATURE", env.name)
        self._check_time(env.name, exp, nonce)

    def _check_time(self, name: str, exp: int, nonce: str) -> None:
        now = self._clock()
        if exp <= now:
            raise SignatureError("EXPIRED", name)
        if exp - now > self._max_ttl.get(name, self._default_ttl):
            raise SignatureError("TTL_TOO_LONG", name)
        if not self._nonces.check_and_add(nonce, exp, now):
            raise SignatureError("REPLAYED", name)


PASSPHRASE_ENV: Final = "LOCKER_ADMIN_PASSPHRASE"  # noqa: S105 (a variable name)


def load_private_key_file(path: Path, passphrase_file: Path | None = None) -> PrivateKey:
    """The hub's signing key from `path`, plain or encrypted PKCS#8 PEM.

    An encrypted key is opened with the passphrase in `passphrase_file`, else in the variable
    `LOCKER_ADMIN_PASSPHRASE` (the same sources as `locker-admin`, provisioning/keyfiles.py;
    the hub runs unattended, so there is no prompt: give it as a systemd credential file)."""
    try:
        pem = path.read_bytes()
        password: bytes | None = None
        if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem:
            if passphrase_file is not None:
                password = passphrase_file.read_bytes().rstrip(b"\r\n")
            else:
                password = os.environ.get(PASSPHRASE_ENV, "").encode() or None
            if not password:
                raise SignatureError(
                    "KEY_PASSPHRASE", f"{path} is encrypted: give its passphrase file or "
                    f"set {PASSPHRASE_ENV}",
                )  # fmt: skip
        return load_private_key(pem, password)
    except OSError as err:
        raise SignatureError("KEY_UNREADABLE", f"{path}: {err.strerror}") from err
    except ValueError as err:
        raise SignatureError("KEY_PASSPHRASE", f"{path}: wrong passphrase or not a key") from err


def load_private_key(pem: bytes, password: bytes | None = None) -> PrivateKey:
    """A PEM private key (PKCS#8, plain or encrypted with `password`): Ed25519 or EC P-256."""
    key = serialization.load_pem_private_key(pem, password=password)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise SignatureError("ALG_NOT_ALLOWED", "signing key must be Ed25519 or P-256")


def load_public_key(pem: bytes) -> PublicKey:
    """A command key from PEM; `SignatureError` unless it is Ed25519 or P-256."""
    key = serialization.load_pem_public_key(pem)
    if isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        return key
    raise SignatureError("ALG_NOT_ALLOWED", "command key must be Ed25519 or P-256")


# -- confirms ---------------------------------------------------------------------------------

CONFIRM_CONTEXT: Final = "lk-confirm/v1"


def confirm_bytes(*, fleet: str, device: str, through_seq: int, in_reply_to: str) -> bytes:
    """The exact bytes a hub signs in a confirm (docs/protocol.md, "Confirms are signed")."""
    return canonical_json(
        {
            "ctx": CONFIRM_CONTEXT,
            "fleet": fleet,
            "device": device,
            "through_seq": through_seq,
            "in_reply_to": in_reply_to,
        }
    )


def sign_confirm(
    key: PrivateKey, *, fleet: str, device: str, through_seq: int, in_reply_to: str
) -> dict[str, object]:
    """The `sig` object of a confirm: no expiry or nonce, see `verify_confirm`."""
    data = confirm_bytes(
        fleet=fleet, device=device, through_seq=through_seq, in_reply_to=in_reply_to
    )
    return sign_detached(key, data)


def sign_detached(key: PrivateKey, data: bytes) -> dict[str, object]:
    """The `sig` object `{alg, kid, value}` over `data` (confirms, photo acks, replies)."""
    alg, value = _raw_sign(key, data)
    return {"alg": alg, "kid": key_id(key.public_key()), "value": _b64(value)}


def verify_detached(
    keys: Sequence[PublicKey],
    sig: Mapping[str, Any] | None,
    data: bytes,
    what: str,
    algs: tuple[str, ...] = ("EdDSA", "ES256"),
) -> None:
    """Raises `SignatureError` (SIG_MISSING, SIG_MALFORMED, ALG_NOT_ALLOWED, BAD_SIGNATURE)
    unless one of `keys` made `sig` over `data`; `what` names the message in the error."""
    if sig is None:
        raise SignatureError("SIG_MISSING", what)
    try:
        alg: str = get(sig, "alg", str)
        value = _unb64(get(sig, "value", str))
    except WireError as err:
        raise SignatureError("SIG_MALFORMED", err.detail) from err
    if alg not in algs:
        raise SignatureError("ALG_NOT_ALLOWED", what)
    if not any(_verify_one(k, alg, value, data) for k in keys):
        raise SignatureError("BAD_SIGNATURE", what)


def verify_confirm(
    keys: Sequence[PublicKey],
    sig: Mapping[str, Any] | None,
    *,
    fleet: str,
    device: str,
    through_seq: int,
    in_reply_to: str,
) -> None:
    """Raises `SignatureError` unless a trusted command key signed this confirm.

    No expiry or nonce: `in_reply_to` is a random id the device minted for one events message of
    its current connection, so a replayed genuine confirm can only repeat what the hub stored.
    """
    data = confirm_bytes(
        fleet=fleet, device=device, through_seq=through_seq, in_reply_to=in_reply_to
    )
    verify_detached(keys, sig, data, "confirm")
