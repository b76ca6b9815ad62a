"""Customer return drop-off by typed return code (signed return tokens come through the scan
path, which calls `ReturnService.start_return_dropoff`), and reusable packaging returns."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from agent.api.errors import read_json_object, string_field
from agent.errors import RequestError
from agent.services.returns import ReturnGrant, ReturnService

RETURNS_KEY: web.AppKey[ReturnService] = web.AppKey("returns", ReturnService)


def return_opened(grant: ReturnGrant) -> web.Response:
    """The kiosk's answer to an accepted return (token or typed code)."""
    return web.json_response(
        {
            "result": "open",
            "door": grant.door,
            "return": grant.order_ref,
            "receipt": grant.receipt,
            "message": f"Door {grant.door} is open. Put your return in and close the door. "
            f"Your receipt: {grant.receipt}",
        }
    )


async def start_return(request: web.Request) -> web.Response:
    """`{"code"}`: a customer starts a return with their return code; a door opens for it."""
    body = await read_json_object(request)
    code = string_field(body, "code", max_len=64)
    return return_opened(await request.app[RETURNS_KEY].start_with_code(code))


async def start_packaging_return(request: web.Request) -> web.Response:
    """Reusable packaging needs no order: `items` (1..50, default 1) and an optional opaque
    `credit_ref` (the customer's credit reference from their app) for the hub's credit."""
    body = await read_json_object(request)
    items = body.get("items", 1)
    if not isinstance(items, int) or isinstance(items, bool):
        raise RequestError("`items` must be a whole number")
    credit_ref = (
        None if body.get("credit_ref") is None else string_field(body, "credit_ref", max_len=64)
    )
    grant = await request.app[RETURNS_KEY].start_packaging(items, credit_ref)
    return return_opened(grant)


def returns_routes(returns: ReturnService) -> Callable[[web.Application], None]:
    """An `ApiContext.extra_routes` entry registering the returns endpoints."""

    def add(app: web.Application) -> None:
        app[RETURNS_KEY] = returns
        app.router.add_post("/api/v1/returns/start", start_return)
        app.router.add_post("/api/v1/returns/packaging", start_packaging_return)

    return add
