"""The decoder port: a grayscale frame in, the QR codes it carries out, as our own values.

Backends live in `hardware.decoding`: zxing-cpp (the default, wrapped in a retry cascade) and
pyzbar (kept as an alternative). Callers build one with `backends.make_decoder` and never see a
library object: results are `DecodedCode` values, failures are `DecoderError`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Gray = npt.NDArray[np.uint8]
Point = tuple[int, int]
DecoderKind = Literal["zxing", "pyzbar"]


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """One decoded symbol.

    `payload` holds the exact bytes stored in the symbol; `text` is the backend's reading of them
    (for our tokens, QR alphanumeric mode, both agree). `corners` are in the coordinates of the
    frame that was passed to `decode` (top-left, top-right, bottom-right, bottom-left).
    """

    text: str
    payload: bytes
    symbology: str
    corners: tuple[Point, ...]


class Decoder(abc.ABC):
    """Finds and decodes QR codes in one grayscale frame.

    Contract for every implementation:
    - `decode(gray)` takes a 2-D `uint8` array (any size) and returns every code it could read,
      each payload at most once, in no particular order. A frame without a readable code gives `()`.
    - It never raises for an unreadable, empty or odd-sized frame; `DecoderError` is raised only
      for input that is not a 2-D `uint8` array or when the backend itself is broken.
    - It blocks (1-50 ms): call it from a worker thread, never on the event loop. The backends
      release the GIL, so two threads decode in parallel. An instance serves one thread at a time.
    """

    name: str = "decoder"

    @abc.abstractmethod
    def decode(self, gray: Gray) -> tuple[DecodedCode, ...]:
        """Every code readable in `gray`, or `()`."""


def check_frame(gray: object) -> Gray:
    """`gray` as a 2-D uint8 array, or `DecoderError` naming what is wrong with it."""
    from hardware.errors import DecoderError

    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        shape = getattr(gray, "shape", None)
        dtype = getattr(gray, "dtype", type(gray).__name__)
        raise DecoderError(f"expected a 2-D uint8 grayscale frame, got {dtype} {shape}")
    return gray
