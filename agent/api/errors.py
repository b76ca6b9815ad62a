"""The one place where errors become HTTP responses: a middleware for the whole application.

An `AgentError` becomes `{"error": REASON, "message": <user message>}` with the reason's status.
Anything else becomes a 500 with the generic message; the traceback goes to the log only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from agent.errors import AgentError, RequestError
from agent.reasons import Reason, http_status, user_message

_LOG = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    reason: Reason,
    *,
    ref: str = "",
    detail: str = "",
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": reason.value, "message": user_message(reason, ref)}
    if detail:
        body["detail"] = detail
    return web.json_response(body, status=http_status(reason), headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AgentError as err:
        _LOG.info("%s %s refused: %s", request.method, request.path, err.reason.value)
        headers = {"Retry-After": "60"} if err.reason is Reason.RATE_LIMITED else None
        # Only request errors explain themselves: a refusal's detail may say which check failed.
        detail = err.detail if isinstance(err, RequestError) else ""
        return error_response(err.reason, ref=err.ref, detail=detail, headers=headers)
    except web.HTTPException as exc:
        if exc.status >= 400:
            reason = Reason.NOT_FOUND if exc.status == 404 else Reason.BAD_REQUEST
            return web.json_response(
                {"error": reason.value, "message": exc.reason}, status=exc.status
            )
        raise
    except Exception:
        _LOG.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(Reason.INTERNAL)


async def read_json_object(request: web.Request, *, max_bytes: int = 8192) -> dict[str, object]:
    """The request body as a JSON object, or a `RequestError` (400) saying what is wrong."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise RequestError("body too large")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise RequestError("body too large")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError("body is not JSON") from None
    if not isinstance(body, dict):
        raise RequestError("body is not a JSON object")
    return body


def string_field(body: dict[str, object], name: str, *, max_len: int = 2048) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RequestError(f"`{name}` must be a non-empty string")
    if len(value) > max_len:
        raise RequestError(f"`{name}` is too long")
    return value
