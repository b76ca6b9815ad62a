"""Door endpoints: staff tools (session with the staff role required) and the two the kiosk
uses after a pickup (a door's state, and "the door did not open")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from aiohttp import web

from agent.api.auth import require_session
from agent.api.bodies import digits, optional_choice
from agent.api.context import context_of
from agent.api.errors import read_json_object, string_field
from agent.domain.policy import IdOutcome
from agent.errors import AgentError
from agent.reasons import Reason
from agent.services.door_help import DoorHelpService
from agent.services.sessions import Role, Session
from agent.services.staff import StaffService

MAX_REASON = 200


@dataclass(frozen=True, slots=True)
class DoorTools:
    """The services behind the door endpoints: staff tools and help for a door that did not open."""

    staff: StaffService
    help: DoorHelpService


DOOR_TOOLS_KEY: web.AppKey[DoorTools] = web.AppKey("door_tools", DoorTools)


def _tools(request: web.Request) -> DoorTools:
    return request.app[DOOR_TOOLS_KEY]


def _door(request: web.Request) -> int:
    return digits(request.match_info["door"], "door", max_digits=6)


def _staff(request: web.Request) -> Session:
    return require_session(request, (Role.STAFF,))


async def _optional_body(request: web.Request) -> dict[str, object]:
    if not request.can_read_body:
        return {}
    return await read_json_object(request)


def _optional_reason(body: dict[str, object]) -> str:
    if body.get("reason") is None:
        return ""
    return string_field(body, "reason", max_len=MAX_REASON)


async def door_state(request: web.Request) -> web.Response:
    """A door's state, for the kiosk to show after a pickup."""
    return web.json_response(asdict(await _tools(request).help.door_status(_door(request))))


async def door_did_not_open(request: web.Request) -> web.Response:
    """`{"code": ...}` after a typed-code pickup, or `{"ticket": ...}`: the help ticket of a
    camera pickup's outcome on the kiosk feed (a camera pickup has no code to report with)."""
    body = await read_json_object(request)
    if "ticket" in body:
        ticket = string_field(body, "ticket", max_len=64)
        feed = context_of(request).feed
        order = feed.order_for_help(ticket) if feed is not None else None
        if order is None:
            raise AgentError("unknown help ticket", reason=Reason.GRACE_EXPIRED)
        return web.json_response(
            asdict(await _tools(request).help.door_did_not_open_for_order(order))
        )
    code = string_field(body, "code", max_len=64)
    return web.json_response(asdict(await _tools(request).help.door_did_not_open(code)))


async def parcel_damaged(request: web.Request) -> web.Response:
    """`{"code": ...}` or `{"ticket": ...}` (as for "the door did not open"), within the damage
    grace period of the opening: a photo of the compartment and `order.damage_reported`."""
    body = await read_json_object(request)
    help_service = _tools(request).help
    if "ticket" in body:
        ticket = string_field(body, "ticket", max_len=64)
        feed = context_of(request).feed
        order = feed.order_for_help(ticket) if feed is not None else None
        if order is None:
            raise AgentError("unknown help ticket", reason=Reason.GRACE_EXPIRED)
        return web.json_response(asdict(await help_service.parcel_damaged("", order)))
    code = string_field(body, "code", max_len=64)
    return web.json_response(asdict(await help_service.parcel_damaged(code)))


async def staff_open_door(request: web.Request) -> web.Response:
    """`{"reason"}`: staff open a door by hand; the reason is logged."""
    session = _staff(request)
    body = await read_json_object(request)
    reason = string_field(body, "reason", max_len=MAX_REASON)
    door = _door(request)
    await _tools(request).staff.open_door(session.actor, door, reason)
    return web.json_response({"result": "open", "door": door})


async def staff_open_for_customer(request: web.Request) -> web.Response:
    """Open an order's door for its customer: a handout under the order policy table."""
    session = _staff(request)
    body = await read_json_object(request)
    order = string_field(body, "order", max_len=64)
    outcome = optional_choice(body, "id_check", IdOutcome)
    done = await _tools(request).staff.open_for_customer(session.actor, order, outcome)
    return web.json_response({"result": "open", "door": done.door, "order": done.order_id})


def _set_enabled(enabled: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        session = _staff(request)
        reason = _optional_reason(await _optional_body(request))
        door = _door(request)
        await _tools(request).staff.set_enabled(session.actor, door, enabled=enabled, reason=reason)
        return web.json_response({"result": "enabled" if enabled else "disabled", "door": door})

    return handler


async def staff_clear_fault(request: web.Request) -> web.Response:
    """Staff clear a door's fault once they have dealt with it."""
    session = _staff(request)
    door = _door(request)
    fault = await _tools(request).staff.clear_fault(session.actor, door)
    return web.json_response({"result": "cleared", "door": door, "fault": fault})


async def staff_inventory(request: web.Request) -> web.Response:
    """Every door and what is in it, for staff."""
    _staff(request)
    return web.json_response(await _tools(request).staff.inventory())


def door_tool_routes(
    staff: StaffService, door_help: DoorHelpService
) -> Callable[[web.Application], None]:
    """An `ApiContext.extra_routes` entry registering the door endpoints on these services."""

    def add(app: web.Application) -> None:
        app[DOOR_TOOLS_KEY] = DoorTools(staff, door_help)
        door = "{door:[0-9]{1,6}}"
        app.router.add_get(f"/api/v1/doors/{door}/state", door_state)
        app.router.add_post("/api/v1/pickup/door-did-not-open", door_did_not_open)
        app.router.add_post("/api/v1/pickup/parcel-damaged", parcel_damaged)
        app.router.add_post(f"/api/v1/staff/doors/{door}/open", staff_open_door)
        app.router.add_post("/api/v1/staff/handout", staff_open_for_customer)
        app.router.add_post(f"/api/v1/staff/doors/{door}/enable", _set_enabled(True))
        app.router.add_post(f"/api/v1/staff/doors/{door}/disable", _set_enabled(False))
        app.router.add_post(f"/api/v1/staff/doors/{door}/clear-fault", staff_clear_fault)
        app.router.add_get("/api/v1/staff/inventory", staff_inventory)

    return add
