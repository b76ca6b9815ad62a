"""Settings of the device sync client (the agent builds one from its validated config)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from hub_sync.adapters.mqtt import MQTT_V5, MQTT_V311, ConnectParams, TlsSettings, Will
from hub_sync.protocol.photo_wire import MAX_CHUNK
from hub_sync.protocol.wire import check_id


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """Connection, batching and alarm settings. Times are seconds.

    The timers and limits of docs/protocol.md ("Timers and limits"): `batch_size` events per
    message, `inflight_window` messages awaiting PUBACK (and `inflight_window * batch_size` events
    awaiting the hub's confirm), `confirm_timeout_s` without a confirm before resending from the
    last confirmed seq (doubling up to `confirm_timeout_max_s`), the retained state republished
    every `state_interval_s` even when unchanged, evidence photos go in chunks of at most
    `photo_chunk_bytes`, reconnects after `backoff_min_s` ..
    `backoff_max_s` (full jitter)."""

    host: str
    port: int
    device_id: str
    fleet_id: str
    username: str | None = None
    password: str | None = None
    tls: TlsSettings | None = None
    client_id: str | None = None
    keepalive: int = 30
    protocol: int = MQTT_V5
    session_expiry_s: int = 14 * 86_400
    backoff_min_s: float = 0.5
    backoff_max_s: float = 60.0
    batch_size: int = 100
    inflight_window: int = 8
    confirm_timeout_s: float = 15.0
    confirm_timeout_max_s: float = 300.0
    drain_alarm_s: float = 600.0
    state_interval_s: float = 300.0
    photo_chunk_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        check_id(self.device_id, "device_id")
        check_id(self.fleet_id, "fleet_id")
        if self.protocol not in (MQTT_V5, MQTT_V311):
            raise ValueError("protocol must be 5 (MQTT 5) or 4 (MQTT 3.1.1)")
        if not 0 < self.backoff_min_s <= self.backoff_max_s:
            raise ValueError("need 0 < backoff_min_s <= backoff_max_s")
        if self.batch_size < 1 or self.inflight_window < 1:
            raise ValueError("batch_size and inflight_window must be >= 1")
        if not 0 < self.confirm_timeout_s <= self.confirm_timeout_max_s:
            raise ValueError("need 0 < confirm_timeout_s <= confirm_timeout_max_s")
        if not 1024 <= self.photo_chunk_bytes <= MAX_CHUNK:
            raise ValueError(f"photo_chunk_bytes must be 1024..{MAX_CHUNK}")
        if self.state_interval_s <= 0 or self.drain_alarm_s <= 0:
            raise ValueError("state_interval_s and drain_alarm_s must be > 0")

    def connect_params(self, will: Will) -> ConnectParams:
        """The `ConnectParams` of the sync connection: a persistent session (no clean start), the
        given Last Will, an in-flight window of twice the sync's own (at least 20)."""
        return ConnectParams(
            host=self.host,
            port=self.port,
            client_id=self.client_id or self.device_id,
            username=self.username,
            password=self.password,
            tls=self.tls,
            keepalive=self.keepalive,
            protocol=self.protocol,
            session_expiry_s=self.session_expiry_s,
            clean_start=False,
            will=will,
            max_inflight=max(20, self.inflight_window * 2),
        )


def parse_protocol(text: str) -> int:
    """'5' -> MQTT 5; '3.1.1' or '4' -> MQTT 3.1.1."""
    table = {"5": MQTT_V5, "5.0": MQTT_V5, "3.1.1": MQTT_V311, "4": MQTT_V311}
    if text not in table:
        raise ValueError(f"unknown MQTT protocol {text!r} (use 5 or 3.1.1)")
    return table[text]


def parse_broker(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """mqtt://user:pass@host:port or mqtts://... -> (host, port, user, password, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"broker must look like mqtt://user:pass@host:port, not {url!r}")
    tls = parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, user, password, tls
