"""Counter assistance for physical ID documents: the outcome staff see, never the personal data.

`mrz.py` (ICAO 9303 TD1 cards, TD3 passports) and `aamva.py` (AAMVA PDF417 driving licences)
parse what the counter camera read into an `IdDocument` kept in memory only; `assess` turns it
into an `IdAssist`: check digits, expiry, the age against the order's minimum and the name
against the order's salted digest. Staff still confirm: this assists, it does not decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from agent.identity.names import NameCheck


class IdDocumentKind(StrEnum):
    """Which document was read: a TD1 ID card, a TD3 passport (ICAO 9303) or an AAMVA licence."""

    TD1 = "td1"
    TD3 = "td3"
    AAMVA = "aamva"


@dataclass(frozen=True, slots=True)
class IdDocument:
    """A parsed document (personal data: in memory only, never stored, logged or sent)."""

    kind: IdDocumentKind
    issuing_state: str
    given_names: str
    family_name: str
    birth_date: date | None
    expiry_date: date | None
    failed_checks: tuple[str, ...]  # names of fields whose check digit failed

    def __repr__(self) -> str:  # keep personal data out of tracebacks and logs
        return f"IdDocument(kind={self.kind.value}, issuing_state={self.issuing_state})"


@dataclass(frozen=True, slots=True)
class IdAssist:
    """What staff are shown and what may be recorded: outcomes only."""

    kind: IdDocumentKind
    issuing_state: str
    check_digits_ok: bool
    failed_checks: tuple[str, ...]
    expired: bool | None
    min_age: int | None
    age_ok: bool | None
    name_matches: bool | None


def age_on(birth: date, today: date) -> int:
    """Completed years (someone born on 29 February comes of age on 1 March)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def assess(
    document: IdDocument,
    *,
    today: date,
    min_age: int | None = None,
    recipient: NameCheck | None = None,
) -> IdAssist:
    """The assist for one document on `today` (passed in: no clock reads here)."""
    expired = None if document.expiry_date is None else document.expiry_date < today
    age_ok = None
    if min_age is not None and document.birth_date is not None:
        age_ok = age_on(document.birth_date, today) >= min_age
    matches = None
    if recipient is not None:
        matches = recipient.matches(document.given_names, document.family_name)
    return IdAssist(
        kind=document.kind,
        issuing_state=document.issuing_state,
        check_digits_ok=not document.failed_checks,
        failed_checks=document.failed_checks,
        expired=expired,
        min_age=min_age,
        age_ok=age_ok,
        name_matches=matches,
    )
