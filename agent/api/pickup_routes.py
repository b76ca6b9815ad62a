"""Pickup endpoints: typed code and scanned token. Same response shape for both."""

from __future__ import annotations

from aiohttp import web

from agent.api.context import context_of
from agent.api.errors import read_json_object, string_field
from agent.errors import AgentError, RequestError
from agent.observability.metrics import Metrics
from agent.services.pickup import PickupResult


def _opened(result: PickupResult) -> web.Response:
    body: dict[str, object] = {
        "result": "open",
        "door": result.door,
        "order": result.order_id,
        "message": f"Door {result.door} is open",
    }
    if result.reopened:
        body["reopened"] = True
        body["message"] = f"Door {result.door} is open again"
    if result.receipt:
        body["receipt"] = result.receipt
        body["message"] = f"Door {result.door} is open. Your receipt: {result.receipt}"
    return web.json_response(body)


async def pickup_by_code(request: web.Request) -> web.Response:
    """`{"code"}`: a customer types their pickup code; their door opens."""
    body = await read_json_object(request)
    code = string_field(body, "code", max_len=64)
    context = context_of(request)
    try:
        result = await context.pickup.collect_with_code(code)
    except AgentError as err:
        _count(context.metrics, err.reason.value)
        raise
    _count(context.metrics, "open")
    return _opened(result)


def _count(metrics: Metrics | None, result: str) -> None:
    if metrics is not None:
        metrics.count(
            "locker_typed_code_pickups_total",
            "Typed-code pickups by result (reason code when refused).",
            result=result,
        )


async def pickup_by_scan(request: web.Request) -> web.Response:
    """`{"payload"}`: a scanned pickup token; its door opens."""
    body = await read_json_object(request)
    payload = string_field(body, "payload", max_len=4096)
    scan = context_of(request).scan
    if scan is None:
        raise RequestError("this locker does not accept scanned tokens")
    return _opened(await scan(payload))


def add_pickup_routes(app: web.Application) -> None:
    """Register the pickup endpoints."""
    app.router.add_post("/api/v1/pickup/code", pickup_by_code)
    app.router.add_post("/api/v1/pickup/scan", pickup_by_scan)
