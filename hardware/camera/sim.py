"""A simulated camera, shipped in the package so the demo and the tests run the same code.

It shows one "scene" at a time, at a steady frame rate: nothing in view, a token rendered on a
phone screen or a paper slip (with perspective, blur and noise, see `hardware.decoding.synthetic`),
an image file, or a playlist of image files. Scene changes are cheap calls that may come from the
event loop; the rendering (tens of milliseconds) happens lazily in the capture thread.
Faults for tests and the demo: `stall()` (frames stop), `fail_open` (the device cannot open).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from hardware.camera.port import Camera, Gray
from hardware.decoding.synthetic import Carrier, params_for_category, render_scene
from hardware.errors import CameraError

_LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True, slots=True)
class _Scene:
    text: str | None = None
    carrier: Carrier = "phone"
    seed: int = 0
    images: tuple[Path, ...] = ()


class SimulatedCamera(Camera):
    """A `Camera` whose picture is set by `show_*` calls (thread-safe, non-blocking)."""

    description = "simulated"

    def __init__(
        self,
        *,
        size: tuple[int, int] = (1280, 720),
        fps: float = 15.0,
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._size = size
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._sleep = sleep
        self._lock = threading.Lock()
        self._scene = _Scene(seed=seed)
        self._rendered: tuple[_Scene, Gray] | None = None
        self._loaded: tuple[Path, Gray] | None = None
        self._playlist_pos = 0
        self._stalled = False
        self._is_open = False
        self.fail_open = False
        self.opens = 0

    # -- what the camera sees (called from any thread, e.g. the kiosk's demo controls) --------
    def show_payload(self, text: str, carrier: Carrier = "phone", seed: int = 0) -> None:
        """Show `text` as a QR code on a phone screen or a paper slip held into the scene."""
        self._set(_Scene(text=text, carrier=carrier, seed=seed))

    def show_nothing(self, seed: int = 0) -> None:
        """Show the empty scene (background only)."""
        self._set(_Scene(seed=seed))

    def show_image(self, path: str | Path) -> None:
        """Show one image file (converted to grayscale) until told otherwise."""
        self._set(_Scene(images=(Path(path),)))

    def play(self, source: str | Path | Sequence[str | Path]) -> None:
        """Show image files one per frame, in order, looping: a folder or a list of files."""
        if isinstance(source, str | Path):
            folder = Path(source)
            if folder.is_dir():
                files = tuple(
                    sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
                )
            else:
                files = (folder,)
        else:
            files = tuple(Path(p) for p in source)
        if not files:
            raise CameraError(f"no image files to play in {source}")
        self._set(_Scene(images=files))

    def stall(self, stalled: bool = True) -> None:
        """Fault: while stalled, `read()` delivers no frames (as a hung USB camera would)."""
        self._stalled = stalled

    def _set(self, scene: _Scene) -> None:
        with self._lock:
            self._scene = scene
            self._playlist_pos = 0

    # -- Camera ---------------------------------------------------------------------------------
    def open(self) -> None:
        if self.fail_open:
            raise CameraError("simulated camera: open failed (fault injected)")
        self._is_open = True
        self.opens += 1

    def read(self) -> Gray | None:
        if not self._is_open:
            raise CameraError("simulated camera: read while closed")
        if self._period:
            self._sleep(self._period)
        if self._stalled:
            return None
        with self._lock:
            scene, pos = self._scene, self._playlist_pos
            if scene.images:
                self._playlist_pos = (pos + 1) % len(scene.images)
        if scene.images:
            return self._load(scene.images[pos])
        return self._render(scene)

    def close(self) -> None:
        self._is_open = False

    # -- rendering (capture thread) -------------------------------------------------------------
    def _render(self, scene: _Scene) -> Gray:
        cached = self._rendered
        if cached is not None and cached[0] == scene:
            return cached[1]
        rng = np.random.default_rng([scene.seed, 7])
        params = replace(params_for_category("nominal", 0, rng), carrier=scene.carrier)
        gray = render_scene(scene.text, params, rng, self._size)
        self._rendered = (scene, gray)
        return gray

    def _load(self, path: Path) -> Gray:
        cached = self._loaded
        if cached is not None and cached[0] == path:
            return cached[1]
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            _LOG.warning("simulated camera: cannot read image %s, showing grey", path.name)
            return np.full((self._size[1], self._size[0]), 128, dtype=np.uint8)
        result = np.asarray(gray, dtype=np.uint8)
        self._loaded = (path, result)
        return result
