"""The scanner end to end: simulated camera -> capture -> decode thread -> debounced callback."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware.camera.scanner import (
    Debouncer,
    Scanner,
    ScannerSettings,
    build_scanner,
    make_camera,
    scan_image_files,
)
from hardware.camera.sim import SimulatedCamera
from hardware.decoding.backends import make_decoder
from hardware.decoding.pipeline import FramePipeline
from hardware.decoding.port import DecodedCode, Decoder, Gray
from hardware.decoding.synthetic import make_frame

TOKEN = "LK1:SCANNER-TEST-TOKEN-ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class FakeClock:
    """A monotonic clock the test moves by hand (read from the capture thread too)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def until(predicate: Callable[[], bool]) -> None:
    """Poll `predicate` (state the scanner's threads change) for up to 10 s."""
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached within 10 s")


class Rig:
    def __init__(self, settings: ScannerSettings, *, fps: float = 200.0) -> None:
        self.clock = FakeClock()
        self.camera = SimulatedCamera(fps=fps)
        self.calls: list[DecodedCode] = []
        self.scanner = build_scanner(settings, self.on_code, camera=self.camera, clock=self.clock)

    async def on_code(self, code: DecodedCode) -> None:
        self.calls.append(code)

    async def frames(self, count: int) -> None:
        """Wait until `count` more frames went through the decoder."""
        target = self.scanner.frames_decoded + count
        await until(lambda: self.scanner.frames_decoded >= target)

    async def sightings(self, count: int) -> None:
        target = self.scanner.sightings + count
        await until(lambda: self.scanner.sightings >= target)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = Rig(ScannerSettings(source="simulated", debounce_s=10.0, leave_s=1.0))
    rig.camera.show_nothing()
    task = asyncio.create_task(rig.scanner.run())
    try:
        yield rig
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not rig.scanner.health().running


async def test_a_code_held_in_view_is_acted_on_once_and_again_only_after_leaving_and_10_s(
    rig: Rig,
) -> None:
    await rig.frames(5)
    assert rig.calls == []  # empty scene: no callback

    rig.camera.show_payload(TOKEN, seed=1)
    await until(lambda: len(rig.calls) == 1)
    assert rig.calls[0].text == TOKEN
    assert rig.calls[0].payload == TOKEN.encode()
    await rig.sightings(30)  # held in view for many frames
    assert len(rig.calls) == 1

    rig.camera.show_nothing()
    await rig.frames(5)
    rig.clock.now += 5.0  # out of view for 5 s, then shown again: within the debounce interval
    rig.camera.show_payload(TOKEN, seed=2)
    await rig.sightings(10)
    assert len(rig.calls) == 1

    rig.clock.now += 6.0  # 11 s after the first action, and it has left view meanwhile
    await rig.sightings(3)
    assert len(rig.calls) == 2
    health = rig.scanner.health()
    assert health.ok
    assert health.decoded == 2
    assert health.sightings >= 40


async def test_a_code_that_never_left_view_does_not_retrigger(rig: Rig) -> None:
    rig.camera.show_payload(TOKEN, seed=1)
    await until(lambda: len(rig.calls) == 1)
    for _ in range(25):
        rig.clock.now += 0.5  # in view for 12.5 s, never out of sight for a whole second
        await rig.sightings(2)
    assert len(rig.calls) == 1


async def test_the_watchdog_restarts_a_stalled_camera_and_health_shows_it(rig: Rig) -> None:
    await rig.frames(3)
    assert rig.scanner.health().ok
    rig.camera.stall()
    await asyncio.sleep(0.05)
    rig.clock.now += 4.0  # no frame for longer than watchdog_s (3 s)
    await until(lambda: rig.camera.opens >= 2)
    health = rig.scanner.health()
    assert not health.ok
    assert health.restarts >= 1
    assert health.last_frame_age_s is not None
    rig.camera.stall(False)
    await rig.frames(3)
    assert rig.scanner.health().ok


async def test_a_failing_callback_is_logged_and_scanning_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(ScannerSettings(source="simulated"))
    seen: list[str] = []

    async def broken(code: DecodedCode) -> None:
        seen.append(code.text)
        raise RuntimeError("pickup service down")

    rig.scanner = Scanner(rig.camera, FramePipeline(make_decoder()), broken, clock=rig.clock)
    rig.camera.show_payload("LK1:FIRST", seed=1)
    task = asyncio.create_task(rig.scanner.run())
    try:
        await until(lambda: seen == ["LK1:FIRST"])
        rig.camera.show_payload("LK1:SECOND", seed=1)
        await until(lambda: seen == ["LK1:FIRST", "LK1:SECOND"])
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "QR code callback failed" in caplog.text
    assert "LK1:FIRST" not in caplog.text  # a token never reaches the log


async def test_the_loop_stays_responsive_while_the_scanner_runs_flat_out() -> None:
    rig = Rig(ScannerSettings(source="simulated"), fps=1000.0)
    rig.camera.show_payload(TOKEN, seed=4)
    task = asyncio.create_task(rig.scanner.run())
    lags: list[float] = []
    try:
        await rig.frames(1)
        for _ in range(100):
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)
        frames = rig.scanner.frames_decoded
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert frames > 50  # it really was decoding meanwhile
    assert max(lags) < 0.050, f"max loop lag {max(lags) * 1000:.1f} ms"
    names = {t.name for t in threading.enumerate()}
    assert "camera-capture" not in names
    assert "qr-decode" not in names


async def test_a_camera_that_cannot_open_is_reported_not_fatal() -> None:
    rig = Rig(ScannerSettings(source="simulated"))
    rig.camera.fail_open = True
    task = asyncio.create_task(rig.scanner.run())
    try:
        await until(lambda: rig.scanner.health().last_error != "")
        health = rig.scanner.health()
        assert health.running
        assert not health.ok
        assert health.frames == 0
        assert "open failed" in health.last_error
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def code(payload: bytes) -> DecodedCode:
    return DecodedCode(payload.decode(), payload, "qr", ())


def test_debouncer_rules() -> None:
    debouncer = Debouncer(debounce_s=10.0, leave_s=1.0)
    a, b = code(b"A"), code(b"B")
    assert debouncer.observe([a], 0.0) == [a]
    assert debouncer.observe([a, b], 0.5) == [b]  # another code is independent
    assert debouncer.observe([a], 9.0) == []  # left view at 0.5..9.0 but only 9 s passed
    assert debouncer.observe([a], 10.2) == [a]  # left view before, and 10 s passed
    assert debouncer.observe([a], 10.4) == []
    assert debouncer.observe([a], 25.0) == [a]  # long gone, forgotten, new sighting


class CountingDecoder(Decoder):
    def __init__(self, result: tuple[DecodedCode, ...] = ()) -> None:
        self.calls = 0
        self.result = result

    def decode(self, gray: Gray) -> tuple[DecodedCode, ...]:
        self.calls += 1
        return self.result


def test_the_deep_pass_runs_on_idle_frames_at_most_every_interval() -> None:
    now = [0.0]
    fast, deep = CountingDecoder(), CountingDecoder()
    pipeline = FramePipeline(fast, deep_decoder=deep, deep_interval_s=0.5, clock=lambda: now[0])
    frame = np.zeros((10, 10), np.uint8)
    ran = []
    for step in range(20):
        now[0] = step * 0.1
        ran.append(pipeline.process(frame).deep)
    assert fast.calls == 20
    assert deep.calls == 4
    assert ran.index(True) == 0
    assert ran[5]
    assert ran[10]


def test_the_region_of_interest_limits_where_codes_are_read() -> None:
    frame = make_frame("nominal", 0, seed=6)
    full = make_decoder().decode(frame.gray)[0]
    xs, ys = [x for x, _ in full.corners], [y for _, y in full.corners]
    roi = (min(xs) - 30, min(ys) - 30, max(xs) - min(xs) + 60, max(ys) - min(ys) + 60)
    seen = FramePipeline(make_decoder(), roi=roi).process(frame.gray).codes
    assert [c.text for c in seen] == [frame.text]
    for (x0, y0), (x1, y1) in zip(full.corners, seen[0].corners, strict=True):
        assert abs(x0 - x1) <= 2
        assert abs(y0 - y1) <= 2
    elsewhere = (0, 0, 60, 60) if min(xs) > 80 or min(ys) > 80 else (1200, 640, 80, 80)
    assert FramePipeline(make_decoder(), roi=elsewhere).process(frame.gray).codes == ()


def test_scan_image_files_reports_codes_and_errors_per_file(tmp_path: Path) -> None:
    frame = make_frame("nominal", 1, seed=8)
    good, empty = tmp_path / "good.png", tmp_path / "empty.jpg"
    cv2.imwrite(str(good), frame.gray)
    cv2.imwrite(str(empty), make_frame("empty", 0, seed=8).gray)
    bogus = tmp_path / "bogus.png"
    bogus.write_text("no pixels here")
    paths = [good, empty, bogus, tmp_path / "missing.png"]
    results = scan_image_files(paths, make_decoder("zxing", thorough=True))
    assert [r.codes for r in results] == [(frame.text,), (), (), ()]
    assert [r.error for r in results] == [None, None, "not a readable image", "no such file"]
    lines = [json.dumps(r.as_json()) for r in results]
    first = json.loads(lines[0])
    assert first["file"] == str(good)
    assert first["codes"] == [{"text": frame.text}]
    assert first["ms"] > 0
    assert "error" not in first
    assert json.loads(lines[3])["error"] == "no such file"


def test_make_camera_picks_the_simulator_or_opencv() -> None:
    assert isinstance(make_camera(ScannerSettings(source="simulated")), SimulatedCamera)
    assert make_camera(ScannerSettings(source="rtsp://u:p@cam.local/live")).description == (
        "rtsp://cam.local"
    )
