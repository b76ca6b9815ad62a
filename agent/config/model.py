"""The agent's configuration: one TOML file, validated once at start.

Every key has a description; `docs/configuration.md` documents them. Errors name the file, the
key and the problem, and the CLI exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.config.evidence import EvidenceConfig
from agent.config.hardware import CameraConfig, DoorDriverConfig
from agent.config.hub import HubConfig
from agent.domain.doors import DoorSize
from hardware.doors.sim import SimulatorDoorSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LockerConfig(_Section):
    """This locker: its id, its data folder and whether it is a locker or a staffed counter."""

    id: str = Field(
        "LK-DEMO-001",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="This locker's id: the `aud` its tokens name and its MQTT device id.",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Folder for the SQLite database and local keys (relative to the config file).",
    )
    mode: Literal["locker", "counter"] = Field(
        "locker", description="`locker`: doors and self-service; `counter`: staffed, no doors."
    )


class DoorGroupConfig(_Section):
    """A run of doors of one size, numbered on from the previous group."""

    size: DoorSize = Field(description="Door size: S, M or L.")
    count: int = Field(ge=1, le=200, description="How many doors of this group, numbered on.")
    low: bool = Field(False, description="Whether these doors are reachable from a wheelchair.")


class DoorsConfig(_Section):
    """The bank's doors, in wiring order, and the driver that opens them."""

    groups: tuple[DoorGroupConfig, ...] = Field(
        (
            DoorGroupConfig(size=DoorSize.S, count=6, low=False),
            DoorGroupConfig(size=DoorSize.S, count=2, low=True),
            DoorGroupConfig(size=DoorSize.M, count=6, low=False),
            DoorGroupConfig(size=DoorSize.M, count=2, low=True),
            DoorGroupConfig(size=DoorSize.L, count=6, low=False),
            DoorGroupConfig(size=DoorSize.L, count=2, low=True),
        ),
        description="The bank's doors in wiring order; door numbers run 1..N across the groups.",
    )
    driver: DoorDriverConfig = Field(
        default_factory=SimulatorDoorSettings,
        description="Door driver by `type`: simulator, modbus_tcp, modbus_rtu or gpio.",
    )

    @model_validator(mode="after")
    def _driver_fits_the_groups(self) -> DoorsConfig:
        self.driver.check_doors(len(self.layout()))
        return self

    def layout(self) -> list[tuple[int, DoorSize, bool]]:
        """Every door as (number, size, low), numbered 1..N across the groups."""
        numbered, number = [], 0
        for group in self.groups:
            for _ in range(group.count):
                number += 1
                numbered.append((number, group.size, group.low))
        return numbered


class ApiConfig(_Section):
    """The HTTP API and kiosk server: where it listens and how long it waits for clients."""

    host: str = Field("127.0.0.1", description="Address the HTTP API and kiosk bind to.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0 picks a free one).")
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A connection that has not sent a request's headers this long after "
        "opening (or after its previous response) is closed (slow-client defence).",
    )
    body_timeout_s: float = Field(
        10.0, gt=0, le=300, description="Time a client has to send a request body (408 after)."
    )
    max_connections: int = Field(
        64,
        ge=4,
        le=10000,
        description="Open HTTP connections at most; a new one replaces the oldest that is not "
        "being served (a slow or idle client), else it is closed.",
    )


class TypedCodeConfig(_Section):
    """Typed codes: the key they are checked with and how many wrong ones are allowed."""

    key_file: Path | None = Field(
        None,
        description="File with the hex typed-code key shared with the hub at enrollment "
        "(`locker-admin device enroll`); none: `typed_code.key` in the data folder, created "
        "(0600) at first start. Never kept in the database.",
    )
    max_failures_per_minute: int = Field(
        5,
        ge=1,
        le=60,
        description="Wrong typed codes allowed back to back, and refilled per minute (the "
        "next person waits at most 60 s / this after someone's typos).",
    )
    reload_s: float = Field(
        5.0,
        ge=0.1,
        le=3600,
        description="Re-read the key file this often: a rotated key ring (current key first, "
        "then keys still accepted) takes effect without a restart (docs/provisioning.md).",
    )
    daily_failure_budget: int = Field(
        100,
        ge=1,
        le=100000,
        description="Wrong typed codes per day at most (refilled evenly): the bound on guessing "
        "(docs/operations.md, 'Typed-code attempts').",
    )


class HoldConfig(_Section):
    """How long a parcel is held when its order does not say."""

    default_hours: float = Field(
        72, gt=0, le=24 * 60, description="Hold period for orders whose hub gave none."
    )


class OperationsConfig(_Section):
    """Timings of the background work: the expiry sweep and the door-open check."""

    expiry_sweep_s: float = Field(
        60, gt=0, le=3600, description="Seconds between sweeps that flag expired parcels."
    )
    door_open_check_ms: int = Field(
        1000,
        ge=0,
        le=10000,
        description="After a courier's or a return's latch pulse, how long the door sensor may "
        "take to report OPEN before the door counts as jammed (0: do not check).",
    )
    packaging_keep_free_doors: int = Field(
        2,
        ge=0,
        le=200,
        description="Reusable-packaging drop-offs (no sign-in) never take the last this many "
        "free doors of a size: they stay free for parcels and returns.",
    )
    packaging_keep_free_percent: int = Field(
        20,
        ge=0,
        le=100,
        description="As `packaging_keep_free_doors`, as a share of each size's doors (rounded "
        "up); the larger of the two is kept free.",
    )


class StoreConfig(_Section):
    """The SQLite store's durability."""

    synchronous: Literal["FULL", "NORMAL", "EXTRA"] = Field(
        "FULL", description="SQLite `synchronous` mode; FULL survives power loss."
    )


class TrustConfig(_Section):
    """Which fleet roots the locker trusts, and how strictly it reads token times."""

    root_keys: tuple[Path, ...] = Field(
        (),
        max_length=2,
        description="PEM public keys of the fleet roots (primary, backup) that sign trust bundles.",
    )
    bundle: Path | None = Field(
        None, description="A signed trust bundle to install at start if none newer is stored."
    )
    leeway_s: float = Field(60, ge=0, le=3600, description="Clock leeway for token times.")
    grace_hours: float = Field(
        168,
        ge=0,
        description="How long past its next update a bundle still serves ordinary pickups.",
    )
    live_window_s: float = Field(30, gt=0, le=300, description="Freshness of live codes.")


class StaffPinConfig(_Section):
    """One staff or courier PIN (a `[[staff]]` table)."""

    actor: str = Field(
        min_length=1, max_length=64, description="Staff or courier id (not a name) for the audit."
    )
    role: Literal["staff", "courier"] = Field(description="What this PIN may do.")
    pin_hash: str = Field(
        pattern=r"^scrypt\$[0-9a-f]{32}\$[0-9a-f]{64}$",
        description="`locker-admin device hash-pin` output; the PIN itself is never stored.",
    )


class SupervisionConfig(_Section):
    """Door supervision: how often sensors are read and when an open door is a problem."""

    poll_ms: int = Field(250, ge=50, le=2000, description="How often door sensors are polled.")
    commanded_window_s: float = Field(
        10, gt=0, le=120, description="A door opening this soon after a command is authorised."
    )
    jam_after_s: float = Field(
        5, gt=0, le=60, description="A commanded door whose sensor stays closed this long jammed."
    )
    reminder_after_s: float = Field(
        60, gt=0, le=3600, description="A door open this long gets a close-the-door reminder."
    )
    alarm_after_s: float = Field(
        180, gt=0, le=86400, description="A door open this long raises a left-open alarm."
    )
    reopen_grace_s: float = Field(
        60, ge=0, le=600, description="After a pickup, the same code reopens the door once."
    )

    @model_validator(mode="after")
    def _check_order(self) -> SupervisionConfig:
        if self.alarm_after_s <= self.reminder_after_s:
            raise ValueError("alarm_after_s must be longer than reminder_after_s")
        return self


class AuditConfig(_Section):
    """Audit checkpoints: the key that signs them and how often."""

    device_key: Path | None = Field(
        None,
        description="Ed25519 device key (PEM) that signs audit checkpoints; default "
        "`device_key.pem` in the data folder, created at first start (mode 0600).",
    )
    checkpoint_every_entries: int = Field(
        500, ge=1, le=1_000_000, description="Sign a checkpoint after this many audit entries."
    )
    checkpoint_minutes: float = Field(
        15, gt=0, le=1440, description="...or after this many minutes with new entries."
    )


class IdentityConfig(_Section):
    """Identity checks with wallet credentials and ID documents."""

    iaca: tuple[Path, ...] = Field(
        (),
        description="IACA root certificates trusted for wallet credentials (ISO 18013-5): PEM "
        "files, or folders whose *.pem / *.crt files are read. Empty: no wallet pickup.",
    )
    doctype: Literal["eu.europa.ec.eudi.pid.1", "eu.europa.ec.av.1", "org.iso.18013.5.1.mDL"] = (
        Field(
            "eu.europa.ec.eudi.pid.1",
            description="The credential the locker asks a wallet for: the EU PID, the EU age "
            "attestation (cannot prove a named recipient) or a mobile driving licence.",
        )
    )
    session_timeout_s: float = Field(
        20, gt=0, le=120, description="How long one wallet session (request and answer) may take."
    )
    mrz_font_dir: Path | None = Field(
        None,
        description="Counter: folder of the OCR-B font (Debian fonts-ocr-b: "
        "/usr/share/fonts/opentype/ocr-b) to render the MRZ reader's templates from at start "
        "(needs tesseract's text2image). Unset: ID assist reads AAMVA PDF417 only.",
    )
    wallet_link: Literal["none", "ble"] = Field(
        "none",
        description="How the locker reaches a customer's wallet after reading its QR: `ble` "
        "(ISO 18013-5 BLE, the locker as GATT central, with bleak on BlueZ) or `none` (no "
        "wallet pickup). The demo and tests pass a simulated link instead.",
    )
    ble_adapter: str | None = Field(
        None,
        description='BlueZ adapter for `wallet_link = "ble"`, e.g. `hci0`. Unset: BlueZ\'s '
        "default adapter.",
    )


class AgentConfig(_Section):
    """The whole agent config (the TOML file), one field per section."""

    locker: LockerConfig = Field(default_factory=LockerConfig, description="Identity.")
    doors: DoorsConfig = Field(default_factory=DoorsConfig, description="Doors and driver.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API and kiosk.")
    typed_codes: TypedCodeConfig = Field(
        default_factory=TypedCodeConfig, description="Typed-code rate limits."
    )
    hold: HoldConfig = Field(default_factory=HoldConfig, description="Hold periods.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="SQLite.")
    operations: OperationsConfig = Field(
        default_factory=OperationsConfig, description="Loading, returns, counter and expiry."
    )
    trust: TrustConfig = Field(default_factory=TrustConfig, description="Token trust.")
    hub: HubConfig = Field(default_factory=HubConfig, description="Hub link over MQTT.")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="QR camera.")
    staff: tuple[StaffPinConfig, ...] = Field(
        (), description="Staff and courier PINs (`[[staff]]` tables)."
    )
    supervision: SupervisionConfig = Field(
        default_factory=SupervisionConfig, description="Door supervision and reopen grace."
    )
    audit: AuditConfig = Field(default_factory=AuditConfig, description="Audit signing.")
    evidence: EvidenceConfig = Field(
        default_factory=EvidenceConfig, description="Evidence photos (C2PA-signed)."
    )
    identity: IdentityConfig = Field(
        default_factory=IdentityConfig, description="Identity checks (wallet at the locker)."
    )

    @model_validator(mode="after")
    def _check_doors(self) -> AgentConfig:
        if self.locker.mode == "locker" and not self.doors.groups:
            raise ValueError("a locker needs at least one door group")
        return self

    @property
    def database_path(self) -> Path:
        """The agent's SQLite database in the data folder."""
        return self.locker.data_dir / "agent.db"
