"""An upload's declared pixel size is read from its header, so a decompression bomb is refused
before OpenCV allocates its canvas."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from agent.errors import RequestError
from agent.identity.image_header import declared_size
from agent.services.id_assist import MAX_PIXELS, decode_frame


def encoded(ext: str, width: int, height: int, **params: int) -> bytes:
    frame = np.random.default_rng(1).integers(0, 255, (height, width), dtype=np.uint8)
    flags = [value for pair in params.items() for value in (getattr(cv2, pair[0]), pair[1])]
    ok, data = cv2.imencode(ext, frame, flags)
    assert ok
    return bytes(data)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height grayscale, with a few bytes of image data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 65536, 9)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


@pytest.mark.parametrize(
    ("ext", "params"),
    [
        (".png", {}),
        (".jpg", {}),
        (".jpg", {"IMWRITE_JPEG_PROGRESSIVE": 1}),
        (".jpg", {"IMWRITE_JPEG_OPTIMIZE": 1}),
    ],
)
def test_the_declared_size_of_real_encodings(ext: str, params: dict[str, int]) -> None:
    assert declared_size(encoded(ext, 321, 123, **params)) == (321, 123)


def test_what_is_not_a_png_or_jpeg_header_declares_nothing() -> None:
    jpeg = encoded(".jpg", 64, 48)
    for data in (b"", b"GIF89a...", b"\x89PNG\r\n\x1a\n", jpeg[:3], jpeg[:20], b"\xff\xd8\x00\x00"):
        assert declared_size(data) is None


def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = png_bomb(30_000, 30_000)  # 900 MB once decoded, about 100 bytes here
    assert len(bomb) < 1000
    assert declared_size(bomb) == (30_000, 30_000)

    def never(*_args: object) -> None:
        raise AssertionError("decoded a frame that declares too many pixels")

    monkeypatch.setattr(cv2, "imdecode", never)
    with pytest.raises(RequestError, match="too large"):
        decode_frame(bomb)
    jpeg = bytearray(encoded(".jpg", 64, 48))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)  # the same trick in a JPEG
    with pytest.raises(RequestError, match="too large"):
        decode_frame(bytes(jpeg))


def test_a_frame_within_the_limit_is_decoded() -> None:
    gray = decode_frame(encoded(".png", 640, 480))
    assert gray.shape == (480, 640)
    assert MAX_PIXELS >= 640 * 480
