"""Events messages forged in a locker's name, as whoever can publish on the broker could make them.

Each forgery claims seqs 1..2 of its target device with `order.collected` events the locker never
made. Both hubs' tests publish them before the real device sends its own events and check that
none is stored or confirmed, and that the device's own events then all arrive exactly once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from hub_sync.protocol.event_sig import sign_events
from hub_sync.protocol.wire import Header, OutboxEvent, encode_events, new_message_id
from tests.hub_sync.conftest import FLEET, device_key


@dataclass(frozen=True, slots=True)
class Forgery:
    """A forged events message: the device whose topic it goes to, its payload, and the reason a
    hub refuses it with."""

    variant: str
    device: str
    payload: bytes
    reason: str


def _forged_events() -> list[OutboxEvent]:
    return [
        OutboxEvent(
            seq, "order.collected", f"forged-{seq}", {"order": f"o{seq}", "door": 1}, time.time()
        )
        for seq in (1, 2)
    ]


def _header(device: str) -> Header:
    return Header("events", new_message_id(), FLEET, device, time.time())


def forgery(variant: str) -> Forgery:
    """One forged events message: `unsigned`, `another_devices_key` (signed by d2 for d1),
    `altered_body` (d1's genuine signature, one event's body changed after signing) or
    `other_header` (d1's genuine signature, under d2's header and on d2's topic)."""
    events = _forged_events()
    header = _header("d1")
    if variant == "unsigned":
        return Forgery(variant, "d1", encode_events(header, 0, events), "SIG_MISSING")
    if variant == "another_devices_key":
        sig = sign_events(device_key("d2"), header, 0, events)
        return Forgery(variant, "d1", encode_events(header, 0, events, sig), "BAD_SIGNATURE")
    sig = sign_events(device_key("d1"), header, 0, events)
    if variant == "altered_body":
        events[1] = replace(events[1], body={"order": "o2", "door": 7})
        return Forgery(variant, "d1", encode_events(header, 0, events, sig), "BAD_SIGNATURE")
    if variant == "other_header":
        moved = replace(header, device="d2")
        return Forgery(variant, "d2", encode_events(moved, 0, events, sig), "BAD_SIGNATURE")
    raise ValueError(variant)


VARIANTS = ("unsigned", "another_devices_key", "altered_body", "other_header")
