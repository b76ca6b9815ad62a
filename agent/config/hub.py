"""The `[hub]` config section: the MQTT link to the hub, its credentials, batching and timers.

Without a `url` the locker runs offline. `agent.bootstrap.hub` turns this section into the
device sync's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubConfig(_Section):
    """The link to the hub over MQTT; without a `url` the locker runs offline."""

    url: str | None = Field(
        None,
        pattern=r"^mqtts?://[^\s]+$",
        description="Broker URL, mqtt://host:1883 or mqtts://host:8883; none: offline locker.",
    )
    fleet: str = Field(
        "demo", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Fleet id in the MQTT topics."
    )
    username: str | None = Field(None, description="MQTT user name (per-device credential).")
    password_file: Path | None = Field(
        None, description="File holding the MQTT password (keep it 0600; never in this file)."
    )
    ca: Path | None = Field(None, description="CA bundle to trust for mqtts://.")
    cert: Path | None = Field(None, description="Device certificate for mutual TLS.")
    key: Path | None = Field(None, description="Device private key for mutual TLS.")
    credential_pin: str | None = Field(
        None,
        pattern=r"^[A-Z2-7]{32}$",
        description="Pin of the fleet device CA (from the invite; written by `locker-agent "
        "enroll`): the locker then rotates its certificate and key when the hub asks.",
    )
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version.")
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keepalive.")
    drain_alarm_minutes: float = Field(
        10,
        gt=0,
        description="Alarm when the outbox has not drained for this long (online or not).",
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="Events per `events` message.")
    inflight_window: int = Field(
        8,
        ge=1,
        le=100,
        description="Event messages awaiting the broker's PUBACK; `inflight_window * batch_size` "
        "events at most await the hub's confirm.",
    )
    confirm_timeout_s: float = Field(
        15,
        gt=0,
        le=3600,
        description="Without a hub confirm for this long, resend from the last confirmed seq.",
    )
    confirm_timeout_max_s: float = Field(
        300,
        gt=0,
        le=86_400,
        description="Each resend without progress doubles the confirm timeout, up to this.",
    )
    state_interval_s: float = Field(
        300,
        gt=0,
        le=86_400,
        description="Republish the retained state snapshot at least this often, even unchanged.",
    )
    photo_chunk_kib: int = Field(
        64,
        ge=1,
        le=256,
        description="Evidence photos go to the hub in chunks of at most this many KiB, one "
        "confirmed chunk at a time, after the events (docs/evidence.md, upload).",
    )
    backoff_min_s: float = Field(0.5, gt=0, le=60, description="Shortest wait before a reconnect.")
    backoff_max_s: float = Field(
        60, gt=0, le=3600, description="Longest wait before a reconnect (full jitter, doubling)."
    )

    @model_validator(mode="after")
    def _check_timers(self) -> HubConfig:
        if self.confirm_timeout_s > self.confirm_timeout_max_s:
            raise ValueError("hub.confirm_timeout_s must not exceed hub.confirm_timeout_max_s")
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError("hub.backoff_min_s must not exceed hub.backoff_max_s")
        return self
