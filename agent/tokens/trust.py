"""The trust bundle: hub-signed issuing keys (validity, purposes) and revoked token ids.

A bundle is a strict COSE_Sign1 signed by one of the fleet roots the device pins (primary and
backup). Its payload is a deterministic CBOR map:

    {"v": version, "iat": issued, "nxt": next_update,
     "keys": [{"key": COSE_Key, "nbf": t, "exp": t, "pur": [purpose, ...]}, ...],
     "rev": [cti, ...]}

Key ids are computed here from the keys, never taken from the bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.reasons import Reason
from agent.tokens import codec, cose
from agent.tokens.claims import CTI_BYTES, MAX_TIME, Purpose
from agent.tokens.errors import BundleProblem, TokenError, TrustBundleError
from agent.tokens.keys import (
    Alg,
    PrivateKey,
    PublicKey,
    alg_for_key,
    cose_key,
    key_id,
    public_key_from_cose,
)

_LOG = logging.getLogger(__name__)
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
MAX_BUNDLE_KEYS = 256


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """An issuing key: usable for `purposes` while `not_before <= now < not_after`."""

    kid: bytes
    alg: Alg
    public_key: PublicKey
    purposes: frozenset[Purpose]
    not_before: float
    not_after: float

    def valid_at(self, now: float) -> bool:
        """Whether the key may be used at `now`."""
        return self.not_before <= now < self.not_after


@dataclass(frozen=True, slots=True)
class TrustBundle:
    """A verified bundle with its keys parsed once, ready for many fast token checks."""

    version: int
    issued_at: float
    next_update: float
    keys: tuple[TrustedKey, ...]
    revoked: frozenset[bytes]
    root_kid: bytes
    by_kid: Mapping[bytes, tuple[TrustedKey, ...]] = field(default_factory=dict, repr=False)

    def candidates(self, kid: bytes, now: float) -> tuple[TrustedKey, ...]:
        """Every key with this kid that is valid at `now` (kids may collide: try all)."""
        # a list comprehension and inlined `valid_at`: this runs on every scan
        return tuple([k for k in self.by_kid.get(kid, ()) if k.not_before <= now < k.not_after])


def make_bundle(
    *,
    version: int,
    issued_at: float,
    next_update: float,
    keys: Sequence[TrustedKey],
    revoked: frozenset[bytes] = frozenset(),
    root_kid: bytes = b"",
) -> TrustBundle:
    """Build a TrustBundle with its kid index (for verified data and for tests)."""
    by_kid: dict[bytes, tuple[TrustedKey, ...]] = {}
    for key in keys:
        by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
    return TrustBundle(
        version, issued_at, next_update, tuple(keys), frozenset(revoked), root_kid, by_kid
    )


def load_trust_bundle(
    data: bytes, roots: Sequence[PublicKey], *, current_version: int | None
) -> TrustBundle:
    """Verify a bundle against the pinned `roots` and parse it.

    Raises `TrustBundleError` (the installed bundle stays in force) if the bundle is too large,
    malformed, signed by no pinned root, badly signed, or older than `current_version` (rollback).
    The same version as `current_version` is accepted (a re-delivery or a reload at start).
    A stale bundle is loaded: staleness is judged per token by the clock policy.
    """
    if len(data) > MAX_BUNDLE_BYTES:
        raise TrustBundleError(BundleProblem.TOO_LARGE)
    try:
        msg = cose.decode_sign1(data)
        root_kid = msg.kid or b""
        signer_keys = [(root, alg_for_key(root)) for root in roots if key_id(root) == root_kid]
        cose.find_signer(msg, signer_keys)
        payload = codec.loads_strict(msg.payload)
        bundle = _parse_payload(payload, root_kid)
    except TrustBundleError:
        raise
    except TokenError as err:
        raise TrustBundleError(_problem(err.reason), err.detail) from err
    if current_version is not None and bundle.version < current_version:
        raise TrustBundleError(BundleProblem.ROLLBACK, f"version {bundle.version} < installed")
    _LOG.info("trust bundle v%s verified: %s keys", bundle.version, len(bundle.keys))
    return bundle


def _problem(reason: Reason) -> BundleProblem:
    if reason is Reason.UNKNOWN_KID:
        return BundleProblem.UNKNOWN_ROOT
    if reason in (Reason.BAD_SIGNATURE, Reason.ALG_NOT_ALLOWED):
        return BundleProblem.BAD_SIGNATURE
    return BundleProblem.MALFORMED


def _parse_payload(payload: Any, root_kid: bytes) -> TrustBundle:
    if not isinstance(payload, Mapping) or set(payload) != {"v", "iat", "nxt", "keys", "rev"}:
        raise TokenError("bundle payload has the wrong fields")
    keys, revoked = payload["keys"], payload["rev"]
    if not _is_list(keys) or len(keys) > MAX_BUNDLE_KEYS or not _is_list(revoked):
        raise TokenError("bundle keys or rev not a list")
    if not all(isinstance(cti, bytes) and len(cti) == CTI_BYTES for cti in revoked):
        raise TokenError("revoked entry is not a 16-byte cti")
    return make_bundle(
        version=_int(payload["v"]),
        issued_at=_int(payload["iat"]),
        next_update=_int(payload["nxt"]),
        keys=[_parse_key(entry) for entry in keys],
        revoked=frozenset(revoked),
        root_kid=root_kid,
    )


def _parse_key(entry: object) -> TrustedKey:
    if not isinstance(entry, Mapping) or set(entry) != {"key", "nbf", "exp", "pur"}:
        raise TokenError("bundle key entry has the wrong fields")
    public_key = public_key_from_cose(entry["key"])
    purposes = entry["pur"]
    if not _is_list(purposes) or not purposes:
        raise TokenError("key purposes not a list")
    try:
        parsed = frozenset(Purpose(p) for p in purposes)
    except ValueError as err:
        raise TokenError("unknown key purpose") from err
    return TrustedKey(
        key_id(public_key),
        alg_for_key(public_key),
        public_key,
        parsed,
        _int(entry["nbf"]),
        _int(entry["exp"]),
    )


def _is_list(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIME:
        raise TokenError("bundle integer of wrong type or range")
    return value


def encode_bundle(bundle: TrustBundle) -> bytes:
    """The deterministic CBOR payload for `bundle` (what a root signs)."""
    return codec.dumps(
        {
            "v": bundle.version,
            "iat": int(bundle.issued_at),
            "nxt": int(bundle.next_update),
            "keys": [
                {
                    "key": cose_key(key.public_key),
                    "nbf": int(key.not_before),
                    "exp": int(key.not_after),
                    "pur": sorted(str(p) for p in key.purposes),
                }
                for key in bundle.keys
            ],
            "rev": sorted(bundle.revoked),
        }
    )


def sign_bundle(bundle: TrustBundle, root: PrivateKey) -> bytes:
    """Sign `bundle` with a fleet root key (the issuing side; the device only verifies)."""
    return cose.sign1(root, encode_bundle(bundle))
