"""What an evidence photo's C2PA manifest says (pure: no I/O, no clock).

One custom assertion, `ASSERTION_LABEL`, carries the facts a dispute needs: the locker, the door,
the order reference (an opaque id, never a name, address or phone number), the event kind, the
audit log entry the photo documents (its sequence number and hash: the chain link), the device
time and the time floor at capture, and the capture device. A standard `c2pa.actions` assertion
says the picture is a digital capture. A "before" photo is linked as an ingredient of the "after"
photo (`componentOf`), and its SHA-256 is also in the facts.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from hub_sync.protocol.c2pa_verify import ASSERTION_LABEL, FORMAT

__all__ = [
    "ASSERTION_LABEL",
    "FORMAT",
    "EvidenceFacts",
    "ingredient_definition",
    "iso_time",
    "manifest_definition",
]
GENERATOR = "locker-agent"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
EVENT_KINDS = (
    "return_dropoff",
    "courier_load",
    "door_not_opened",
    "parcel_damaged",
    "staff",
    "interrupted_opening",
)


@dataclass(frozen=True, slots=True)
class EvidenceFacts:
    """The facts signed into one photo's manifest."""

    photo_id: str
    locker_id: str
    door: int | None
    order_ref: str | None
    event: str
    audit_seq: int
    audit_hash: str  # hex SHA-256 of the audit entry documented (the hash-chain link)
    device_time: float
    time_floor: float
    capture_device: str
    before_sha256: str | None = None

    def as_assertion(self) -> dict[str, Any]:
        """The facts as the locker's C2PA assertion (JSON)."""
        return {
            "photo_id": self.photo_id,
            "locker_id": self.locker_id,
            "door": self.door,
            "order_ref": self.order_ref,
            "event": self.event,
            "audit": {"seq": self.audit_seq, "hash": self.audit_hash},
            "device_time": iso_time(self.device_time),
            "time_floor": iso_time(self.time_floor),
            "capture_device": self.capture_device,
            "before_sha256": self.before_sha256,
        }


def iso_time(at: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the millisecond."""
    return datetime.datetime.fromtimestamp(at, tz=datetime.UTC).isoformat(timespec="milliseconds")


def manifest_definition(facts: EvidenceFacts, *, version: str) -> dict[str, Any]:
    """The manifest definition `c2pa.Builder` takes for this photo."""
    return {
        "claim_generator_info": [{"name": GENERATOR, "version": version}],
        "title": f"{facts.photo_id}.jpg",
        "format": FORMAT,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_CAPTURE,
                            "when": iso_time(facts.device_time),
                            "softwareAgent": {"name": GENERATOR, "version": version},
                        }
                    ]
                },
            },
            {"label": ASSERTION_LABEL, "data": facts.as_assertion()},
        ],
    }


def ingredient_definition(before_photo_id: str) -> dict[str, Any]:
    """The ingredient entry linking a "before" photo into the "after" photo's manifest."""
    return {"title": f"{before_photo_id}.jpg", "format": FORMAT, "relationship": "componentOf"}
