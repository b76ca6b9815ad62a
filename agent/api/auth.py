"""Staff and courier sign-in endpoints, and the one helper handlers use to require a role."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from agent.api.context import context_of
from agent.api.errors import read_json_object, string_field
from agent.errors import AgentError, RequestError
from agent.reasons import Reason
from agent.services.sessions import Role, Session, SessionService
from agent.services.token_pickup import TokenPickupService
from agent.tokens.claims import Purpose

SESSIONS_KEY: web.AppKey[SessionService] = web.AppKey("sessions", SessionService)


def require_session(request: web.Request, roles: Sequence[Role] = (Role.STAFF,)) -> Session:
    """The caller's session (header `Authorization: Bearer <session>`) if it has one of `roles`.

    Raises an `AgentError(NOT_AUTHORISED)`, which the middleware turns into a 401.
    """
    header = request.headers.get("Authorization", "")
    session_id = header[7:].strip() if header.lower().startswith("bearer ") else None
    return request.app[SESSIONS_KEY].require(session_id, roles)


def token_sign_in(tokens: TokenPickupService, payload: str) -> tuple[str, str]:
    """(actor, role) of a courier or staff token from the hub (verified offline)."""
    try:
        return tokens.verify(payload, Purpose.COURIER).order_ref, Purpose.COURIER.value
    except AgentError as err:
        if err.reason is not Reason.WRONG_PURPOSE:
            raise
    return tokens.verify(payload, Purpose.STAFF).order_ref, Purpose.STAFF.value


async def sign_in(request: web.Request) -> web.Response:
    """`{"pin": ...}` (staff or courier PIN) or `{"token": "LK1:..."}` (a hub-issued courier or
    staff token, verified offline)."""
    body = await read_json_object(request)
    sessions = request.app[SESSIONS_KEY]
    if "token" in body:
        verify = context_of(request).token_sign_in
        if verify is None:
            raise RequestError("token sign-in is not available")
        actor, role = verify(string_field(body, "token", max_len=4096))
        return _session_response(sessions.open_session(actor, Role(role)), request)
    pin = string_field(body, "pin", max_len=32)
    session = await sessions.sign_in(pin)
    return _session_response(session, request)


def _session_response(session: Session, request: web.Request) -> web.Response:
    ttl = max(0, round(session.expires_at - request.app[SESSIONS_KEY].now()))
    return web.json_response(
        {
            "session": session.session_id,
            "role": session.role.value,
            "actor": session.actor,
            "expires_in": ttl,
        }
    )


async def sign_out(request: web.Request) -> web.Response:
    """End the caller's session (any role)."""
    session = require_session(request, tuple(Role))
    request.app[SESSIONS_KEY].sign_out(session.session_id)
    return web.json_response({"result": "signed_out"})


def add_auth_routes(app: web.Application) -> None:
    """Register the sign-in and sign-out endpoints."""
    app.router.add_post("/api/v1/staff/sign-in", sign_in)
    app.router.add_post("/api/v1/staff/sign-out", sign_out)
