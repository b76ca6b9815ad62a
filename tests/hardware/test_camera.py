"""Cameras (simulated and OpenCV) and the capture thread that keeps only the newest frame."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware.camera.cv import CaptureSettings, OpenCvCamera, _describe
from hardware.camera.port import Camera, FrameGrabber, Gray
from hardware.camera.sim import SimulatedCamera
from hardware.decoding.backends import make_decoder
from hardware.decoding.synthetic import make_frame
from hardware.errors import CameraError

TOKEN = "LK1:SIMULATED-CAMERA-TOKEN-0123456789"


def opened(camera: Camera) -> Camera:
    camera.open()
    return camera


def read_texts(gray: Gray | None) -> list[str]:
    assert gray is not None
    return [c.text for c in make_decoder("zxing").decode(gray)]


@pytest.mark.parametrize("carrier", ["phone", "paper"])
def test_simulated_camera_shows_a_token_held_into_the_scene(carrier: str) -> None:
    camera = opened(SimulatedCamera(fps=0))
    camera.show_payload(TOKEN, carrier=carrier, seed=3)  # type: ignore[attr-defined]
    frame = camera.read()
    assert frame is not None
    assert frame.shape == (720, 1280)
    assert frame.dtype == np.uint8
    assert read_texts(frame) == [TOKEN]
    camera.show_nothing()  # type: ignore[attr-defined]
    assert read_texts(camera.read()) == []


def test_simulated_camera_plays_image_files_and_folders(tmp_path: Path) -> None:
    for index in range(3):
        frame = make_frame("nominal", index, seed=9)
        cv2.imwrite(str(tmp_path / f"{index}.png"), frame.gray)
    (tmp_path / "notes.txt").write_text("not an image")
    camera = SimulatedCamera(fps=0)
    camera.open()
    camera.play(tmp_path)
    texts = [read_texts(camera.read()) for _ in range(4)]
    expected = [[make_frame("nominal", i, seed=9).text] for i in (0, 1, 2, 0)]
    assert texts == expected
    camera.show_image(tmp_path / "1.png")
    assert read_texts(camera.read()) == expected[1]


def test_an_unreadable_image_shows_grey_instead_of_failing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    camera = opened(SimulatedCamera(fps=0, size=(320, 240)))
    camera.show_image(broken)  # type: ignore[attr-defined]
    gray = camera.read()
    assert gray is not None
    assert gray.shape == (240, 320)
    assert int(gray.max()) == 128


def test_simulated_faults_stall_and_failed_open() -> None:
    camera = SimulatedCamera(fps=0)
    with pytest.raises(CameraError, match="read while closed"):
        camera.read()
    camera.fail_open = True
    with pytest.raises(CameraError, match="open failed"):
        camera.open()
    camera.fail_open = False
    camera.open()
    camera.stall()
    assert camera.read() is None
    camera.stall(False)
    assert camera.read() is not None
    with pytest.raises(CameraError, match="no image files"):
        camera.play([])


class CountingCamera(Camera):
    """Frames whose first pixel is their number; fails to open while `fail_opens` > 0."""

    description = "counting"

    def __init__(self) -> None:
        self.count = 0
        self.opens = 0
        self.closes = 0
        self.fail_opens = 0
        self.period = 0.001

    def open(self) -> None:
        if self.fail_opens > 0:
            self.fail_opens -= 1
            raise CameraError("busy")
        self.opens += 1

    def read(self) -> Gray | None:
        time.sleep(self.period)
        self.count += 1
        frame = np.zeros((4, 4), np.uint8)
        frame[0, 0] = self.count % 256
        return frame

    def close(self) -> None:
        self.closes += 1


def test_the_grabber_hands_out_only_the_newest_frame() -> None:
    camera = CountingCamera()
    grabber = FrameGrabber(camera)
    grabber.start()
    try:
        first = grabber.next_frame(0, timeout=2.0)
        assert first is not None
        time.sleep(0.05)  # frames keep coming while nobody asks: only the newest is kept
        newest = grabber.next_frame(first.seq, timeout=2.0)
        assert newest is not None
        assert newest.seq > first.seq + 5
        assert grabber.next_frame(grabber.frames + 1000, timeout=0.01) is None
    finally:
        grabber.stop()
    assert camera.closes == 1
    assert not any(t.name == "camera-capture" for t in threading.enumerate())


def test_the_grabber_reopens_on_request_and_retries_a_failing_open() -> None:
    camera = CountingCamera()
    camera.fail_opens = 2
    grabber = FrameGrabber(camera, backoff_s=(0.01, 0.02))
    grabber.start()
    try:
        assert grabber.next_frame(0, timeout=2.0) is not None
        assert camera.opens == 1
        assert grabber.last_error == "busy"
        grabber.request_restart()
        deadline = time.monotonic() + 2.0
        while grabber.restarts < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert grabber.restarts == 1
        assert camera.opens == 2
        assert camera.closes == 1
    finally:
        grabber.stop()


def write_video(path: Path, frames: list[np.ndarray], fps: float = 50.0) -> None:
    height, width = frames[0].shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for gray in frames:
        writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_opencv_camera_reads_a_video_file_as_grayscale_and_loops(tmp_path: Path) -> None:
    frames = [make_frame("nominal", i, seed=21, size=(640, 480)) for i in range(2)]
    video = tmp_path / "site.avi"
    write_video(video, [f.gray for f in frames])
    camera = OpenCvCamera(CaptureSettings(source=str(video)), sleep=lambda _s: None)
    camera.open()
    try:
        texts = [read_texts(camera.read()) for _ in range(5)]
    finally:
        camera.close()
        camera.close()  # twice is harmless
    assert texts == [[frames[i % 2].text] for i in range(5)]


def test_opencv_camera_refuses_a_missing_source(tmp_path: Path) -> None:
    camera = OpenCvCamera(CaptureSettings(source=str(tmp_path / "nope.avi")))
    with pytest.raises(CameraError, match="cannot open camera"):
        camera.open()
    with pytest.raises(CameraError, match="not open"):
        camera.read()


def test_stream_urls_are_logged_without_credentials() -> None:
    assert _describe("rtsp://admin:secret@10.0.0.7:554/stream1?token=x") == "rtsp://10.0.0.7:554"
    assert _describe("/dev/video0") == "/dev/video0"
    assert _describe(0) == "0"
