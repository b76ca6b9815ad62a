"""Part of the composition root: the hub link (MQTT settings from the config, the device sync
wired to the agent's store, services and trust) and the trust section of the status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from agent.bootstrap.hub_link import sync_settings
from agent.bootstrap.services import Services
from agent.config.model import AgentConfig
from agent.domain.clock import Clock
from agent.services.hub_link import HubCommands, StatusSnapshot, StoreOutbox, command_keys
from agent.services.trust import TrustService
from agent.store.audit import device_key_path
from agent.store.audit_rotation import rotate_device_key
from agent.store.db import Database
from agent.store.journal import persisted_time_floor
from hub_sync.device.ports import PhotoSource, SyncStats
from hub_sync.device.sync import DeviceSync


def build_sync(
    config: AgentConfig,
    db: Database,
    clock: Clock,
    services: Services,
    trust: TrustService,
    *,
    on_drain_alarm: Callable[[bool, SyncStats], Awaitable[None]],
    photos: PhotoSource | None = None,
) -> DeviceSync | None:
    """The device sync with the hub named in `[hub]`, or None without a hub URL."""
    hub = config.hub
    if hub.url is None:
        return None
    settings = sync_settings(config)

    commands = HubCommands(
        db,
        clock,
        expiry=services.expiry,
        trust=trust,
        remote_open=services.staff.open_for_hub,
        default_hold_s=config.hold.default_hours * 3600,
        returns=services.returns,
        rotate_key=partial(rotate_device_key, db, services.audit, device_key_path(config), clock),
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
        photos=photos,
        # the audit device key the hub holds per locker (and learns rotations of), read each time:
        # it signs events and replies
        device_key=lambda: services.audit.key.private,
    )
    db.after_commit.append(sync.outbox_changed)
    return sync


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
