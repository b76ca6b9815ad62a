"""Collecting with a signed token: verify offline (pure, ~0.1 ms), then the same atomic spend
and door path as a typed code. The token's `cti` is spent in the transaction that authorises the
door, so a copy, a malleated signature or a second concurrent scan finds it spent."""

from __future__ import annotations

import logging
import sqlite3

from agent.domain.clock import Clock
from agent.domain.policy import Attempt, Credential, Setting, flags_from
from agent.errors import PickupRefused
from agent.reasons import Reason
from agent.services.pickup import PickupGrant, PickupResult, PickupService, authorise_collect
from agent.services.trust import TrustService, set_time_floor
from agent.store.db import Database
from agent.store.orders import get_order
from agent.tokens.claims import Purpose
from agent.tokens.live import SeenFrames
from agent.tokens.verify import VerifiedToken, verify_token

_LOG = logging.getLogger(__name__)


def token_attempt(token: VerifiedToken, setting: Setting = Setting.UNATTENDED) -> Attempt:
    """The policy table's view of a verified token: a live code when the holder proved
    possession, a static token otherwise (a delegate token is either); its flags bind as much
    as the order's (both come from the hub)."""
    flags = token.flags
    extra = flags_from(
        live_required=flags.live_required, high_value=flags.high_value, id_check=flags.id_check
    )
    credential = Credential.LIVE_CODE if token.holder_proven else Credential.STATIC_TOKEN
    return Attempt(credential, setting, extra_flags=extra)


def _authorise_by_token(
    conn: sqlite3.Connection, token: VerifiedToken, now: float
) -> tuple[PickupGrant, float]:
    order = get_order(conn, token.order_ref)
    if order is None:
        raise PickupRefused(reason=Reason.ORDER_UNKNOWN)
    attempt = token_attempt(token)
    grant = authorise_collect(conn, order, via="token", now=now, attempt=attempt, cti=token.cti)
    return grant, set_time_floor(conn, token.issued_at)


class TokenPickupService:
    """Pickups with signed tokens: verified offline, then spent with the door's authorisation."""

    def __init__(
        self,
        db: Database,
        pickup: PickupService,
        trust: TrustService,
        clock: Clock,
    ) -> None:
        self._db = db
        self._pickup = pickup
        self._trust = trust
        self._clock = clock
        self._seen_frames = SeenFrames()

    def verify(self, payload: str, purpose: Purpose = Purpose.PICKUP) -> VerifiedToken:
        """Offline verification for `purpose` (raises `TokenError` with the reason)."""
        return verify_token(
            payload,
            self._trust.context(),
            now=self._clock.now(),
            purpose=purpose,
            live_frame_seen=self._seen_frames,
        )

    async def collect(self, token: VerifiedToken) -> PickupResult:
        """Spend a verified pickup token and open its order's door."""
        grant, floor = await self._db.run(_authorise_by_token, token, self._clock.now())
        self._trust.note_floor(floor)
        return await self._pickup.open_granted(grant)
