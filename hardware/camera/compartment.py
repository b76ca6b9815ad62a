"""The compartment camera port: a still photo of one door's compartment, on request.

A locker may have a small camera per door bank (or per door) looking into the compartments, lit
by the compartment's LED. Unlike the QR camera (`hardware.camera.port`), it is not streamed: the
agent
asks for one photo of one door at the moments that matter (a return dropped off, a parcel
loaded, a customer's report, a staff request).

Contract for every implementation:
- `capture(door)` blocks (call it from a worker thread) and returns a BGR `uint8` image of shape
  (height, width, 3) showing that door's compartment, cropped to it: never the person in front
  of the locker. It raises `CameraError` if no photo can be taken.
- `description` names the capture device; it is signed into each photo's manifest.
"""

from __future__ import annotations

import abc

import numpy as np
import numpy.typing as npt

Bgr = npt.NDArray[np.uint8]


class CompartmentCamera(abc.ABC):
    """A still camera that photographs one compartment at a time."""

    description: str = "compartment camera"

    @abc.abstractmethod
    def capture(self, door: int) -> Bgr:
        """A BGR photo of `door`'s compartment; `CameraError` if none can be taken. Blocking."""
