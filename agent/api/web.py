"""The aiohttp application: one middleware for errors, routes registered per area."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from agent.api.auth import SESSIONS_KEY, add_auth_routes
from agent.api.context import CONTEXT_KEY, ApiContext
from agent.api.errors import errors_middleware
from agent.api.kiosk_routes import add_kiosk_routes
from agent.api.openapi import add_openapi_routes
from agent.api.pickup_routes import add_pickup_routes
from agent.api.scan_routes import add_scan_routes
from agent.api.server import GUARD_KEY, ConnectionGuard
from agent.api.status_routes import add_status_routes

MAX_BODY_BYTES = 64 * 1024


def make_web_app(context: ApiContext, guard: ConnectionGuard | None = None) -> web.Application:
    """The application; with `guard`, handlers mark their connection busy (see `server.py`)."""
    middlewares: list[Middleware] = [errors_middleware]
    if guard is not None:
        middlewares.insert(0, guard.middleware())
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[CONTEXT_KEY] = context
    app[SESSIONS_KEY] = context.sessions
    if guard is not None:
        app[GUARD_KEY] = guard
    add_auth_routes(app)
    add_pickup_routes(app)
    add_status_routes(app)
    add_kiosk_routes(app)
    add_scan_routes(app)
    add_openapi_routes(app)
    for add_routes in context.extra_routes:
        add_routes(app)
    return app
