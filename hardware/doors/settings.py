"""What every door driver's settings share: the pydantic base and the latch pulse bounds.

Each driver declares its settings once, in its own module, as a subclass of `DriverSettings`
with a `type` literal (the config file's `[doors.driver] type = ...`), a description on every
field (the text of docs/configuration.md), and `build(door_count)`. Pydantic validates them
when the config file is loaded, so a bad value is refused with the file and the key named;
`check_doors` adds what needs the door count from the door groups.
"""

from __future__ import annotations

import abc
import importlib.util
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hardware.doors.port import DoorController, DoorSensors
from hardware.errors import DriverConfigError

PULSE_MS_MIN = 10
# A latch solenoid held on for seconds overheats; no real latch needs more than this.
PULSE_MS_MAX = 5000

PulseMs = Annotated[int, Field(ge=PULSE_MS_MIN, le=PULSE_MS_MAX)]


class DriverSettings(BaseModel):
    """One door driver's settings: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def check_doors(self, door_count: int) -> None:
        """Raise `ValueError` (naming the key) if these settings cannot drive `door_count` doors."""
        del door_count

    @abc.abstractmethod
    def build(self, door_count: int) -> tuple[DoorController, DoorSensors]:
        """The controller and the sensors (often one object), not started yet.

        Raises `DriverConfigError` if the driver's library is missing or the door count does not
        fit these settings."""


def require_library(module: str, driver: str) -> None:
    """`DriverConfigError` if the optional library a real driver needs is not installed."""
    if importlib.util.find_spec(module) is None:
        raise DriverConfigError(
            f"doors.type: the {driver} driver needs the Python module {module!r}; "
            "install the agent with the 'drivers' extra"
        )


def checked_door_count(settings: DriverSettings, door_count: int) -> int:
    """`door_count` if `settings` can drive it, else `DriverConfigError` with the reason."""
    try:
        settings.check_doors(door_count)
    except ValueError as err:
        raise DriverConfigError(str(err)) from None
    return door_count
