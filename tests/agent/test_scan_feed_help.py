"""The kiosk feed's help tickets: a camera pickup's outcome carries a random one-time ticket for
"my door didn't open"; refusals carry none; only the last outcomes' tickets are kept."""

from __future__ import annotations

from agent.reasons import Reason
from agent.services.scans import ScanFeed


def test_a_help_ticket_names_its_order_and_is_forgotten_with_old_outcomes() -> None:
    feed = ScanFeed(length=3)
    first = feed.add(at=1.0, source="camera", door=4, reason=None, help_order="ORD-A")
    assert first.help_ticket is not None
    assert len(first.help_ticket) >= 20
    assert feed.order_for_help(first.help_ticket) == "ORD-A"
    refused = feed.add(at=2.0, source="camera", door=None, reason=Reason.EXPIRED)
    assert refused.help_ticket is None
    other = feed.add(at=3.0, source="camera", door=5, reason=None, help_order="ORD-B")
    assert other.help_ticket not in (None, first.help_ticket)
    for n in range(3):
        feed.add(at=4.0 + n, source="camera", door=6, reason=None, help_order=f"ORD-{n}")
    assert feed.order_for_help(first.help_ticket) is None
    assert feed.order_for_help("not-a-ticket") is None


def test_the_outcome_as_json_has_the_receipt_ref_and_ticket() -> None:
    feed = ScanFeed()
    refused = feed.add(at=1.0, source="camera", door=None, reason=Reason.ALREADY_USED, ref="R-1")
    assert refused.as_json()["ref"] == "R-1"
    assert refused.as_json()["reason"] == refused.as_json()["error"] == "ALREADY_USED"
    assert refused.as_json()["help_ticket"] is None
    dropped = feed.add(at=2.0, source="camera", door=9, reason=None, receipt="R-ABC123")
    assert dropped.as_json()["receipt"] == "R-ABC123"
