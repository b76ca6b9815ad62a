"""Staff endpoints for evidence photos: take one of a door, list an order's, fetch one JPEG."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from aiohttp import web

from agent.api.auth import require_session
from agent.api.bodies import digits, query_value
from agent.errors import AgentError, NotFound, RequestError
from agent.evidence.catalog import photo_file, photo_rows
from agent.evidence.recorder import EVIDENCE_FOLDER, EvidenceRecorder
from agent.reasons import Reason
from agent.services.sessions import Role
from agent.store.db import Database
from agent.store.doors import list_doors

_PHOTO_ID = re.compile(r"^[0-9a-f]{20}$")
_THUMB_WIDTH = 320
_ORDER_REF = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class _Evidence:
    recorder: EvidenceRecorder
    db: Database
    folder: Path


EVIDENCE_KEY: web.AppKey[_Evidence] = web.AppKey("evidence", _Evidence)


async def staff_photo(request: web.Request) -> web.Response:
    """Staff take a photo of door `{door}` now."""
    session = require_session(request, (Role.STAFF,))
    evidence = request.app[EVIDENCE_KEY]
    door = digits(request.match_info["door"], "door", max_digits=6)
    known = {d.number for d in await evidence.db.read(list_doors)}
    if door not in known:
        raise RequestError(f"no door {door}")
    photo = await evidence.recorder.photograph(
        "staff", door=door, order_ref=None, actor=session.actor
    )
    if photo is None:
        raise AgentError(f"door {door}", reason=Reason.EVIDENCE_UNAVAILABLE)
    return web.json_response({"photo": photo, "door": door})


async def list_photos(request: web.Request) -> web.Response:
    """`?order=REF`: the evidence photos taken for an order (staff only)."""
    require_session(request, (Role.STAFF,))
    order = query_value(request, "order")
    if order is None or not _ORDER_REF.match(order):
        raise RequestError("give ?order=REF (letters, digits, . _ : -)")
    rows = await request.app[EVIDENCE_KEY].db.read(photo_rows, order)
    for row in rows:
        del row["file"]
    return web.json_response({"order": order, "photos": rows})


async def _photo_bytes(request: web.Request) -> bytes:
    require_session(request, (Role.STAFF,))
    evidence = request.app[EVIDENCE_KEY]
    photo_id = request.match_info["photo"]
    if not _PHOTO_ID.match(photo_id):
        raise RequestError("not a photo id")
    name = await evidence.db.read(photo_file, photo_id)
    if name is None:
        raise NotFound(photo_id)
    try:
        return await asyncio.to_thread((evidence.folder / name).read_bytes)
    except OSError:
        raise NotFound(photo_id) from None


async def photo_jpeg(request: web.Request) -> web.Response:
    """One evidence photo as JPEG (staff only)."""
    return web.Response(body=await _photo_bytes(request), content_type="image/jpeg")


def _thumbnail(data: bytes) -> bytes:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise NotFound("unreadable photo")
    height = max(1, round(image.shape[0] * _THUMB_WIDTH / image.shape[1]))
    small = cv2.resize(image, (_THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 70])
    if not ok:
        raise NotFound("unreadable photo")
    return bytes(encoded.tobytes())


async def photo_thumb(request: web.Request) -> web.Response:
    """A small JPEG preview of one evidence photo (staff only)."""
    data = await asyncio.to_thread(_thumbnail, await _photo_bytes(request))
    return web.Response(body=data, content_type="image/jpeg")


def evidence_routes(
    recorder: EvidenceRecorder, db: Database, data_dir: Path
) -> Callable[[web.Application], None]:
    """An `ApiContext.extra_routes` entry registering the evidence endpoints."""

    def add(app: web.Application) -> None:
        app[EVIDENCE_KEY] = _Evidence(recorder, db, data_dir / EVIDENCE_FOLDER)
        door = "{door:[0-9]{1,6}}"
        app.router.add_post(f"/api/v1/staff/doors/{door}/photo", staff_photo)
        app.router.add_get("/api/v1/staff/evidence", list_photos)
        app.router.add_get("/api/v1/staff/evidence/{photo}", photo_jpeg)
        app.router.add_get("/api/v1/staff/evidence/{photo}/thumb", photo_thumb)

    return add
