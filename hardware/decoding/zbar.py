"""pyzbar (ZBar), kept as an alternative backend.

ZBar reads better and 3-4x faster at half resolution and cannot read light-on-dark (dark mode)
codes, so the default order is: half scale, full scale, inverted. ZBar guesses the text encoding
of byte-mode payloads; our tokens use QR alphanumeric mode, where the guess cannot go wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import cv2
import numpy as np
from pyzbar import pyzbar

from hardware.decoding.port import DecodedCode, Decoder, Gray, Point, check_frame
from hardware.decoding.zxing import unique
from hardware.errors import DecoderError

ZbarPass = Literal["half", "full", "inverted"]
DEFAULT_PASSES: tuple[ZbarPass, ...] = ("half", "full", "inverted")


class PyzbarDecoder(Decoder):
    """ZBar through pyzbar; `passes` run in order until one finds a code."""

    name = "pyzbar"

    def __init__(self, passes: Sequence[ZbarPass] = DEFAULT_PASSES) -> None:
        self._passes = tuple(passes)

    def decode(self, gray: Gray) -> tuple[DecodedCode, ...]:
        gray = check_frame(gray)
        for kind in self._passes:
            image, scale = _prepare(gray, kind)
            codes = _read(image, scale)
            if codes:
                return codes
        return ()


def _prepare(gray: Gray, kind: ZbarPass) -> tuple[Gray, float]:
    if kind == "half" and min(gray.shape) >= 200:
        half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        return np.asarray(half, dtype=np.uint8), 0.5
    if kind == "inverted":
        return np.asarray(cv2.bitwise_not(gray), dtype=np.uint8), 1.0
    return gray, 1.0


def _read(image: Gray, scale: float) -> tuple[DecodedCode, ...]:
    try:
        found = pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE])
    except (pyzbar.PyZbarError, ValueError, TypeError) as err:
        raise DecoderError(f"pyzbar failed on a {image.shape} frame: {err}") from err
    return unique(
        DecodedCode(
            result.data.decode("utf-8", errors="replace"),
            bytes(result.data),
            "qr",
            _corners(result.polygon, scale),
        )
        for result in found
    )


def _corners(polygon: Any, scale: float) -> tuple[Point, ...]:
    return tuple((round(p.x / scale), round(p.y / scale)) for p in polygon)
