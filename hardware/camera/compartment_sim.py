"""A simulated compartment camera: renders one door's compartment, empty or with a parcel.

Shipped in the package so the demo, the tests and `bench/evidence.py` run the same code. The
scene is a box seen from the top front corner: back wall, side walls and floor in grey plastic,
lit by an LED (vignetting), with per-shot exposure drift, daylight from the open door, a camera
shift of up to 5 px and sensor noise,
so that two photos of the same empty compartment are never identical. An occupied compartment
holds one of: a cardboard box (tape and label), a dark polybag (low contrast against the floor)
or a flat envelope (small). Contract: `render_compartment(door, parcel, shot)` gives the same
pixels for the same arguments; `SimulatedCompartmentCamera` is thread-safe.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from hardware.camera.compartment import Bgr, CompartmentCamera

ParcelKind = Literal["box", "polybag", "envelope"]
PARCEL_KINDS: tuple[ParcelKind, ...] = ("box", "polybag", "envelope")


@dataclass(frozen=True, slots=True)
class Parcel:
    """What lies in a compartment: its kind and the seed of its size, place and colour."""

    kind: ParcelKind = "box"
    seed: int = 0


def _compartment(door: int, size: tuple[int, int]) -> Bgr:
    w, h = size
    rng = np.random.default_rng([door, 11])
    wall = int(rng.integers(95, 135))
    img = np.full((h, w, 3), wall, np.uint8)
    inset_x, inset_y = int(w * 0.18), int(h * 0.16)
    back = np.array(
        [
            [inset_x, inset_y],
            [w - inset_x, inset_y],
            [w - inset_x, h - inset_y],
            [inset_x, h - inset_y],
        ],
        np.int32,
    )
    floor = np.array([[0, h], [w, h], back[2], back[3]], np.int32)
    left = np.array([[0, 0], back[0], back[3], [0, h]], np.int32)
    right = np.array([[w, 0], [w, h], back[2], back[1]], np.int32)
    cv2.fillConvexPoly(img, floor, (wall - 25,) * 3)
    cv2.fillConvexPoly(img, left, (wall - 12,) * 3)
    cv2.fillConvexPoly(img, right, (wall - 18,) * 3)
    cv2.rectangle(img, tuple(back[0]), tuple(back[2]), (wall + 10,) * 3, -1)
    cv2.putText(  # the door number printed on the back wall, as real lockers have
        img,
        str(door),
        (w // 2 - 20, int(h * 0.3)),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.2,
        (wall - 40,) * 3,
        3,
    )
    return img


def _draw_parcel(img: Bgr, parcel: Parcel) -> None:
    h, w = img.shape[:2]
    rng = np.random.default_rng([parcel.seed, 23])
    if parcel.kind == "envelope":
        pw, ph = int(w * rng.uniform(0.18, 0.3)), int(h * rng.uniform(0.05, 0.09))
        colour: tuple[int, ...] = tuple(int(c) for c in rng.integers(190, 240, 3))
    elif parcel.kind == "polybag":
        pw, ph = int(w * rng.uniform(0.25, 0.5)), int(h * rng.uniform(0.12, 0.25))
        grey = int(rng.integers(40, 70))
        colour = (grey, grey, grey + int(rng.integers(0, 10)))
    else:
        pw, ph = int(w * rng.uniform(0.2, 0.55)), int(h * rng.uniform(0.18, 0.45))
        colour = (
            int(rng.integers(60, 90)),
            int(rng.integers(110, 140)),
            int(rng.integers(160, 200)),
        )
    x = int(rng.uniform(0.1, 0.9 - pw / w) * w)
    y = int(h * 0.92) - ph
    cv2.rectangle(img, (x, y), (x + pw, y + ph), colour, -1)
    if parcel.kind == "box":
        cv2.rectangle(img, (x + pw // 2 - 6, y), (x + pw // 2 + 6, y + ph), (150, 185, 205), -1)
        cv2.rectangle(img, (x + 8, y + 8), (x + 8 + pw // 4, y + 8 + ph // 4), (235, 235, 235), -1)
    elif parcel.kind == "polybag":
        cv2.ellipse(
            img, (x + pw // 3, y + ph // 3), (pw // 6, ph // 8), 0, 0, 360, (90, 90, 95), -1
        )


def render_compartment(
    door: int,
    parcel: Parcel | None = None,
    shot: int = 0,
    size: tuple[int, int] = (1280, 720),
) -> Bgr:
    """One photo of `door`'s compartment; `shot` varies exposure, shift and noise."""
    img = _compartment(door, size)
    if parcel is not None:
        _draw_parcel(img, parcel)
    rng = np.random.default_rng([door, shot, 37])
    w, h = size
    dx, dy = rng.uniform(-5.0, 5.0, 2)  # a door slammed nearby shakes the camera
    shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    moved = cv2.warpAffine(img, shift, size, borderMode=cv2.BORDER_REPLICATE)
    # exposure drift, and daylight from the open door brightening the front (the floor)
    ambient = np.float32(rng.uniform(0.0, 0.3))
    light = (_vignette(w, h) + ambient * _front(w, h)) * np.float32(rng.uniform(0.85, 1.15))
    lit = cv2.multiply(moved, cv2.merge([light, light, light]), dtype=cv2.CV_8U)
    noise = (rng.standard_normal((h, w), dtype=np.float32) * 3.0).astype(np.int16)
    return np.asarray(cv2.add(lit, cv2.merge([noise, noise, noise]), dtype=cv2.CV_8U), np.uint8)


@functools.lru_cache(maxsize=4)
def _front(w: int, h: int) -> npt.NDArray[np.float32]:
    return np.tile(np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None], (1, w))


@functools.lru_cache(maxsize=4)
def _vignette(w: int, h: int) -> npt.NDArray[np.float32]:
    """The LED's fall-off: brightest at the top centre of the compartment."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    radius = ((xx - w / 2) / w) ** 2 + ((yy - h * 0.2) / h) ** 2
    return np.asarray(1.0 - 0.55 * radius, np.float32)


class SimulatedCompartmentCamera(CompartmentCamera):
    """Photographs simulated compartments; `place`/`remove` say what each door holds."""

    description = "simulated compartment camera"

    def __init__(
        self, size: tuple[int, int] = (1280, 720), *, scene_file: Path | None = None
    ) -> None:
        """`scene_file`: a JSON object `{"DOOR": "box"|"polybag"|"envelope"}` read at each
        capture instead of what `place` put (for a simulator in another process: tests, demos);
        a missing or unreadable file is an empty scene."""
        self._size = size
        self._scene_file = scene_file
        self._lock = threading.Lock()
        self._contents: dict[int, Parcel] = {}
        self._shots = 0

    def place(self, door: int, parcel: Parcel | None = None) -> None:
        """Put a parcel into `door`'s compartment (a box, seed = door, if not given)."""
        with self._lock:
            self._contents[door] = parcel or Parcel("box", door)

    def remove(self, door: int) -> None:
        """The compartment of `door` is emptied."""
        with self._lock:
            self._contents.pop(door, None)

    def holds(self, door: int) -> Parcel | None:
        """What `door`'s compartment holds now, or None when it is empty."""
        with self._lock:
            return self._contents.get(door)

    def capture(self, door: int) -> Bgr:
        """A rendered photo of `door`'s compartment with what it holds (each shot a little
        different, as a real sensor's noise is)."""
        scene = None if self._scene_file is None else _read_scene(self._scene_file)
        with self._lock:
            if scene is not None:
                self._contents = scene
            parcel = self._contents.get(door)
            self._shots += 1
            shot = self._shots
        return render_compartment(door, parcel, shot, self._size)


def _read_scene(path: Path) -> dict[int, Parcel]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        int(door): Parcel(kind, int(door))
        for door, kind in raw.items()
        if str(door).isdigit() and kind in PARCEL_KINDS
    }
