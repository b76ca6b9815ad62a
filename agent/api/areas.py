"""Which areas' routes a running agent serves: the one place the web layer decides that.

The composition root hands over the services it built (a locker has loading and returns, a
counter has the counter and ID assist); the routes registered follow from which are present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from agent.api.counter_routes import counter_routes
from agent.api.courier_routes import courier_routes
from agent.api.evidence_routes import evidence_routes
from agent.api.identity_routes import id_assist_routes, wallet_routes
from agent.api.returns_routes import returns_routes
from agent.api.staff_routes import door_tool_routes
from agent.evidence.recorder import EvidenceRecorder
from agent.services.collection import CollectionService
from agent.services.counter import CounterService
from agent.services.door_help import DoorHelpService
from agent.services.id_assist import IdAssistService
from agent.services.identity_check import WalletPickupService
from agent.services.loading import LoadingService
from agent.services.returns import ReturnService
from agent.services.staff import StaffService
from agent.store.db import Database

RouteAdder = Callable[[web.Application], None]


@dataclass(frozen=True, slots=True)
class AreaServices:
    """The services behind the areas beyond pickup, sign-in and status."""

    staff: StaffService
    door_help: DoorHelpService
    evidence: EvidenceRecorder
    db: Database
    data_dir: Path
    loading: LoadingService | None = None
    returns: ReturnService | None = None
    counter: CounterService | None = None
    collection: CollectionService | None = None
    wallet: WalletPickupService | None = None
    id_assist: IdAssistService | None = None


def area_routes(areas: AreaServices) -> tuple[RouteAdder, ...]:
    """The route registrars for `ApiContext.extra_routes`, in registration order."""
    routes: list[RouteAdder] = []
    if areas.collection is not None:
        routes.append(courier_routes(areas.loading, areas.collection))
    if areas.counter is not None:
        routes.append(counter_routes(areas.counter))
    if areas.returns is not None:
        routes.append(returns_routes(areas.returns))
    routes.append(door_tool_routes(areas.staff, areas.door_help))
    routes.append(evidence_routes(areas.evidence, areas.db, areas.data_dir))
    if areas.wallet is not None:
        routes.append(wallet_routes(areas.wallet))
    if areas.id_assist is not None:
        routes.append(id_assist_routes(areas.id_assist))
    return tuple(routes)
