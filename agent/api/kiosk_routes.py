"""The screens: static pages served from the package (no build step, works offline).

`/` is the customer kiosk; `/courier`, `/counter` and `/staff` are the staff screens. They share
`/kiosk/common.js`, the styles and the words in `/kiosk/i18n/<lang>.json`. The one read-only
endpoint here, `/api/v1/kiosk/layout`, tells the kiosk where each door is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from agent.api.context import context_of

_ASSET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.[a-z]{2,4}", re.ASCII)
_KIOSK = resources.files("agent.api") / "kiosk"
_LANGUAGE_FILE = re.compile(r"[a-z]{2,3}\.json", re.ASCII)
# The buttons' order for the languages shipped first; any other file follows, alphabetically.
_FIRST = ("en", "de", "pl", "fr")
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}
SCREENS = {
    "/": "index.html",
    "/courier": "courier.html",
    "/counter": "counter.html",
    "/staff": "staff.html",
}


def _screen(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        del request
        return _asset("", name)

    return handler


async def kiosk_asset(request: web.Request) -> web.Response:
    """One of the kiosk's static files (script, style sheet, image)."""
    return _asset("", request.match_info["name"])


async def kiosk_words(request: web.Request) -> web.Response:
    """One language's words for the kiosk screens (`i18n/<code>.json`)."""
    return _asset("i18n", request.match_info["name"])


def _asset(folder: str, name: str) -> web.Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    if _ASSET_NAME.fullmatch(name) is None or suffix not in _TYPES:
        raise web.HTTPNotFound(reason="no such kiosk file")
    asset = _KIOSK / folder / name if folder else _KIOSK / name
    if not asset.is_file():
        raise web.HTTPNotFound(reason="no such kiosk file")
    return web.Response(
        body=asset.read_bytes(),
        content_type=_TYPES[suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def door_columns(doors: object) -> list[dict[str, object]]:
    """The status' door list as the locker's columns: consecutive doors of one size stand in one
    column, numbered from the top (the wiring order of `[doors]` groups)."""
    columns: list[dict[str, object]] = []
    if not isinstance(doors, list):
        return columns
    for entry in doors:
        if not isinstance(entry, dict):
            continue
        door = {"door": entry.get("door"), "low": bool(entry.get("low"))}
        if not columns or columns[-1]["size"] != entry.get("size"):
            columns.append({"size": entry.get("size"), "doors": []})
        held = columns[-1]["doors"]
        assert isinstance(held, list)  # noqa: S101 - built just above
        held.append(door)
    return columns


async def kiosk_layout(request: web.Request) -> web.Response:
    """The doors' layout in columns, for the kiosk to draw the locker."""
    status = await context_of(request).status()
    return web.json_response({"columns": door_columns(status.get("doors"))})


def kiosk_languages() -> list[str]:
    """The languages the screens offer: one per `i18n/<code>.json` file, English first."""
    codes = {
        entry.name.removesuffix(".json")
        for entry in (_KIOSK / "i18n").iterdir()
        if _LANGUAGE_FILE.fullmatch(entry.name)
    }
    return sorted(codes, key=lambda code: (_FIRST.index(code) if code in _FIRST else 99, code))


async def serve_languages(request: web.Request) -> web.Response:
    """The languages the kiosk screens offer."""
    del request
    return web.json_response(
        {"languages": kiosk_languages()}, headers={"Cache-Control": "no-cache"}
    )


def add_kiosk_routes(app: web.Application) -> None:
    """Register the kiosk screens, their files and the layout endpoint."""
    for path, name in SCREENS.items():
        app.router.add_get(path, _screen(name))
    app.router.add_get("/kiosk/languages.json", serve_languages)  # before /kiosk/{name}
    app.router.add_get("/kiosk/i18n/{name}", kiosk_words)
    app.router.add_get("/kiosk/{name}", kiosk_asset)
    app.router.add_get("/api/v1/kiosk/layout", kiosk_layout)
