"""Identity endpoints: a wallet at the locker (`POST /api/v1/pickup/wallet`), ID-document
assist for staff at the counter (`POST /api/v1/counter/id-assist/{order}`)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from agent.api.auth import require_session
from agent.api.bodies import read_body
from agent.api.errors import read_json_object, string_field
from agent.errors import RequestError
from agent.services.counter_identity import CounterIdentityService
from agent.services.id_assist import MAX_IMAGE_BYTES, IdAssistService, assist_outcome
from agent.services.identity_check import WalletPickupService
from agent.services.pickup import PickupResult
from agent.services.scans import ScanFeed
from agent.services.sessions import Role

_CONFIRM = "Compare the photo with the customer, then record the ID check."


def _optional(body: dict[str, object], name: str, max_len: int) -> str | None:
    return None if body.get(name) is None else string_field(body, name, max_len=max_len)


def opened(result: PickupResult) -> web.Response:
    """The "door is open" response for a successful pickup."""
    return web.json_response(
        {
            "result": "open",
            "door": result.door,
            "order": result.order_id,
            "message": f"Door {result.door} is open",
        }
    )


def wallet_routes(wallet: WalletPickupService, feed: ScanFeed) -> Callable[[web.Application], None]:
    """`POST /api/v1/pickup/wallet {"code" | "payload" | "ticket", "engagement"}`: the
    customer's typed code or token (or the kiosk feed's wallet ticket for a token the camera
    read) names the order, `engagement` is the wallet's QR (`mdoc:` + base64url).
    `GET /api/v1/kiosk/wallet` tells the kiosk whether it can offer its wallet screen."""

    async def pickup_by_wallet(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        payload = _optional(body, "payload", 4096)
        ticket = _optional(body, "ticket", 64)
        if ticket is not None:
            payload = feed.token_for_wallet(ticket)
            if payload is None:
                raise RequestError("the wallet ticket is unknown or forgotten: scan again")
        result = await wallet.collect(
            code=_optional(body, "code", 64),
            payload=payload,
            engagement=string_field(body, "engagement", max_len=4096),
        )
        return opened(result)

    async def available(request: web.Request) -> web.Response:
        del request
        return web.json_response({"available": wallet.available})

    def add(app: web.Application) -> None:
        app.router.add_post("/api/v1/pickup/wallet", pickup_by_wallet)
        app.router.add_get("/api/v1/kiosk/wallet", available)

    return add


async def _image(request: web.Request) -> bytes:
    length = request.content_length
    if request.content_type not in {"image/png", "image/jpeg"}:
        raise RequestError("send the frame as image/png or image/jpeg")
    if length is None or not 0 < length <= MAX_IMAGE_BYTES:
        raise RequestError(f"the frame needs a Content-Length of 1..{MAX_IMAGE_BYTES} bytes")
    return await read_body(request, max_bytes=MAX_IMAGE_BYTES, exact=True)


def id_assist_routes(assist: IdAssistService) -> Callable[[web.Application], None]:
    """`POST /api/v1/counter/id-assist/{order}` with a counter camera frame (PNG or JPEG) as
    the body; staff session. Answers only outcomes: staff still confirm with the handout's
    `id_check`."""

    async def id_assist(request: web.Request) -> web.Response:
        session = require_session(request, (Role.STAFF,))
        order = request.match_info["order"]
        if len(order) > 64:
            raise RequestError("`order` is too long")
        result = await assist.assist(order, await _image(request), actor=session.actor)
        return web.json_response(
            {
                "order": order,
                "assist": assist_outcome(result),
                "message": _CONFIRM,
            }
        )

    def add(app: web.Application) -> None:
        app.router.add_post("/api/v1/counter/id-assist/{order}", id_assist)

    return add


def counter_id_check_routes(checks: CounterIdentityService) -> Callable[[web.Application], None]:
    """The counter screen's buttons, from the counter camera's current frame (staff session):
    `POST /api/v1/counter/id-check/document {"label"}` (MRZ or PDF417) and
    `POST /api/v1/counter/id-check/wallet {"label"}` (the wallet's QR, then the wallet itself).
    Outcomes only; staff still confirm with the handout's `id_check`."""

    async def document(request: web.Request) -> web.Response:
        session = require_session(request, (Role.STAFF,))
        body = await read_json_object(request)
        label = string_field(body, "label", max_len=140)
        order, result = await checks.check_document(label, actor=session.actor)
        return web.json_response(
            {"order": order, "assist": assist_outcome(result), "message": _CONFIRM}
        )

    async def wallet(request: web.Request) -> web.Response:
        session = require_session(request, (Role.STAFF,))
        body = await read_json_object(request)
        label = string_field(body, "label", max_len=140)
        order, record = await checks.check_wallet(label, actor=session.actor)
        return web.json_response({"order": order, "wallet": record.as_dict(), "message": _CONFIRM})

    def add(app: web.Application) -> None:
        app.router.add_post("/api/v1/counter/id-check/document", document)
        app.router.add_post("/api/v1/counter/id-check/wallet", wallet)

    return add
