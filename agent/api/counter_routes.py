"""Counter endpoints (locker.mode = "counter"): scan parcels in, hand out, take returns.

Staff session required. The customer's typed code or scanned QR token (`code` or `token`) and
the parcel's label must name the same order; both reach `CounterService.handout` through the
order policy table (`agent.domain.policy`).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from agent.api.auth import require_session
from agent.api.bodies import optional_choice
from agent.api.courier_routes import optional_size
from agent.api.errors import read_json_object, string_field
from agent.errors import RequestError
from agent.services.counter import CounterService, IdCheck
from agent.services.sessions import Role
from agent.tokens.codec import LIVE_PREFIX, TOKEN_PREFIX

MAX_TYPED = 64
MAX_TOKEN = 4096
COUNTER_KEY: web.AppKey[CounterService] = web.AppKey("counter", CounterService)


def _id_check(body: dict[str, object]) -> IdCheck | None:
    return optional_choice(body, "id_check", IdCheck)


def _optional_string(body: dict[str, object], name: str) -> str | None:
    return None if body.get(name) is None else string_field(body, name, max_len=128)


def _customer_code(body: dict[str, object]) -> str:
    """The customer's typed code or scanned QR token (a scanner types it into `code`)."""
    if body.get("token") is not None:
        return string_field(body, "token", max_len=MAX_TOKEN)
    code = string_field(body, "code", max_len=MAX_TOKEN)
    if len(code) > MAX_TYPED and not code.startswith((TOKEN_PREFIX, LIVE_PREFIX)):
        raise RequestError(f"`code` is longer than {MAX_TYPED} characters and is not a token")
    return code


async def receive(request: web.Request) -> web.Response:
    """`{"label", "size"?}`: staff book a parcel in at the counter."""
    session = require_session(request, (Role.STAFF,))
    body = await read_json_object(request)
    label = string_field(body, "label", max_len=256)
    order = await request.app[COUNTER_KEY].receive(label, optional_size(body), actor=session.actor)
    return web.json_response(
        {"result": "received", "order": order.order_id, "state": order.state.value}
    )


async def handout(request: web.Request) -> web.Response:
    """`{"label", "code" | "token", ...}`: staff hand a parcel over the counter to its customer."""
    session = require_session(request, (Role.STAFF,))
    body = await read_json_object(request)
    label = string_field(body, "label", max_len=256)
    counter = request.app[COUNTER_KEY]
    shown = _customer_code(body)
    if shown.startswith((TOKEN_PREFIX, LIVE_PREFIX)):
        done = await counter.handout_with_token(shown, label, _id_check(body), actor=session.actor)
    else:
        done = await counter.handout_with_code(shown, label, _id_check(body), actor=session.actor)
    return web.json_response(
        {
            "result": "handed_out",
            "order": done.order_id,
            "id_check": done.id_check.value if done.id_check else None,
            "message": "Hand the parcel over.",
        }
    )


async def accept_return(request: web.Request) -> web.Response:
    """`{"code", "label", "evidence_sha256"?}`: staff accept a customer's return at the counter."""
    session = require_session(request, (Role.STAFF,))
    body = await read_json_object(request)
    code = string_field(body, "code", max_len=64)
    label = string_field(body, "label", max_len=256)
    grant = await request.app[COUNTER_KEY].accept_return_with_code(
        code, label, _optional_string(body, "evidence_sha256"), actor=session.actor
    )
    return web.json_response(
        {
            "result": "accepted",
            "return": grant.order_ref,
            "receipt": grant.receipt,
            "message": f"Return accepted. Receipt: {grant.receipt}",
        }
    )


def counter_routes(counter: CounterService) -> Callable[[web.Application], None]:
    """An `ApiContext.extra_routes` entry registering the counter endpoints."""

    def add(app: web.Application) -> None:
        app[COUNTER_KEY] = counter
        app.router.add_post("/api/v1/counter/receive", receive)
        app.router.add_post("/api/v1/counter/handout", handout)
        app.router.add_post("/api/v1/counter/return", accept_return)

    return add
