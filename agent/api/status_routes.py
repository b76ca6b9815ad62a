"""Health and status endpoints for monitoring and support."""

from __future__ import annotations

from aiohttp import web

from agent.api.context import context_of
from agent.observability.metrics import CONTENT_TYPE


async def health(request: web.Request) -> web.Response:
    ctx = context_of(request)
    return web.json_response({"status": "ok", "locker": ctx.locker_id, "version": ctx.version})


async def status(request: web.Request) -> web.Response:
    return web.json_response(dict(await context_of(request).status()))


async def metrics(request: web.Request) -> web.Response:
    registry = context_of(request).metrics
    body = await registry.render() if registry is not None else b""
    return web.Response(
        body=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Content-Type-Options": "nosniff"},
    )


def add_status_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/metrics", metrics)
