"""The synthetic frame generator: deterministic, the documented geometry, readable."""

from __future__ import annotations

import numpy as np
import pytest
import segno

from hardware.decoding.backends import make_decoder
from hardware.decoding.synthetic import (
    CATEGORIES,
    PAYLOAD_LENGTHS,
    QR_ALPHANUMERIC,
    SceneParams,
    make_frame,
    random_payload,
    render_scene,
    synthetic_set,
)


def test_the_same_seed_gives_the_same_pixels_and_another_seed_does_not() -> None:
    a = make_frame("perspective", 3, seed=11)
    b = make_frame("perspective", 3, seed=11)
    c = make_frame("perspective", 3, seed=12)
    assert np.array_equal(a.gray, b.gray)
    assert a.text == b.text
    assert not np.array_equal(a.gray, c.gray)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_makes_a_720p_grayscale_frame(category: str) -> None:
    frame = make_frame(category, 1, seed=2)
    assert frame.gray.shape == (720, 1280)
    assert frame.gray.dtype == np.uint8
    assert frame.category == category
    assert (frame.text is None) == (category == "empty")


def test_payloads_are_token_shaped_and_give_versions_6_9_12_in_alphanumeric_mode() -> None:
    versions = []
    for index, length in enumerate(PAYLOAD_LENGTHS):
        text = make_frame("nominal", index, seed=3).text
        assert text is not None
        assert text.startswith("LK1:")
        assert len(text) == 4 + length
        assert set(text) <= set(QR_ALPHANUMERIC)
        qr = segno.make_qr(text, error="m", boost_error=False)
        assert qr.mode == "alphanumeric"
        versions.append(qr.version)
    assert versions == [6, 9, 12]


def test_nominal_frames_are_all_read_and_empty_frames_never_are() -> None:
    decoder = make_decoder("zxing")
    for frame in synthetic_set(seed=4, per_category=6, categories=("nominal", "empty")):
        texts = [c.text for c in decoder.decode(frame.gray)]
        assert texts == ([] if frame.text is None else [frame.text]), frame


def test_a_1080p_set_with_larger_modules_is_read() -> None:
    frames = list(
        synthetic_set(
            seed=5,
            per_category=3,
            size=(1920, 1080),
            module_scale=1.5,
            categories=("nominal", "empty"),
        )
    )
    assert {f.gray.shape for f in frames} == {(1080, 1920)}
    decoder = make_decoder("zxing")
    for frame in frames:
        if frame.text is not None:
            assert [c.text for c in decoder.decode(frame.gray)] == [frame.text]


def test_a_dark_mode_screen_is_light_on_dark() -> None:
    rng = np.random.default_rng(0)
    text = random_payload(rng, 60)
    params = SceneParams(carrier="phone", inverted=True, module_px=8.0, noise_sigma=0.0)
    gray = render_scene(text, params, rng, (640, 640))
    assert make_decoder("pyzbar").decode(gray)[0].text == text  # only via the inverted retry


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown synthetic category"):
        make_frame("fog", 0)
