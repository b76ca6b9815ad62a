"""The hub link's settings from `[hub]`, and the device-credential keeper of an enrolled locker.

`sync_settings` reads the password file each time it is called, so that after a credential
rotation (new certificate and key in place, a new broker password for the cluster) the sync
reconnects with what is on disk now. `credential_keeper` runs only for a locker enrolled with
`locker-agent enroll`, whose `[hub] credential_pin` pins the fleet device CA: the hub's
`cred.rotate` and `cred.issued` messages are accepted only when signed by that CA
(hub_sync/device/enroll.py, docs/provisioning.md "Rotation of device credentials").
"""

from __future__ import annotations

from pathlib import Path

from agent.config.model import AgentConfig
from agent.errors import ConfigError
from hub_sync.adapters.mqtt import ConnectParams, TlsSettings
from hub_sync.adapters.settings import SyncSettings, parse_broker, parse_protocol
from hub_sync.device.enroll import CERT_FILE, KEY_FILE, CredentialKeeper, Rotated
from hub_sync.device.sync import DeviceSync


def _tls(ca: Path | None, cert: Path | None, key: Path | None) -> TlsSettings:
    return TlsSettings(
        ca=None if ca is None else str(ca),
        cert=None if cert is None else str(cert),
        key=None if key is None else str(key),
    )


def sync_settings(config: AgentConfig) -> SyncSettings:
    """The sync's settings from `[hub]` (its `url` is set); ConfigError names the problem."""
    hub = config.hub
    if hub.url is None:
        raise ConfigError("hub: no url")
    try:
        host, port, user, password, tls = parse_broker(hub.url)
        if hub.password_file is not None:
            password = hub.password_file.read_text(encoding="utf-8").strip()
        return SyncSettings(
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
            photo_chunk_bytes=hub.photo_chunk_kib * 1024,
        )
    except (ValueError, OSError) as err:
        raise ConfigError(f"hub: {err}") from err


def credential_keeper(config: AgentConfig, sync: DeviceSync) -> CredentialKeeper | None:
    """The keeper that rotates this locker's broker credential on the hub's request (None: the
    locker was not enrolled by invite). After a rotation the sync reconnects with the new files;
    unconfirmed events are resent, so none is lost."""
    hub = config.hub
    if hub.credential_pin is None:
        return None
    if hub.cert is None or hub.key is None or hub.cert.parent != hub.key.parent:
        raise ConfigError("hub: credential_pin needs cert and key in one folder")
    if (hub.cert.name, hub.key.name) != (CERT_FILE, KEY_FILE):
        raise ConfigError(f"hub: credential_pin needs cert = .../{CERT_FILE}, key = .../{KEY_FILE}")

    def connect(client_id: str) -> ConnectParams:
        s = sync_settings(config)
        return ConnectParams(s.host, s.port, client_id, username=s.username, password=s.password,
                             tls=s.tls, protocol=s.protocol, clean_start=True)  # fmt: skip

    async def rotated(_: Rotated) -> None:
        await sync.reconnect_with(sync_settings(config))

    return CredentialKeeper(
        fleet=hub.fleet,
        device=config.locker.id,
        dir=hub.cert.parent,
        pin=hub.credential_pin,
        connect=connect,
        on_rotated=rotated,
    )
