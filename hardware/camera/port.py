"""The camera port, and the capture thread that keeps only the newest frame.

A `Camera` is a blocking frame source (an OpenCV device, file or stream, or the simulator). The
`FrameGrabber` reads it in its own thread as fast as frames come, converts nothing (cameras hand
out grayscale already: converted once, at the source) and keeps only the newest frame, so a slow
decoder never works on a stale picture. A restart (asked for by the scanner's watchdog) closes and
reopens the camera in the capture thread, with jittered exponential backoff while it fails.
"""

from __future__ import annotations

import abc
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hardware.errors import CameraError

_LOG = logging.getLogger(__name__)
Gray = npt.NDArray[np.uint8]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Frame:
    """One grayscale frame; `captured_at` is on the grabber's monotonic clock, `seq` counts up."""

    gray: Gray
    captured_at: float
    seq: int


class Camera(abc.ABC):
    """A blocking source of grayscale frames. Only the capture thread calls it.

    Contract for every implementation:
    - `open()` acquires the device, file or stream; raises `CameraError` if it cannot. It may be
      called again after `close()` (that is how the watchdog restarts a stalled camera).
    - `read()` blocks until the next frame (at most about one second) and returns it as a 2-D
      `uint8` array, converted to grayscale here and nowhere else. It returns None when no frame
      came in time (a stall, the end of a file that does not loop). It raises `CameraError` when
      the device is gone.
    - `close()` releases the device; it never raises and may be called twice.
    """

    description: str = "camera"

    @abc.abstractmethod
    def open(self) -> None:
        """Acquire the source; `CameraError` if it cannot be opened."""

    @abc.abstractmethod
    def read(self) -> Gray | None:
        """The next grayscale frame, or None if none came in time."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the source. Never raises."""


class FrameGrabber:
    """Runs a `Camera` in a daemon thread and holds the newest frame only.

    `start()` starts the thread (the camera is opened there, so a slow RTSP connect blocks no
    one); `next_frame(after_seq, timeout)` blocks until a frame newer than `after_seq` exists;
    `request_restart()` makes the thread close and reopen the camera; `stop()` ends and joins it.
    """

    def __init__(
        self,
        camera: Camera,
        *,
        clock: Clock = time.monotonic,
        backoff_s: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self._camera = camera
        self._clock = clock
        self._backoff_min, self._backoff_max = backoff_s
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._thread: threading.Thread | None = None
        self._opens = 0
        self.opened = False
        self.last_error = ""

    @property
    def frames(self) -> int:
        """How many frames were captured since start."""
        return self._seq

    @property
    def restarts(self) -> int:
        """How many times the camera was reopened (after a watchdog restart or a device error)."""
        return max(0, self._opens - 1)

    @property
    def last_frame_at(self) -> float | None:
        """Grabber-clock time of the newest frame, or None before the first one."""
        latest = self._latest
        return None if latest is None else latest.captured_at

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="camera-capture", daemon=True)
        self._thread.start()

    def request_restart(self) -> None:
        """Close and reopen the camera at the capture thread's next chance."""
        self._restart.set()

    def next_frame(self, after_seq: int, timeout: float) -> Frame | None:
        """The newest frame if its `seq` is above `after_seq`, waiting up to `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(self._has_newer(after_seq), timeout)
            latest = self._latest
        if latest is None or latest.seq <= after_seq:
            return None
        return latest

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the capture thread and wait for it; the camera is closed by the thread."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                _LOG.warning("capture thread did not stop within %.1f s", timeout)
            self._thread = None

    def _has_newer(self, after_seq: int) -> Callable[[], bool]:
        return lambda: self._stop.is_set() or (self._latest is not None and self._seq > after_seq)

    def _run(self) -> None:
        delay = self._backoff_min
        try:
            while not self._stop.is_set():
                if not self.opened and not self._open():
                    self._stop.wait(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter only
                    delay = min(delay * 2, self._backoff_max)
                    continue
                delay = self._backoff_min
                if self._restart.is_set():
                    self._restart.clear()
                    self._close()
                    continue
                self._capture_one()
        finally:
            self._close()

    def _open(self) -> bool:
        try:
            self._camera.open()
        except CameraError as err:
            self.last_error = str(err)
            _LOG.warning("camera %s did not open: %s", self._camera.description, err)
            return False
        self.opened = True
        self._opens += 1
        return True

    def _close(self) -> None:
        if self.opened:
            self._camera.close()
            self.opened = False

    def _capture_one(self) -> None:
        try:
            gray = self._camera.read()
        except CameraError as err:
            self.last_error = str(err)
            _LOG.warning("camera %s failed: %s", self._camera.description, err)
            self._close()
            return
        if gray is None:
            return
        with self._cond:
            self._seq += 1
            self._latest = Frame(gray, self._clock(), self._seq)
            self._cond.notify_all()
