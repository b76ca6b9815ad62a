"""The decoder port and its backends, on generated codes and synthetic camera frames."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import segno

from hardware.decoding.backends import make_decoder
from hardware.decoding.cascade import DEFAULT_STEPS, CascadeDecoder
from hardware.decoding.port import DecodedCode
from hardware.decoding.synthetic import make_frame
from hardware.decoding.zbar import PyzbarDecoder
from hardware.decoding.zxing import ZxingDecoder, read_qr
from hardware.errors import DecoderError

TOKEN = "LK1:6BFOXN*TS0B7XA1:OV$+R6MU.4UO0G8CGFS9K-8ACLF8H.6QI0KG-T0H$U"


def qr_image(
    data: str | bytes, *, ppm: int = 6, border: int = 4, dark_mode: bool = False
) -> np.ndarray:
    """A clean code: `ppm` pixels per module, code starting at (border * ppm, border * ppm)."""
    qr = segno.make_qr(data, error="m", boost_error=False)
    modules = np.array([list(row) for row in qr.matrix], dtype=bool)
    padded = np.pad(modules, border, constant_values=False)
    image = np.where(padded, 0, 255).astype(np.uint8)
    if dark_mode:
        image = 255 - image
    return np.kron(image, np.ones((ppm, ppm), dtype=np.uint8))


@pytest.mark.parametrize("kind", ["zxing", "pyzbar"])
def test_reads_a_token_with_its_exact_text_payload_and_position(kind: str) -> None:
    image = qr_image(TOKEN)
    codes = make_decoder(kind).decode(image)  # type: ignore[arg-type]
    assert len(codes) == 1
    code = codes[0]
    assert code.text == TOKEN
    assert code.payload == TOKEN.encode("ascii")
    assert code.symbology == "qr"
    size = segno.make_qr(TOKEN, error="m", boost_error=False).symbol_size(border=0)[0] * 6
    xs, ys = [x for x, _ in code.corners], [y for _, y in code.corners]
    assert abs(min(xs) - 24) <= 6
    assert abs(max(xs) - (24 + size)) <= 6
    assert abs(min(ys) - 24) <= 6
    assert abs(max(ys) - (24 + size)) <= 6


def test_zxing_keeps_the_exact_bytes_of_a_binary_payload() -> None:
    payload = bytes(range(256))[::3]
    codes = make_decoder("zxing").decode(qr_image(payload))
    assert [c.payload for c in codes] == [payload]


@pytest.mark.parametrize("kind", ["zxing", "pyzbar"])
def test_reads_a_dark_mode_screen(kind: str) -> None:
    codes = make_decoder(kind).decode(qr_image(TOKEN, dark_mode=True))  # type: ignore[arg-type]
    assert [c.text for c in codes] == [TOKEN]


@pytest.mark.parametrize("kind", ["zxing", "pyzbar"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 500), (720, 1280), (17, 9)])
def test_frames_without_a_code_give_nothing_and_never_raise(
    kind: str, shape: tuple[int, int]
) -> None:
    rng = np.random.default_rng(5)
    for image in (np.zeros(shape, np.uint8), rng.integers(0, 256, shape, dtype=np.uint8)):
        assert make_decoder(kind).decode(image) == ()  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["zxing", "pyzbar"])
def test_a_frame_that_is_not_grayscale_uint8_is_a_decoder_error(kind: str) -> None:
    decoder = make_decoder(kind)  # type: ignore[arg-type]
    with pytest.raises(DecoderError, match="2-D uint8"):
        decoder.decode(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(DecoderError, match="2-D uint8"):
        decoder.decode(np.zeros((10, 10), np.float32))


def test_two_codes_in_one_frame_are_both_reported_once_each() -> None:
    left, right = qr_image("LK1:AAA"), qr_image("LK1:BBB")
    height = max(left.shape[0], right.shape[0])
    frame = np.full((height, left.shape[1] + right.shape[1]), 255, np.uint8)
    frame[: left.shape[0], : left.shape[1]] = left
    frame[: right.shape[0], left.shape[1] :] = right
    texts = sorted(c.text for c in make_decoder("zxing", thorough=True).decode(frame))
    assert texts == ["LK1:AAA", "LK1:BBB"]


def test_decoded_code_is_a_frozen_value() -> None:
    code = DecodedCode("x", b"x", "qr", ((0, 0),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        code.text = "y"  # type: ignore[misc]


def test_corners_of_a_scaled_and_cropped_pass_are_in_frame_coordinates() -> None:
    image = qr_image(TOKEN)
    direct = read_qr(image).codes[0]
    half = np.asarray(
        cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    mapped = read_qr(half, scale=0.5, offset=(100, 40)).codes[0]
    for (x0, y0), (x1, y1) in zip(direct.corners, mapped.corners, strict=True):
        assert abs(x1 - (x0 + 100)) <= 3
        assert abs(y1 - (y0 + 40)) <= 3


@pytest.mark.parametrize(
    ("category", "index"),
    [("defocus", 16), ("screen_moire", 3), ("glare_strong", 1), ("motion", 18)],
)
def test_the_cascade_reads_frames_a_single_zxing_pass_misses(category: str, index: int) -> None:
    # Frames found by running the synthetic set (seed 1): zxing sees a symbol but cannot decode it.
    frame = make_frame(category, index, seed=1)
    assert frame.text not in [c.text for c in ZxingDecoder().decode(frame.gray)]
    assert [c.text for c in CascadeDecoder().decode(frame.gray)] == [frame.text]


def test_the_cascade_stops_retrying_when_its_budget_is_spent() -> None:
    frame = make_frame("defocus", 16, seed=1)
    ticks = iter(np.arange(0.0, 100.0, 0.05))  # every clock read is 50 ms later
    decoder = CascadeDecoder(budget_ms=40.0, clock=lambda: float(next(ticks)))
    assert decoder.decode(frame.gray) == ()
    assert decoder.last_step == ""


def test_an_idle_frame_costs_one_pass_unless_thorough() -> None:
    calls: list[str] = []

    def counting(img: np.ndarray) -> tuple[np.ndarray, float]:
        calls.append("retry")
        return img, 1.0

    steps = (dataclasses.replace(DEFAULT_STEPS[1], transform=counting),)
    empty = make_frame("empty", 0, seed=1).gray
    assert CascadeDecoder(steps=steps).decode(empty) == ()
    assert calls == []
    assert CascadeDecoder(steps=steps, thorough=True).decode(empty) == ()
    assert calls == ["retry"]


def test_pyzbar_tries_half_scale_first_then_full_then_inverted() -> None:
    dark = qr_image(TOKEN, dark_mode=True)
    assert PyzbarDecoder(passes=("half", "full")).decode(dark) == ()
    assert [c.text for c in PyzbarDecoder(passes=("inverted",)).decode(dark)] == [TOKEN]


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown decoder kind"):
        make_decoder("wechat")  # type: ignore[arg-type]
