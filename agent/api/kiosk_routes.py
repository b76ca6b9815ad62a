"""The kiosk: static pages served from the package (no build step, works offline)."""

from __future__ import annotations

import re
from importlib import resources

from aiohttp import web

_ASSET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.[a-z]{2,4}", re.ASCII)
_KIOSK = resources.files("agent.api") / "kiosk"
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}


async def kiosk_index(request: web.Request) -> web.Response:
    return await _asset(request, "index.html")


async def kiosk_asset(request: web.Request) -> web.Response:
    return await _asset(request, request.match_info["name"])


async def _asset(request: web.Request, name: str) -> web.Response:
    del request
    suffix = name[name.rfind(".") :] if "." in name else ""
    if _ASSET_NAME.fullmatch(name) is None or suffix not in _TYPES:
        raise web.HTTPNotFound(reason="no such kiosk file")
    asset = _KIOSK / name
    if not asset.is_file():
        raise web.HTTPNotFound(reason="no such kiosk file")
    return web.Response(
        body=asset.read_bytes(),
        content_type=_TYPES[suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def add_kiosk_routes(app: web.Application) -> None:
    app.router.add_get("/", kiosk_index)
    app.router.add_get("/kiosk/{name}", kiosk_asset)
