"""QR decoding: the `Decoder` port, the zxing-cpp cascade and pyzbar backends, the frame pipeline,
and the synthetic code images of the simulator and the benchmarks."""
