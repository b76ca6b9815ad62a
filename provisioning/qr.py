"""QR rendering: ECC level M, alphanumeric mode (the Base45 alphabet is the QR alphanumeric set)."""

from __future__ import annotations

from pathlib import Path

import segno

from provisioning.errors import ExitStatus, ProvisioningError


def make_qr(payload: str) -> segno.QRCode:
    """The QR symbol for a `LK1:` / `LK1L:` string; ProvisioningError if it is not alphanumeric."""
    try:
        return segno.make_qr(payload, error="m", mode="alphanumeric", boost_error=False)
    except (ValueError, segno.DataOverflowError) as err:
        raise ProvisioningError(f"cannot encode as an alphanumeric QR: {err}") from err


def render(
    payload: str, *, png: Path | None = None, svg: Path | None = None, scale: int = 6
) -> int:
    """Write the QR as PNG and/or SVG (4-module quiet zone); returns the QR version."""
    qr = make_qr(payload)
    try:
        if png is not None:
            qr.save(str(png), kind="png", scale=scale, border=4)
        if svg is not None:
            qr.save(str(svg), kind="svg", scale=scale, border=4)
    except OSError as err:
        raise ProvisioningError(f"cannot write the QR: {err}", ExitStatus.OUTPUT_FAILED) from err
    return int(qr.version)
