"""Minting tokens and signing trust bundles (the hub's side of docs/tokens.md)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric import ec

from agent.tokens import codec, cose
from agent.tokens.claims import (
    CTI_BYTES,
    MAX_AUDIENCES,
    Claims,
    Purpose,
    TokenFlags,
    encode_claims,
    parse_claims,
    valid_text,
)
from agent.tokens.errors import TokenError
from agent.tokens.keys import PrivateKey, key_id, p256_point
from agent.tokens.trust import make_bundle, sign_bundle
from provisioning.errors import ExitStatus, ProvisioningError
from provisioning.keyfiles import IssuingKeyEntry

DEFAULT_ISSUER = "hub"


def mint_token(
    key: PrivateKey,
    *,
    order_ref: str,
    lockers: Sequence[str],
    now: float,
    hold_s: float,
    purpose: Purpose = Purpose.PICKUP,
    flags: TokenFlags = TokenFlags(),  # noqa: B008 (frozen, so a shared default is safe)
    compartment: int | None = None,
    holder_key: ec.EllipticCurvePublicKey | None = None,
    issuer: str = DEFAULT_ISSUER,
    cti: bytes | None = None,
) -> str:
    """Sign a token valid from `now` for `hold_s` seconds and return its `LK1:` string.

    `order_ref` must be an opaque reference (no name, phone or address: the QR is readable by
    anyone). `cti` defaults to 16 random bytes. A token with `flags.live_required` needs a
    `holder_key` (otherwise no live code could ever be made for it).
    """
    if flags.live_required and holder_key is None:
        raise ProvisioningError("a live-only token needs the holder's public key")
    claims = Claims(
        issuer=issuer,
        order_ref=order_ref,
        audience=tuple(lockers),
        not_before=int(now),
        expires=int(now + hold_s),
        issued_at=int(now),
        cti=cti or os.urandom(CTI_BYTES),
        purpose=purpose,
        flags=flags,
        compartment=compartment,
        holder_key=None if holder_key is None else p256_point(holder_key),
    )
    return sign_claims(key, claims)


def check_issue(
    key: PrivateKey,
    entry: IssuingKeyEntry,
    *,
    order_ref: str,
    lockers: Sequence[str],
    purpose: Purpose,
    now: float,
    hold_s: float,
) -> None:
    """Refuse (exit status USAGE) what lockers would refuse: a key used for a purpose its bundle
    entry does not list, a token outside the key's validity, a malformed order ref or locker id."""
    if key_id(entry.public_key) != key_id(key.public_key()):
        raise ProvisioningError("the key does not match its bundle entry", ExitStatus.USAGE)
    if purpose not in entry.purposes:
        listed = ", ".join(sorted(entry.purposes))
        raise ProvisioningError(
            f"this key is for {listed}, not {purpose}: lockers would refuse the token",
            ExitStatus.USAGE,
        )
    if int(now) < entry.not_before:
        raise ProvisioningError("the key is not valid yet at the issue time", ExitStatus.USAGE)
    if int(now + hold_s) > entry.not_after:
        raise ProvisioningError(
            "the hold ends after the key's validity: use a newer key or a shorter hold",
            ExitStatus.USAGE,
        )
    if not valid_text(order_ref):
        raise ProvisioningError(
            "the order ref must be 1-64 ASCII printable characters (no personal data)",
            ExitStatus.USAGE,
        )
    if not 0 < len(lockers) <= MAX_AUDIENCES or not all(valid_text(x) for x in lockers):
        raise ProvisioningError(
            f"give 1-{MAX_AUDIENCES} locker ids of 1-64 ASCII printable characters",
            ExitStatus.USAGE,
        )


def sign_claims(key: PrivateKey, claims: Claims) -> str:
    """Encode, check and sign `claims`; ProvisioningError if they would not verify."""
    try:
        payload = encode_claims(claims)
        parse_claims(payload)  # the same checks the locker runs, so a bad token never leaves
    except (TokenError, KeyError, ValueError) as err:
        raise ProvisioningError(f"token claims are invalid: {err}") from err
    token = cose.sign1(key, payload)
    if len(token) > codec.MAX_CBOR_BYTES:
        raise ProvisioningError("token is larger than lockers accept")
    return codec.TOKEN_PREFIX + codec.b45encode(token)


def read_claims(token: str) -> Claims:
    """The claims of an `LK1:` token, NOT verified (for the issuing side's own tokens only)."""
    try:
        msg = cose.decode_sign1(token_bytes(token))
        return parse_claims(msg.payload)
    except TokenError as err:
        raise ProvisioningError(f"not a valid LK1 token: {err.detail}") from err


def token_bytes(token: str) -> bytes:
    """The COSE_Sign1 bytes inside an `LK1:` string."""
    if not token.startswith(codec.TOKEN_PREFIX):
        raise ProvisioningError("token does not start with LK1:")
    try:
        return codec.b45decode(token[len(codec.TOKEN_PREFIX) :])
    except TokenError as err:
        raise ProvisioningError("token is not valid Base45") from err


def mint_delegate(
    key: PrivateKey,
    token: str,
    *,
    now: float,
    holder_key: ec.EllipticCurvePublicKey | None = None,
) -> str:
    """A delegate token for the same order: same `sub`, lockers, window and flags, its own `cti`.

    Spending either token closes the order (the order, not the token, is what gets collected).
    The delegate is bound to `holder_key` if given; a live-only original needs one.
    """
    original = read_claims(token)
    delegate = replace(
        original,
        cti=os.urandom(CTI_BYTES),
        issued_at=max(int(now), original.issued_at),
        holder_key=None if holder_key is None else p256_point(holder_key),
    )
    if delegate.flags.live_required and holder_key is None:
        raise ProvisioningError("the order needs a live code: give the delegate's holder key")
    return sign_claims(key, delegate)


def build_bundle(
    root: PrivateKey,
    entries: Iterable[IssuingKeyEntry],
    *,
    version: int,
    now: float,
    valid_s: float,
    revoked: Iterable[bytes] = (),
) -> bytes:
    """Sign a trust bundle: `entries` become its keys, `revoked` its revoked token ids."""
    entries = list(entries)
    if any(not entry.purposes for entry in entries):
        raise ProvisioningError("every issuing key needs at least one purpose")
    revoked_set = frozenset(revoked)
    if any(len(cti) != CTI_BYTES for cti in revoked_set):
        raise ProvisioningError("a revoked token id is not 16 bytes (32 hex digits)")
    if version < 1:
        raise ProvisioningError("bundle version must be 1 or more")
    bundle = make_bundle(
        version=version,
        issued_at=int(now),
        next_update=int(now + valid_s),
        keys=[entry.trusted() for entry in entries],
        revoked=revoked_set,
    )
    return sign_bundle(bundle, root)
