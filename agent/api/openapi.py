"""The OpenAPI 3.1 description of every `/api/v1` route, served at `GET /api/v1/openapi.json`.

Built from a Python dict so that it ships inside the package and is checked by mypy and ruff.
`tests/agent/supervision/test_openapi.py` walks the application's router and fails for any
`/api/v1` route missing here, so a new endpoint cannot go undocumented.
"""

from __future__ import annotations

from aiohttp import web

from agent.api.context import CONTEXT_KEY
from agent.api.openapi_paths import INT, PATHS, STR
from agent.api.openapi_paths_counter import COUNTER_KIOSK_DEMO_PATHS

_COMPONENTS: dict[str, object] = {
    "securitySchemes": {
        "session": {
            "type": "http",
            "scheme": "bearer",
            "description": "`session` from `POST /api/v1/staff/sign-in`",
        }
    },
    "schemas": {
        "Result": {
            "type": "object",
            "properties": {"result": STR, "message": STR, "door": INT, "order": STR},
            "additionalProperties": True,
        },
        "Error": {
            "type": "object",
            "required": ["error", "reason", "ref", "message"],
            "properties": {
                "error": {"type": "string", "description": "Reason code (same as `reason`)"},
                "reason": {"type": "string", "description": "Reason code (agent/reasons.py)"},
                "ref": {
                    "type": ["string", "null"],
                    "description": "Support reference to read to staff, if any",
                },
                "message": {"type": "string", "description": "Text to show the person"},
                "detail": {"type": "string", "description": "Only for malformed requests"},
            },
        },
        "DoorStatus": {
            "type": "object",
            "required": ["door", "state", "sensor", "message"],
            "properties": {
                "door": INT,
                "state": {
                    "enum": ["closed", "open", "left_open", "jammed", "out_of_service", "unknown"]
                },
                "sensor": {"enum": ["open", "closed", "unknown"]},
                "open_s": {"type": ["number", "null"]},
                "message": STR,
                "ref": {
                    "type": ["string", "null"],
                    "description": "Support reference the message names, if any",
                },
            },
        },
        "HelpOutcome": {
            "type": "object",
            "required": ["result", "door", "message"],
            "properties": {
                "result": {"enum": ["jammed", "open", "was_open", "unknown", "collectable"]},
                "door": INT,
                "message": STR,
                "ref": {
                    "type": ["string", "null"],
                    "description": "Support reference the message names, if any",
                },
            },
        },
    },
    "responses": {
        "Error": {
            "description": "Refused; `reason` is the reason code, `ref` the support reference, "
            "`message` the user message. A 405 carries `Allow`; a 429 an honest `Retry-After`.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    },
}


def openapi_document(version: str = "0") -> dict[str, object]:
    """The document (a fresh copy of the structure, with the agent's version)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Locker agent API",
            "version": version,
            "description": "Kiosk, courier, counter and staff endpoints of one locker agent. "
            "Request bodies are uncompressed UTF-8 `application/json` (415 otherwise, also for "
            "another `charset` or any `Content-Encoding`), at most 8 KiB, nested at most 8 "
            "deep, no duplicate keys, integers of at most 19 digits, no lone surrogates (the "
            "counter ID assist takes a PNG or JPEG frame instead); a query parameter may be "
            "given once. Errors share one "
            "shape: `{error: REASON, reason: REASON, ref: <support ref or null>, message: "
            "<user message>}`. Wrong typed codes (pickup, return, counter, door help) and "
            "packaging drop-offs spend persisted budgets (429 `RATE_LIMITED` with an honest "
            "`Retry-After`); requests whose TCP peer is a loopback address (the kiosk's own "
            "screen) and all others (the network) have separate budgets. Forwarding headers "
            "(`Forwarded`, `X-Forwarded-For`) are ignored.",
        },
        "paths": {**PATHS, **COUNTER_KIOSK_DEMO_PATHS},
        "components": _COMPONENTS,
    }


def _version_of(request: web.Request) -> str:
    context = request.app.get(CONTEXT_KEY)
    return context.version if context is not None else "0"


async def serve_openapi(request: web.Request) -> web.Response:
    """The OpenAPI document describing this API."""
    return web.json_response(openapi_document(_version_of(request)))


def add_openapi_routes(app: web.Application) -> None:
    """Register the OpenAPI document endpoint."""
    app.router.add_get("/api/v1/openapi.json", serve_openapi)
