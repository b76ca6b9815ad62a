"""OCR-B renderings (Debian's fonts-ocr-b through tesseract's `text2image`) and counter scenes.

The glyph sheet gives the reader its templates; MRZ blocks are rendered the same way, printed on
a card or passport page, placed in a 1280x720 counter scene and seen through the camera model of
the QR frames (`hardware.decoding.synthetic`).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.identity.mrz import check_digit
from agent.identity.mrz_reader import GlyphTemplates
from agent.identity.ocrb import load_templates, render
from hardware.decoding.synthetic import SceneParams, _background, _camera, _composite

FONT_DIR = "/usr/share/fonts/opentype/ocr-b"
Gray = npt.NDArray[np.uint8]


def _render(text: str, ptsize: int) -> tuple[Gray, list[tuple[str, int, int, int, int]]]:
    return render(text, ptsize, Path(FONT_DIR))


@cache
def templates() -> GlyphTemplates:
    return load_templates(Path(FONT_DIR))


@cache
def mrz_block(text: str) -> Gray:
    """The MRZ lines in OCR-B 10 pt at 300 dpi (ICAO pitch 2.54 mm = 30 px), cropped to the ink."""
    image, _ = _render(text, 10)
    ys, xs = np.where(image < 128)
    return image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def document_image(text: str, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A card (TD1) or passport data page (TD3): photo, printed fields, the MRZ at the bottom."""
    block = mrz_block(text).astype(np.float32)
    bh, bw = block.shape
    margin = int(0.06 * bw)
    width = bw + 2 * margin
    height = int(width / (1.58 if text.count("\n") == 2 else 1.42))
    paper = float(rng.uniform(205, 235))
    page = np.full((height, width), paper, dtype=np.float32)
    top = height - margin // 2 - bh - margin // 2
    cv2.rectangle(
        page, (margin, margin), (margin + width // 4, top - margin), float(rng.uniform(60, 140)), -1
    )
    x0 = margin + width // 4 + margin
    rows = 5
    step = (top - 2 * margin) // rows
    for row in range(rows):
        y = margin + row * step
        length = int(rng.uniform(0.2, 0.5) * width)
        cv2.rectangle(
            page, (x0, y), (x0 + length, y + min(14, step // 2)), float(rng.uniform(40, 90)), -1
        )
    region = page[top : top + bh, margin : margin + bw]
    page[top : top + bh, margin : margin + bw] = np.minimum(region, block * paper / 255.0)
    return page


def counter_frame(text: str, seed: int, *, max_tilt: float = 6.0) -> Gray:
    """The document on the counter, 1280x720, through the camera model."""
    rng = np.random.default_rng(seed)
    page = document_image(text, rng)
    scene = _background(rng, 1280, 720)
    h, w = page.shape
    scale = float(rng.uniform(1100, 1220)) / w  # the page fills most of the frame width
    half_w, half_h = w * scale / 2, h * scale / 2
    if half_h * 2 > 690:
        shrink = 690 / (half_h * 2)
        half_w, half_h = half_w * shrink, half_h * shrink
    angle = math.radians(float(rng.uniform(-max_tilt, max_tilt)))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    _composite(scene, page, corners @ rot.T + [640.0, 360.0], prefilter=True)
    params = SceneParams(carrier="paper", psf_sigma=float(rng.uniform(0.6, 1.0)), noise_sigma=3.0)
    return _camera(scene, params, rng)


def _field(text: str, size: int) -> str:
    return (text.upper().replace(" ", "<") + "<" * size)[:size]


def td1(number: str, birth: str, sex: str, expiry: str, *, family: str, given: str) -> str:
    """A TD1 MRZ with correct check digits (dates YYMMDD, state and nationality UTO)."""
    doc = _field(number, 9)
    top = "I<UTO" + doc + check_digit(doc) + "<" * 15
    middle = birth + check_digit(birth) + sex + expiry + check_digit(expiry) + "UTO" + "<" * 11
    composite = top[5:30] + middle[0:7] + middle[8:15] + middle[18:29]
    return "\n".join((top, middle + check_digit(composite), _field(f"{family}<<{given}", 30)))


def td3(number: str, birth: str, sex: str, expiry: str, *, family: str, given: str) -> str:
    """A TD3 MRZ with correct check digits (no personal number)."""
    doc = _field(number, 9)
    personal = "<" * 14
    bottom = (
        doc
        + check_digit(doc)
        + "UTO"
        + birth
        + check_digit(birth)
        + sex
        + expiry
        + check_digit(expiry)
        + personal
        + "<"
    )
    composite = bottom[0:10] + bottom[13:20] + bottom[21:43]
    return "\n".join((_field(f"P<UTO{family}<<{given}", 44), bottom + check_digit(composite)))
