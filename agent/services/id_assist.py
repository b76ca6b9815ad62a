"""ID-document assist at the counter (issue 15 item 5): staff hold the customer's ID under the
counter camera; the agent reads it and says what it sees. It assists: staff still confirm with
the handout's `id_check` outcome.

A frame -> an AAMVA PDF417 (zxing-cpp) or an ICAO 9303 MRZ (template reader, templates rendered
once at start) -> check digits, expiry, age against the order's `min_age`, the name against the
order's recipient digest -> only those outcomes are returned and audited (`id_assist`). The
name, birth date and document number exist only in memory during the call.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.domain.clock import Clock
from agent.domain.orders import Order
from agent.errors import AgentError, RequestError, UnknownOrder
from agent.identity.aamva import decode_pdf417, parse_aamva
from agent.identity.id_documents import IdAssist, IdDocument, assess
from agent.identity.image_header import declared_size
from agent.identity.mrz import parse_mrz
from agent.identity.mrz_reader import GlyphTemplates, read_mrz
from agent.identity.names import NameCheck
from agent.identity.ocrb import load_templates
from agent.reasons import Reason
from agent.store import journal
from agent.store.db import Database
from agent.store.orders import get_order

_LOG = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_PIXELS = 4096 * 4096


def decode_frame(image: bytes) -> Any:
    """A grayscale frame from PNG or JPEG bytes (blocking); BAD_REQUEST when it is not one."""
    size = declared_size(image)
    if size is None:
        raise RequestError("not a PNG or JPEG frame")
    if size[0] * size[1] > MAX_PIXELS:  # refused before anything is decoded or allocated
        raise RequestError(f"frame too large: at most {MAX_PIXELS} pixels")
    gray = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None or gray.size > MAX_PIXELS:
        raise RequestError("not a PNG or JPEG frame")
    return gray


def read_document(gray: Any, templates: GlyphTemplates | None, today: date) -> IdDocument:
    """The document in `gray` (blocking): a PDF417 licence, else an MRZ when the reader has its
    templates. DECODE_FAILED when neither is found (staff retake the frame)."""
    payload = decode_pdf417(gray)
    if payload is not None:
        return parse_aamva(payload)
    if templates is not None:
        read = read_mrz(gray, templates)
        if read is not None:
            return parse_mrz(read.text, today=today)
    raise AgentError("no MRZ or PDF417 found in the frame", reason=Reason.DECODE_FAILED)


def assist_outcome(assist: IdAssist) -> dict[str, object]:
    """What staff see and the audit keeps: outcomes only (no name, date or number)."""
    outcome = asdict(assist)
    outcome["kind"] = assist.kind.value
    outcome["failed_checks"] = list(assist.failed_checks)
    return outcome


class IdAssistService:
    """Reads an ID document from a counter frame for one order, and audits only the outcome."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._templates: GlyphTemplates | None = None

    def use_templates(self, templates: GlyphTemplates | None) -> None:
        """The MRZ glyph templates rendered at start (None: PDF417 only)."""
        self._templates = templates

    async def assist(self, order_id: str, image: bytes, *, actor: str) -> IdAssist:
        """The assist for a PNG/JPEG frame sent by the counter screen."""
        await self._order(order_id)
        gray = await asyncio.to_thread(decode_frame, image)
        return await self.assist_frame(order_id, gray, actor=actor)

    async def _order(self, order_id: str) -> Order:
        order = await self._db.read(get_order, order_id)
        if order is None:
            raise UnknownOrder(order_id)
        return order

    async def assist_frame(self, order_id: str, gray: Any, *, actor: str) -> IdAssist:
        """The assist for a grayscale frame (the counter camera's current one, or a decoded
        upload)."""
        order = await self._order(order_id)
        now = self._clock.now()
        today = datetime.fromtimestamp(now, UTC).date()
        try:
            document = await asyncio.to_thread(read_document, gray, self._templates, today)
        except AgentError as err:
            if err.reason is Reason.DECODE_FAILED and self._templates is None:
                raise AgentError(
                    "no PDF417 found; MRZ reading is not set up",
                    reason=Reason.ID_CHECK_UNAVAILABLE,
                ) from None
            raise
        policy = order.policy
        recipient = None
        if policy.recipient_salt is not None and policy.recipient_digest is not None:
            recipient = NameCheck(policy.recipient_salt, policy.recipient_digest)
        result = assess(document, today=today, min_age=policy.min_age, recipient=recipient)
        detail = assist_outcome(result)
        await self._db.run(
            journal.append_audit,
            "id_assist",
            now=now,
            actor=actor,
            order_id=order_id,
            detail=detail,
        )
        _LOG.info("ID assist for order %s: %s", order_id, result.kind.value)
        return result


async def mrz_templates(font_dir: Path | None) -> GlyphTemplates | None:
    """The counter's MRZ glyph templates, rendered once off the loop; None when not configured
    or when the font or text2image is missing (ID assist then reads PDF417 only)."""
    if font_dir is None:
        return None
    try:
        return await asyncio.to_thread(load_templates, font_dir)
    except (OSError, subprocess.SubprocessError) as err:
        _LOG.warning("identity.mrz_font_dir: cannot render the MRZ templates: %s", err)
        return None
