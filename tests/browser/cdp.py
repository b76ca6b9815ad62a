"""A small Chrome DevTools Protocol client: a real headless Chromium driven over its websocket.

No selenium or playwright: Chromium is started with `--remote-debugging-port=0`, the port it
picked is read from `DevToolsActivePort` in its fresh profile folder, and one page target is
driven with `Page.*`, `Runtime.*`, `Input.*` and `Emulation.*` commands.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
START_TIMEOUT_S = 20.0


class CdpError(Exception):
    """A DevTools command failed, the page threw, or a wait timed out."""


class CdpPage:
    """One page target: commands matched to replies by id, events kept for the test to read."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self.console: list[str] = []  # console messages and uncaught exceptions, in order
        self.exceptions: list[str] = []
        self._reader = asyncio.create_task(self._read(), name="cdp.reader")

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The command's `result`, or `CdpError` with the protocol's error message."""
        call_id = next(self._ids)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = reply
        try:
            await self._ws.send_str(
                json.dumps({"id": call_id, "method": method, "params": params or {}})
            )
            message = await asyncio.wait_for(reply, timeout=15)
        finally:
            self._pending.pop(call_id, None)
        if "error" in message:
            raise CdpError(f"{method}: {message['error'].get('message')}")
        result: dict[str, Any] = message.get("result", {})
        return result

    def expect(self, event: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next `event` (register it before the command that causes it)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event, []).append(future)
        return future

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                reply = self._pending.get(data["id"])
                if reply is not None and not reply.done():
                    reply.set_result(data)
                continue
            self._note(data.get("method", ""), data.get("params", {}))
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(CdpError("the browser closed the connection"))

    def _note(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            args = params.get("args", [])
            self.console.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.exceptions.append(str(details.get("exception", {}).get("description", details)))
        for future in self._waiters.pop(method, []):
            if not future.done():
                future.set_result(params)

    async def open(self, url: str, *, width: int = 900, height: int = 1280) -> None:
        """Enable the domains the tests read, size the viewport, load `url` and wait for it."""
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.resize(width, height)
        loaded = self.expect("Page.loadEventFired")
        reply = await self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise CdpError(f"navigation to {url} failed: {reply['errorText']}")
        await asyncio.wait_for(loaded, timeout=15)

    async def resize(self, width: int, height: int) -> None:
        """Sets the viewport, as a kiosk screen of that size would show the page."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    async def evaluate(self, expression: str) -> Any:
        """The expression's value (promises awaited); a page exception becomes `CdpError`."""
        reply = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            raise CdpError(str(details.get("exception", {}).get("description", details)))
        return reply.get("result", {}).get("value")

    async def wait_for(self, expression: str, *, within_s: float = 8.0) -> Any:
        """Polls `expression` until it is truthy and returns its value."""
        deadline = time.monotonic() + within_s
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"still false after {within_s} s: {expression}")
            await asyncio.sleep(0.05)

    async def type_text(self, text: str) -> None:
        """Types into whatever has focus, as a keyboard would (input events fire)."""
        await self.send("Input.insertText", {"text": text})

    async def press(self, key: str, *, shift: bool = False) -> None:
        """A key press: `Enter`, `Tab`, `Backspace` or a single character."""
        codes = {"Enter": 13, "Tab": 9, "Backspace": 8, "Space": 32}
        base: dict[str, Any] = {
            "key": " " if key == "Space" else key,
            "code": key if key in codes else f"Key{key.upper()}",
            "windowsVirtualKeyCode": codes.get(key, ord(key.upper()[0])),
            "modifiers": 8 if shift else 0,
        }
        down = {**base, "type": "keyDown"}
        if key == "Enter":
            down["text"] = "\r"
        elif key == "Space":
            down["text"] = " "
        await self.send("Input.dispatchKeyEvent", down)
        await self.send("Input.dispatchKeyEvent", {**base, "type": "keyUp"})

    async def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element, after scrolling it into view (a
        click that lands on something covering it goes to that instead, as for a person)."""
        box = await self.evaluate(
            f"""(() => {{
                const el = document.querySelector({json.dumps(selector)});
                if (!el) return null;
                el.scrollIntoView({{block: "center"}});
                const r = el.getBoundingClientRect();
                return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
            }})()"""
        )
        if box is None:
            raise CdpError(f"nothing matches {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    async def screenshot(self) -> bytes:
        """The viewport as PNG bytes."""
        reply = await self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(reply["data"])

    async def close(self) -> None:
        await self._ws.close()
        await self._reader


async def _wait_for_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CdpError(f"chromium exited at start with code {process.returncode}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(port_file.read_text().splitlines()[0])
        await asyncio.sleep(0.05)
    raise CdpError("chromium did not open its DevTools port in time")


async def _page_socket_url(http: aiohttp.ClientSession, port: int) -> str:
    async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
        targets = await response.json()
    pages = [t for t in targets if t.get("type") == "page"]
    if pages:
        return str(pages[0]["webSocketDebuggerUrl"])
    async with http.put(f"http://127.0.0.1:{port}/json/new?about:blank") as response:
        return str((await response.json())["webSocketDebuggerUrl"])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def chromium_page(
    *, width: int = 900, height: int = 1280, extra_flags: tuple[str, ...] = ()
) -> AsyncIterator[CdpPage]:
    """A fresh headless Chromium (new profile, no network services) with one page to drive.

    The browser and its profile folder are gone when the block exits, whatever happened in it.
    """
    profile = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="kiosk-chromium-"))
    # started from a thread: forking this large test process can hold the event loop too long
    process = await asyncio.to_thread(
        subprocess.Popen,
        [
            str(CHROMIUM),
            *_FLAGS,
            *extra_flags,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        # crash reports and caches go to the throwaway profile, not the user's home
        env={**os.environ, "XDG_CONFIG_HOME": str(profile), "XDG_CACHE_HOME": str(profile)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = await _wait_for_port(profile, process)
        async with aiohttp.ClientSession() as http:
            ws_url = await _page_socket_url(http, port)
            async with http.ws_connect(ws_url, max_msg_size=64 * 1024 * 1024) as ws:
                page = CdpPage(ws)
                try:
                    yield page
                finally:
                    await page.close()
    finally:
        await asyncio.to_thread(_stop, process)
        await asyncio.to_thread(shutil.rmtree, profile, ignore_errors=True)
