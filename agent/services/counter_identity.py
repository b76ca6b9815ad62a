"""The counter screen's two ID buttons (issue 15 item 5): "check ID document" and "check wallet",
both from the counter camera's CURRENT frame, for the order a parcel label names.

- Document: the frame -> an AAMVA PDF417 or an ICAO 9303 MRZ (`IdAssistService`) -> outcomes.
- Wallet: the frame -> the wallet's QR device engagement (`mdoc:`) -> `WalletLink.connect` ->
  `prove_age` (only `age_over_NN`, and the names when the order names its recipient) verified
  offline -> the outcome, recorded as `identity.checked` (outcome only) by the staff member.

Both assist: nothing is handed out here; staff still confirm with the handout's `id_check`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from agent.domain.clock import Clock
from agent.domain.labels import parse_label
from agent.errors import AgentError, RequestError, UnknownOrder
from agent.identity import MdocError, MdocPolicy
from agent.identity.errors import WalletUnreachable
from agent.identity.id_documents import IdAssist
from agent.identity.proximity import WalletLink, prove_age
from agent.identity.record import IdentityRecord, mdoc_record
from agent.identity.transcript import QR_ENGAGEMENT_PREFIX, engagement_from_qr
from agent.reasons import Reason
from agent.services.id_assist import IdAssistService
from agent.services.identity_check import WalletSettings, age_requirement
from agent.store import journal, orders
from agent.store.db import Database
from hardware.decoding.cascade import CascadeDecoder

_LOG = logging.getLogger(__name__)

FRAME_WAIT_S = 2.0
# The counter camera's current grayscale frame, captured after the call (None: no camera,
# or none within the wait).
FrameSource = Callable[[float], Awaitable[Any | None]]


async def no_frame(wait_s: float) -> None:
    """The frame source of an agent without a camera."""
    del wait_s


def wallet_qr_in(gray: Any) -> str | None:
    """The first `mdoc:` QR code in the frame (blocking: zxing-cpp and its retry cascade, as
    the scanner reads tokens)."""
    for code in CascadeDecoder(thorough=True, budget_ms=400.0).decode(gray):
        if code.text.startswith(QR_ENGAGEMENT_PREFIX):
            return code.text
    return None


def _record(
    conn: sqlite3.Connection, order_id: str, record: IdentityRecord, actor: str, now: float
) -> None:
    body = {"order": order_id, **record.as_dict()}
    journal.record(conn, "identity.checked", body, now=now, actor=actor, order_id=order_id)


class CounterIdentityService:
    """Reads the counter camera's current frame for a document or a wallet, for one order."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        assist: IdAssistService,
        settings: WalletSettings,
        *,
        frames: FrameSource,
        link: WalletLink | None,
        time_floor: Callable[[], float],
    ) -> None:
        self._db = db
        self._clock = clock
        self._assist = assist
        self._settings = settings
        self._frames = frames
        self._link = link
        self._time_floor = time_floor

    async def check_document(self, label: str, *, actor: str) -> tuple[str, IdAssist]:
        """Read an ID document in the counter camera's current frame for the order `label` names.

        Returns the order id and the assist outcome (recorded by `IdAssistService`)."""
        order_id = parse_label(label).order_id
        gray = await self._frame()
        return order_id, await self._assist.assist_frame(order_id, gray, actor=actor)

    async def check_wallet(self, label: str, *, actor: str) -> tuple[str, IdentityRecord]:
        """The wallet's outcome; a refused wallet is an outcome too (`passed: false`)."""
        order_id = parse_label(label).order_id
        order = await self._db.read(orders.get_order, order_id)
        if order is None:
            raise UnknownOrder(order_id)
        need = age_requirement(order, self._settings.doctype)
        if need is None:
            raise RequestError("this order needs no age check")
        if self._link is None or self._settings.trust is None:
            raise WalletUnreachable("this counter has no wallet reader or IACA roots")
        gray = await self._frame()
        text = await asyncio.to_thread(wallet_qr_in, gray)
        if text is None:
            raise AgentError("no wallet QR code in the frame", reason=Reason.DECODE_FAILED)
        transport = await self._link.connect(engagement_from_qr(text))
        checked = need.recipient is not None
        policy = MdocPolicy(self._settings.trust, frozenset({need.doctype}), self._time_floor())
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                outcome = await prove_age(transport, need, policy, now=self._clock.now())
            record = mdoc_record(
                outcome, reason=None, min_age=need.min_age, recipient_checked=checked
            )
        except MdocError as err:
            record = mdoc_record(
                None, reason=err.code.value, min_age=need.min_age, recipient_checked=checked
            )
        except (TimeoutError, OSError) as err:
            _LOG.warning(
                "counter wallet link failed for order %s: %s", order_id, type(err).__name__
            )
            raise WalletUnreachable("the wallet did not answer") from None
        await self._db.run(_record, order_id, record, actor, self._clock.now())
        _LOG.info("counter wallet check for order %s: %s", order_id, record.reason or "passed")
        return order_id, record

    async def _frame(self) -> Any:
        gray = await self._frames(FRAME_WAIT_S)
        if gray is None:
            raise AgentError(
                "the counter camera gives no frame", reason=Reason.ID_CHECK_UNAVAILABLE
            )
        return gray
