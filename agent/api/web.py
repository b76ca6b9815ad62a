"""The aiohttp application: one middleware for errors, routes registered per area."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from agent.api.auth import SESSIONS_KEY, add_auth_routes
from agent.api.context import CONTEXT_KEY, ApiContext
from agent.api.errors import errors_middleware
from agent.api.kiosk_routes import add_kiosk_routes
from agent.api.openapi import add_openapi_routes
from agent.api.pickup_routes import add_pickup_routes
from agent.api.scan_routes import add_scan_routes
from agent.api.server import GUARD_KEY, ConnectionGuard
from agent.api.status_routes import add_status_routes
from agent.domain.attempts import origin_of_peer
from agent.services.attempts import REQUEST_ORIGIN

MAX_BODY_BYTES = 64 * 1024


def tcp_peer(request: web.Request) -> str | None:
    """The address at the other end of the request's TCP connection, as the socket reports it.

    Deliberately not `request.remote` nor any header (`Forwarded`, `X-Forwarded-For`): a client
    can set headers, and `remote` is whatever a middleware cloned into the request. The agent
    honours no reverse proxy: one on the same host would make every client look like the kiosk
    (docs/operations.md, 'Typed-code attempts')."""
    transport = request.transport
    peer = None if transport is None else transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return None


@web.middleware
async def origin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Marks the request as the kiosk's (loopback peer) or the network's, for the limiters."""
    token = REQUEST_ORIGIN.set(origin_of_peer(tcp_peer(request)))
    try:
        return await handler(request)
    finally:
        REQUEST_ORIGIN.reset(token)


def make_web_app(context: ApiContext, guard: ConnectionGuard | None = None) -> web.Application:
    """The application; with `guard`, handlers mark their connection busy (see `server.py`)."""
    middlewares: list[Middleware] = [origin_middleware, errors_middleware]
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
