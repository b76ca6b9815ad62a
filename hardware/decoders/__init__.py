"""Decoder backends behind the `hardware.decoder.Decoder` port (zxing-cpp cascade, pyzbar)."""
