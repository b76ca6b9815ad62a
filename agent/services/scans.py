"""Everything a customer shows the camera or the scan endpoint goes through here.

A decoded code takes exactly the path of `POST /api/v1/pickup/scan`. Results go to a small
in-memory feed the kiosk polls, so a person at the camera sees "Door 7 is open" or the reason in
their language. The feed never holds a token: only the outcome, door and reason code.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass

from agent.domain.clock import Clock
from agent.domain.doors import DoorSize
from agent.errors import AgentError
from agent.identity.errors import MdocError
from agent.identity.transcript import QR_ENGAGEMENT_PREFIX, engagement_from_qr
from agent.observability.metrics import Metrics
from agent.reasons import Reason, user_message
from agent.services.pickup import PickupResult
from agent.services.returns import ReturnService
from agent.services.token_pickup import TokenPickupService
from agent.tokens.claims import Purpose
from agent.tokens.errors import TokenError
from hardware.decoding.port import DecodedCode

_LOG = logging.getLogger(__name__)
FEED_LENGTH = 50


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """One scan's outcome as the kiosk shows it."""

    id: int
    at: float
    source: str  # "camera" or "api"
    result: str  # "open" or "refused"
    door: int | None
    error: str | None
    message: str
    ref: str | None = None  # the refusal's support reference (never a token)
    receipt: str | None = None  # a return drop-off's receipt: the kiosk shows and speaks it
    # one-time, random: lets the kiosk report "my door didn't open" for this camera pickup
    help_ticket: str | None = None
    # a wallet's QR device engagement the camera read (public: the phone's ephemeral key)
    engagement: str | None = None
    # one-time, random: an age-restricted token the camera read; the kiosk's wallet screen
    # sends it back with the wallet's engagement (the feed never holds the token itself)
    wallet_ticket: str | None = None

    def as_json(self) -> dict[str, object]:
        # `reason` as in an error body, so the screens read one field for both
        """The outcome for the kiosk, with the error under `reason` as in error bodies."""
        return {**asdict(self), "reason": self.error}


class ScanFeed:
    """The last outcomes, for the kiosk to poll with `after=<last id seen>`."""

    def __init__(self, length: int = FEED_LENGTH) -> None:
        self._items: deque[ScanOutcome] = deque(maxlen=length)
        self._next_id = 1
        self._length = length
        self._help: OrderedDict[str, str] = OrderedDict()  # help ticket -> order id
        self._wallet: OrderedDict[str, str] = OrderedDict()  # wallet ticket -> token (memory)

    def add(
        self,
        *,
        at: float,
        source: str,
        door: int | None,
        reason: Reason | None,
        ref: str = "",
        receipt: str | None = None,
        help_order: str | None = None,
        wallet_token: str | None = None,
    ) -> ScanOutcome:
        """Adds an outcome; with `help_order` (a camera pickup: no typed code to report with) it
        carries a random ticket that `order_for_help` turns back into that order; with
        `wallet_token` (an age-restricted order's token) a ticket for `token_for_wallet`."""
        message = f"Door {door} is open" if reason is None else user_message(reason, ref)
        outcome = ScanOutcome(
            id=self._next_id,
            at=at,
            source=source,
            result="open" if reason is None else "refused",
            door=door,
            error=None if reason is None else reason.value,
            message=message,
            ref=ref or None,
            receipt=receipt,
            help_ticket=None if help_order is None else self._ticket(self._help, help_order),
            wallet_ticket=None
            if wallet_token is None
            else self._ticket(self._wallet, wallet_token),
        )
        return self._append(outcome)

    def add_wallet(self, *, at: float, engagement: str) -> ScanOutcome:
        """The camera read a wallet's QR device engagement: the kiosk's wallet screen uses it."""
        outcome = ScanOutcome(
            id=self._next_id,
            at=at,
            source="camera",
            result="wallet",
            door=None,
            error=None,
            message="A wallet was shown",
            engagement=engagement,
        )
        return self._append(outcome)

    def _append(self, outcome: ScanOutcome) -> ScanOutcome:
        self._next_id += 1
        self._items.append(outcome)
        return outcome

    def _ticket(self, tickets: OrderedDict[str, str], value: str) -> str:
        ticket = secrets.token_urlsafe(16)
        tickets[ticket] = value
        while len(tickets) > self._length:
            tickets.popitem(last=False)
        return ticket

    def after(self, last_id: int) -> list[ScanOutcome]:
        """The outcomes after `last_id`, oldest first."""
        return [item for item in self._items if item.id > last_id]

    def order_for_help(self, ticket: str) -> str | None:
        """The order a help ticket was issued for (None: unknown or forgotten). The door help
        service still applies its own rules (grace period, what the sensor saw)."""
        return self._help.get(ticket)

    def token_for_wallet(self, ticket: str) -> str | None:
        """The age-restricted token a wallet ticket was issued for (None: unknown or forgotten).
        It stays usable until forgotten: the token itself is still verified and spent once."""
        return self._wallet.get(ticket)


class ScanService:
    """Routes a scanned payload by its purpose (pickup, or a return drop-off) and reports the
    outcome to the kiosk feed and the metrics."""

    def __init__(
        self,
        tokens: TokenPickupService,
        feed: ScanFeed,
        clock: Clock,
        *,
        returns: ReturnService | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._tokens = tokens
        self._feed = feed
        self._clock = clock
        self._returns = returns
        self._metrics = metrics or Metrics()

    async def scan(self, payload: str, *, source: str = "api") -> PickupResult:
        """Act on a scanned token; the outcome also goes to the kiosk feed and the metrics."""
        try:
            result = await self._act(payload)
        except AgentError as err:
            # a camera-read token for an age-restricted order: the kiosk's wallet screen takes
            # it on with a ticket (a typed code the kiosk already holds itself)
            age = source == "camera" and err.reason is Reason.AGE_CHECK_REQUIRED
            self._record(source, None, err.reason, err.ref, wallet_token=payload if age else None)
            raise
        help_order = result.order_id if source == "camera" and not result.receipt else None
        self._record(source, result.door, None, receipt=result.receipt, help_order=help_order)
        return result

    async def on_camera_code(self, code: DecodedCode) -> None:
        """The scanner's callback: never raises (a refusal is a normal outcome). A wallet's QR
        device engagement is passed on to the kiosk, not taken for a token."""
        if code.text.startswith(QR_ENGAGEMENT_PREFIX):
            self._wallet_shown(code.text)
            return
        try:
            await self.scan(code.text, source="camera")
        except AgentError as err:
            _LOG.info("camera scan refused: %s", err.reason.value)

    def _wallet_shown(self, text: str) -> None:
        try:
            engagement_from_qr(text)  # the form only; the session checks the rest
        except MdocError as err:
            _LOG.info("camera read a malformed wallet QR: %s", err.code.value)
            self._record("camera", None, Reason.ID_CHECK_FAILED)
            return
        self._feed.add_wallet(at=self._clock.now(), engagement=text)

    async def _act(self, payload: str) -> PickupResult:
        started = time.perf_counter()
        try:
            token = self._tokens.verify(payload, Purpose.PICKUP)
        except TokenError as err:
            if err.reason is not Reason.WRONG_PURPOSE or self._returns is None:
                raise
            token = self._tokens.verify(payload, Purpose.RETURN)
            self._observe_verify(started)
            return await self._drop_off(token.order_ref)
        self._observe_verify(started)
        return await self._tokens.collect(token)

    async def _drop_off(self, order_ref: str) -> PickupResult:
        assert self._returns is not None  # noqa: S101 - checked by the caller
        size = await self._returns.expected_size(order_ref) or DoorSize.M
        grant = await self._returns.start_return_dropoff(
            order_ref, size, now=self._clock.now(), via="token"
        )
        return PickupResult(order_ref, grant.door or 0, receipt=grant.receipt)

    def _observe_verify(self, started: float) -> None:
        self._metrics.observe_ms(
            "locker_token_verify_seconds",
            "Offline token verification time.",
            (time.perf_counter() - started) * 1000,
        )

    def _record(
        self,
        source: str,
        door: int | None,
        reason: Reason | None,
        ref: str = "",
        *,
        receipt: str | None = None,
        help_order: str | None = None,
        wallet_token: str | None = None,
    ) -> None:
        self._feed.add(
            at=self._clock.now(),
            source=source,
            door=door,
            reason=reason,
            ref=ref,
            receipt=receipt,
            help_order=help_order,
            wallet_token=wallet_token,
        )
        self._metrics.count(
            "locker_scans_total",
            "Scanned codes by source and result (reason code when refused).",
            source=source,
            result="open" if reason is None else reason.value,
        )
