"""Variants of the hostile HTTP input of issue 17 item 6: framing, encodings, repeats, hang-ups.

Each request gets a 4xx with a reason and the log gets no traceback; nothing opens a door.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib

import pytest

from agent.reasons import Reason
from agent.services.sessions import Role
from tests.agent.conftest import RunningAgent


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]


async def _exchange(running: RunningAgent, request: bytes) -> tuple[int, dict[str, object]]:
    """One raw request on its own connection: (status, JSON body)."""
    host, port = running.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: x",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


CODE = b'{"code": "ZZZZ-ZZZZ"}'


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        pytest.param("gzip", b"this is not gzip at all", id="gzip-garbage"),
        pytest.param("deflate", b"this is not deflate either", id="deflate-garbage"),
        pytest.param("gzip", gzip.compress(CODE), id="gzip-valid"),
        pytest.param("deflate", zlib.compress(CODE), id="deflate-valid"),
        pytest.param("gzip", gzip.compress(b"[" * 200_000), id="gzip-bomb"),
        pytest.param("x-unknown", CODE, id="unknown-coding"),
        pytest.param("gzip, identity", CODE, id="coding-list"),
    ],
)
async def test_a_compressed_body_is_refused_with_415_and_no_traceback(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, coding: str, body: bytes
) -> None:
    """Garbage gzip was a 500 with a traceback; an unknown coding was parsed as plain bytes."""
    order = running.orders[0]
    status, answer = await _exchange(
        running, _post("/api/v1/pickup/code", body, f"Content-Encoding: {coding}")
    )
    assert (status, answer["reason"]) == (415, Reason.UNSUPPORTED_MEDIA_TYPE), answer
    assert "uncompressed" in str(answer["detail"])
    # and a plain body still works
    plain = json.dumps({"code": order.code}).encode()
    status, answer = await _exchange(running, _post("/api/v1/pickup/code", plain))
    assert status == 200, answer
    assert running.sim.pulses == [order.door]
    _no_tracebacks(caplog)


async def test_a_client_hanging_up_mid_body_leaves_no_traceback(
    running: RunningAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """A `ConnectionResetError` from the body read was logged as an unhandled error with its
    traceback: any client could write a kilobyte of log per connection at will."""
    caplog.set_level(logging.INFO)
    host, port = running.url.removeprefix("http://").split(":")
    for _ in range(3):
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /api/v1/pickup/code HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"co'
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # the handler is reading the body now
        writer.transport.abort()
    await asyncio.sleep(0.3)
    _no_tracebacks(caplog)
    status, body = await running.get("/api/v1/health")
    assert (status, body["status"]) == (200, "ok")
    assert running.sim.pulses == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"code": "ZZZZ-ZZZZ", "code": "%s"}', id="valid-code-second"),
        pytest.param(b'{"code": "%s", "code": "ZZZZ-ZZZZ"}', id="valid-code-first"),
        pytest.param(b'{"code": "%s", "code": "%s"}', id="same-twice"),
    ],
)
async def test_duplicate_keys_in_a_body_are_a_400(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    """`{"code": A, "code": B}` was read as B: whatever checked A (a proxy, a log) was fooled."""
    order = running.orders[0]
    raw = body.replace(b"%s", order.code.encode())
    status, answer = await _exchange(running, _post("/api/v1/pickup/code", raw))
    assert (status, answer["reason"]) == (400, Reason.BAD_REQUEST), answer
    assert running.sim.pulses == []
    _no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("path", "staff"),
    [
        ("/api/v1/kiosk/events?after=1&after=2", False),
        ("/api/v1/kiosk/events?after=0&after=0", False),
        ("/api/v1/staff/evidence?order=A&order=B", True),
    ],
)
async def test_a_repeated_query_parameter_is_a_400(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, path: str, staff: bool
) -> None:
    headers = {}
    if staff:
        session = running.agent.sessions.open_session("staff-1", Role.STAFF)
        headers["Authorization"] = f"Bearer {session.session_id}"
    async with running.http.get(running.url + path, headers=headers) as response:
        status, answer = response.status, await response.json()
    assert (status, answer["reason"]) == (400, Reason.BAD_REQUEST), answer
    assert "more than once" in answer["detail"]
    _no_tracebacks(caplog)


@pytest.mark.parametrize(
    "request_bytes",
    [
        # bodies over the limit, with and without a Content-Length
        _post("/api/v1/pickup/code", b"{}", "Expect: 100-continue").replace(
            b"Content-Length: 2", b"Content-Length: 99999999"
        ),
        b"POST /api/v1/pickup/code HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % 70_000
        + b" " * 70_000
        + b"\r\n0\r\n\r\n",
        # another charset, another content type, a byte-order mark
        _post("/api/v1/pickup/code", '{"code": "ÄÖ"}'.encode("latin-1")).replace(
            b"application/json", b"application/json; charset=latin-1"
        ),
        _post("/api/v1/pickup/code", "{}".encode("utf-16")).replace(
            b"application/json", b"application/json; charset=utf-16"
        ),
        _post("/api/v1/pickup/code", b"code=ZZZZ-ZZZZ").replace(
            b"application/json", b"application/x-www-form-urlencoded"
        ),
        _post("/api/v1/pickup/code", b"\xef\xbb\xbf" + CODE),
    ],
    ids=["100-continue-huge", "chunked-huge", "latin-1", "utf-16", "form", "bom"],
)
async def test_framing_and_charset_variants_are_4xx(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    host, port = running.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request_bytes)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    final = answer.split(b"HTTP/1.1 ")[-1]  # after a `100 Continue`, if any
    assert final[:3] in (b"400", b"413", b"415"), answer[:200]
    assert running.sim.pulses == []
    _no_tracebacks(caplog)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/staff/evidence/a%0A2026-11-30%20ERROR%20agent:%20FORGED",
        "/api/v1/staff/evidence/a%0D%1B%5B31mred",
        "/api/v1/staff/evidence/" + "x" * 4000,
    ],
    ids=["newline", "cr-and-ansi", "4000-chars"],
)
async def test_a_refused_path_is_logged_on_one_printable_bounded_line(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """Refusals log the request path: a `%0A` in it let anyone without a session write a
    forged line into a text log (and ANSI escapes into a terminal), as long as they liked."""
    caplog.set_level(logging.INFO, logger="agent.api.errors")
    async with running.http.get(running.url + path) as response:
        assert response.status == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.api.errors"]
    assert len(lines) == 1
    assert lines[0].isprintable(), lines[0]
    assert len(lines[0]) < 300


@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "us-ascii", "x-unknown"])
async def test_json_declared_in_another_charset_is_415_even_when_it_would_parse(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, charset: str
) -> None:
    """A valid code sent as JSON "in latin-1" opened the door: we read UTF-8 whatever the
    declaration said, so a reader that honours it (a proxy, a log) saw other characters."""
    order = running.orders[0]
    body = json.dumps({"code": order.code}).encode()
    request = _post("/api/v1/pickup/code", body).replace(
        b"application/json", f"application/json; charset={charset}".encode()
    )
    status, answer = await _exchange(running, request)
    assert (status, answer["reason"]) == (415, Reason.UNSUPPORTED_MEDIA_TYPE), answer
    assert running.sim.pulses == []
    for declared in ("utf-8", "UTF-8", "utf8"):
        request = _post("/api/v1/pickup/code", b'{"code": "ZZZZ-ZZZZ"}').replace(
            b"application/json", f"application/json; charset={declared}".encode()
        )
        assert (await _exchange(running, request))[0] == 404  # read, and not a known code
    _no_tracebacks(caplog)
