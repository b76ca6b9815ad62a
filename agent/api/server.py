"""The HTTP listener with the limits aiohttp does not have: a header deadline and a connection cap.

aiohttp times out idle keep-alive connections but not a client that sends its request line and
headers one byte a minute (slowloris): 200 such connections stayed open for good. Here each
connection must deliver a request's headers within `header_timeout_s` of opening (or of the
previous response); the body has its own deadline (`read_json_object`). At
`max_connections`, a new connection replaces the oldest one that is not being served, so a
flood of slow clients cannot keep the kiosk's own requests out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler

from agent.observability.logs import install_http_log_filter

_LOG = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class _Connection:
    transport: asyncio.Transport
    deadline: asyncio.TimerHandle | None = None
    busy: int = 0
    closing: bool = False


@dataclass(slots=True)
class ConnectionGuard:
    """Tracks every connection of one listener; the attributes may be changed while serving."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_connections: int = 64
    _open: dict[asyncio.BaseTransport, _Connection] = field(default_factory=dict)
    closed_slow: int = 0
    refused: int = 0

    @property
    def open_connections(self) -> int:
        """How many connections are open now."""
        return len(self._open)

    def opened(self, transport: asyncio.Transport) -> bool:
        """A new connection. At the cap, the oldest connection that is not being served (a
        slow client that has not finished its headers, or an idle keep-alive) makes room;
        only when every connection is being served is the new one refused (closed)."""
        live = sum(1 for c in self._open.values() if not c.closing)
        if live >= self.max_connections and not self._evict_oldest_idle():
            self.refused += 1
            transport.abort()
            return False
        conn = self._open[transport] = _Connection(transport)
        self._arm(conn)
        return True

    def _evict_oldest_idle(self) -> bool:
        for conn in self._open.values():  # insertion order: oldest first
            if conn.busy == 0 and not conn.closing:
                self._close(conn)
                return True
        return False

    def _close(self, conn: _Connection) -> None:
        """Abort a slow or idle connection (`connection_lost` then forgets it)."""
        conn.closing = True
        if conn.deadline is not None:
            conn.deadline.cancel()
            conn.deadline = None
        self.closed_slow += 1
        conn.transport.abort()

    def tracks(self, transport: asyncio.BaseTransport) -> bool:
        """Whether `transport` is one of the connections tracked here."""
        return transport in self._open

    def closed(self, transport: asyncio.BaseTransport) -> None:
        """A connection has closed: forget it and cancel its deadline."""
        conn = self._open.pop(transport, None)
        if conn is not None and conn.deadline is not None:
            conn.deadline.cancel()

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        """A request has started on the connection: it is busy, so no header deadline runs."""
        conn = self._open.get(transport) if transport is not None else None
        if conn is not None:
            conn.busy += 1
            if conn.deadline is not None:
                conn.deadline.cancel()
                conn.deadline = None

    def request_finished(self, transport: asyncio.BaseTransport | None) -> None:
        """A request has finished; once the connection is idle, the header deadline runs again."""
        conn = self._open.get(transport) if transport is not None else None
        if conn is not None:
            conn.busy -= 1
            if conn.busy == 0 and not conn.closing:
                self._arm(conn)

    def _arm(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        conn.deadline = loop.call_later(self.header_timeout_s, self._expire, conn)

    def _expire(self, conn: _Connection) -> None:
        conn.deadline = None
        if conn.busy == 0 and conn.transport in self._open and not conn.closing:
            self._close(conn)

    def middleware(self) -> Middleware:
        """Marks a connection busy while a handler runs (headers have arrived by then)."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            transport = request.transport
            self.request_started(transport)
            try:
                return await handler(request)
            finally:
                self.request_finished(transport)

        return guard


GUARD_KEY: web.AppKey[ConnectionGuard] = web.AppKey("connection_guard", ConnectionGuard)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's request handler, with the guard told about the connection's life."""

    def __init__(self, inner: RequestHandler, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - TCP transports only
        self._transport = transport
        if self._guard.opened(transport):
            self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None and self._guard.tracks(self._transport):
            self._guard.closed(self._transport)
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        self._inner.eof_received()
        return None

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass through a `ConnectionGuard`."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard
        self.bound_port = port

    @property
    def name(self) -> str:
        """The site's URL, with the port actually bound."""
        return f"http://{self._host}:{self.bound_port}"

    async def start(self) -> None:
        """Listen on the host and port; every connection goes through the guard."""
        install_http_log_filter()
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner is not set up")
        guard = self._guard

        def protocol() -> asyncio.Protocol:
            return _GuardedProtocol(server(), guard)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            protocol, self._host, self._port, reuse_address=True
        )
        self.bound_port = int(self._server.sockets[0].getsockname()[1])
