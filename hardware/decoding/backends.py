"""The decoder backends by name: the one place a new backend is added."""

from __future__ import annotations

from hardware.decoding.port import Decoder, DecoderKind


def make_decoder(
    kind: DecoderKind = "zxing", *, thorough: bool = False, budget_ms: float = 60.0
) -> Decoder:
    """Build a decoder.

    `zxing` is the default pipeline: one fast zxing-cpp pass, and retries only when the frame
    shows a symbol that did not decode (or is a small still image). `thorough=True` runs the whole
    retry cascade on every miss, within `budget_ms`: for still images and a rate-limited deep pass
    on a live feed. `pyzbar` is the alternative backend (half scale, full scale, inverted).
    """
    if kind == "zxing":
        from hardware.decoding.cascade import CascadeDecoder

        return CascadeDecoder(thorough=thorough, budget_ms=budget_ms)
    if kind == "pyzbar":
        from hardware.decoding.zbar import PyzbarDecoder

        return PyzbarDecoder()
    raise ValueError(f"unknown decoder kind {kind!r} (expected 'zxing' or 'pyzbar')")
