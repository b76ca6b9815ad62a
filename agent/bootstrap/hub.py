"""Part of the composition root: the hub link (MQTT settings from the config, the device sync
wired to the agent's store, services and trust) and the trust section of the status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agent.bootstrap.services import Services
from agent.config.model import AgentConfig
from agent.domain.clock import Clock
from agent.errors import ConfigError
from agent.services.hub_link import HubCommands, StatusSnapshot, StoreOutbox, command_keys
from agent.services.trust import TrustService
from agent.store.db import Database
from agent.store.journal import persisted_time_floor
from hub_sync.adapters.mqtt import TlsSettings
from hub_sync.adapters.settings import SyncSettings, parse_broker, parse_protocol
from hub_sync.device.ports import SyncStats
from hub_sync.device.sync import DeviceSync


def build_sync(
    config: AgentConfig,
    db: Database,
    clock: Clock,
    services: Services,
    trust: TrustService,
    *,
    on_drain_alarm: Callable[[bool, SyncStats], Awaitable[None]],
) -> DeviceSync | None:
    """The device sync with the hub named in `[hub]`, or None without a hub URL."""
    hub = config.hub
    if hub.url is None:
        return None
    try:
        host, port, user, password, tls = parse_broker(hub.url)
        if hub.password_file is not None:
            password = hub.password_file.read_text(encoding="utf-8").strip()
        settings = SyncSettings(
            host=host,
            port=port,
            device_id=config.locker.id,
            fleet_id=hub.fleet,
            username=hub.username or user,
            password=password,
            tls=_tls(hub.ca, hub.cert, hub.key) if tls else None,
            keepalive=hub.keepalive_s,
            protocol=parse_protocol(hub.protocol),
            drain_alarm_s=hub.drain_alarm_minutes * 60,
            batch_size=hub.batch_size,
            inflight_window=hub.inflight_window,
            confirm_timeout_s=hub.confirm_timeout_s,
            confirm_timeout_max_s=hub.confirm_timeout_max_s,
            state_interval_s=hub.state_interval_s,
            backoff_min_s=hub.backoff_min_s,
            backoff_max_s=hub.backoff_max_s,
        )
    except (ValueError, OSError) as err:
        raise ConfigError(f"hub: {err}") from err

    commands = HubCommands(
        db,
        clock,
        expiry=services.expiry,
        trust=trust,
        remote_open=services.staff.open_for_hub,
        default_hold_s=config.hold.default_hours * 3600,
        returns=services.returns,
    )
    sync = DeviceSync(
        settings,
        StoreOutbox(db),
        commands,
        StatusSnapshot(services.status.snapshot),
        command_keys=lambda: command_keys(trust, clock.now()),
        clock=clock.now,
        on_alarm=on_drain_alarm,
        time_floor=lambda: db.read(persisted_time_floor),
    )
    db.after_commit.append(sync.outbox_changed)
    return sync


def _tls(ca: object, cert: object, key: object) -> TlsSettings:
    return TlsSettings(
        ca=None if ca is None else str(ca),
        cert=None if cert is None else str(cert),
        key=None if key is None else str(key),
    )


def trust_section(trust: TrustService) -> dict[str, object]:
    """The `trust` section of `/api/v1/status`: the bundle in force, for the staff screen."""
    bundle = trust.bundle
    if bundle is None:
        return {"version": None, "issued_at": None, "next_update": None}
    return {
        "version": bundle.version,
        "issued_at": bundle.issued_at,
        "next_update": bundle.next_update,
    }
