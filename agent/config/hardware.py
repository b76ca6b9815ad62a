"""Config sections for hardware: the door driver (chosen by `type`) and the camera.

The door drivers' settings are the pydantic models of `hardware.doors` themselves (declared once,
next to each driver); the camera section maps onto the scanner's settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.camera.scanner import ScannerSettings
from hardware.doors.drivers import DoorDriverSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Declared once, next to each driver in hardware/doors/; the registry lists them by `type`.
DoorDriverConfig = DoorDriverSettings


class CameraConfig(_Section):
    """The QR scanning camera."""

    enabled: bool = Field(True, description="Scan QR codes with a camera.")
    source: int | str = Field(
        "simulated",
        description="Device index, /dev/videoN, a video file, an rtsp:// URL, or `simulated`.",
    )
    width: int | None = Field(None, description="Requested frame width (e.g. 1280).")
    height: int | None = Field(None, description="Requested frame height (e.g. 720).")
    fps: float | None = Field(None, description="Requested frame rate.")
    exposure: float | None = Field(
        None, description="Exposure in device units; keep it at or below 8 ms against blur."
    )
    roi: tuple[int, int, int, int] | None = Field(
        None, description="Decode only this region: x, y, width, height."
    )
    backend: Literal["zxing", "pyzbar"] = Field("zxing", description="QR decoder.")
    debounce_s: float = Field(10.0, gt=0, description="The same code acts again after this.")
    watchdog_s: float = Field(3.0, gt=0, description="No frame for this long: restart.")

    def to_settings(self) -> ScannerSettings:
        """The scanner's settings from this section."""
        return ScannerSettings(
            source=self.source,
            width=self.width,
            height=self.height,
            fps=self.fps,
            exposure=self.exposure,
            roi=self.roi,
            backend=self.backend,
            debounce_s=self.debounce_s,
            watchdog_s=self.watchdog_s,
        )
