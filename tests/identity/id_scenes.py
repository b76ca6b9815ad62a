"""Generated AAMVA payloads and counter-camera scenes of a licence's PDF417, for tests and bench."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import zxingcpp

from hardware.decoding.synthetic import SceneParams, _background, _camera, _composite


def aamva(fields: dict[str, str], *, kind: str = "DL") -> bytes:
    """An AAMVA 2020 payload with one subfile (offsets computed as the standard lays them out)."""
    subfile = kind + "\n".join(f"{k}{v}" for k, v in fields.items()) + "\r"
    header = "@\n\x1e\rANSI 636099" + "10" + "00" + "01"
    offset = len(header) + 10
    return (header + f"{kind}{offset:04d}{len(subfile):04d}" + subfile).encode("latin-1")


PERSON = {
    "DAQ": "D1234-5678",
    "DCS": "PRIVACYOVA",
    "DAC": "ZUZANNA",
    "DAD": "QUILL",
    "DBB": "02032001",
    "DBA": "02032030",
    "DAJ": "CA",
    "DCG": "USA",
}


def photographed(payload: bytes, seed: int) -> npt.NDArray[np.uint8]:
    """The PDF417 on a card, placed in a 720p counter scene and seen through the camera model."""
    rng = np.random.default_rng(seed)
    symbol = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.PDF417)
    card = np.array(zxingcpp.write_barcode_to_image(symbol, scale=3), dtype=np.float32)
    card = np.pad(card, 40, constant_values=255.0) * (225.0 - 35.0) / 255.0 + 35.0
    scene = _background(rng, 1280, 720)
    h, w = card.shape
    angle = math.radians(float(rng.uniform(-6, 6)))
    cx, cy, half_w, half_h = 640.0, 360.0, w / 2, h / 2
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    _composite(scene, card, corners @ rot.T + [cx, cy], prefilter=True)
    return _camera(scene, SceneParams(carrier="paper", psf_sigma=0.8, noise_sigma=3.0), rng)
