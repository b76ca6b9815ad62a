"""The composition root: the only module (with its helpers in `agent/bootstrap/`) that builds
concrete drivers, the store, the scanner, the MQTT client and the web app, and starts and stops
them in a readable order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.api.areas import AreaServices, area_routes
from agent.api.auth import token_sign_in
from agent.api.context import ApiContext
from agent.api.server import ConnectionGuard, GuardedSite
from agent.api.web import make_web_app
from agent.bootstrap.code_keys import load_typed_code_keys, typed_code_key_file
from agent.bootstrap.evidence import build_evidence, photo_source
from agent.bootstrap.hub import build_sync, trust_section
from agent.bootstrap.hub_link import credential_keeper
from agent.bootstrap.metrics import (
    COUNTER_SAVE_S,
    register_metrics,
    restore_counters,
    save_counters,
    save_counters_every,
)
from agent.bootstrap.services import Ports, RunningServices, Services, build_services
from agent.config.model import AgentConfig
from agent.domain.clock import Clock, SystemClock
from agent.errors import ConfigError
from agent.evidence.recorder import EvidenceRecorder, NoEvidence
from agent.identity.proximity import WalletLink
from agent.observability.metrics import Metrics
from agent.services.id_assist import mrz_templates
from agent.services.identity_check import WalletSettings, ble_wallet_link, wallet_settings
from agent.services.interrupted_check import decide_interrupted_openings
from agent.services.pickup import recover_interrupted_openings
from agent.services.returns import recover_interrupted_returns
from agent.services.scans import ScanFeed
from agent.services.trust import TrustPolicy, TrustService, load_roots
from agent.store import journal
from agent.store import secrets as secrets_at_rest
from agent.store.audit import DeviceKey, device_key_path, load_or_create_device_key
from agent.store.audit_rotation import finish_interrupted_rotation
from agent.store.code_key_ring import TypedCodeKeyRing
from agent.store.db import Database, StorageEpisode
from agent.store.doors import ensure_doors
from agent.store.holds import credit_downtime
from hardware.camera.compartment import CompartmentCamera
from hardware.camera.port import Camera
from hardware.camera.scanner import Scanner, build_scanner
from hardware.doors.drivers import make_door_driver
from hardware.doors.port import DoorController, DoorSensors
from hardware.errors import DriverConfigError
from hub_sync.device.enroll import CredentialKeeper
from hub_sync.device.ports import SyncStats
from hub_sync.device.sync import DeviceSync

_LOG = logging.getLogger(__name__)


def agent_version() -> str:
    """The installed agent's version, or `0+unknown` when run from a source tree."""
    try:
        return version("locker-agent")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class DoorHardware:
    """The door controller and the door sensors that the configured driver provides."""

    controller: DoorController
    sensors: DoorSensors


def build_door_hardware(config: AgentConfig) -> DoorHardware:
    """The configured door driver (the simulator by default)."""
    try:
        controller, sensors = make_door_driver(config.doors.driver, len(config.doors.layout()))
    except DriverConfigError as err:
        raise ConfigError(str(err)) from err
    return DoorHardware(controller, sensors)


class Agent(RunningServices):
    """One locker agent: `start()`, `serve()` until stopped, `stop()`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock | None = None,
        hardware: DoorHardware | None = None,
        camera: Camera | None = None,
        compartment_camera: CompartmentCamera | None = None,
        extra_routes: Sequence[Callable[[web.Application], None]] = (),
        wallet_link: WalletLink | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.hardware = hardware or build_door_hardware(config)
        self.db = Database(config.database_path, synchronous=config.store.synchronous)
        self.version = agent_version()
        self.metrics = Metrics()
        self.scan_feed = ScanFeed()
        self.url: str | None = None
        self.typed_code_keys: TypedCodeKeyRing | None = None
        self.trust: TrustService | None = None
        self.services: Services | None = None
        self.scanner: Scanner | None = None
        self.sync: DeviceSync | None = None
        self.credentials: CredentialKeeper | None = None
        self._camera = camera
        self._compartment_camera = compartment_camera
        self.evidence: EvidenceRecorder = NoEvidence()
        self._extra_routes = tuple(extra_routes)
        self._wallet_link = wallet_link or ble_wallet_link(config.identity)
        self._identity = WalletSettings(None, config.identity.doctype, 0.0)
        self._runner: web.AppRunner | None = None
        self.connection_guard: ConnectionGuard | None = None

    async def start(self) -> None:
        """Open the store, switch relays off, recover, build the services, serve HTTP."""
        await asyncio.to_thread(secrets_at_rest.secure_data_dir, self.config.locker.data_dir)
        await self.db.open()
        now = self.clock.now()
        await self.db.run(ensure_doors, self.config.doors.layout())
        await self.hardware.controller.start()  # all relays off before anything else
        await self._recover(now)
        self.typed_code_keys = await load_typed_code_keys(self.config, self.db, now)
        await finish_interrupted_rotation(self.db, device_key_path(self.config))
        device_key = await asyncio.to_thread(
            load_or_create_device_key, device_key_path(self.config)
        )
        self.trust = await self._start_trust()
        self.evidence = await build_evidence(
            self.config, self.db, self.clock, self._compartment_camera
        )
        # with a compartment camera, what a restart cut off may not need staff (agent.domain)
        await decide_interrupted_openings(self.db, self.evidence, self.clock)
        self._identity = await wallet_settings(self.config.identity)
        self.services = services = self._build_services(self.trust, device_key)
        if services.id_assist is not None:
            services.id_assist.use_templates(await mrz_templates(self.config.identity.mrz_font_dir))
        await restore_counters(self.metrics, self.db)
        self.scanner = self._build_scanner(services)
        self.sync = self._build_sync(services, self.trust)
        self._register_status(services)
        await self._start_web(services)

    @property
    def running(self) -> Services:
        """The services of a started agent (for the CLI, benchmarks and tests)."""
        if self.services is None:
            raise RuntimeError("the agent is not started")
        return self.services

    # Shortcuts to the services most tools and tests reach for (`RunningServices`).

    @property
    def typed_code_key_file(self) -> Path:
        """The key file of the typed codes: the configured one, or the default in the data dir."""
        return typed_code_key_file(self.config)

    @property
    def _code_keys(self) -> TypedCodeKeyRing:
        if self.typed_code_keys is None:
            raise RuntimeError("the agent is not started")
        return self.typed_code_keys

    @property
    def typed_code_secret(self) -> bytes:
        """The current typed-code key (new digests are made with it)."""
        return self._code_keys.current

    async def _recover(self, now: float) -> None:
        openings = await self.db.run(recover_interrupted_openings, now)
        returns = await self.db.run(recover_interrupted_returns, now)
        await self.db.run(credit_downtime, now)  # time off counts as a locker-wide fault
        if openings or returns:
            _LOG.warning("a restart interrupted %s door openings; flagged for staff", openings)

    def _build_services(self, trust: TrustService, device_key: DeviceKey) -> Services:
        return build_services(
            self.config,
            Ports(
                self.db, self.hardware.controller, self.hardware.sensors, self.clock, self.evidence
            ),
            trust=trust,
            code_keys=self._code_keys.lookup,
            device_key=device_key,
            feed=self.scan_feed,
            metrics=self.metrics,
            versions={"agent": self.version, "locker": self.config.locker.id},
            identity=self._identity,
            wallet_link=self._wallet_link,
            camera_frame=self._camera_frame,
        )

    async def _camera_frame(self, wait_s: float) -> Any | None:
        """The scanner camera's current frame (the counter's ID checks read it)."""
        scanner = self.scanner
        return None if scanner is None else await scanner.current_frame(wait_s)

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

    def _build_scanner(self, services: Services) -> Scanner | None:
        camera_config = self.config.camera
        if not camera_config.enabled:
            return None
        return build_scanner(
            camera_config.to_settings(), services.scans.on_camera_code, camera=self._camera
        )

    def _build_sync(self, services: Services, trust: TrustService) -> DeviceSync | None:
        sync = build_sync(
            self.config,
            self.db,
            self.clock,
            services,
            trust,
            on_drain_alarm=self._on_drain_alarm,
            photos=photo_source(self.evidence, self.db, self.clock),
        )  # build_sync registers the sync's outbox callback with the database
        if sync is not None:
            self.credentials = credential_keeper(self.config, sync)
        return sync

    async def _storage_recovered(self, episode: StorageEpisode) -> None:
        """Writes work again: now the fault can be recorded for the hub and the audit."""
        body = {
            "fault": episode.kind,
            "since": episode.since,
            "until": episode.until,
            "failures": episode.failures,
        }
        await self.db.run(journal.record, "storage.fault", body, now=self.clock.now())

    async def _on_drain_alarm(self, active: bool, stats: SyncStats) -> None:
        body = {"active": active, "outbox_depth": stats.outbox_depth}
        await self.db.run(journal.record, "link.drain_alarm", body, now=self.clock.now())

    def _register_status(self, services: Services) -> None:
        providers = services.status.providers
        providers["storage"] = self.db.health.as_json
        ring = self._code_keys
        providers["typed_code_keys"] = lambda: ring.key_ids  # ids, never the keys
        self.db.on_storage_recovered.append(self._storage_recovered)
        if self.scanner is not None:
            scanner = self.scanner
            providers["camera"] = lambda: asdict(scanner.health())
        if self.config.locker.mode == "locker":
            providers["supervision"] = services.supervisor.status_section
        if self.sync is not None:
            sync = self.sync
            providers["hub"] = lambda: asdict(sync.stats())
        if self.trust is not None:
            providers["trust"] = partial(trust_section, self.trust)
        register_metrics(self.metrics, self.db.health, services, self.scanner, self.sync)

    async def _start_web(self, services: Services) -> None:
        context = ApiContext(
            pickup=services.pickup,
            sessions=services.sessions,
            status=services.status.snapshot,
            locker_id=self.config.locker.id,
            version=self.version,
            scan=services.scans.scan,
            feed=self.scan_feed,
            extra_routes=(*area_routes(self._areas(services)), *self._extra_routes),
            metrics=self.metrics,
            token_sign_in=partial(token_sign_in, services.tokens),
        )
        api = self.config.api
        guard = self.connection_guard = ConnectionGuard(
            header_timeout_s=api.header_timeout_s,
            body_timeout_s=api.body_timeout_s,
            max_connections=api.max_connections,
        )
        # Idle keep-alive connections close as a slow request would; a body the handler did
        # not read (or gave up on) is not drained at the client's pace: the connection closes.
        self._runner = web.AppRunner(
            make_web_app(context, guard),
            access_log=None,
            keepalive_timeout=api.header_timeout_s,
            lingering_time=0,
        )
        await self._runner.setup()
        site = GuardedSite(self._runner, api.host, api.port, guard)
        await site.start()
        self.url = f"http://{api.host}:{site.bound_port}/"
        _LOG.info("kiosk and API listening on %s", self.url)

    def _areas(self, services: Services) -> AreaServices:
        return AreaServices(
            staff=services.staff,
            door_help=services.door_help,
            evidence=self.evidence,
            db=self.db,
            data_dir=self.config.locker.data_dir,
            loading=services.loading,
            returns=services.returns,
            counter=services.counter,
            collection=services.collection,
            wallet=services.wallet,
            id_assist=services.id_assist,
            counter_identity=services.counter_identity,
            feed=self.scan_feed,
        )

    async def serve(self, stop: asyncio.Event) -> None:
        """Run the long-lived tasks until `stop` is set; then cancel them cleanly."""
        services = self.services
        if services is None:
            raise RuntimeError("serve() before start()")
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(services.expiry.run(self._sweep_s, stop), name="agent.expiry"),
                group.create_task(services.audit.run(), name="agent.audit-signer"),
                group.create_task(
                    self._code_keys.watch(self.db, self.clock, self.config.typed_codes.reload_s),
                    name="agent.code-key-ring",
                ),
                group.create_task(services.kpis.run(), name="agent.kpi-snapshot"),
                group.create_task(
                    save_counters_every(self.metrics, self.db, COUNTER_SAVE_S),
                    name="agent.counter-saver",
                ),
            ]
            if self.config.locker.mode == "locker":
                tasks.append(group.create_task(services.supervisor.run(), name="agent.doors"))
            if self.scanner is not None:
                tasks.append(group.create_task(self.scanner.run(), name="agent.qr-scanner"))
            if self.sync is not None:
                tasks.append(group.create_task(self.sync.run(), name="agent.hub-sync"))
            if self.credentials is not None:
                keeper = self.credentials.run()
                tasks.append(group.create_task(keeper, name="agent.hub-credentials"))
            await stop.wait()
            for task in tasks:
                task.cancel()

    @property
    def _sweep_s(self) -> float:
        return self.config.operations.expiry_sweep_s

    async def stop(self) -> None:
        """Stop serving, sign the audit head, switch relays off, close the store.

        Safe to call after a failed or partial start."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.services is not None:
            try:
                await self.services.audit.checkpoint()
            except Exception:
                _LOG.exception("could not sign the audit log at shutdown")
            try:
                await save_counters(self.metrics, self.db)
            except Exception:
                _LOG.exception("could not save the metric counters at shutdown")
        await self.hardware.controller.stop()
        await self.db.close()
