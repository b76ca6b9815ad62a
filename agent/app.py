"""The composition root: the only module that builds concrete drivers, the store and the web app,
and starts and stops them in a readable order."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from agent.api.context import ApiContext
from agent.api.counter_routes import counter_routes
from agent.api.courier_routes import courier_routes
from agent.api.returns_routes import returns_routes
from agent.api.web import make_web_app
from agent.clock import Clock, SystemClock
from agent.config import AgentConfig
from agent.domain.attempts import AttemptPolicy
from agent.errors import ConfigError
from agent.services.counter import CounterService
from agent.services.expiry import ExpiryService
from agent.services.loading import DoorOpener, LoadingService
from agent.services.pickup import PickupService, recover_interrupted_openings
from agent.services.returns import (
    CollectionService,
    ReturnService,
    recover_interrupted_returns,
)
from agent.services.scans import ScanFeed, ScanService
from agent.services.sessions import Role, SessionService, StaffCredential
from agent.services.status import StatusService
from agent.services.token_pickup import TokenPickupService
from agent.services.trust import TrustPolicy, TrustService, load_roots
from agent.store import journal, lockers
from agent.store.db import Database
from agent.tokens.typed_codes import code_lookup_key
from hardware.camera import Camera
from hardware.door_drivers import make_door_driver
from hardware.doors import DoorController, DoorSensors
from hardware.errors import DriverConfigError
from hardware.scanner import Scanner, build_scanner

_LOG = logging.getLogger(__name__)


def agent_version() -> str:
    try:
        return version("locker-agent")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class DoorHardware:
    controller: DoorController
    sensors: DoorSensors


def build_door_hardware(config: AgentConfig) -> DoorHardware:
    """The configured door driver (the simulator by default)."""
    count = len(config.doors.layout())
    try:
        settings = config.doors.driver.to_settings(count)
        if settings.door_count != count:
            raise DriverConfigError(
                f"doors.driver: drives {settings.door_count} doors, the groups have {count}"
            )
        controller, sensors = make_door_driver(settings)
    except DriverConfigError as err:
        raise ConfigError(str(err)) from err
    return DoorHardware(controller, sensors)


def _typed_code_secret(conn: sqlite3.Connection, now: float) -> bytes:
    """The per-locker key of typed-code lookups, created on first start."""
    stored = journal.get_setting(conn, "typed_code_secret")
    if stored is None:
        stored = secrets.token_hex(32)
        journal.put_setting(conn, "typed_code_secret", stored)
        journal.append_audit(conn, "secret.created", now=now, detail={"name": "typed_code"})
    return bytes.fromhex(stored)


class Agent:
    """One locker agent: `start()`, `serve()` until stopped, `stop()`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock | None = None,
        hardware: DoorHardware | None = None,
        camera: Camera | None = None,
        extra_routes: Sequence[Callable[[web.Application], None]] = (),
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.hardware = hardware or build_door_hardware(config)
        self.db = Database(config.database_path, synchronous=config.store.synchronous)
        self.version = agent_version()
        self.started_at = time.time()
        self._runner: web.AppRunner | None = None
        self.url: str | None = None
        self.pickup: PickupService | None = None
        self.status: StatusService | None = None
        self.sessions: SessionService | None = None
        self.typed_code_secret = b""
        self.trust: TrustService | None = None
        self.token_pickup: TokenPickupService | None = None
        self.scan_feed = ScanFeed()
        self.scanner: Scanner | None = None
        self._camera = camera
        self._extra_routes = tuple(extra_routes)
        self.expiry = ExpiryService(self.db, self.clock)
        self.loading: LoadingService | None = None
        self.returns: ReturnService | None = None
        self.counter: CounterService | None = None
        self.collection: CollectionService | None = None

    async def start(self) -> None:
        """Open the store, switch relays off, recover, build the services, serve HTTP."""
        await self.db.open()
        now = self.clock.now()
        await self.db.run(lockers.ensure_doors, self.config.doors.layout())
        await self.hardware.controller.start()
        recovered = await self.db.run(recover_interrupted_openings, now)
        if recovered:
            _LOG.warning("%s door openings were interrupted by a restart; flagged", recovered)
        await self.db.run(recover_interrupted_returns, now)
        self.typed_code_secret = await self.db.run(_typed_code_secret, now)
        self.pickup = self._build_pickup()
        self._extra_routes += self._build_operations()
        self.trust = await self._start_trust()
        self.token_pickup = token_pickup = TokenPickupService(
            self.db,
            self.pickup,
            self.trust,
            self.clock,
            id_check_available=self.config.locker.mode == "counter",
        )
        scans = ScanService(token_pickup, self.scan_feed, self.clock)
        self.scanner = self._build_scanner(scans)
        self.status = StatusService(self.db, self.hardware.sensors, self.clock, self._versions())
        if self.scanner is not None:
            self.status.providers["camera"] = self._camera_health
        self.sessions = SessionService(
            [StaffCredential(s.actor, Role(s.role), s.pin_hash) for s in self.config.staff],
            self.clock,
        )
        await self._start_web(self.pickup, self.status, scans)

    def _build_pickup(self) -> PickupService:
        codes = self.config.typed_codes
        secret = self.typed_code_secret
        return PickupService(
            self.db,
            self.hardware.controller,
            self.clock,
            typed_code_key=lambda code: code_lookup_key(code, secret),
            attempt_policy=AttemptPolicy(
                max_failures_per_window=codes.max_failures_per_minute,
                lockout_after=codes.lockout_after,
                lockout_s=codes.lockout_minutes * 60,
            ),
        )

    def _build_operations(self) -> tuple[Callable[[web.Application], None], ...]:
        """Loading, returns and courier collection at a locker; the counter in counter mode."""
        secret, codes = self.typed_code_secret, self.config.typed_codes
        policy = AttemptPolicy(
            max_failures_per_window=codes.max_failures_per_minute,
            lockout_after=codes.lockout_after,
            lockout_s=codes.lockout_minutes * 60,
        )
        hold_s = self.config.hold.default_hours * 3600
        if self.config.locker.mode == "counter":
            self.counter = CounterService(
                self.db,
                self.clock,
                typed_code_key=lambda code: code_lookup_key(code, secret),
                attempt_policy=policy,
                default_hold_s=hold_s,
            )
            self.collection = CollectionService(self.db, None, self.clock)
            return courier_routes(None, self.collection), counter_routes(self.counter)
        check_s = self.config.operations.door_open_check_ms / 1000
        opener = DoorOpener(self.hardware.controller, self.hardware.sensors, check_s=check_s)
        self.loading = LoadingService(self.db, opener, self.clock, default_hold_s=hold_s)
        self.returns = ReturnService(
            self.db,
            opener,
            self.clock,
            typed_code_key=lambda code: code_lookup_key(code, secret),
            attempt_policy=policy,
        )
        self.collection = CollectionService(self.db, opener, self.clock)
        return courier_routes(self.loading, self.collection), returns_routes(self.returns)

    async def _start_trust(self) -> TrustService:
        trust_config = self.config.trust
        trust = TrustService(
            self.db,
            self.clock,
            locker_id=self.config.locker.id,
            roots=load_roots(trust_config.root_keys),
            policy=TrustPolicy(
                leeway_s=trust_config.leeway_s,
                grace_s=trust_config.grace_hours * 3600,
                live_window_s=trust_config.live_window_s,
                id_check_available=self.config.locker.mode == "counter",
            ),
        )
        await trust.start(trust_config.bundle)
        return trust

    def _versions(self) -> Mapping[str, object]:
        return {"agent": self.version, "locker": self.config.locker.id}

    def _build_scanner(self, scans: ScanService) -> Scanner | None:
        camera_config = self.config.camera
        if not camera_config.enabled:
            return None
        return build_scanner(camera_config.to_settings(), scans.on_camera_code, camera=self._camera)

    def _camera_health(self) -> object:
        return asdict(self.scanner.health()) if self.scanner is not None else None

    async def _start_web(
        self, pickup: PickupService, status: StatusService, scans: ScanService
    ) -> None:
        assert self.sessions is not None  # noqa: S101 - built just before
        context = ApiContext(
            pickup=pickup,
            sessions=self.sessions,
            status=status.snapshot,
            locker_id=self.config.locker.id,
            version=self.version,
            scan=scans.scan,
            feed=self.scan_feed,
            extra_routes=self._extra_routes,
        )
        self._runner = web.AppRunner(make_web_app(context), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.api.host, self.config.api.port)
        await site.start()
        port = self._bound_port(site)
        self.url = f"http://{self.config.api.host}:{port}/"
        _LOG.info("kiosk and API listening on %s", self.url)

    @staticmethod
    def _bound_port(site: web.TCPSite) -> int:
        server = site._server  # aiohttp keeps the asyncio server here; needed for port 0
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else int(site._port)

    async def serve(self, stop: asyncio.Event) -> None:
        """Run the long-lived tasks until `stop` is set."""
        async with asyncio.TaskGroup() as tasks:
            scanner_task = None
            if self.scanner is not None:
                scanner_task = tasks.create_task(self.scanner.run(), name="agent.qr-scanner")
            tasks.create_task(
                self.expiry.run(self.config.operations.expiry_sweep_s, stop), name="agent.expiry"
            )
            await stop.wait()
            if scanner_task is not None:
                scanner_task.cancel()

    async def stop(self) -> None:
        """Stop serving, switch relays off, close the store. Safe to call after a failed start."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.hardware.controller.stop()
        await self.db.close()


async def run_agent(
    config: AgentConfig, stop: asyncio.Event, *, clock: Clock | None = None
) -> None:
    agent = Agent(config, clock=clock)
    try:
        await agent.start()
        await agent.serve(stop)
    finally:
        await agent.stop()
