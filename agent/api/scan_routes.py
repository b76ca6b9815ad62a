"""The kiosk's feed of scan outcomes (camera scans happen without an HTTP request)."""

from __future__ import annotations

from aiohttp import web

from agent.api.bodies import digits, query_value
from agent.api.context import context_of


async def kiosk_events(request: web.Request) -> web.Response:
    """`?after=N`: the scan outcomes after number N, for the kiosk to show."""
    raw = query_value(request, "after")
    after = digits("0" if raw is None else raw, "after")
    feed = context_of(request).feed
    events = [] if feed is None else [o.as_json() for o in feed.after(after)]
    return web.json_response({"events": events})


def add_scan_routes(app: web.Application) -> None:
    """Register the kiosk's scan events endpoint."""
    app.router.add_get("/api/v1/kiosk/events", kiosk_events)
