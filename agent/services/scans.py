"""Everything a customer shows the camera or the scan endpoint goes through here.

A decoded code takes exactly the path of `POST /api/v1/pickup/scan`. Results go to a small
in-memory feed the kiosk polls, so a person at the camera sees "Door 7 is open" or the reason in
their language. The feed never holds a token: only the outcome, door and reason code.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass

from agent.clock import Clock
from agent.errors import AgentError
from agent.reasons import Reason, user_message
from agent.services.pickup import PickupResult
from agent.services.token_pickup import TokenPickupService
from hardware.decoder import DecodedCode

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

    def as_json(self) -> dict[str, object]:
        return asdict(self)


class ScanFeed:
    """The last outcomes, for the kiosk to poll with `after=<last id seen>`."""

    def __init__(self, length: int = FEED_LENGTH) -> None:
        self._items: deque[ScanOutcome] = deque(maxlen=length)
        self._next_id = 1

    def add(
        self, *, at: float, source: str, door: int | None, reason: Reason | None, ref: str = ""
    ) -> ScanOutcome:
        message = f"Door {door} is open" if reason is None else user_message(reason, ref)
        outcome = ScanOutcome(
            id=self._next_id,
            at=at,
            source=source,
            result="open" if reason is None else "refused",
            door=door,
            error=None if reason is None else reason.value,
            message=message,
        )
        self._next_id += 1
        self._items.append(outcome)
        return outcome

    def after(self, last_id: int) -> list[ScanOutcome]:
        return [item for item in self._items if item.id > last_id]


class ScanService:
    """Routes a scanned payload to the pickup path and reports the outcome to the feed."""

    def __init__(self, tokens: TokenPickupService, feed: ScanFeed, clock: Clock) -> None:
        self._tokens = tokens
        self._feed = feed
        self._clock = clock

    async def scan(self, payload: str, *, source: str = "api") -> PickupResult:
        """Collect with a scanned token; the outcome also goes to the kiosk feed."""
        try:
            result = await self._tokens.collect_with_token(payload)
        except AgentError as err:
            self._feed.add(
                at=self._clock.now(), source=source, door=None, reason=err.reason, ref=err.ref
            )
            raise
        self._feed.add(at=self._clock.now(), source=source, door=result.door, reason=None)
        return result

    async def on_camera_code(self, code: DecodedCode) -> None:
        """The scanner's callback: never raises (a refusal is a normal outcome)."""
        try:
            await self.scan(code.text, source="camera")
        except AgentError as err:
            _LOG.info("camera scan refused: %s", err.reason.value)
