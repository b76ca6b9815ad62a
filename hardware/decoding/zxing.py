"""zxing-cpp, restricted to QR codes, translated into `DecodedCode` values at once.

A pass can also report where zxing saw a symbol that failed to decode (a checksum error, a broken
format): those "hints" tell the retry cascade that a retry is worth its cost, and where to look.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import zxingcpp

from hardware.decoding.port import DecodedCode, Decoder, Gray, Point, check_frame
from hardware.errors import DecoderError

Binarizer = Literal["local", "global"]
_BINARIZERS = {
    "local": zxingcpp.Binarizer.LocalAverage,
    "global": zxingcpp.Binarizer.GlobalHistogram,
}
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in frame coordinates: where an undecoded symbol was seen."""

    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one zxing pass found: decoded codes, and boxes of symbols that did not decode."""

    codes: tuple[DecodedCode, ...]
    hints: tuple[Box, ...]


def read_qr(
    image: Gray,
    *,
    binarizer: Binarizer = "local",
    scale: float = 1.0,
    offset: Point = (0, 0),
    want_hints: bool = False,
) -> PassResult:
    """One zxing pass over `image`, which is the frame scaled by `scale` and cropped at `offset`.

    Corners are mapped back to frame coordinates. Raises `DecoderError` only if zxing itself fails.
    """
    try:
        found = zxingcpp.read_barcodes(
            image, formats=_QR, binarizer=_BINARIZERS[binarizer], return_errors=want_hints
        )
    except (RuntimeError, ValueError, TypeError) as err:
        raise DecoderError(f"zxing-cpp failed on a {image.shape} frame: {err}") from err
    codes: list[DecodedCode] = []
    hints: list[Box] = []
    for barcode in found:
        corners = _corners(barcode.position, scale, offset)
        if barcode.valid:
            codes.append(DecodedCode(barcode.text, bytes(barcode.bytes), "qr", corners))
        else:
            xs, ys = [c[0] for c in corners], [c[1] for c in corners]
            hints.append(Box(min(xs), min(ys), max(xs), max(ys)))
    return PassResult(unique(codes), tuple(hints))


def unique(codes: Iterable[DecodedCode]) -> tuple[DecodedCode, ...]:
    """`codes` with each payload kept once (the first sighting wins)."""
    seen: dict[bytes, DecodedCode] = {}
    for code in codes:
        seen.setdefault(code.payload, code)
    return tuple(seen.values())


def _corners(position: Any, scale: float, offset: Point) -> tuple[Point, ...]:
    points = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    return tuple((round(p.x / scale) + offset[0], round(p.y / scale) + offset[1]) for p in points)


class ZxingDecoder(Decoder):
    """A single zxing-cpp pass, no retries: the fastest backend, and the cascade's first step."""

    name = "zxing"

    def __init__(self, binarizer: Binarizer = "local") -> None:
        self._binarizer: Binarizer = binarizer

    def decode(self, gray: Gray) -> tuple[DecodedCode, ...]:
        return read_qr(check_frame(gray), binarizer=self._binarizer).codes
