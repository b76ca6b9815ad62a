"""The one place where errors become HTTP responses: a middleware for the whole application.

An `AgentError` becomes `{"error": REASON, "reason": REASON, "ref": <support ref or null>,
"message": <user message>}` with the reason's status (`error` is kept for older kiosks).
Anything else becomes a 500 with the generic message; the traceback goes to the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from agent.api.bodies import read_json_object, string_field
from agent.errors import AgentError, RateLimited, RequestError
from agent.observability.logs import printable
from agent.reasons import Reason, http_status, user_message

__all__ = ["error_response", "errors_middleware", "read_json_object", "string_field"]

_LOG = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HTTP_REASONS = {
    404: Reason.NOT_FOUND,
    405: Reason.METHOD_NOT_ALLOWED,
    408: Reason.REQUEST_TIMEOUT,
    413: Reason.PAYLOAD_TOO_LARGE,
    415: Reason.UNSUPPORTED_MEDIA_TYPE,
}


def error_response(
    reason: Reason,
    *,
    ref: str = "",
    detail: str = "",
    headers: Mapping[str, str] | None = None,
    status: int | None = None,
) -> web.Response:
    """The JSON error body for `reason`: its code, the order `ref` and the user-facing message."""
    body: dict[str, object] = {
        "error": reason.value,
        "reason": reason.value,
        "ref": ref or None,
        "message": user_message(reason, ref),
    }
    if detail:
        body["detail"] = detail
    response = web.json_response(
        body, status=status or http_status(reason), headers=dict(headers or {})
    )
    if reason is Reason.REQUEST_TIMEOUT:
        response.force_close()  # the rest of a slow body is not worth waiting for
    return response


# The one route whose body is a camera frame, not JSON (staff ID assist at the counter; the
# handler reads and caps the frame itself).
IMAGE_BODY_ROUTES = frozenset({"/api/v1/counter/id-assist/{order}"})
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})


def _takes_image(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return (
        resource is not None
        and resource.canonical in IMAGE_BODY_ROUTES
        and request.content_type in _IMAGE_TYPES
    )


def _check_content_type(request: web.Request) -> None:
    """Bodies are uncompressed JSON (or a frame where a route takes one): anything else is
    refused before a handler parses it.

    No client of ours compresses a body of at most 64 KiB, and a compressed one is only attack
    surface: a decompression bomb, or gzip that is not gzip (its read failed with a 500 and a
    traceback). An unknown coding was ignored and the bytes parsed as they came."""
    if not (request.method in _BODY_METHODS and request.body_exists):
        return
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding != "identity":
        raise RequestError(
            f"send the body uncompressed, not as {coding[:32]}",
            reason=Reason.UNSUPPORTED_MEDIA_TYPE,
        )
    if request.content_type != "application/json" and not _takes_image(request):
        raise RequestError(
            f"send application/json, not {request.content_type}",
            reason=Reason.UNSUPPORTED_MEDIA_TYPE,
        )
    charset = (request.charset or "utf-8").lower()
    if request.content_type == "application/json" and charset not in ("utf-8", "utf8"):
        # JSON is UTF-8 (RFC 8259): a body declared latin-1 that we read as UTF-8 says one
        # thing to a reader that honours the declaration and another to us
        raise RequestError(
            f"send JSON as UTF-8, not {charset[:32]}", reason=Reason.UNSUPPORTED_MEDIA_TYPE
        )


def _retry_after(err: AgentError) -> dict[str, str] | None:
    """An honest `Retry-After`: the limiter's own wait, not a constant."""
    if isinstance(err, RateLimited):
        return {"Retry-After": str(err.retry_after_s)}
    return None


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn refusals and HTTP errors into JSON error responses; reject bodies that are not JSON."""
    try:
        _check_content_type(request)
        return await handler(request)
    except AgentError as err:
        _LOG.info("%s %s refused: %s", request.method, printable(request.path), err.reason.value)
        headers = _retry_after(err)
        # Only request errors explain themselves: a refusal's detail may say which check failed.
        detail = err.detail if isinstance(err, RequestError) else ""
        return error_response(err.reason, ref=err.ref, detail=detail, headers=headers)
    except web.HTTPException as exc:
        if exc.status >= 400:
            reason = _HTTP_REASONS.get(exc.status, Reason.BAD_REQUEST)
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            return error_response(reason, detail=exc.reason, headers=headers, status=exc.status)
        raise
    except Exception:
        _LOG.exception("unhandled error in %s %s", request.method, printable(request.path))
        return error_response(Reason.INTERNAL)
