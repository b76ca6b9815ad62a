"""What the web layer is given by the composition root: services, never drivers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from agent.observability.metrics import Metrics
from agent.services.pickup import PickupResult, PickupService
from agent.services.scans import ScanFeed
from agent.services.sessions import SessionService

StatusProvider = Callable[[], Awaitable[Mapping[str, object]]]


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the HTTP handlers need from the agent: its services, identity and optional extras."""

    pickup: PickupService
    sessions: SessionService
    status: StatusProvider
    locker_id: str
    version: str
    extra_routes: tuple[Callable[[web.Application], None], ...] = field(default=())
    scan: Callable[[str], Awaitable[PickupResult]] | None = None
    feed: ScanFeed | None = None
    metrics: Metrics | None = None
    # (actor, role) of a verified courier/staff token; None: token sign-in is not offered
    token_sign_in: Callable[[str], tuple[str, str]] | None = None


CONTEXT_KEY: web.AppKey[ApiContext] = web.AppKey("context", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    """The `ApiContext` the app was built with."""
    return request.app[CONTEXT_KEY]
