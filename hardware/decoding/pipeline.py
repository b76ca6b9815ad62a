"""What happens to one frame: region of interest, decode, and a rate-limited deep pass.

Synchronous and thread-confined: the scanner's decode thread owns one `FramePipeline`; a
benchmark can feed frames through the very same object (`process`) to measure the live path.
Also the still-image scan behind `locker-agent scan FILE...` (`scan_image_files`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hardware.decoding.backends import make_decoder
from hardware.decoding.port import DecodedCode, Decoder, DecoderKind, Gray
from hardware.errors import DecoderError

Roi = tuple[int, int, int, int]  # x, y, width, height in frame pixels


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """The codes found in one frame, the time spent on it, and whether the deep pass ran."""

    codes: tuple[DecodedCode, ...]
    ms: float
    deep: bool


class FramePipeline:
    """ROI crop, the fast decoder, and on a miss the deep decoder at most every `deep_interval_s`.

    The deep pass catches codes the fast path cannot see at all (no symbol detected) while a
    customer holds the phone still, without making every idle frame expensive. `clock` paces
    the deep pass only (a benchmark can replay frames on a simulated 30 fps clock); `ms` is
    always wall time.
    """

    def __init__(
        self,
        decoder: Decoder,
        *,
        deep_decoder: Decoder | None = None,
        deep_interval_s: float | None = 0.5,
        roi: Roi | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._decoder = decoder
        self._deep = deep_decoder if deep_interval_s is not None else None
        self._deep_interval_s = deep_interval_s or 0.0
        self._roi = roi
        self._clock = clock
        self._last_deep = float("-inf")

    def process(self, gray: Gray) -> PipelineResult:
        """Decode one frame; raises `DecoderError` only if the backend is broken."""
        started = time.perf_counter()
        image, offset = _apply_roi(gray, self._roi)
        codes = self._decoder.decode(image)
        deep = False
        now = self._clock()
        if not codes and self._deep is not None and now - self._last_deep >= self._deep_interval_s:
            self._last_deep = now
            deep = True
            codes = self._deep.decode(image)
        if offset != (0, 0):
            codes = tuple(_shift(code, offset) for code in codes)
        return PipelineResult(codes, (time.perf_counter() - started) * 1000.0, deep)


def default_pipeline(
    backend: DecoderKind = "zxing",
    *,
    budget_ms: float = 40.0,
    deep_interval_s: float | None = 0.5,
    roi: Roi | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FramePipeline:
    """The pipeline the scanner runs on a live feed; benchmarks call `.process(gray)` on it."""
    # pyzbar has no cheaper first pass to fall back from: it runs its full order every frame.
    deep = make_decoder(backend, thorough=True, budget_ms=budget_ms) if backend == "zxing" else None
    return FramePipeline(
        make_decoder(backend, budget_ms=budget_ms),
        deep_decoder=deep,
        deep_interval_s=deep_interval_s,
        roi=roi,
        clock=clock,
    )


def _apply_roi(gray: Gray, roi: Roi | None) -> tuple[Gray, tuple[int, int]]:
    if roi is None:
        return gray, (0, 0)
    x, y, w, h = roi
    crop = gray[max(0, y) : y + h, max(0, x) : x + w]
    if crop.size == 0:  # a region outside the frame: decode the whole frame rather than nothing
        return gray, (0, 0)
    return np.ascontiguousarray(crop), (max(0, x), max(0, y))


def _shift(code: DecodedCode, offset: tuple[int, int]) -> DecodedCode:
    dx, dy = offset
    corners = tuple((x + dx, y + dy) for x, y in code.corners)
    return DecodedCode(code.text, code.payload, code.symbology, corners)


@dataclass(frozen=True, slots=True)
class FileScanResult:
    """The scan of one image file: the texts found, the decode time, or why it could not be read."""

    file: str
    codes: tuple[str, ...]
    ms: float
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON object: `{"file", "codes": [{"text"}], "ms"}` plus `"error"` if any."""
        out: dict[str, Any] = {
            "file": self.file,
            "codes": [{"text": text} for text in self.codes],
            "ms": round(self.ms, 2),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def scan_image_files(paths: Iterable[str | Path], decoder: Decoder) -> list[FileScanResult]:
    """Decode each image file; a missing or unreadable file gives an `error` entry, never raises.

    Use a thorough decoder (`make_decoder("zxing", thorough=True)`): a still gets every retry.
    """
    return [_scan_one(Path(p), decoder) for p in paths]


def _scan_one(path: Path, decoder: Decoder) -> FileScanResult:
    if not path.is_file():
        return FileScanResult(str(path), (), 0.0, "no such file")
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        return FileScanResult(str(path), (), 0.0, "not a readable image")
    started = time.perf_counter()
    try:
        codes = decoder.decode(np.asarray(gray, dtype=np.uint8))
    except DecoderError as err:
        return FileScanResult(str(path), (), 0.0, f"decoder failed: {err}")
    ms = (time.perf_counter() - started) * 1000.0
    return FileScanResult(str(path), tuple(c.text for c in codes), ms)
