"""Staff and courier sign-in: short-lived sessions held in memory.

A person signs in with a staff PIN (hashed in the config) or, once the token verifier is wired,
with a courier/staff token from the hub. Sessions live only in memory: a restart signs everyone
out, which is what a kiosk should do. Wrong PINs spend a persisted budget of their own
(`AttemptGate`, scope `staff_pin`), with the typed codes' rules and a smaller daily budget.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from agent.domain.attempts import AttemptLimiter, AttemptPolicy
from agent.domain.clock import Clock
from agent.errors import NotAuthorised, RateLimited
from agent.reasons import Reason
from agent.services.attempts import AttemptGate

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
PIN_SCOPE = "staff_pin"


class Role(StrEnum):
    """What a signed-in person may do."""

    STAFF = "staff"  # store staff / service technician: every staff tool
    COURIER = "courier"  # loads parcels, collects returns and expired parcels


@dataclass(frozen=True, slots=True)
class StaffCredential:
    """One PIN from the config: who it belongs to (a staff id, not a name) and their role."""

    actor: str
    role: Role
    pin_hash: str  # "scrypt$<salt hex>$<hash hex>"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in staff member or courier, until `expires_at`."""

    session_id: str
    actor: str
    role: Role
    expires_at: float


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """The stored form of a PIN (`locker-admin device hash-pin` prints this)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    """Whether `pin` matches a stored `scrypt$salt$digest` hash (a malformed hash never matches)."""
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, **_SCRYPT)
    return hmac.compare_digest(digest, expected)


class SessionService:
    """Signs staff and couriers in and out, and keeps their sessions in memory."""

    def __init__(
        self,
        credentials: Sequence[StaffCredential],
        clock: Clock,
        *,
        ttl_s: float = 900.0,
        attempt_policy: AttemptPolicy | None = None,
        attempts: AttemptGate | None = None,
    ) -> None:
        self._credentials = tuple(credentials)
        self._clock = clock
        self._ttl_s = ttl_s
        self._sessions: dict[str, Session] = {}
        self._limiter = AttemptLimiter(attempt_policy or AttemptPolicy())
        self._attempts = attempts

    async def sign_in(self, pin: str) -> Session:
        """A session for the holder of `pin`. With a persisted budget (`attempts`, scope
        `staff_pin`), an attempt is reserved before the slow check and given back when the
        PIN was right, so concurrent guesses cannot exceed it and a restart does not reset it."""
        if self._attempts is None:
            return await asyncio.to_thread(self.sign_in_with_pin, pin)
        await self._attempts.reserve(PIN_SCOPE)
        session = await asyncio.to_thread(self._match, pin)
        if session is None:
            await self._attempts.failed(PIN_SCOPE, Reason.NOT_AUTHORISED)
            raise NotAuthorised("wrong PIN")
        await self._attempts.refund(PIN_SCOPE)
        return session

    def _match(self, pin: str) -> Session | None:
        """Blocking scrypt work (~30 ms per credential)."""
        for credential in self._credentials:
            if pin_matches(pin, credential.pin_hash):
                return self.open_session(credential.actor, credential.role)
        return None

    def now(self) -> float:
        """The current wall-clock time (for session expiry checks)."""
        return self._clock.now()

    def sign_in_with_pin(self, pin: str) -> Session:
        """A session for the holder of `pin`; NOT_AUTHORISED or RATE_LIMITED otherwise.

        Blocking scrypt work (~30 ms per credential): call through `asyncio.to_thread`.
        """
        now = self._clock.now()
        wait_s = self._limiter.retry_after(now)
        if wait_s > 0:
            raise RateLimited(wait_s, "too many wrong PINs")
        for credential in self._credentials:
            if pin_matches(pin, credential.pin_hash):
                return self.open_session(credential.actor, credential.role)
        self._limiter = self._limiter.record_failure(now)
        raise NotAuthorised("wrong PIN")

    def open_session(self, actor: str, role: Role) -> Session:
        """A new session for an already authenticated actor (PIN or verified token)."""
        now = self._clock.now()
        self._drop_expired(now)
        session = Session(secrets.token_urlsafe(24), actor, role, now + self._ttl_s)
        self._sessions[session.session_id] = session
        return session

    def require(self, session_id: str | None, roles: Sequence[Role]) -> Session:
        """The live session `session_id` if its role is one of `roles`; NOT_AUTHORISED else."""
        now = self._clock.now()
        session = self._sessions.get(session_id or "")
        if session is None or session.expires_at <= now:
            raise NotAuthorised("no valid session")
        if session.role not in roles:
            raise NotAuthorised("role not allowed")
        return session

    def sign_out(self, session_id: str) -> None:
        """Ends the session (an unknown id is ignored)."""
        self._sessions.pop(session_id, None)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]
