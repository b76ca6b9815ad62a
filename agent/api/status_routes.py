"""Health and status endpoints for monitoring and support."""

from __future__ import annotations

from aiohttp import web

from agent.api.context import context_of


async def health(request: web.Request) -> web.Response:
    ctx = context_of(request)
    return web.json_response({"status": "ok", "locker": ctx.locker_id, "version": ctx.version})


async def status(request: web.Request) -> web.Response:
    return web.json_response(dict(await context_of(request).status()))


async def metrics(request: web.Request) -> web.Response:
    registry = context_of(request).metrics
    text = registry.render() if registry is not None else ""
    return web.Response(
        text=text,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def add_status_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/health", health)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/metrics", metrics)
