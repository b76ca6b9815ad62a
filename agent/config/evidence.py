"""The `[evidence]` config section: which events are photographed, how, and how long kept."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Capture = Literal["off", "photo", "before_after"]
Single = Literal["off", "photo"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceEventsConfig(_Section):
    """Which events take evidence photos, and how many."""

    return_dropoff: Capture = Field(
        "before_after",
        description="Return drop-off: `before_after` photographs the compartment when its door "
        "opens and again when it closes (the after photo links the before photo); `photo` only "
        "at closing; `off` none.",
    )
    courier_load: Capture = Field(
        "before_after", description="A courier's load: as `return_dropoff`."
    )
    door_not_opened: Single = Field(
        "photo", description="A customer's report that the door did not open: one photo."
    )
    parcel_damaged: Single = Field(
        "photo", description="A customer's report that the parcel is damaged: one photo."
    )
    staff: Single = Field("photo", description="A staff member's request for a photo of a door.")
    interrupted_opening: Single = Field(
        "photo",
        description="At start, a door whose pickup opening a restart cut off: one photo, whose "
        "compartment check decides the pickup (empty: collected; occupied: still collectable).",
    )


class EvidenceConfig(_Section):
    """Evidence photos: whether they are taken, with which camera and key, and how long kept."""

    enabled: bool = Field(
        False,
        description="Take C2PA-signed evidence photos with the compartment camera "
        "(docs/evidence.md). Needs the device's signing key and chain.",
    )
    camera: Literal["simulated"] = Field(
        "simulated", description="The compartment camera driver (the simulator renders scenes)."
    )
    simulator_scene: Path | None = Field(
        None,
        description='Simulated camera only: a JSON file `{"DOOR": "box"|"polybag"|'
        '"envelope"}` read at each photo, saying what lies in which compartment (tests, '
        "demos); relative to the data folder.",
    )
    signing_key: Path = Field(
        Path("evidence-signing.key.pem"),
        description="The device's P-256 key for C2PA signing (`locker-admin device cert`); "
        "relative to the data folder.",
    )
    signing_chain: Path = Field(
        Path("evidence-signing.chain.pem"),
        description="The device certificate then the fleet device CA (PEM); relative to the "
        "data folder.",
    )
    width: int = Field(1280, ge=320, le=4096, description="Photo width in pixels.")
    height: int = Field(720, ge=240, le=4096, description="Photo height in pixels.")
    jpeg_quality: int = Field(80, ge=50, le=95, description="JPEG quality of the photos.")
    events: EvidenceEventsConfig = Field(
        default_factory=EvidenceEventsConfig, description="Capture policy per event kind."
    )
    retention_days: float = Field(
        30,
        gt=0,
        le=3650,
        description="Photos the hub has confirmed are deleted after this many days.",
    )
    budget_mb: float = Field(
        2048,
        gt=0,
        le=1_000_000,
        description="Disk budget for photos; when full, the oldest uploaded photos go first.",
    )
    alarm_percent: int = Field(
        80, ge=10, le=99, description="Raise `evidence.budget_alarm` when this full."
    )
    occupied_min_changed: float = Field(
        0.006,
        gt=0,
        lt=1,
        description="Compartment check: the fraction of changed pixels (against the door's empty "
        "reference) above which a compartment counts as occupied.",
    )
