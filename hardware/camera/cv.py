"""The real camera: OpenCV `VideoCapture` on a V4L2 device, a video file or an RTSP stream.

Frames are converted to grayscale here, once. The capture buffer is kept at one frame where the
backend allows it, so a frame is at most one period old when the decoder gets it. A video file
can loop (for site checks and the demo) and is paced at its own frame rate, as a camera would be.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from hardware.camera.port import Camera, Gray
from hardware.errors import CameraError

_LOG = logging.getLogger(__name__)
_STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://")
_NOT_FILES = ("/dev/", *_STREAM_PREFIXES)


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """How to open the source. `source`: a device index, `/dev/videoN`, a file path or a URL."""

    source: int | str = 0
    width: int | None = None  # ask the device for this resolution (None: its default)
    height: int | None = None
    fps: float | None = None
    exposure: float | None = None  # device units (V4L2: 100 us steps); None keeps auto exposure
    loop_file: bool = True  # a video file starts again at its end instead of running dry
    timeout_ms: int = 3000  # open/read timeout for network streams


class OpenCvCamera(Camera):
    """A `Camera` backed by `cv2.VideoCapture`."""

    def __init__(
        self, settings: CaptureSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._cap: cv2.VideoCapture | None = None
        self._is_file = False
        self._period = 0.0
        self._next_at = 0.0
        self.description = _describe(settings.source)

    def open(self) -> None:
        s = self._settings
        source = _device_index(s.source)
        params: list[int] = []
        if isinstance(source, str) and source.startswith(_STREAM_PREFIXES):
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                s.timeout_ms,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                s.timeout_ms,
            ]
        try:
            cap = cv2.VideoCapture(source, cv2.CAP_ANY, params)
        except cv2.error as err:
            raise CameraError(f"cannot open camera {self.description}: {err}") from err
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open camera {self.description}")
        self._configure(cap)
        self._cap = cap
        self._is_file = isinstance(source, str) and not source.startswith(
            ("/dev/", *_STREAM_PREFIXES)
        )
        file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) if self._is_file else 0.0
        self._period = 1.0 / file_fps if 0 < file_fps < 1000 else 0.0
        self._next_at = time.monotonic()

    def read(self) -> Gray | None:
        cap = self._cap
        if cap is None:
            raise CameraError(f"camera {self.description} is not open")
        if self._period:
            self._pace()
        ok, image = cap.read()
        if not ok and self._is_file and self._settings.loop_file:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = cap.read()
        if not ok or image is None:
            return None
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return np.asarray(image, dtype=np.uint8)

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            try:
                cap.release()
            except cv2.error as err:  # never raise from close: the watchdog reopens anyway
                _LOG.warning("camera %s: release failed: %s", self.description, err)

    def _configure(self, cap: cv2.VideoCapture) -> None:
        s = self._settings
        # One buffered frame: the decoder should see the present, not a queue of the past.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, s.width),
            (cv2.CAP_PROP_FRAME_HEIGHT, s.height),
            (cv2.CAP_PROP_FPS, s.fps),
        ):
            if value is not None:
                cap.set(prop, float(value))
        if s.exposure is not None:
            cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)  # V4L2: 1 = manual exposure
            cap.set(cv2.CAP_PROP_EXPOSURE, float(s.exposure))

    def _pace(self) -> None:
        delay = self._next_at - time.monotonic()
        if delay > 0:
            self._sleep(delay)
        self._next_at = max(self._next_at + self._period, time.monotonic())


def _device_index(source: int | str) -> int | str:
    if isinstance(source, str) and source.isdigit():
        return int(source)
    return source


def _describe(source: int | str) -> str:
    """A log-safe name: a stream URL loses its credentials and query."""
    if isinstance(source, str) and source.startswith(_STREAM_PREFIXES):
        scheme, _, rest = source.partition("://")
        host = rest.rsplit("@", 1)[-1].split("/", 1)[0]
        return f"{scheme}://{host}"
    return str(source)
