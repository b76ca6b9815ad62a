"""Errors raised by hardware ports and drivers. One base class; the agent maps them to reasons."""

from __future__ import annotations


class HardwareError(Exception):
    """Base of every error a hardware port raises."""


class DoorError(HardwareError):
    """A door command failed. The contract: the door is left locked (latch not held open)."""

    def __init__(self, door: int, detail: str) -> None:
        super().__init__(f"door {door}: {detail}")
        self.door = door
        self.detail = detail


class UnknownDoorError(DoorError):
    """The door number does not exist on this controller."""


class SensorError(HardwareError):
    """A door sensor could not be read (dead sensor, bus error)."""

    def __init__(self, door: int, detail: str) -> None:
        super().__init__(f"sensor {door}: {detail}")
        self.door = door
        self.detail = detail


class CameraError(HardwareError):
    """The camera could not be opened or stopped delivering frames."""


class DecoderError(HardwareError):
    """The decoder backend is unavailable or failed on a frame."""


class DriverConfigError(HardwareError):
    """A driver's configuration is invalid or the device cannot be reached at start."""
