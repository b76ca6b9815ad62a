"""The installed trust bundle, the pinned roots and the persisted time floor.

The bundle arrives from a file at first start or from the hub later; it is verified against the
two pinned roots, refused on rollback, and stored in SQLite so a restart keeps the newest one.
The time floor (the highest hub-signed time verified) is persisted in the same database.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agent.domain.clock import Clock
from agent.errors import ConfigError, RequestError
from agent.reasons import Reason
from agent.store import journal
from agent.store.db import Database
from agent.tokens.clock import raise_floor
from agent.tokens.errors import TokenError, TrustBundleError
from agent.tokens.keys import PublicKey, load_public_key_pem
from agent.tokens.trust import TrustBundle, load_trust_bundle
from agent.tokens.verify import VerifyContext

_LOG = logging.getLogger(__name__)
BUNDLE_SETTING = "trust_bundle"
REVOKED_SETTING = "revoked_local"  # revocations sent by the hub between bundles
OVERRIDES_SETTING = "trust_overrides"
# Settings the hub may change at run time (`config.set`), with their allowed range.
OVERRIDABLE: dict[str, tuple[float, float]] = {
    "trust.grace_hours": (0.0, 24.0 * 365),
    "trust.leeway_s": (0.0, 3600.0),
}


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """How strictly tokens are read: clock leeway, bundle grace, live-code window."""

    leeway_s: float = 60.0
    grace_s: float = 7 * 24 * 3600.0
    live_window_s: float = 30.0
    id_check_available: bool = False  # True at a staffed counter only


def load_roots(paths: Sequence[Path]) -> tuple[PublicKey, ...]:
    """The pinned fleet root keys from their PEM files (ConfigError if one is unreadable)."""
    roots = []
    for path in paths:
        try:
            roots.append(load_public_key_pem(path.read_bytes()))
        except OSError as err:
            raise ConfigError(f"trust.root_keys: cannot read {path}: {err.strerror}") from err
        except (TokenError, ValueError) as err:
            raise ConfigError(f"trust.root_keys: {path} is not a public key") from err
    return tuple(roots)


def set_time_floor(conn: sqlite3.Connection, verified_time: float) -> float:
    """Raise the persisted floor to `verified_time` (never lowers it); returns the floor."""
    floor = journal.persisted_time_floor(conn)
    raised = raise_floor(floor, verified_time)
    if raised != floor:
        journal.put_setting(conn, journal.FLOOR_SETTING, repr(raised))
    return raised


class TrustService:
    """Owns the bundle in force and the time floor; builds the `VerifyContext` for each check."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        locker_id: str,
        roots: Sequence[PublicKey],
        policy: TrustPolicy,
    ) -> None:
        self._db = db
        self._clock = clock
        self._locker_id = locker_id
        self._roots = tuple(roots)
        self._policy = policy
        self.bundle: TrustBundle | None = None
        self.time_floor = 0.0
        self._revoked_ctis: frozenset[bytes] = frozenset()
        self._revoked_kids: frozenset[bytes] = frozenset()

    async def start(self, initial_bundle: Path | None) -> None:
        """Load the stored bundle (or the configured file) and the time floor."""
        stored, self.time_floor = await self._db.read(stored_trust_state)
        revoked, overrides = await self._db.read(_stored_extras)
        self._set_revoked(revoked)
        self._apply(overrides)
        candidates = [data for data in (stored, _read_file(initial_bundle)) if data]
        for data in candidates:
            try:
                await self.install(data, source="startup")
            except TrustBundleError as err:
                _LOG.warning("a trust bundle was refused at start: %s", err.problem.value)
        if self.bundle is None and self._roots:
            _LOG.warning("no trust bundle installed: signed tokens are refused until one arrives")

    async def install(self, data: bytes, *, source: str) -> TrustBundle:
        """Verify and install `data`; raises `TrustBundleError`, keeping the current bundle."""
        current = self.bundle.version if self.bundle else None
        bundle = load_trust_bundle(data, self._roots, current_version=current)
        if self.bundle is not None and bundle.version == self.bundle.version:
            return self.bundle
        self.time_floor = await self._db.run(_store_bundle, data, bundle, source, self._clock.now())
        self.bundle = bundle
        _LOG.info("trust bundle version %s installed from %s", bundle.version, source)
        return bundle

    def context(self) -> VerifyContext:
        """The verification context now; TRUSTLIST_STALE if no bundle was ever installed."""
        if self.bundle is None:
            raise TokenError("no trust bundle installed", reason=Reason.TRUSTLIST_STALE)
        return VerifyContext(
            locker_id=self._locker_id,
            trust=self._effective_bundle(self.bundle),
            leeway_s=self._policy.leeway_s,
            time_floor=self.time_floor,
            grace_s=self._policy.grace_s,
            live_window_s=self._policy.live_window_s,
            id_check_available=self._policy.id_check_available,
        )

    async def revoke(self, ctis: Sequence[str], kids: Sequence[str]) -> None:
        """Add hub revocations (hex token ids and key ids) that hold until a bundle lists them."""
        try:
            new = {
                "ctis": [bytes.fromhex(c).hex() for c in ctis],
                "kids": [bytes.fromhex(k).hex() for k in kids],
            }
        except ValueError:
            raise RequestError("revocations must be hex") from None
        merged = await self._db.run(_add_revocations, new, self._clock.now())
        self._set_revoked(merged)

    async def apply_overrides(self, changes: Mapping[str, object]) -> list[str]:
        """Apply hub `config.set` changes; only the keys in `OVERRIDABLE`, checked and stored."""
        checked: dict[str, float] = {}
        for key, value in changes.items():
            limits = OVERRIDABLE.get(key)
            if limits is None:
                raise RequestError(f"{key} cannot be changed remotely")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RequestError(f"{key} must be a number")
            if not limits[0] <= float(value) <= limits[1]:
                raise RequestError(f"{key} out of range")
            checked[key] = float(value)
        stored = await self._db.run(_store_overrides, checked, self._clock.now())
        self._apply(stored)
        return list(checked)

    def _apply(self, overrides: Mapping[str, float]) -> None:
        policy = self._policy
        if "trust.grace_hours" in overrides:
            policy = replace(policy, grace_s=overrides["trust.grace_hours"] * 3600)
        if "trust.leeway_s" in overrides:
            policy = replace(policy, leeway_s=overrides["trust.leeway_s"])
        self._policy = policy

    def _set_revoked(self, revoked: Mapping[str, Sequence[str]]) -> None:
        self._revoked_ctis = frozenset(bytes.fromhex(c) for c in revoked.get("ctis", ()))
        self._revoked_kids = frozenset(bytes.fromhex(k) for k in revoked.get("kids", ()))

    def _effective_bundle(self, bundle: TrustBundle) -> TrustBundle:
        if not self._revoked_ctis and not self._revoked_kids:
            return bundle
        keys = tuple(k for k in bundle.keys if k.kid not in self._revoked_kids)
        return replace(
            bundle,
            keys=keys,
            revoked=bundle.revoked | self._revoked_ctis,
            by_kid={kid: ks for kid, ks in bundle.by_kid.items() if kid not in self._revoked_kids},
        )

    def note_floor(self, floor: float) -> None:
        """Record a floor raised inside a spend transaction."""
        self.time_floor = max(self.time_floor, floor)


def _read_file(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(f"trust.bundle: cannot read {path}: {err.strerror}") from err


def stored_trust_state(conn: sqlite3.Connection) -> tuple[bytes | None, float]:
    """The stored bundle (None if none) and time floor; also read by `locker-agent token check`."""
    stored = journal.get_setting(conn, BUNDLE_SETTING)
    floor = journal.persisted_time_floor(conn)
    return (base64.b64decode(stored) if stored else None), floor


def _stored_extras(
    conn: sqlite3.Connection,
) -> tuple[dict[str, list[str]], dict[str, float]]:
    revoked = json.loads(journal.get_setting(conn, REVOKED_SETTING) or "{}")
    overrides = json.loads(journal.get_setting(conn, OVERRIDES_SETTING) or "{}")
    return revoked, overrides


def _add_revocations(
    conn: sqlite3.Connection, new: dict[str, list[str]], now: float
) -> dict[str, list[str]]:
    revoked, _ = _stored_extras(conn)
    merged = {
        name: sorted(set(revoked.get(name, [])) | set(new[name])) for name in ("ctis", "kids")
    }
    journal.put_setting(conn, REVOKED_SETTING, journal.canonical_json(merged))
    journal.record(
        conn,
        "trust.revoked",
        {"ctis": len(new["ctis"]), "kids": new["kids"]},
        now=now,
        actor="hub",
    )
    return merged


def _store_overrides(
    conn: sqlite3.Connection, changes: dict[str, float], now: float
) -> dict[str, float]:
    _, overrides = _stored_extras(conn)
    overrides.update(changes)
    journal.put_setting(conn, OVERRIDES_SETTING, journal.canonical_json(overrides))
    journal.record(conn, "config.changed", dict(changes), now=now, actor="hub")
    return overrides


def _store_bundle(
    conn: sqlite3.Connection, data: bytes, bundle: TrustBundle, source: str, now: float
) -> float:
    journal.put_setting(conn, BUNDLE_SETTING, base64.b64encode(data).decode("ascii"))
    journal.record(
        conn,
        "trust.bundle_installed",
        {"version": bundle.version, "source": source, "revoked": len(bundle.revoked)},
        now=now,
    )
    return set_time_floor(conn, bundle.issued_at)
