"""Read an ICAO 9303 MRZ from a camera frame: OCR-B glyph templates on a fixed pitch.

The MRZ is printed in OCR-B at a fixed pitch, in lines of known length (TD1: 3 x 30, TD3:
2 x 44), from a 37-character alphabet. So instead of a general OCR engine this reader:

1. finds the MRZ band: dark text strokes (black-hat), horizontal gradients, closed into one wide
   block; the widest block with a text-line aspect is taken and its tilt undone;
2. splits the band into lines by the rows holding ink, and takes the last 3 (TD1) or 2 (TD3);
3. places the line's character cells on a fixed pitch between its first and last glyph centres;
4. classifies each cell against the OCR-B templates by correlation, restricted to the characters
   the position may hold (digits in dates and check digits, letters in names);
5. when a check digit fails, tries the runner-up glyph at each position of that field and keeps
   a single substitution that makes it pass.

Pure: numpy and OpenCV on the given frame and templates; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from agent.identity.mrz import check_digit

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
CELL = (16, 24)  # template width, height
_SEARCH = (20, 28)  # a frame's cell, 2 px larger on each side: alignment search room
_GROW = 20 / 16  # (the cell region grows in proportion, so the scale matches the template)
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_DIGITS = "0123456789"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
_ALNUM = ALPHABET
_DIGIT_OR_FILLER = _DIGITS + "<"
Gray = npt.NDArray[np.uint8]
_Rect = tuple[Sequence[float], Sequence[float], float]  # cv2.minAreaRect: centre, size, angle


@dataclass(frozen=True, slots=True)
class GlyphTemplates:
    """One normalised cell image per MRZ character (float32, zero mean, unit norm)."""

    cells: dict[str, npt.NDArray[np.float32]]

    @classmethod
    def from_sheet(
        cls, sheet: Gray, boxes: Sequence[tuple[str, int, int, int, int]]
    ) -> GlyphTemplates:
        """From a rendered line of glyphs and their boxes `(char, x0, y0, x1, y1)` (top-left
        origin), e.g. the OCR-B font rendered by tesseract's `text2image`."""
        ink = np.asarray(255 - sheet, dtype=np.uint8)
        (top, bottom), *_ = _lines(ink)
        centres = [(b[1] + b[3]) / 2 for b in boxes]
        pitch = (centres[-1] - centres[0]) / (len(boxes) - 1)
        cells = {
            char: _normalise(_cell(ink, (x0 + x1) / 2, pitch, top, bottom))
            for char, x0, _, x1, _ in boxes
        }
        return cls(cells)


def _cell(
    ink: Gray, centre: float, pitch: float, top: int, bottom: int, *, grow: float = 1.0
) -> Gray:
    """The character cell around `centre`: one pitch wide, the line plus 12 % above and below;
    `grow` widens both sides by that factor (room for the alignment search)."""
    pad = 0.12 * (bottom - top)
    half_w = pitch / 2 * grow
    mid_y, half_h = (top + bottom) / 2, ((bottom - top) / 2 + pad) * grow
    x0, x1 = round(centre - half_w), round(centre + half_w)
    y0, y1 = round(mid_y - half_h), round(mid_y + half_h)
    out = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    sx0, sx1 = max(x0, 0), min(x1, ink.shape[1])
    sy0, sy1 = max(y0, 0), min(y1, ink.shape[0])
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = ink[sy0:sy1, sx0:sx1]
    return out


def _normalise(cell: Gray, size: tuple[int, int] = CELL) -> npt.NDArray[np.float32]:
    small = cv2.resize(cell.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0.8)
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return np.asarray(small / norm if norm > 0 else small, dtype=np.float32)


def _scores(
    cell: npt.NDArray[np.float32], bank: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Best normalised correlation (OpenCV's TM_CCOEFF_NORMED) of every template in `bank`
    (37 x 384, zero mean, unit norm) anywhere within +-2 px of the cell, in one product."""
    windows = np.lib.stride_tricks.sliding_window_view(cell, (CELL[1], CELL[0]))
    flat = windows.reshape(-1, CELL[0] * CELL[1])
    flat = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    flat = flat / np.where(norms > 0, norms, 1.0)
    return np.asarray((flat @ bank.T).max(axis=0), dtype=np.float32)


def _allowed(kind: str, row: int) -> list[str]:
    """The characters each position may hold (9303 parts 4 and 5)."""
    if kind == "td3":
        if row == 0:
            return [_LETTERS] * 44
        return (
            [_ALNUM] * 9
            + [_DIGITS]
            + [_LETTERS] * 3
            + [_DIGITS] * 7
            + [_LETTERS]
            + [_DIGITS] * 7
            + [_ALNUM] * 14
            + [_DIGIT_OR_FILLER, _DIGITS]
        )
    if row == 0:
        return [_LETTERS] * 5 + [_ALNUM] * 9 + [_DIGIT_OR_FILLER] + [_ALNUM] * 15
    if row == 1:
        return (
            [_DIGITS] * 7 + [_LETTERS] + [_DIGITS] * 7 + [_LETTERS] * 3 + [_ALNUM] * 11 + [_DIGITS]
        )
    return [_LETTERS] * 30


@dataclass(frozen=True, slots=True)
class MrzRead:
    """The text read, and per position the runner-up character (for check-digit repair)."""

    lines: tuple[str, ...]
    runner_up: tuple[str, ...]
    margins: tuple[tuple[float, ...], ...]  # best minus runner-up score, per position

    @property
    def text(self) -> str:
        """The lines read, joined by newlines."""
        return "\n".join(self.lines)

    def __repr__(self) -> str:  # the lines are personal data: keep them out of logs
        return f"MrzRead({len(self.lines)} lines)"


def read_mrz(gray: Gray, templates: GlyphTemplates) -> MrzRead | None:
    """The MRZ in a grayscale frame, or None when no MRZ-like band is found."""
    for band in _bands(gray):
        mask = _ink_mask(band)
        # MRZ lines hold 30 (TD1, 3 lines) or 44 (TD3, 2 lines) glyphs; other rows do not
        # a line cut by the crop's edge is not read
        rows = [(t, b) for t, b in _lines(band) if t > 0 and b < band.shape[0]]
        lines = [_line(mask, top, bottom) for top, bottom in rows]
        lines = [line for line in lines if 24 <= len(line.centres) <= 50]
        if len(lines) < 2:
            continue
        kind, count, width = ("td1", 3, 30) if len(lines[-1].centres) <= 37 else ("td3", 2, 44)
        if len(lines) < count:
            continue
        read = _read_lines(band, lines[-count:], kind, width, templates)
        if read is not None:
            return _repair(read, kind)
    return None


def _bands(gray: Gray) -> Iterable[Gray]:
    """Upright crops of groups of MRZ-like text lines, inverted (ink bright), widest first."""
    height, width = gray.shape
    mask = _text_mask(gray)
    lines = _line_boxes(mask, width)
    if not lines:
        return
    # undo the tilt of the widest line (the MRZ lines are the widest text on a document)
    (cx, cy), _, _ = widest = max(lines, key=lambda r: max(r[1]))
    turn = cv2.getRotationMatrix2D((cx, cy), _long_axis_angle(widest), 1.0)
    upright = cv2.warpAffine(gray, turn, (width, height), borderMode=cv2.BORDER_REPLICATE)
    upright_mask = np.asarray(
        cv2.warpAffine(mask, turn, (width, height), flags=cv2.INTER_NEAREST), dtype=np.uint8
    )
    boxes = sorted(
        (cv2.boundingRect(c) for c in _contours(upright_mask)),
        key=lambda b: b[2],
        reverse=True,
    )
    boxes = [b for b in boxes if b[2] > 0.2 * width and b[2] > 3.5 * b[3]]
    used: set[int] = set()
    for index, (x, y, w, h) in enumerate(boxes):
        if index in used:
            continue
        # lines of one MRZ start at the same x and lie within a few line heights; a line
        # ending in fillers can look shorter (its `<<<<` may not join into the same blob)
        group = [(x, y, w, h)]
        for other, (ox, oy, ow, oh) in enumerate(boxes):
            near = abs(oy - y) < 4.5 * h
            if other != index and ow > 0.5 * w and abs(ox - x) < 0.05 * w and near:
                group.append((ox, oy, ow, oh))
                used.add(other)
        x0 = min(b[0] for b in group)
        x1 = max(b[0] + b[2] for b in group)
        y0 = min(b[1] for b in group)
        y1 = max(b[1] + b[3] for b in group)
        # room for a line the mask missed (a line next to the card's edge can merge with the
        # dark background into one blob): `read_mrz` keeps only lines of MRZ glyphs
        line_height = min(b[3] for b in group)
        mx, my = int(0.03 * (x1 - x0)), int(2.6 * line_height)
        crop = upright[max(y0 - my, 0) : y1 + my, max(x0 - mx, 0) : x1 + mx]
        if crop.size:
            yield np.asarray(255 - crop, dtype=np.uint8)


def _text_mask(gray: Gray) -> Gray:
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 5))
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
    grad = np.absolute(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=3))
    grad = np.asarray(grad * (255.0 / max(float(grad.max()), 1e-6)), dtype=np.uint8)
    grad = cv2.morphologyEx(grad, cv2.MORPH_CLOSE, kernel)
    _, mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((7, 25), np.uint8))
    return np.asarray(cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=1), dtype=np.uint8)


def _contours(mask: Gray) -> Sequence[Any]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return list(contours)


def _long_axis_angle(rect: _Rect) -> float:
    """The angle of a rotated rectangle's long side, in -45..45 degrees."""
    (_, _), (w, h), angle = rect
    if w < h:
        angle += 90
    while angle > 45:
        angle -= 90
    while angle < -45:
        angle += 90
    return angle


def _line_boxes(mask: Gray, width: int) -> list[_Rect]:
    rects: list[_Rect] = [cv2.minAreaRect(c) for c in _contours(mask)]
    return [r for r in rects if max(r[1]) > 0.25 * width and max(r[1]) > 3.5 * min(r[1])]


def _ink_mask(band: Gray) -> Gray:
    _, mask = cv2.threshold(band, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return np.asarray(mask, dtype=np.uint8)


def _lines(band: Gray) -> list[tuple[int, int]]:
    """(top, bottom) of each text line: runs of rows holding a fair share of the band's ink."""
    rows = (_ink_mask(band) > 0).sum(axis=1)
    busy = rows > 0.15 * float(rows.max(initial=0))
    lines, start = [], None
    for y, on in enumerate([*busy, False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            if y - start >= 6:
                lines.append((start, y))
            start = None
    return lines


def _read_lines(
    band: Gray, lines: Sequence[_Line], kind: str, width: int, templates: GlyphTemplates
) -> MrzRead | None:
    bank = np.stack([templates.cells[c].reshape(-1) for c in ALPHABET])
    texts, seconds, margins = [], [], []
    for row, line in enumerate(lines):
        grid = _grid(line.centres, width)
        if grid is None:
            return None
        first, pitch = grid
        allowed = _allowed(kind, row)
        text, second, margin = [], [], []
        for i in range(width):
            region = _cell(band, first + i * pitch, pitch, line.top, line.bottom, grow=_GROW)
            scores = _scores(_normalise(region, _SEARCH), bank)
            ranked = sorted(((float(scores[_INDEX[c]]), c) for c in allowed[i]), reverse=True)
            text.append(ranked[0][1])
            second.append(ranked[1][1] if len(ranked) > 1 else ranked[0][1])
            margin.append(ranked[0][0] - ranked[1][0] if len(ranked) > 1 else 1.0)
        texts.append("".join(text))
        seconds.append("".join(second))
        margins.append(tuple(margin))
    return MrzRead(tuple(texts), tuple(seconds), tuple(margins))


def _grid(centres: list[float], width: int) -> tuple[float, float] | None:
    """(first cell centre, pitch) fitted by least squares to the glyph centres of a line."""
    if len(centres) < width // 2:
        return None
    pitch = (centres[-1] - centres[0]) / (width - 1)
    index = np.round((np.asarray(centres) - centres[0]) / pitch)
    if index[-1] != width - 1:
        return None
    slope, intercept = np.polyfit(index, np.asarray(centres), 1)
    return float(intercept), float(slope)


@dataclass(frozen=True, slots=True)
class _Line:
    top: int
    bottom: int
    centres: list[float]


def _line(mask: Gray, top: int, bottom: int) -> _Line:
    """The glyph centres of one text line (rows `top:bottom`), without rules and stray marks."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask[top:bottom])
    if count <= 1:
        return _Line(top, bottom, [])
    stats = stats[1:]
    widths, heights = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = (
        (areas >= 0.15 * float(np.median(areas)))
        & (heights <= 1.2 * (bottom - top))
        & (widths <= 2.0 * float(np.median(widths)))
    )
    stats = stats[keep]
    if len(stats) == 0:
        return _Line(top, bottom, [])
    centres = sorted(float(x) for x in stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH] / 2)
    if len(centres) >= 3:
        pitch = float(np.median(np.diff(centres)))
        while len(centres) > 2 and centres[1] - centres[0] > 1.6 * pitch:
            centres.pop(0)
        while len(centres) > 2 and centres[-1] - centres[-2] > 1.6 * pitch:
            centres.pop()
    return _Line(top, bottom, centres)


# Fields with a check digit: (row, start, end, digit position) per format (9303 parts 4, 5).
_FIELDS = {
    "td3": [(1, 0, 9, 9), (1, 13, 19, 19), (1, 21, 27, 27), (1, 28, 42, 42)],
    "td1": [(0, 5, 14, 14), (1, 0, 6, 6), (1, 8, 14, 14)],
}


def _repair(read: MrzRead, kind: str) -> MrzRead:
    """Fix a failed field check with one runner-up substitution (or leave it failing).

    A wrong repair needs a second misread that the check digit happens to absorb (1 in 10);
    trying the least certain position first makes the likely correction the one taken.
    """
    lines = [list(line) for line in read.lines]
    for row, start, end, at in _FIELDS[kind]:
        line, second = lines[row], read.runner_up[row]
        if _field_ok(line, start, end, at):
            continue
        # the least certain position first: a runner-up elsewhere could also fit the digit
        for pos in sorted([*range(start, end), at], key=lambda p: read.margins[row][p]):
            original = line[pos]
            line[pos] = second[pos]
            if _field_ok(line, start, end, at):
                break
            line[pos] = original
    return MrzRead(tuple("".join(line) for line in lines), read.runner_up, read.margins)


def _field_ok(line: list[str], start: int, end: int, at: int) -> bool:
    field = "".join(line[start:end])
    digit = line[at]
    return digit == check_digit(field) or (digit == "<" and set(field) <= {"<"})
