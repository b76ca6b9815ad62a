"""The composition root: the only module (with its helper `app_services.py`) that builds
concrete drivers, the store, the scanner, the MQTT client and the web app, and starts and stops
them in a readable order."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from agent.api.context import ApiContext
from agent.api.web import make_web_app
from agent.app_services import Ports, Services, build_services
from agent.audit import DeviceKey, device_key_path, load_or_create_device_key
from agent.clock import Clock, SystemClock
from agent.config import AgentConfig
from agent.errors import AgentError, ConfigError
from agent.hub_link import HubCommands, StatusSnapshot, StoreOutbox, command_keys
from agent.metrics import Gauge, Metrics
from agent.reasons import Reason
from agent.services.pickup import recover_interrupted_openings
from agent.services.returns import recover_interrupted_returns
from agent.services.scans import ScanFeed
from agent.services.trust import TrustPolicy, TrustService, load_roots
from agent.store import journal, lockers
from agent.store.db import Database
from agent.tokens.claims import Purpose
from agent.tokens.trust import TrustBundle
from agent.tokens.typed_codes import parse_code_key
from hardware.camera import Camera
from hardware.door_drivers import make_door_driver
from hardware.doors import DoorController, DoorSensors
from hardware.errors import DriverConfigError
from hardware.scanner import Scanner, build_scanner
from hub_sync.device import DeviceSync
from hub_sync.mqtt import TlsSettings
from hub_sync.ports import SyncStats
from hub_sync.settings import SyncSettings, parse_broker, parse_protocol

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


def _typed_code_secret(conn: sqlite3.Connection, now: float, enrolled: bytes | None) -> bytes:
    """The key of typed-code lookups: the enrolled one (shared with the hub) if configured,
    otherwise one created on first start."""
    stored = journal.get_setting(conn, "typed_code_secret")
    wanted = enrolled.hex() if enrolled is not None else stored or secrets.token_hex(32)
    if stored != wanted:
        journal.put_setting(conn, "typed_code_secret", wanted)
        journal.append_audit(conn, "secret.installed", now=now, detail={"name": "typed_code"})
    return bytes.fromhex(wanted)


def _read_key_file(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return parse_code_key(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"typed_codes.key_file: cannot read {path}: {err.strerror}") from err
    except ValueError as err:
        raise ConfigError(f"typed_codes.key_file: {path}: {err}") from None


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
        self.metrics = Metrics()
        self.scan_feed = ScanFeed()
        self.url: str | None = None
        self.typed_code_secret = b""
        self.trust: TrustService | None = None
        self.services: Services | None = None
        self.scanner: Scanner | None = None
        self.sync: DeviceSync | None = None
        self._camera = camera
        self._extra_routes = tuple(extra_routes)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Open the store, switch relays off, recover, build the services, serve HTTP."""
        await self.db.open()
        now = self.clock.now()
        await self.db.run(lockers.ensure_doors, self.config.doors.layout())
        await self.hardware.controller.start()  # all relays off before anything else
        await self._recover(now)
        enrolled = await asyncio.to_thread(_read_key_file, self.config.typed_codes.key_file)
        self.typed_code_secret = await self.db.run(_typed_code_secret, now, enrolled)
        device_key = await asyncio.to_thread(
            load_or_create_device_key, device_key_path(self.config)
        )
        self.trust = await self._start_trust()
        self.services = services = self._build_services(self.trust, device_key)
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

    # Shortcuts to the services most tools and tests reach for.
    token_pickup = property(lambda self: self.running.tokens)
    expiry = property(lambda self: self.running.expiry)
    loading = property(lambda self: self.running.loading)
    returns = property(lambda self: self.running.returns)
    counter = property(lambda self: self.running.counter)
    sessions = property(lambda self: self.running.sessions)
    status = property(lambda self: self.running.status)

    async def _recover(self, now: float) -> None:
        openings = await self.db.run(recover_interrupted_openings, now)
        returns = await self.db.run(recover_interrupted_returns, now)
        if openings or returns:
            _LOG.warning("a restart interrupted %s door openings; flagged for staff", openings)

    def _build_services(self, trust: TrustService, device_key: DeviceKey) -> Services:
        return build_services(
            self.config,
            Ports(self.db, self.hardware.controller, self.hardware.sensors, self.clock),
            trust=trust,
            code_secret=self.typed_code_secret,
            device_key=device_key,
            feed=self.scan_feed,
            metrics=self.metrics,
            versions={"agent": self.version, "locker": self.config.locker.id},
        )

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
        hub = self.config.hub
        if hub.url is None:
            return None
        try:
            host, port, user, password, tls = parse_broker(hub.url)
            if hub.password_file is not None:
                password = hub.password_file.read_text(encoding="utf-8").strip()
            settings = SyncSettings(
                host=host,
                port=port,
                device_id=self.config.locker.id,
                fleet_id=hub.fleet,
                username=hub.username or user,
                password=password,
                tls=_tls(hub.ca, hub.cert, hub.key) if tls else None,
                keepalive=hub.keepalive_s,
                protocol=parse_protocol(hub.protocol),
                drain_alarm_s=hub.drain_alarm_minutes * 60,
            )
        except (ValueError, OSError) as err:
            raise ConfigError(f"hub: {err}") from err

        commands = HubCommands(
            self.db,
            self.clock,
            expiry=services.expiry,
            trust=trust,
            remote_open=services.staff.open_door,
            default_hold_s=self.config.hold.default_hours * 3600,
            returns=services.returns,
        )
        sync = DeviceSync(
            settings,
            StoreOutbox(self.db),
            commands,
            StatusSnapshot(services.status.snapshot),
            command_keys=lambda: command_keys(trust, self.clock.now()),
            clock=self.clock.now,
            on_alarm=self._on_drain_alarm,
        )
        self.db.after_commit.append(sync.outbox_changed)
        return sync

    async def _on_drain_alarm(self, active: bool, stats: SyncStats) -> None:
        body = {"active": active, "outbox_depth": stats.outbox_depth}
        await self.db.run(journal.record, "link.drain_alarm", body, now=self.clock.now())

    def _register_status(self, services: Services) -> None:
        providers = services.status.providers
        if self.scanner is not None:
            scanner = self.scanner
            providers["camera"] = lambda: asdict(scanner.health())
        if self.config.locker.mode == "locker":
            providers["supervision"] = services.supervisor.status_section
        if self.sync is not None:
            sync = self.sync
            providers["hub"] = lambda: asdict(sync.stats())
        if self.trust is not None:
            trust = self.trust
            # the fleet hub tracks each locker's bundle and alarms when it ages (docs/hub.md)
            providers["trust"] = lambda: _trust_section(trust.bundle)
        self.metrics.gauges.append(self._gauges)

    def _gauges(self) -> Iterable[Gauge]:
        if self.services is not None:
            for kind, count in sorted(self.services.supervisor.alarm_counts.items()):
                yield Gauge(
                    "locker_door_alarms_total",
                    "Door alarms since start (forced, left open, jammed, dead sensor).",
                    count,
                    {"kind": kind},
                )
        if self.scanner is not None:
            health = self.scanner.health()
            yield Gauge("locker_camera_ok", "1 when frames are flowing.", float(health.ok))
            if health.decode_ms_p50 is not None:
                yield Gauge(
                    "locker_decode_p50_seconds",
                    "Median QR decode time per frame.",
                    health.decode_ms_p50 / 1000,
                )
        if self.sync is not None:
            stats = self.sync.stats()
            yield Gauge("locker_hub_connected", "1 while connected.", float(stats.connected))
            yield Gauge("locker_hub_reconnects", "Reconnects since start.", stats.reconnects)
            yield Gauge("locker_outbox_depth", "Events not yet confirmed.", stats.outbox_depth)
            yield Gauge(
                "locker_outbox_oldest_age_seconds",
                "Age of the oldest unconfirmed event.",
                stats.oldest_age_s or 0.0,
            )
            yield Gauge(
                "locker_outbox_drain_alarm", "1 while the outbox is stuck.", stats.drain_alarm
            )

    async def _start_web(self, services: Services) -> None:
        context = ApiContext(
            pickup=services.pickup,
            sessions=services.sessions,
            status=services.status.snapshot,
            locker_id=self.config.locker.id,
            version=self.version,
            scan=services.scans.scan,
            feed=self.scan_feed,
            extra_routes=(*services.routes, *self._extra_routes),
            metrics=self.metrics,
            token_sign_in=self._token_sign_in,
        )
        self._runner = web.AppRunner(make_web_app(context), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.api.host, self.config.api.port)
        await site.start()
        self.url = f"http://{self.config.api.host}:{_bound_port(site)}/"
        _LOG.info("kiosk and API listening on %s", self.url)

    def _token_sign_in(self, payload: str) -> tuple[str, str]:
        """(actor, role) of a courier or staff token from the hub (verified offline)."""
        tokens = self.running.tokens
        try:
            return tokens.verify(payload, Purpose.COURIER).order_ref, Purpose.COURIER.value
        except AgentError as err:
            if err.reason is not Reason.WRONG_PURPOSE:
                raise
        return tokens.verify(payload, Purpose.STAFF).order_ref, Purpose.STAFF.value

    async def serve(self, stop: asyncio.Event) -> None:
        """Run the long-lived tasks until `stop` is set; then cancel them cleanly."""
        services = self.services
        if services is None:
            raise RuntimeError("serve() before start()")
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(services.expiry.run(self._sweep_s, stop), name="agent.expiry"),
                group.create_task(services.audit.run(), name="agent.audit-signer"),
            ]
            if self.config.locker.mode == "locker":
                tasks.append(group.create_task(services.supervisor.run(), name="agent.doors"))
            if self.scanner is not None:
                tasks.append(group.create_task(self.scanner.run(), name="agent.qr-scanner"))
            if self.sync is not None:
                tasks.append(group.create_task(self.sync.run(), name="agent.hub-sync"))
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
        await self.hardware.controller.stop()
        await self.db.close()


def _tls(ca: object, cert: object, key: object) -> TlsSettings:
    return TlsSettings(
        ca=None if ca is None else str(ca),
        cert=None if cert is None else str(cert),
        key=None if key is None else str(key),
    )


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; needed for port 0
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else int(site._port)


def _trust_section(bundle: TrustBundle | None) -> dict[str, object]:
    """The installed trust bundle for the state snapshot: version and age, never keys."""
    if bundle is None:
        return {"version": None}
    return {
        "version": bundle.version,
        "issued_at": bundle.issued_at,
        "next_update": bundle.next_update,
    }
