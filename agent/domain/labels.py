"""Parcel labels: what a courier scans names the order and the parcel (`PCL:<order>:<parcel>`).

Pure: no I/O. `ID_PATTERN` is the shape of every order and parcel id a person or a label gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.errors import RequestError
from agent.reasons import Reason

LABEL_PREFIX = "PCL:"
ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, slots=True)
class ParcelLabel:
    """The order and the parcel a label names."""

    order_id: str
    parcel_id: str


def parse_label(text: str) -> ParcelLabel:
    """The order and parcel a scanned label names; `RequestError(LABEL_INVALID)` on junk."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw.startswith(LABEL_PREFIX) or len(raw) > 140:
        raise RequestError("a parcel label reads PCL:<order>:<parcel>", reason=Reason.LABEL_INVALID)
    parts = raw[len(LABEL_PREFIX) :].split(":")
    if len(parts) != 2 or not all(ID_PATTERN.fullmatch(p) for p in parts):
        raise RequestError("a parcel label reads PCL:<order>:<parcel>", reason=Reason.LABEL_INVALID)
    return ParcelLabel(parts[0], parts[1])


def support_ref(order_id: str) -> str:
    """A short reference a customer can read to support staff (not secret, not the code)."""
    return f"E-{order_id[-6:].upper()}"
