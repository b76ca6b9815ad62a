"""The clock policy as pure functions of (now, floor, leeway); the caller persists the floor.

Boards without a real-time clock boot with a stale time. Every hub-signed time we verified (a
token's `iat`, a bundle's issue time) is a lower bound on the true time: the highest one seen is
the *time floor*. A clock below the floor (by more than the leeway) is not trusted, and no token is
accepted until it is corrected.
"""

from __future__ import annotations

import math

from agent.reasons import Reason
from agent.tokens.errors import TokenError

DEFAULT_LEEWAY_S = 60.0


def check_clock(now: float, floor: float, leeway_s: float = DEFAULT_LEEWAY_S) -> None:
    """CLOCK_UNTRUSTED if `now` is not a finite time or lies below `floor - leeway_s`."""
    if not math.isfinite(now) or now + leeway_s < floor:
        raise TokenError("clock below the time floor", reason=Reason.CLOCK_UNTRUSTED)


def raise_floor(floor: float, verified_time: float) -> float:
    """The new floor after a hub-signed `verified_time` was verified (never goes down)."""
    return max(floor, verified_time) if math.isfinite(verified_time) else floor


def check_validity(
    now: float, not_before: float, expires: float, issued_at: float, leeway_s: float
) -> None:
    """Check a token's time window under the leeway.

    Valid when `not_before - leeway <= now < expires + leeway` (RFC 8392: `exp` is the first
    instant at which the token is no longer accepted). An `iat` after `now + leeway` means our
    clock is behind a hub that signed later than "now": CLOCK_UNTRUSTED, not a token fault.
    """
    if issued_at > now + leeway_s:
        raise TokenError("token issued after the local time", reason=Reason.CLOCK_UNTRUSTED)
    if now < not_before - leeway_s:
        raise TokenError("before nbf", reason=Reason.NOT_YET_VALID)
    if now >= expires + leeway_s:
        raise TokenError("at or after exp", reason=Reason.EXPIRED)


def check_bundle_fresh(now: float, next_update: float, grace_s: float, *, strict: bool) -> None:
    """TRUSTLIST_STALE when the trust bundle is past its `next_update`.

    An ordinary pickup tolerates `grace_s` seconds of staleness; a `strict` one (high value or
    ID check) tolerates none.
    """
    allowed = next_update if strict else next_update + grace_s
    if now > allowed:
        raise TokenError("trust bundle is stale", reason=Reason.TRUSTLIST_STALE)
