"""Courier endpoints: loading parcels into doors, and taking out returns and expired parcels.

Every handler needs a courier (or staff) session. Refusals are `AgentError`s; the middleware in
`agent.api.errors` turns them into responses.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from agent.api.auth import require_session
from agent.api.bodies import MAX_DOOR, digits
from agent.api.errors import read_json_object, string_field
from agent.domain.doors import DoorSize
from agent.errors import RequestError
from agent.services.collection import CollectionService, PickupItem
from agent.services.loading import LoadingService, LoadTicket
from agent.services.sessions import Role, Session

LOADING_KEY: web.AppKey[LoadingService] = web.AppKey("loading", LoadingService)
COLLECTION_KEY: web.AppKey[CollectionService] = web.AppKey("collection", CollectionService)
_COURIERS = (Role.COURIER, Role.STAFF)


def optional_size(body: dict[str, object]) -> DoorSize | None:
    """The optional `size` field (S, M or L)."""
    value = body.get("size")
    if value is None:
        return None
    if value not in ("S", "M", "L"):
        raise RequestError("`size` must be S, M or L")
    return DoorSize(str(value))


def _courier(request: web.Request) -> Session:
    return require_session(request, _COURIERS)


def _load_id(request: web.Request) -> int:
    return digits(request.match_info["load"], "load")


def _ticket(ticket: LoadTicket) -> web.Response:
    message = f"Put the parcel in door {ticket.door} and close it."
    if ticket.move_from is not None:
        message = (
            f"Move this order's parcels from door {ticket.move_from} to door {ticket.door}, "
            f"add this one and close both doors."
        )
    return web.json_response(
        {
            "result": "open",
            "load": ticket.load_id,
            "door": ticket.door,
            "door_size": ticket.size.value,
            "order": ticket.order_id,
            "parcel": ticket.parcel_id,
            "move_parcels_from": ticket.move_from,
            "new_order": ticket.new_order,
            "message": message,
        }
    )


async def start_load(request: web.Request) -> web.Response:
    """`{"label", "size"?}`: the courier starts loading a parcel; a door opens for it."""
    session = _courier(request)
    body = await read_json_object(request)
    label = string_field(body, "label", max_len=256)
    ticket = await request.app[LOADING_KEY].start_load(
        label, optional_size(body), actor=session.actor
    )
    return _ticket(ticket)


async def confirm_load(request: web.Request) -> web.Response:
    """The courier has put the parcel in and closed the door: the order is loaded."""
    session = _courier(request)
    done = await request.app[LOADING_KEY].confirm(_load_id(request), actor=session.actor)
    return web.json_response(
        {
            "result": "loaded",
            "load": done.load_id,
            "order": done.order_id,
            "door": done.door,
            "sensor": done.sensor,
            "state": done.order_state.value,
        }
    )


async def load_too_small(request: web.Request) -> web.Response:
    """The parcel did not fit: free the door and open one of the next size."""
    session = _courier(request)
    return _ticket(await request.app[LOADING_KEY].too_small(_load_id(request), actor=session.actor))


async def cancel_load(request: web.Request) -> web.Response:
    """Give up on a load (the parcel stays with the courier) and free its door."""
    session = _courier(request)
    await request.app[LOADING_KEY].cancel(_load_id(request), actor=session.actor)
    return web.json_response({"result": "cancelled", "message": "Close the door, please."})


async def list_loads(request: web.Request) -> web.Response:
    """The loads started but not yet confirmed or cancelled."""
    _courier(request)
    return web.json_response({"loads": await request.app[LOADING_KEY].pending()})


def _item(item: PickupItem) -> dict[str, object]:
    return {
        "kind": item.kind,
        "ref": item.ref,
        "door": item.door,
        "reason": item.reason,
        "receipt": item.receipt,
    }


async def list_pickups(request: web.Request) -> web.Response:
    """What the courier can take away: returns and expired parcels, with their doors."""
    _courier(request)
    items = await request.app[COLLECTION_KEY].pickups()
    return web.json_response({"items": [_item(i) for i in items]})


async def collect(request: web.Request) -> web.Response:
    """`{"door"}` or `{"order"}`: open the door of one item the courier takes away."""
    session = _courier(request)
    body = await read_json_object(request)
    door, ref = body.get("door"), body.get("order")
    if door is not None and (
        isinstance(door, bool) or not isinstance(door, int) or not 1 <= door <= MAX_DOOR
    ):
        raise RequestError(f"`door` must be a door number (1 to {MAX_DOOR})")
    if ref is not None:
        ref = string_field(body, "order", max_len=64)
    if (door is None) == (ref is None):
        raise RequestError("give either `door` or `order`")
    item = await request.app[COLLECTION_KEY].collect(door=door, ref=ref, actor=session.actor)
    message = f"Door {item.door} is open: take the parcel." if item.door else "Take the parcel."
    return web.json_response({"result": "collected", **_item(item), "message": message})


def courier_routes(
    loading: LoadingService | None, collection: CollectionService
) -> Callable[[web.Application], None]:
    """A route registrar for `ApiContext.extra_routes` (no loading at a counter)."""

    def add(app: web.Application) -> None:
        app[COLLECTION_KEY] = collection
        app.router.add_get("/api/v1/courier/pickups", list_pickups)
        app.router.add_post("/api/v1/courier/collect", collect)
        if loading is None:
            return
        app[LOADING_KEY] = loading
        app.router.add_get("/api/v1/courier/loads", list_loads)
        app.router.add_post("/api/v1/courier/load", start_load)
        app.router.add_post("/api/v1/courier/load/{load}/confirm", confirm_load)
        app.router.add_post("/api/v1/courier/load/{load}/too-small", load_too_small)
        app.router.add_post("/api/v1/courier/load/{load}/cancel", cancel_load)

    return add
