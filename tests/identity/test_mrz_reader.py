"""The MRZ read from a counter camera frame (OCR-B templates), then checked and assessed."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.identity.id_documents import assess
from agent.identity.mrz import parse_mrz
from agent.identity.mrz_reader import MrzRead, _repair, read_mrz
from agent.identity.names import NameCheck, name_digest
from tests.identity.id_scenes import PERSON, aamva, photographed
from tests.identity.ocrb import counter_frame, td1, td3, templates
from tests.identity.test_id_documents import TD1, TD3


@pytest.mark.parametrize("text", [TD3, TD1])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_icao_specimens_are_read_from_a_frame(text: str, seed: int) -> None:
    read = read_mrz(counter_frame(text, seed), templates())
    assert read is not None
    assert read.text == text
    assert parse_mrz(read.text, today=date(2010, 1, 1)).failed_checks == ()


@pytest.mark.parametrize("make", [td1, td3])
def test_an_under_age_customer_at_the_counter(make: object) -> None:
    assert callable(make)
    text = make("QX7441PR0", "100203", "F", "300101", family="Privacyova", given="Zuzanna Quill")
    read = read_mrz(counter_frame(text, 7), templates())
    assert read is not None
    assert read.text == text
    document = parse_mrz(read.text, today=date(2026, 6, 1))
    salt = os.urandom(16)
    recipient = NameCheck(salt, name_digest(salt, "Zuzanna Quill", "Privacyova"))
    assist = assess(document, today=date(2026, 6, 1), min_age=18, recipient=recipient)
    assert assist.check_digits_ok
    assert (assist.age_ok, assist.name_matches, assist.expired) == (False, True, False)


def test_frames_without_an_mrz() -> None:
    assert read_mrz(np.full((720, 1280), 128, dtype=np.uint8), templates()) is None
    assert read_mrz(photographed(aamva(PERSON), 1), templates()) is None


def test_a_failed_check_digit_is_repaired_at_the_least_certain_position() -> None:
    # "D23145890" check 7; position 13 was read as O (runner-up 0, nearly tied) and position 8
    # has a runner-up T that would also satisfy the digit: the near tie must win.
    line = "I<UTOD2314589O7<<<<<<<<<<<<<<<"
    runner = "TKOYDQZ5TASBQ02KKKKKKKKKKKKKKK"
    margins = [0.2] * 30
    margins[13], margins[8] = 0.003, 0.15
    read = MrzRead(
        (line, TD1.splitlines()[1], TD1.splitlines()[2]), (runner, "", ""), (tuple(margins), (), ())
    )
    assert _repair(read, "td1").lines[0] == TD1.splitlines()[0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_any_frame_gives_a_read_or_none(seed: int) -> None:
    """Clutter, bars and noise: the reader returns a read or None, and never raises."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, size=(720, 1280), dtype=np.uint8)
    for _ in range(int(rng.integers(0, 12))):
        x, y = int(rng.integers(0, 1200)), int(rng.integers(0, 700))
        w, h = int(rng.integers(5, 900)), int(rng.integers(2, 60))
        frame[y : y + h, x : x + w] = int(rng.integers(0, 256))
    read = read_mrz(frame, templates())
    assert read is None or len(read.lines) in (2, 3)
    assert read is None or "<" not in repr(read)
