"""The default decoding pipeline: one cheap zxing-cpp pass, then retries within a time budget.

Measured on the real photographs and the synthetic frames (see `bench/decode.py`): a single
zxing-cpp pass reads most codes in about 1 ms; the misses are mostly symbols zxing *found* but
could not decode (checksum errors on blurred, moire'd or tiny codes). So the retries run when:
- zxing reports such a symbol ("hint"): the retries then run on a crop around it, which is cheap;
- the image is small (a still, or a crop): every retry is cheap there;
- `thorough=True`: always, over the whole frame (still images, a rate-limited deep pass on a
  live feed).
An idle 720p frame (no symbol in view) therefore costs one pass. Each retry transforms the image
and makes one more zxing pass; the cascade stops at the first code or when `budget_ms` is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from hardware.decoding.port import DecodedCode, Decoder, Gray, check_frame
from hardware.decoding.zxing import Binarizer, Box, read_qr

SMALL_SIDE = 800  # images up to this size get the upscaling retries
MIN_SIDE = 21  # the smallest QR code (version 1) is 21 modules: nothing smaller can be retried
_HINT_MARGIN = 0.35  # crop this fraction of the symbol's size around a hint


@dataclass(frozen=True, slots=True)
class RetryStep:
    """One retry: transform the image (returning it and its scale) and run zxing again."""

    name: str
    transform: Callable[[Gray], tuple[Gray, float]]
    binarizer: Binarizer = "local"
    small_only: bool = False  # skip on large images (upscaling a 720p frame costs too much)


def _same(img: Gray) -> tuple[Gray, float]:
    return img, 1.0


def _blur(img: Gray) -> tuple[Gray, float]:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), 1.2), dtype=np.uint8), 1.0


def _half(img: Gray) -> tuple[Gray, float]:
    return np.asarray(cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)), 0.5


def _up2(img: Gray) -> tuple[Gray, float]:
    return np.asarray(cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)), 2.0


def _up2_erode(img: Gray) -> tuple[Gray, float]:
    # Thin dark modules printed fat (ink spread, overexposed photo) get their gaps back.
    up, scale = _up2(img)
    return np.asarray(cv2.erode(up, np.ones((3, 3), np.uint8))), scale


def _sharpen(img: Gray) -> tuple[Gray, float]:
    soft = cv2.GaussianBlur(img, (0, 0), 2.0)
    return np.asarray(cv2.addWeighted(img, 1.8, soft, -0.8, 0)), 1.0


def _adaptive(img: Gray) -> tuple[Gray, float]:
    binary = cv2.adaptiveThreshold(img, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, 3)
    return np.asarray(binary, dtype=np.uint8), 1.0


def _clahe(img: Gray) -> tuple[Gray, float]:
    return np.asarray(cv2.createCLAHE(2.0, (8, 8)).apply(img), dtype=np.uint8), 1.0


DEFAULT_STEPS: tuple[RetryStep, ...] = (
    RetryStep("up2", _up2, small_only=True),
    RetryStep("blur1.2", _blur),
    RetryStep("sharpen", _sharpen),
    RetryStep("global", _same, "global"),
    RetryStep("half", _half),
    RetryStep("adaptive", _adaptive),
    RetryStep("up2_erode", _up2_erode, small_only=True),
    RetryStep("clahe", _clahe),
)


class CascadeDecoder(Decoder):
    """zxing-cpp with a retry cascade; the default `Decoder` (see the module docstring)."""

    name = "zxing+cascade"

    def __init__(
        self,
        *,
        thorough: bool = False,
        budget_ms: float = 60.0,
        steps: tuple[RetryStep, ...] = DEFAULT_STEPS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._thorough = thorough
        self._budget_s = budget_ms / 1000.0
        self._steps = steps
        self._clock = clock
        self.last_step = ""  # which step read the last code ("" = none): for the benchmark

    def decode(self, gray: Gray) -> tuple[DecodedCode, ...]:
        gray = check_frame(gray)
        started = self._clock()
        first = read_qr(gray, want_hints=True)
        self.last_step = "first" if first.codes else ""
        if first.codes:
            return first.codes
        if min(gray.shape) < MIN_SIDE:
            return ()
        if self._thorough or max(gray.shape) <= SMALL_SIDE:
            return self._retry(gray, (0, 0), started)
        if first.hints:
            x0, y0, crop = _crop(gray, first.hints)
            return self._retry(crop, (x0, y0), started)
        return ()

    def _retry(
        self, image: Gray, offset: tuple[int, int], started: float
    ) -> tuple[DecodedCode, ...]:
        small = max(image.shape) <= SMALL_SIDE
        for step in self._steps:
            if self._clock() - started > self._budget_s:
                break
            if step.small_only and not small:
                continue
            try:
                transformed, scale = step.transform(image)
            except cv2.error:  # an odd shape for this transform: the other steps may still read
                continue
            codes = read_qr(transformed, binarizer=step.binarizer, scale=scale, offset=offset).codes
            if codes:
                self.last_step = step.name
                return codes
        return ()


def _crop(gray: Gray, hints: tuple[Box, ...]) -> tuple[int, int, Gray]:
    """The part of `gray` around every hint box, with a margin for the quiet zone."""
    x0, y0 = min(b.x0 for b in hints), min(b.y0 for b in hints)
    x1, y1 = max(b.x1 for b in hints), max(b.y1 for b in hints)
    margin = int(max(x1 - x0, y1 - y0) * _HINT_MARGIN) + 8
    h, w = gray.shape
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(w, x1 + margin), min(h, y1 + margin)
    return x0, y0, np.ascontiguousarray(gray[y0:y1, x0:x1])
