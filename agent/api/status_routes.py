"""Health and status endpoints for monitoring and support."""

from __future__ import annotations

from aiohttp import web

from agent.api.context import context_of
from agent.observability.metrics import CONTENT_TYPE


async def health(request: web.Request) -> web.Response:
    """Liveness: the agent answers, with its locker ID and version."""
    ctx = context_of(request)
    return web.json_response({"status": "ok", "locker": ctx.locker_id, "version": ctx.version})


async def status(request: web.Request) -> web.Response:
    """The locker's status: doors, hub link, hardware."""
    return web.json_response(dict(await context_of(request).status()))


async def metrics(request: web.Request) -> web.Response:
    """The metrics in Prometheus text format."""
    registry = context_of(request).metrics
    body = await registry.render() if registry is not None else b""
    return web.Response(
        body=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Content-Type-Options": "nosniff"},
    )


def add_status_routes(app: web.Application) -> None:
    """Register the health, status and metrics endpoints."""
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/metrics", metrics)
