"""Seeded synthetic camera frames: a QR token on a phone screen or a paper slip, in a scene.

Used by the simulated camera (the demo "holds a phone to the camera") and by `bench/decode.py`.
The generator follows FIELD-NOTES section 3 so that our numbers compare with the measured ones:
a 1280x720 grayscale frame, a gradient background with rectangles, text-like dashes and texture,
the code on a phone (bezel grey 22, screen 248, modules 12) or paper (modules 35 on 225), placed
with rotation and perspective, then a camera model (PSF blur 0.7 px, vignetting, noise, JPEG 80).

Contract: the same `(category, index, seed, size)` always gives the same pixels; every frame but an
`empty` one carries exactly one QR code whose text is `SyntheticFrame.text`, fully inside the frame.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import segno

Gray = npt.NDArray[np.uint8]
Carrier = Literal["phone", "paper"]

CATEGORIES: tuple[str, ...] = (
    "nominal",
    "rotation",
    "perspective",
    "small_far",
    "defocus",
    "motion",
    "lowcontrast_noise",
    "glare",
    "glare_strong",
    "jpeg_heavy",
    "jpeg_harsh",
    "screen_moire",
    "inverted",
    "empty",
)
QR_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
PAYLOAD_LENGTHS = (150, 250, 400)  # QR versions 6, 9 and 12 at ECC M in alphanumeric mode
_SRC_PPM = 8  # source pixels per module before the code is warped into the scene
_MOIRE_PPM = 30  # 10 screen pixels per module, 3 source pixels per screen pixel


@dataclass(frozen=True, slots=True)
class SceneParams:
    """Every random choice of one frame; `for_category` draws them, tests may set them directly."""

    carrier: Carrier = "phone"
    module_px: float = 6.0
    rotation_deg: float = 0.0
    perspective: float = 0.0
    psf_sigma: float = 0.7
    motion_px: int = 0
    motion_angle_deg: float = 0.0
    contrast: float = 1.0
    noise_sigma: float = 3.0
    glare_peak: float = 0.0
    glare_sigma_frac: float = 0.0
    jpeg_quality: int = 80
    moire: bool = False
    inverted: bool = False


@dataclass(frozen=True, slots=True)
class SyntheticFrame:
    """One generated frame; `text` is the payload it carries, or None for an empty scene."""

    gray: Gray
    text: str | None
    category: str
    index: int


def random_payload(rng: np.random.Generator, length: int) -> str:
    """`LK1:` plus `length` random characters of the QR alphanumeric set (token-shaped)."""
    picks = rng.integers(0, len(QR_ALPHANUMERIC), size=length)
    return "LK1:" + "".join(QR_ALPHANUMERIC[i] for i in picks)


def params_for_category(category: str, index: int, rng: np.random.Generator) -> SceneParams:
    """Draw the scene parameters of frame `index` of `category` (FIELD-NOTES section 3 table)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown synthetic category {category!r}")
    phone = index % 2 == 0 or category in ("screen_moire", "inverted")
    p = SceneParams(
        carrier="phone" if phone else "paper",
        module_px=float(rng.uniform(4.5, 7.0)),
        rotation_deg=float(rng.uniform(-8, 8)),
        perspective=float(rng.uniform(0, 0.06)),
    )
    u = rng.uniform
    tweaks: dict[str, dict[str, object]] = {
        "rotation": {"rotation_deg": float(u(0, 360))},
        "perspective": {"perspective": float(u(0.25, 0.45)), "rotation_deg": float(u(-30, 30))},
        "small_far": {"module_px": float(u(1.8, 3.0))},
        "defocus": {"psf_sigma": float(u(1.6, 2.6))},
        "motion": {"motion_px": int(rng.integers(7, 14)), "motion_angle_deg": float(u(0, 180))},
        "lowcontrast_noise": {"contrast": float(u(0.18, 0.30)), "noise_sigma": float(u(7, 11))},
        "glare": {"glare_peak": float(u(170, 260)), "glare_sigma_frac": float(u(0.12, 0.24))},
        "glare_strong": {
            "glare_peak": float(u(280, 420)),
            "glare_sigma_frac": float(u(0.18, 0.34)),
        },
        "jpeg_heavy": {"jpeg_quality": int(rng.integers(8, 19))},
        "jpeg_harsh": {"jpeg_quality": int(rng.integers(5, 11)), "module_px": float(u(3.0, 4.5))},
        "screen_moire": {"moire": True, "module_px": float(u(4.0, 6.0))},
        "inverted": {"inverted": True},
    }
    return replace(p, **tweaks.get(category, {}))  # type: ignore[arg-type]


def make_frame(
    category: str,
    index: int,
    *,
    seed: int = 0,
    size: tuple[int, int] = (1280, 720),
    module_scale: float = 1.0,
) -> SyntheticFrame:
    """Frame `index` of `category`; payload lengths rotate through 150/250/400 characters."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown synthetic category {category!r}")
    rng = np.random.default_rng([seed, CATEGORIES.index(category), index])
    params = params_for_category(category, index, rng)
    params = replace(params, module_px=params.module_px * module_scale)
    if category == "empty":
        return SyntheticFrame(render_scene(None, params, rng, size), None, category, index)
    text = random_payload(rng, PAYLOAD_LENGTHS[index % len(PAYLOAD_LENGTHS)])
    return SyntheticFrame(render_scene(text, params, rng, size), text, category, index)


def synthetic_set(
    *,
    seed: int = 0,
    per_category: int = 20,
    size: tuple[int, int] = (1280, 720),
    categories: tuple[str, ...] = CATEGORIES,
    module_scale: float = 1.0,
) -> Iterator[SyntheticFrame]:
    """`per_category` frames of each category, in category order."""
    for category in categories:
        for index in range(per_category):
            yield make_frame(category, index, seed=seed, size=size, module_scale=module_scale)


def render_scene(
    text: str | None,
    params: SceneParams,
    rng: np.random.Generator,
    size: tuple[int, int] = (1280, 720),
) -> Gray:
    """Render `text` as a QR code on its carrier into a random scene, seen through the camera."""
    width, height = size
    scene = _background(rng, width, height)
    glare_at: tuple[float, float, float] | None = None
    if text is not None:
        carrier, code_modules, total_modules = _carrier_image(text, params, rng)
        corners = _place(params, rng, total_modules, width, height)
        _composite(scene, carrier, corners, prefilter=not params.moire)
        cx, cy = corners.mean(axis=0)
        side_px = float(np.linalg.norm(corners[1] - corners[0]))
        glare_at = (float(cx), float(cy), side_px * code_modules / total_modules)
    if params.contrast != 1.0:
        scene = 128.0 + (scene - 128.0) * params.contrast
    if glare_at is not None and params.glare_peak > 0:
        _add_glare(scene, rng, params, glare_at)
    return _camera(scene, params, rng)


def _qr_matrix(text: str) -> npt.NDArray[np.bool_]:
    qr = segno.make_qr(text, error="m", boost_error=False)
    return np.array([list(row) for row in qr.matrix], dtype=bool)


def _carrier_image(
    text: str, params: SceneParams, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float32], int, int]:
    """The code with quiet zone, margin and (for a phone) bezel, at source scale."""
    modules = _qr_matrix(text)
    n = modules.shape[0]
    pad = 4 + int(rng.integers(2, 4))  # quiet zone plus 2-3 modules of margin
    if params.carrier == "paper":
        light, dark = 225.0, 35.0
    elif params.inverted:
        light, dark = 20.0, 236.0  # dark mode: light modules on a dark screen
    else:
        light, dark = 248.0, 12.0
    ppm = _MOIRE_PPM if params.moire else _SRC_PPM
    grid = np.pad(modules, pad, constant_values=False)
    img = np.where(grid, dark, light).astype(np.float32)
    img = np.kron(img, np.ones((ppm, ppm), dtype=np.float32))
    if params.moire:
        img = _screen_pixels(img)
    total = n + 2 * pad
    if params.carrier == "phone":
        bezel = int(2.5 * ppm)
        img = np.pad(img, bezel, constant_values=22.0)
        return img, n, total + 5
    return img, n, total


def _screen_pixels(img: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Draw an LCD pixel grid: every third source row and column is a gap dimmed to 0.55."""
    out = img.copy()
    out[2::3, :] *= 0.55
    out[:, 2::3] *= 0.55
    return out


def _place(
    params: SceneParams, rng: np.random.Generator, total_modules: int, width: int, height: int
) -> npt.NDArray[np.float64]:
    """Destination corners (TL, TR, BR, BL) of the carrier: perspective, rotation, a free spot."""
    side = total_modules * params.module_px
    half = side / 2
    pts = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], dtype=np.float64)
    persp = params.perspective
    if persp > 0:
        edge = int(rng.integers(0, 4))
        a, b = pts[edge].copy(), pts[(edge + 1) % 4].copy()
        shrink = float(rng.uniform(0.5, 1.0)) * persp / 2
        pts[edge] = a + (b - a) * shrink
        pts[(edge + 1) % 4] = b + (a - b) * shrink
        pts += rng.uniform(-0.25, 0.25, size=(4, 2)) * persp * side
    theta = math.radians(params.rotation_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    pts = pts @ rot.T
    span = pts.max(axis=0) - pts.min(axis=0)
    # A carrier larger than the frame is shrunk: the code must stay fully visible.
    fit = min(1.0, (width - 8) / span[0], (height - 8) / span[1])
    pts *= fit
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    cx = rng.uniform(4 - lo[0], width - 4 - hi[0])
    cy = rng.uniform(4 - lo[1], height - 4 - hi[1])
    return np.asarray(pts + np.array([cx, cy]), dtype=np.float64)


def _composite(
    scene: npt.NDArray[np.float32],
    carrier: npt.NDArray[np.float32],
    corners: npt.NDArray[np.float64],
    *,
    prefilter: bool,
) -> None:
    h, w = carrier.shape
    side_px = float(np.linalg.norm(corners[1] - corners[0]))
    scale = side_px / w
    if prefilter and scale < 1.0:
        carrier = np.asarray(cv2.GaussianBlur(carrier, (0, 0), 0.45 / scale), dtype=np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(carrier, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(carrier), matrix, size, flags=cv2.INTER_LINEAR)
    scene *= 1.0 - mask
    scene += warped * mask


def _background(rng: np.random.Generator, width: int, height: int) -> npt.NDArray[np.float32]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(70, 150)
    sx, sy = rng.uniform(-0.08, 0.08, size=2)
    img = (base + sx * (xs - width / 2) + sy * (ys - height / 2)).astype(np.float32)
    for _ in range(int(rng.integers(6, 15))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(30, 400)), int(rng.integers(30, 300))
        cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), float(rng.uniform(20, 230)), -1)
    for _ in range(int(rng.integers(3, 9))):
        y, x = int(rng.integers(10, height - 10)), int(rng.integers(0, width // 2))
        grey, thick = float(rng.uniform(20, 90)), int(rng.integers(3, 8))
        while x < width:
            dash = int(rng.integers(8, 40))
            cv2.rectangle(img, (x, y), (x + dash, y + thick), grey, -1)
            x += dash + int(rng.integers(4, 14))
    coarse = rng.normal(0.0, 1.0, size=(height // 16 + 1, width // 16 + 1)).astype(np.float32)
    texture = np.asarray(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC))
    texture = texture * (12.0 / max(float(texture.std()), 1e-6))
    return np.asarray(img + texture, dtype=np.float32)


def _add_glare(
    scene: npt.NDArray[np.float32],
    rng: np.random.Generator,
    params: SceneParams,
    code_at: tuple[float, float, float],
) -> None:
    """An elliptical Gaussian bright spot near the code centre (a lamp reflected in the screen)."""
    cx, cy, code_side = code_at
    gx = cx + rng.uniform(-0.2, 0.2) * code_side
    gy = cy + rng.uniform(-0.2, 0.2) * code_side
    sig_a = params.glare_sigma_frac * code_side
    sig_b = sig_a * rng.uniform(0.5, 1.0)
    angle = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0 : scene.shape[0], 0 : scene.shape[1]].astype(np.float32)
    dx, dy = xs - gx, ys - gy
    u = dx * math.cos(angle) + dy * math.sin(angle)
    v = -dx * math.sin(angle) + dy * math.cos(angle)
    scene += params.glare_peak * np.exp(-0.5 * ((u / sig_a) ** 2 + (v / sig_b) ** 2))


def _camera(scene: npt.NDArray[np.float32], params: SceneParams, rng: np.random.Generator) -> Gray:
    """Optics and sensor: PSF blur, optional motion blur, vignetting, noise, clipping, JPEG."""
    img = cv2.GaussianBlur(scene, (0, 0), params.psf_sigma)
    if params.motion_px > 0:
        img = cv2.filter2D(img, -1, _motion_kernel(params.motion_px, params.motion_angle_deg))
    img = img * _vignette(img.shape[0], img.shape[1])
    img = img + rng.normal(0.0, params.noise_sigma, size=img.shape).astype(np.float32)
    gray: Gray = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid 8-bit image
        return gray
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)


@functools.lru_cache(maxsize=4)
def _vignette(h: int, w: int) -> npt.NDArray[np.float32]:
    """Lens falloff 1 - 0.18 r^2, r = 1 at the frame corners (cached: it depends on size only)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xs - w / 2) ** 2 + (ys - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    return np.asarray(1.0 - 0.18 * r2, dtype=np.float32)


def _motion_kernel(length: int, angle_deg: float) -> npt.NDArray[np.float32]:
    kernel = np.zeros((length, length), dtype=np.float32)
    kernel[length // 2, :] = 1.0
    centre = ((length - 1) / 2, (length - 1) / 2)
    rot = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    kernel = np.asarray(cv2.warpAffine(kernel, rot, (length, length)), dtype=np.float32)
    return np.asarray(kernel / max(float(kernel.sum()), 1e-6), dtype=np.float32)
