"""What an identity check may leave behind: the outcome, for the audit log, outbox and hub.

Only these fields are ever stored or sent (issue 15 item 6): passed or failed, the reason code,
the method (mdoc device signature or MAC, MRZ, AAMVA), the doctype or document kind, the issuing
country, the age threshold asked and whether the named recipient was checked. Never a name, a
birth date, a document number, an image or the raw response.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from agent.identity.id_documents import IdAssist
from agent.identity.verify import MdocOutcome


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """The outcome of one identity check, as stored and sent: no personal data."""

    passed: bool
    reason: str | None
    method: str
    document: str | None
    issuer_country: str | None
    min_age: int | None
    recipient_checked: bool

    def as_dict(self) -> dict[str, object]:
        """The record as a JSON-ready dict."""
        return asdict(self)


def mdoc_record(
    outcome: MdocOutcome | None,
    *,
    reason: str | None,
    min_age: int | None,
    recipient_checked: bool = False,
) -> IdentityRecord:
    """The record of a wallet check (`outcome` None when it was refused before one existed)."""
    return IdentityRecord(
        passed=reason is None and outcome is not None,
        reason=reason,
        method=f"mdoc_{outcome.device_auth.value}" if outcome else "mdoc",
        document=outcome.doctype if outcome else None,
        issuer_country=outcome.issuer_country if outcome else None,
        min_age=min_age,
        recipient_checked=recipient_checked,
    )


def counter_record(assist: IdAssist, *, confirmed_by_staff: bool) -> IdentityRecord:
    """The record of a counter check: it passes only when staff confirmed it (the assist helps)."""
    return IdentityRecord(
        passed=confirmed_by_staff,
        reason=None if confirmed_by_staff else "ID_CHECK_FAILED",
        method=f"counter_{assist.kind.value}",
        document=assist.kind.value,
        issuer_country=assist.issuing_state or None,
        min_age=assist.min_age,
        recipient_checked=assist.name_matches is not None,
    )
