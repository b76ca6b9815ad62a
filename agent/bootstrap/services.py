"""Part of the composition root: builds the services from the config, the store and the ports.

Only `agent/bootstrap/app.py` calls this. It is separate so that the start/stop sequence in
`app.py` stays a short, readable list of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from agent.config.model import AgentConfig
from agent.domain.attempts import AttemptPolicy
from agent.domain.clock import Clock
from agent.domain.packaging import DoorReserve
from agent.evidence.recorder import EvidenceRecorder, NoEvidence
from agent.identity.proximity import WalletLink
from agent.observability.metrics import Metrics
from agent.services.attempts import AttemptGate
from agent.services.collection import CollectionService
from agent.services.counter import CounterService, TokenVerifier
from agent.services.counter_identity import CounterIdentityService, FrameSource, no_frame
from agent.services.door_help import DoorHelpService
from agent.services.door_opener import DoorOpener
from agent.services.expiry import ExpiryService
from agent.services.id_assist import IdAssistService
from agent.services.identity_check import WalletPickupService, WalletSettings
from agent.services.kpis import KpiService
from agent.services.loading import LoadingService
from agent.services.pickup import PickupService
from agent.services.returns import ReturnService
from agent.services.scans import ScanFeed, ScanService
from agent.services.sessions import Role, SessionService, StaffCredential
from agent.services.staff import StaffService
from agent.services.status import StatusService
from agent.services.supervision import DoorSupervisor
from agent.services.supervision_records import SupervisionPolicy
from agent.services.token_pickup import TokenPickupService
from agent.services.trust import TrustService
from agent.store.audit import AuditSigner, DeviceKey
from agent.store.db import Database
from agent.tokens.typed_codes import CodeKeys
from hardware.doors.port import DoorController, DoorSensors


@dataclass(frozen=True, slots=True)
class Ports:
    """The concrete hardware and infrastructure the services talk to."""

    db: Database
    doors: DoorController
    sensors: DoorSensors
    clock: Clock
    evidence: EvidenceRecorder = field(default_factory=NoEvidence)


@dataclass(frozen=True, slots=True)
class Services:
    """The running agent's services; those this agent does not have are None."""

    pickup: PickupService
    tokens: TokenPickupService
    scans: ScanService
    sessions: SessionService
    status: StatusService
    expiry: ExpiryService
    staff: StaffService
    door_help: DoorHelpService
    supervisor: DoorSupervisor  # run only at a locker (a counter has no doors)
    audit: AuditSigner
    kpis: KpiService
    loading: LoadingService | None = None
    returns: ReturnService | None = None
    counter: CounterService | None = None
    collection: CollectionService | None = None
    wallet: WalletPickupService | None = None
    id_assist: IdAssistService | None = None
    counter_identity: CounterIdentityService | None = None


_S = TypeVar("_S")

# Staff PINs (6 digits, 10^6 values) get the typed codes' burst rules and 20 wrong PINs a day
# per origin (kiosk, network): at most 2 x 20 x 366 = 14,640 guesses a year, under 1.5 % of
# one PIN's space.
PIN_POLICY = AttemptPolicy(burst=5, refill_s=12.0, daily_budget=20)


def attempt_policy(config: AgentConfig) -> AttemptPolicy:
    """The rate limit on failed typed codes, from the `[typed_codes]` section."""
    codes = config.typed_codes
    return AttemptPolicy(
        burst=codes.max_failures_per_minute,
        refill_s=60.0 / codes.max_failures_per_minute,
        daily_budget=codes.daily_failure_budget,
    )


def build_services(
    config: AgentConfig,
    ports: Ports,
    *,
    trust: TrustService,
    code_keys: Callable[[str], CodeKeys],
    device_key: DeviceKey,
    feed: ScanFeed,
    metrics: Metrics,
    versions: dict[str, object],
    identity: WalletSettings,
    wallet_link: WalletLink | None = None,  # reaches a customer's wallet (BLE, or simulated)
    camera_frame: FrameSource = no_frame,  # the camera's current frame (the counter's ID checks)
) -> Services:
    """Builds every service from the config, the ports and the store, and wires their events."""
    db, clock = ports.db, ports.clock

    code_key = code_keys
    attempts = AttemptGate(db, clock, attempt_policy(config))

    pickup = PickupService(
        db,
        ports.doors,
        clock,
        typed_code_key=code_key,
        attempts=attempts,
        reopen_grace_s=config.supervision.reopen_grace_s,
    )
    tokens = TokenPickupService(db, pickup, trust, clock)
    expiry = ExpiryService(db, clock)

    async def resume_holds(door: int, now: float) -> None:
        await expiry.resume_holds_for_door(door, now)

    staff = StaffService(
        db, ports.doors, ports.sensors, clock, on_fault_cleared=resume_holds, pickup=pickup
    )
    operations = _operations(
        config, ports, code_key, expiry, verify=tokens.verify, attempts=attempts
    )
    supervisor = _supervisor(config, ports, expiry, operations)
    door_help = DoorHelpService(
        db,
        ports.sensors,
        clock,
        supervisor,
        typed_code_key=code_key,
        grace_s=config.supervision.reopen_grace_s,
        attempts=attempts,
        evidence=ports.evidence,
    )
    audit = AuditSigner(
        db,
        device_key,
        clock,
        every_entries=config.audit.checkpoint_every_entries,
        every_s=config.audit.checkpoint_minutes * 60,
    )
    sessions = SessionService(
        [StaffCredential(s.actor, Role(s.role), s.pin_hash) for s in config.staff],
        clock,
        attempts=AttemptGate(db, clock, PIN_POLICY),
    )
    wallet = None
    if config.locker.mode == "locker":
        wallet = WalletPickupService(
            db,
            pickup,
            tokens,
            clock,
            identity,
            time_floor=lambda: trust.time_floor,
            link=wallet_link,
            typed_code_key=code_key,
            attempts=attempts,
        )
    id_assist = IdAssistService(db, clock) if config.locker.mode == "counter" else None
    counter_checks = None
    if id_assist is not None:
        counter_checks = CounterIdentityService(
            db,
            clock,
            id_assist,
            identity,
            frames=camera_frame,
            link=wallet_link,
            time_floor=lambda: trust.time_floor,
        )
    return Services(
        pickup=pickup,
        tokens=tokens,
        scans=ScanService(tokens, feed, clock, returns=operations.returns, metrics=metrics),
        sessions=sessions,
        status=StatusService(
            db, ports.sensors, clock, versions, attempt_policy=attempt_policy(config)
        ),
        expiry=expiry,
        staff=staff,
        door_help=door_help,
        supervisor=supervisor,
        audit=audit,
        kpis=KpiService(db, clock),
        loading=operations.loading,
        returns=operations.returns,
        counter=operations.counter,
        collection=operations.collection,
        wallet=wallet,
        id_assist=id_assist,
        counter_identity=counter_checks,
    )


@dataclass(frozen=True, slots=True)
class _Operations:
    loading: LoadingService | None = None
    returns: ReturnService | None = None
    counter: CounterService | None = None
    collection: CollectionService | None = None


def _operations(
    config: AgentConfig,
    ports: Ports,
    code_key: Callable[[str], CodeKeys],
    expiry: ExpiryService,
    *,
    verify: TokenVerifier,
    attempts: AttemptGate,
) -> _Operations:
    """Loading, returns and courier collection at a locker; the counter in counter mode."""
    db, clock = ports.db, ports.clock
    hold_s = config.hold.default_hours * 3600
    if config.locker.mode == "counter":
        counter = CounterService(
            db,
            clock,
            typed_code_key=code_key,
            attempts=attempts,
            default_hold_s=hold_s,
            verify=verify,
        )
        collection = CollectionService(db, None, clock)
        return _Operations(
            counter=counter,
            collection=collection,
        )
    del expiry  # holds pause through the supervisor's fault callback
    check_s = config.operations.door_open_check_ms / 1000
    opener = DoorOpener(ports.doors, ports.sensors, check_s=check_s)
    loading = LoadingService(db, opener, clock, default_hold_s=hold_s, evidence=ports.evidence)
    reserve = DoorReserve(
        keep_free=config.operations.packaging_keep_free_doors,
        keep_free_percent=config.operations.packaging_keep_free_percent,
    )
    returns = ReturnService(
        db,
        opener,
        clock,
        typed_code_key=code_key,
        attempts=attempts,
        evidence=ports.evidence,
        packaging_reserve=reserve,
    )
    collection = CollectionService(db, opener, clock)
    return _Operations(
        loading=loading,
        returns=returns,
        collection=collection,
    )


def _supervisor(
    config: AgentConfig, ports: Ports, expiry: ExpiryService, operations: _Operations
) -> DoorSupervisor:
    sup = config.supervision
    loading = operations.loading

    async def pause_holds(door: int, now: float) -> None:
        await expiry.pause_holds_for_door(door, now)

    async def pause_all(now: float) -> None:
        await expiry.pause_all(now)

    async def resume_all(now: float) -> None:
        await expiry.resume_all(now)

    async def confirm_loads(door: int, now: float) -> None:
        if loading is not None:
            await loading.confirm_closed(door, now)
        await ports.evidence.door_closed(door)  # the "after" photo of a drop-off or load

    return DoorSupervisor(
        ports.db,
        ports.sensors,
        ports.clock,
        SupervisionPolicy(
            poll_s=sup.poll_ms / 1000,
            commanded_window_s=sup.commanded_window_s,
            jam_after_s=sup.jam_after_s,
            reminder_after_s=sup.reminder_after_s,
            alarm_after_s=sup.alarm_after_s,
        ),
        on_door_fault=pause_holds,
        on_door_closed=confirm_loads,
        on_locker_fault=pause_all,  # the door bus down: nobody can collect, every hold pauses
        on_locker_restored=resume_all,
    )


class RunningServices:
    """Typed shortcuts to the services of a started agent (for tools, benchmarks and tests).

    A shortcut to a service this agent does not have (loading at a counter) raises
    `RuntimeError`, as does any shortcut before `start()`."""

    @property
    def running(self) -> Services:
        """The services of a started agent; the class that mixes this in provides it."""
        raise NotImplementedError

    @property
    def token_pickup(self) -> TokenPickupService:
        """The token pickup service."""
        return self.running.tokens

    @property
    def expiry(self) -> ExpiryService:
        """The expiry service."""
        return self.running.expiry

    @property
    def sessions(self) -> SessionService:
        """The session service."""
        return self.running.sessions

    @property
    def status(self) -> StatusService:
        """The status service."""
        return self.running.status

    @property
    def loading(self) -> LoadingService:
        """The loading service (a locker only)."""
        return _present(self.running.loading, "loading")

    @property
    def returns(self) -> ReturnService:
        """The return service (a locker only)."""
        return _present(self.running.returns, "returns")

    @property
    def counter(self) -> CounterService:
        """The counter service (a counter only)."""
        return _present(self.running.counter, "a counter")


def _present(service: _S | None, what: str) -> _S:
    if service is None:
        raise RuntimeError(f"this agent has no {what}")
    return service
