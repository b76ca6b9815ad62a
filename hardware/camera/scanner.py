"""The QR scanner: camera -> newest frame -> decode thread -> debounce -> the agent's callback.

Threads meet the loop in one way: the decode thread posts results with
`loop.call_soon_threadsafe`; debouncing and the callback run on the loop. Capture and decoding
never run on the loop thread. `Scanner.run()` is one long task (put it in a TaskGroup): it
starts both threads, watches the frame flow (restarting a stalled camera) and, when cancelled,
stops and joins the threads before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from hardware.camera.cv import CaptureSettings, OpenCvCamera
from hardware.camera.port import Camera, FrameGrabber, Gray
from hardware.camera.sim import SimulatedCamera
from hardware.decoding.pipeline import (
    FileScanResult,
    FramePipeline,
    Roi,
    default_pipeline,
    scan_image_files,
)
from hardware.decoding.port import DecodedCode, DecoderKind
from hardware.errors import DecoderError

__all__ = [
    "CameraHealth",
    "Debouncer",
    "FileScanResult",
    "Scanner",
    "ScannerSettings",
    "build_scanner",
    "make_camera",
    "scan_image_files",
]

_LOG = logging.getLogger(__name__)
OnCode = Callable[[DecodedCode], Coroutine[Any, Any, None]]
SIMULATED_SOURCE = "simulated"


@dataclass(frozen=True, slots=True)
class ScannerSettings:
    """Everything the scanner needs; the agent maps its config onto this."""

    source: int | str = 0  # device index, /dev/videoN, video file, rtsp:// URL, or "simulated"
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    exposure: float | None = None  # device units; keep it short (<= 8 ms) against motion blur
    roi: Roi | None = None  # x, y, width, height: decode only this part of the frame
    backend: DecoderKind = "zxing"
    budget_ms: float = 40.0  # time the retry cascade may spend on one frame
    deep_interval_s: float | None = 0.5  # a deep pass on an idle frame at most this often
    debounce_s: float = 10.0  # the same code acts again only after this long ...
    leave_s: float = 1.0  # ... and after it was out of view for this long
    watchdog_s: float = 3.0  # no frame for this long: restart the camera
    watchdog_poll_s: float = 0.5


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """The scanner's health, for `/api/v1/status`. `ok`: running and frames are flowing."""

    ok: bool
    running: bool
    camera: str
    frames: int
    last_frame_age_s: float | None
    restarts: int
    sightings: int  # frames in which a code was read (before debouncing)
    decoded: int  # codes handed to the callback (after debouncing)
    decode_errors: int
    decode_ms_p50: float | None  # median over the last 100 decoded frames
    last_error: str


class Debouncer:
    """Decides which sightings to act on; pure, clock passed in, used on the loop thread only.

    A code is acted on at its first sighting. It acts again only when both hold: it was out of
    view for at least `leave_s` (no sighting in that time) and `debounce_s` passed since it last
    acted. Holding a phone in view for a minute therefore opens one door once.
    """

    def __init__(self, debounce_s: float = 10.0, leave_s: float = 1.0) -> None:
        self._debounce_s = debounce_s
        self._leave_s = leave_s
        # payload -> [acted_at, last_seen, left_view]
        self._seen: dict[bytes, list[float | bool]] = {}

    def observe(self, codes: Iterable[DecodedCode], now: float) -> list[DecodedCode]:
        """The codes of this sighting to act on now."""
        act: list[DecodedCode] = []
        for code in codes:
            entry = self._seen.get(code.payload)
            if entry is None:
                self._seen[code.payload] = [now, now, False]
                act.append(code)
                continue
            acted_at, last_seen, left = entry
            left = bool(left) or now - float(last_seen) >= self._leave_s
            if left and now - float(acted_at) >= self._debounce_s:
                self._seen[code.payload] = [now, now, False]
                act.append(code)
            else:
                self._seen[code.payload] = [acted_at, now, left]
        self._forget_old(now)
        return act

    def _forget_old(self, now: float) -> None:
        horizon = max(self._debounce_s, self._leave_s)
        for payload in [p for p, e in self._seen.items() if now - float(e[1]) > horizon]:
            del self._seen[payload]


class Scanner:
    """Runs the capture and decode threads and calls `on_code` for each debounced code."""

    def __init__(
        self,
        camera: Camera,
        pipeline: FramePipeline,
        on_code: OnCode,
        settings: ScannerSettings = ScannerSettings(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._camera = camera
        self._pipeline = pipeline
        self._on_code = on_code
        self._settings = settings
        self._clock = clock
        self._debouncer = Debouncer(settings.debounce_s, settings.leave_s)
        self._grabber = FrameGrabber(camera, clock=clock)
        self._stop = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._decode_ms: deque[float] = deque(maxlen=100)
        self._running = False
        self._started_at = clock()
        self.frames_decoded = 0  # frames through the pipeline
        self.sightings = 0  # frames with at least one code
        self._decoded = 0
        self._decode_errors = 0
        self._last_error = ""

    async def run(self) -> None:
        """Scan until cancelled; on cancellation the threads are stopped and joined."""
        loop = asyncio.get_running_loop()
        self._stop.clear()
        self._started_at = self._clock()
        self._grabber.start()
        worker = threading.Thread(
            target=self._decode_loop, args=(loop,), name="qr-decode", daemon=True
        )
        worker.start()
        self._running = True
        _LOG.info("scanner started on camera %s", self._camera.description)
        try:
            await self._watchdog()
        finally:
            self._running = False
            self._stop.set()
            await asyncio.shield(asyncio.to_thread(self._join, worker))
            if self._tasks:  # let a pickup in progress finish; do not wait forever
                _done, pending = await asyncio.wait(set(self._tasks), timeout=5.0)
                for task in pending:
                    task.cancel()
            _LOG.info("scanner stopped")

    def health(self) -> CameraHealth:
        """A snapshot; cheap, safe to call from the loop at any time."""
        now = self._clock()
        last = self._grabber.last_frame_at
        age = None if last is None else max(0.0, now - last)
        flowing = age is not None and age <= self._settings.watchdog_s
        samples = list(self._decode_ms)
        return CameraHealth(
            ok=self._running and self._grabber.opened and flowing,
            running=self._running,
            camera=self._camera.description,
            frames=self._grabber.frames,
            last_frame_age_s=None if age is None else round(age, 3),
            restarts=self._grabber.restarts,
            sightings=self.sightings,
            decoded=self._decoded,
            decode_errors=self._decode_errors,
            decode_ms_p50=round(statistics.median(samples), 2) if samples else None,
            last_error=self._last_error or self._grabber.last_error,
        )

    # -- loop thread ----------------------------------------------------------------------------
    async def _watchdog(self) -> None:
        restarted_at = self._started_at
        while True:
            await asyncio.sleep(self._settings.watchdog_poll_s)
            now = self._clock()
            last = max(self._grabber.last_frame_at or self._started_at, restarted_at)
            if now - last > self._settings.watchdog_s and self._grabber.opened:
                _LOG.warning("no camera frame for %.1f s: restarting the camera", now - last)
                self._grabber.request_restart()
                restarted_at = now

    def _deliver(self, codes: tuple[DecodedCode, ...], captured_at: float) -> None:
        if not self._running:  # posted just before shutdown: nobody may act on it any more
            return
        self.sightings += 1
        for code in self._debouncer.observe(codes, captured_at):
            self._decoded += 1
            # The payload is a token: log its size, never its content.
            _LOG.info("QR code read (%d bytes)", len(code.payload))
            task = asyncio.get_running_loop().create_task(self._on_code(code), name="qr-on-code")
            self._tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOG.error("QR code callback failed", exc_info=task.exception())

    async def current_frame(self, wait_s: float) -> Gray | None:
        """The camera's current frame: one whose capture began after this call (the second
        new frame, since the first may have been under way), e.g. for the counter's ID checks
        when staff press a button; None when none comes within `wait_s`."""
        seen = self._grabber.frames
        frame = await asyncio.to_thread(self._grabber.next_frame, seen + 1, wait_s)
        return None if frame is None else frame.gray

    # -- decode thread --------------------------------------------------------------------------
    def _decode_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        seq = 0
        while not self._stop.is_set():
            frame = self._grabber.next_frame(seq, timeout=0.2)
            if frame is None:
                continue
            seq = frame.seq
            try:
                result = self._pipeline.process(frame.gray)
            except DecoderError as err:
                self._decode_errors += 1
                self._last_error = str(err)
                if self._decode_errors in (1, 10, 100) or self._decode_errors % 1000 == 0:
                    _LOG.error("decoder failed (%d times so far): %s", self._decode_errors, err)
                continue
            self._decode_ms.append(result.ms)
            self.frames_decoded += 1
            if result.codes:
                with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                    loop.call_soon_threadsafe(self._deliver, result.codes, frame.captured_at)

    def _join(self, worker: threading.Thread) -> None:
        self._grabber.stop()
        worker.join(5.0)


def make_camera(settings: ScannerSettings) -> Camera:
    """The camera named by `settings.source` ("simulated" gives a `SimulatedCamera`)."""
    if settings.source == SIMULATED_SOURCE:
        return SimulatedCamera(fps=settings.fps or 15.0)
    return OpenCvCamera(
        CaptureSettings(
            source=settings.source,
            width=settings.width,
            height=settings.height,
            fps=settings.fps,
            exposure=settings.exposure,
        )
    )


def build_scanner(
    settings: ScannerSettings,
    on_code: OnCode,
    *,
    camera: Camera | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Scanner:
    """A scanner with the default pipeline for `settings.backend` and the camera it names."""
    pipeline = default_pipeline(
        settings.backend,
        budget_ms=settings.budget_ms,
        deep_interval_s=settings.deep_interval_s,
        roi=settings.roi,
    )
    return Scanner(camera or make_camera(settings), pipeline, on_code, settings, clock=clock)
