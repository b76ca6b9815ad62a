"""Hostile HTTP input: every request gets a 4xx with a reason, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest

from agent.reasons import Reason
from agent.services.sessions import Role
from tests.agent.conftest import RunningAgent

JSON = {"Content-Type": "application/json"}


async def _raw_post(
    running: RunningAgent, path: str, data: bytes | str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object], aiohttp.ClientResponse]:
    async with running.http.post(
        running.url + path, data=data, headers=headers or JSON
    ) as response:
        return response.status, await response.json(content_type=None), response


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]


HOSTILE_BODIES = [
    pytest.param("[" * 1000 + "]" * 1000, id="nested-1000-deep"),
    pytest.param('{"code": ' + "[" * 1000 + "]" * 1000 + "}", id="nested-in-field"),
    pytest.param('{"code": ' + "9" * 5000 + "}", id="5000-digit-integer"),
    pytest.param('{"code": "\\ud800"}', id="lone-surrogate"),
    pytest.param('{"code": 1e999}', id="float-overflow"),
    pytest.param('{"code": NaN}', id="nan"),
    pytest.param('{"code": "' + "A" * 300 + '"}', id="over-long"),
    pytest.param('{"code": "AB\\u0000CD"}', id="control-character"),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/pickup/code",
        "/api/v1/pickup/door-did-not-open",
        "/api/v1/returns/start",
        "/api/v1/staff/sign-in",
    ],
)
async def test_hostile_json_bodies_get_a_400_with_a_reason(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, path: str, body: str
) -> None:
    caplog.set_level(logging.INFO)
    status, answer, _ = await _raw_post(running, path, body)
    assert status == 400, answer
    assert answer["error"] == answer["reason"] == Reason.BAD_REQUEST
    assert "ref" in answer
    assert running.sim.pulses == []
    _no_tracebacks(caplog)


async def test_a_lone_surrogate_in_a_pin_and_in_a_staff_reason_is_a_400(
    running: RunningAgent, caplog: pytest.LogCaptureFixture
) -> None:
    status, body, _ = await _raw_post(running, "/api/v1/staff/sign-in", '{"pin": "12\\ud800"}')
    assert (status, body["reason"]) == (400, Reason.BAD_REQUEST)
    session = running.agent.sessions.open_session("staff-1", Role.STAFF)
    headers = {**JSON, "Authorization": f"Bearer {session.session_id}"}
    status, body, _ = await _raw_post(
        running, "/api/v1/staff/doors/1/open", '{"reason": "x\\ud800"}', headers
    )
    assert (status, body["reason"]) == (400, Reason.BAD_REQUEST)
    assert running.sim.pulses == []
    _no_tracebacks(caplog)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/kiosk/events?after=%C2%B3",
        "/api/v1/kiosk/events?after=%D9%A3",
        "/api/v1/doors/%C2%B3/state",
        "/kiosk/" + "a" * 300 + ".js",
        "/kiosk/%00.js",
    ],
)
async def test_non_ascii_digits_and_long_names_in_the_url_are_4xx(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    async with running.http.get(running.url + path) as response:
        assert 400 <= response.status < 500
        body = await response.json()
    assert body["reason"] in {Reason.BAD_REQUEST, Reason.NOT_FOUND}
    _no_tracebacks(caplog)


async def test_a_door_id_of_non_ascii_digits_is_refused_for_staff(
    running: RunningAgent, caplog: pytest.LogCaptureFixture
) -> None:
    session = running.agent.sessions.open_session("staff-1", Role.STAFF)
    headers = {**JSON, "Authorization": f"Bearer {session.session_id}"}
    for door in ("%C2%B3", "%D9%A3%D9%A3", "1" * 7):
        status, body, _ = await _raw_post(
            running, f"/api/v1/staff/doors/{door}/open", '{"reason": "test"}', headers
        )
        assert 400 <= status < 500
        assert body["reason"] in {Reason.BAD_REQUEST, Reason.NOT_FOUND}
    assert running.sim.pulses == []
    _no_tracebacks(caplog)


async def test_a_body_that_is_not_json_by_content_type_is_415(running: RunningAgent) -> None:
    code = running.orders[0].code
    status, body, _ = await _raw_post(
        running,
        "/api/v1/pickup/code",
        f'{{"code": "{code}"}}',
        {"Content-Type": "text/plain"},
    )
    assert status == 415
    assert body["reason"] == Reason.UNSUPPORTED_MEDIA_TYPE
    assert running.sim.pulses == []
    # the charset parameter is fine
    status, _, _ = await _raw_post(
        running,
        "/api/v1/pickup/code",
        f'{{"code": "{code}"}}',
        {"Content-Type": "application/json; charset=utf-8"},
    )
    assert status == 200


async def test_405_names_the_allowed_methods(running: RunningAgent) -> None:
    async with running.http.get(running.url + "/api/v1/pickup/code") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        body = await response.json()
    assert body["reason"] == Reason.METHOD_NOT_ALLOWED


async def test_refusals_carry_reason_and_ref_as_fields(running: RunningAgent) -> None:
    order = running.orders[0]
    assert (await running.post("/api/v1/pickup/code", {"code": order.code}))[0] == 200
    running.clock.advance(120)
    status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
    assert status == 409
    assert body["error"] == body["reason"] == Reason.ALREADY_USED
    assert body["ref"] == f"E-{order.order_id[-6:]}"
    assert str(body["ref"]) in str(body["message"])
    status, body = await running.post("/api/v1/pickup/code", {"code": "ZZZZ-ZZZZ"})
    assert (status, body["reason"], body["ref"]) == (404, Reason.CODE_UNKNOWN, None)


async def test_a_json_body_in_two_tcp_segments_is_read_whole(running: RunningAgent) -> None:
    order = running.orders[0]
    body = f'{{"code": "{order.code}"}}'.encode()
    host, port = running.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        "POST /api/v1/pickup/code HTTP/1.1\r\n"
        f"Host: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    writer.write(head + body[:5])
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.write(body[5:])
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert running.sim.pulses == [order.door]


async def test_slow_clients_are_closed_and_connections_are_capped(
    running: RunningAgent,
) -> None:
    # a short header timeout and a small cap, as a test can wait for them
    guard = running.agent.connection_guard
    assert guard is not None
    guard.header_timeout_s = 2.0
    guard.max_connections = 20
    host, port = running.url.removeprefix("http://").split(":")
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(40)]
    for _, writer in conns:
        writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # never finishes
        await writer.drain()
    # the flood does not keep the kiosk out: a new client replaces the oldest slow one
    started = time.monotonic()
    status, body = await running.get("/api/v1/health")
    assert (status, body["status"]) == (200, "ok")
    assert time.monotonic() - started < 1.5
    assert guard.open_connections <= 21
    # and every slow connection is closed within the header timeout
    closed = await asyncio.gather(*(asyncio.wait_for(r.read(), 10) for r, _ in conns))
    assert time.monotonic() - started < 5
    assert all(chunk == b"" for chunk in closed)
    for _, writer in conns:
        writer.close()


async def test_a_slow_body_is_timed_out_with_a_4xx(running: RunningAgent) -> None:
    guard = running.agent.connection_guard
    assert guard is not None
    guard.body_timeout_s = 0.5
    host, port = running.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/v1/pickup/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:100]


async def test_every_string_field_is_bounded_as_the_openapi_document_says(
    running: RunningAgent, caplog: pytest.LogCaptureFixture
) -> None:
    status, doc = await running.get("/api/v1/openapi.json")
    assert status == 200
    session = running.agent.sessions.open_session("staff-1", Role.STAFF)
    headers = {**JSON, "Authorization": f"Bearer {session.session_id}"}
    checked = 0
    for path, operations in dict(doc["paths"]).items():  # type: ignore[call-overload]
        post = operations.get("post")
        if post is None or "requestBody" not in post or "{" in path:
            continue
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        for name, prop in schema["properties"].items():
            if prop.get("type") != "string":
                continue
            assert "maxLength" in prop, f"{path} {name}: no maxLength"
            body = dict.fromkeys(schema.get("required", []), "x")
            body[name] = "A" * (prop["maxLength"] + 1)
            async with running.http.post(
                running.url + path, json=body, headers=headers
            ) as response:
                answer = await response.json()
                if response.status == 404 and answer["reason"] == Reason.NOT_FOUND:
                    continue  # a route of the other mode (counter or locker)
                assert response.status == 400, (path, name, answer)
                assert "too long" in answer["detail"]
            checked += 1
    assert checked >= 8
    assert running.sim.pulses == []
    _no_tracebacks(caplog)


@pytest.mark.parametrize("id_check", [{}, [], 1, True, "maybe"])
async def test_an_id_check_that_is_not_one_of_its_words_is_a_400(
    running: RunningAgent, caplog: pytest.LogCaptureFixture, id_check: object
) -> None:
    """Found by schemathesis: `{"order": "0", "id_check": {}}` was a 500 (a dict is unhashable)."""
    session = running.agent.sessions.open_session("staff-1", Role.STAFF)
    headers = {**JSON, "Authorization": f"Bearer {session.session_id}"}
    body = json.dumps({"order": "CH-1", "id_check": id_check})
    status, answer, _ = await _raw_post(running, "/api/v1/staff/handout", body, headers)
    assert status == 400, answer
    assert answer["reason"] == Reason.BAD_REQUEST
    assert running.sim.pulses == []
    _no_tracebacks(caplog)


async def test_a_nul_byte_in_a_header_is_a_400_logged_in_one_line_without_the_header(
    running: RunningAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp's parser refuses the header; its server logger wrote a full traceback holding the
    raw header line (which could be someone's `Authorization`): one line, no header, no trace."""
    caplog.set_level(logging.DEBUG)
    host, port = running.url.removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SECRET-TOKEN\x00\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split()[1] == b"400", status_line
    http_records = [r for r in caplog.records if r.name.startswith("aiohttp")]
    assert http_records, "the refusal is logged"
    for record in http_records:
        text = record.getMessage()
        assert record.exc_info is None, text
        assert "\n" not in text, text
        assert "SECRET-TOKEN" not in text, text
    _no_tracebacks(caplog)
