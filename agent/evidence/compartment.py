"""Is a compartment empty? A measured image-difference check against the door's empty reference.

No model download: both photos are reduced to 160x90 grey, blurred, brought to the same lighting
row by row (the LED's exposure drift, daylight from the open door), and compared pixel by pixel. A
compartment is occupied when more than `min_changed_fraction` of the pixels differ by more than
`pixel_threshold` grey levels after a morphological opening (which removes isolated noise and the
one-pixel edges of a slightly shifted camera). Accuracy on rendered scenes (boxes, dark polybags,
flat envelopes, empty shots) is measured by `bench/evidence.py` and reported in
`docs/benchmarks.md`. Pure and blocking (about 1 ms): call it from the worker thread that has the
photo anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

_SIZE = (160, 90)
_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True, slots=True)
class CompartmentCheck:
    """The outcome of `check_compartment`: occupied or not, and the share of pixels that changed."""

    occupied: bool
    changed_fraction: float


def _prepare(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    small = cv2.resize(gray, _SIZE, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32) + 1.0


def _relit(now: npt.NDArray[np.float32], ref: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """`now` brought to the reference's lighting, row by row.

    Light changes smoothly and mostly from top to bottom (daylight through the open door, the
    LED's exposure), so each row's median brightness ratio, smoothed over neighbouring rows, is a
    good gain. A parcel covers less than the full width, so the medians stay the background's.
    """
    ratio = np.median(ref / now, axis=1).astype(np.float32)
    gain = cv2.GaussianBlur(ratio.reshape(-1, 1), (1, 9), 0)
    return np.asarray(now * gain, np.float32)


def check_compartment(
    photo: npt.NDArray[np.uint8],
    empty_reference: npt.NDArray[np.uint8],
    *,
    pixel_threshold: float = 12.0,
    min_changed_fraction: float = 0.006,
) -> CompartmentCheck:
    """Compare `photo` with the door's photo when empty (both BGR or both grey, any size)."""
    ref = _prepare(empty_reference)
    diff = np.abs(_relit(_prepare(photo), ref) - ref)
    changed = (diff > pixel_threshold).astype(np.uint8)
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, _KERNEL)
    fraction = float(changed.mean())
    return CompartmentCheck(fraction > min_changed_fraction, fraction)
