"""The one body and parameter validator: every request input is bounded before it is used.

A hostile client may send a JSON document nested 1,000 deep, a 5,000-digit integer (Python's
int conversion raises past 4,300 digits), `NaN`, a lone UTF-16 surrogate that no encoder
accepts, or `³` where a number belongs (`str.isdigit` says yes, `int` says no). Each becomes a
`RequestError` naming what is wrong (HTTP 400), never an exception the middleware would log.
"""

from __future__ import annotations

import asyncio
import json
import math
from enum import StrEnum
from typing import TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from agent.api.server import GUARD_KEY
from agent.errors import AgentError, RequestError
from agent.reasons import Reason

_E = TypeVar("_E", bound=StrEnum)

MAX_DEPTH = 8  # our bodies are flat objects; a little room for future nesting
MAX_INT_DIGITS = 19  # anything an int64 holds
DEFAULT_BODY_TIMEOUT_S = 10.0
MAX_DOOR = 999_999  # door numbers have at most six digits (route pattern and bodies)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("integer too long")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constant(text: str) -> object:
    raise ValueError(f"{text} is not allowed")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object whose keys are unique: `{"code": A, "code": B}` means A to one reader and B
    to another (a proxy that checked the first), so it is refused, as on the MQTT wire."""
    body = dict(pairs)
    if len(body) != len(pairs):
        raise ValueError("duplicate key")
    return body


_DECODER = json.JSONDecoder(
    parse_int=_bounded_int,
    parse_float=_finite_float,
    parse_constant=_no_constant,
    object_pairs_hook=_no_duplicates,
)


def _within_depth(text: str, limit: int) -> bool:
    """True when no array/object nests deeper than `limit` (checked before parsing, so the
    recursive parser never sees a hostile depth)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _check_strings(value: object) -> None:
    """Refuse lone surrogates anywhere (keys too): they cannot be encoded, logged or stored."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError("a string holds an invalid character (lone surrogate)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


def parse_json_object(raw: bytes) -> dict[str, object]:
    """`raw` as a JSON object within our bounds, or a `RequestError` saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("body is not UTF-8") from None
    if not _within_depth(text, MAX_DEPTH):
        raise RequestError("body is nested too deeply")
    try:
        body = _DECODER.decode(text)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise RequestError(f"body is not acceptable JSON ({type(err).__name__})") from None
    if not isinstance(body, dict):
        raise RequestError("body is not a JSON object")
    _check_strings(body)
    return body


async def read_body(request: web.Request, *, max_bytes: int, exact: bool = False) -> bytes:
    """The whole request body (however many TCP segments it came in), read within the body
    timeout and at most `max_bytes` long; with `exact`, exactly `Content-Length` bytes.

    The one place a body is read, so every way a read can fail is a 4xx here: too large (413),
    too slow (408), and a body that cannot be read at all (400): the client hung up half-way,
    or its chunked framing broke. Those used to escape as a `ConnectionResetError` the
    middleware logged with a traceback, a log line any client could write at will."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise AgentError("body too large", reason=Reason.PAYLOAD_TOO_LARGE)
    guard = request.app.get(GUARD_KEY)
    timeout = guard.body_timeout_s if guard is not None else DEFAULT_BODY_TIMEOUT_S
    try:
        async with asyncio.timeout(timeout):
            if exact and request.content_length is not None:
                raw = await request.content.readexactly(request.content_length)
            else:
                raw = await request.read()  # bounded by the application's client_max_size
    except TimeoutError:
        raise AgentError("body not received in time", reason=Reason.REQUEST_TIMEOUT) from None
    except (ConnectionError, HttpProcessingError, asyncio.IncompleteReadError):
        raise RequestError("the request body could not be read") from None
    if len(raw) > max_bytes:
        raise AgentError("body too large", reason=Reason.PAYLOAD_TOO_LARGE)
    return raw


async def read_json_object(request: web.Request, *, max_bytes: int = 8192) -> dict[str, object]:
    """The whole request body as a JSON object (see `read_body`), or a `RequestError` saying
    what is wrong."""
    return parse_json_object(await read_body(request, max_bytes=max_bytes))


def _has_control_characters(value: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)


def string_field(body: dict[str, object], name: str, *, max_len: int = 2048) -> str:
    """A non-empty string field of at most `max_len` characters, without control characters."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"`{name}` must be a non-empty string")
    if len(value) > max_len:
        raise RequestError(f"`{name}` is too long (at most {max_len} characters)")
    if _has_control_characters(value):
        raise RequestError(f"`{name}` holds control characters")
    return value


def digits(raw: str, name: str, *, max_digits: int = 12) -> int:
    """A non-negative integer written in ASCII digits (`³` and `٣` are digits to `isdigit`)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > max_digits:
        raise RequestError(
            f"`{name}` must be a non-negative integer of at most {max_digits} digits"
        )
    return int(raw)


def query_value(request: web.Request, name: str) -> str | None:
    """The one value of query parameter `name`, or None. `?after=1&after=2` is refused: two
    readers of the same URL (a proxy, a log, this handler) would not agree which one counts."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise RequestError(f"`{name}` is given more than once")
    return values[0] if values else None


def optional_choice(body: dict[str, object], name: str, choices: type[_E]) -> _E | None:
    """An optional field that must be one of `choices`' words (any other JSON value is a 400,
    also an object or a list, which a set-membership test would choke on)."""
    value = body.get(name)
    if value is None:
        return None
    words = [c.value for c in choices]
    if not isinstance(value, str) or value not in words:
        raise RequestError(f"`{name}` must be one of: {', '.join(words)}")
    return choices(value)
