"""ICAO Doc 9303 machine readable zones: TD1 (ID cards, 3 x 30) and TD3 (passports, 2 x 44).

Check digits (9303 part 3, 4.9): weights 7, 3, 1 repeating over the characters' values
(0-9 as themselves, A-Z as 10-35, filler `<` as 0), sum modulo 10. Every field check digit and the
composite one are verified; a failure is reported by field name, not raised, so that staff can
see which line to re-read. Shape errors (line count, length, characters) raise `IdDocumentError`.
Two-digit years: a birth year is the latest century not in the future on the check day; an expiry
year is 20YY.
"""

from __future__ import annotations

import re
from datetime import date

from agent.identity.errors import IdDocumentError
from agent.identity.id_documents import IdDocument, IdDocumentKind

_LINE = re.compile(r"[A-Z0-9<]+")
_WEIGHTS = (7, 3, 1)


def _value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if char == "<":
        return 0
    return ord(char) - ord("A") + 10


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit of `field` (weights 7, 3, 1)."""
    return str(sum(_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(field)) % 10)


def _ok(field: str, digit: str) -> bool:
    # An optional field left empty may carry `<` as its check digit (9303 part 4, 4.2.2.2).
    return digit == check_digit(field) or (digit == "<" and set(field) <= {"<"})


def _lines(text: str, count: int, width: int) -> list[str]:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) != count or any(len(line) != width for line in lines):
        raise IdDocumentError(f"MRZ: expected {count} lines of {width} characters")
    if not all(_LINE.fullmatch(line) for line in lines):
        raise IdDocumentError("MRZ: characters outside A-Z, 0-9 and <")
    return lines


def _names(field: str) -> tuple[str, str]:
    primary, _, secondary = field.strip("<").partition("<<")
    return secondary.replace("<", " ").strip(), primary.replace("<", " ").strip()


def _date(text: str, today: date, *, birth: bool) -> date | None:
    if not text.isdigit():
        return None
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    year = 2000 + yy
    try:
        if birth and date(year, mm, dd) > today:
            year -= 100
        return date(year, mm, dd)
    except ValueError:
        return None


def parse_mrz(text: str, *, today: date) -> IdDocument:
    """Parse a TD1 or TD3 MRZ (chosen by its shape); `today` resolves two-digit birth years."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(first) == 44:
        return _td3(_lines(text, 2, 44), today)
    if len(first) == 30:
        return _td1(_lines(text, 3, 30), today)
    raise IdDocumentError("MRZ: neither TD1 (3 x 30) nor TD3 (2 x 44)")


def _td3(lines: list[str], today: date) -> IdDocument:
    top, bottom = lines
    checks = {
        "document_number": (bottom[0:9], bottom[9]),
        "birth_date": (bottom[13:19], bottom[19]),
        "expiry_date": (bottom[21:27], bottom[27]),
        "personal_number": (bottom[28:42], bottom[42]),
        "composite": (bottom[0:10] + bottom[13:20] + bottom[21:43], bottom[43]),
    }
    given, family = _names(top[5:44])
    return IdDocument(
        kind=IdDocumentKind.TD3,
        issuing_state=top[2:5].replace("<", ""),
        given_names=given,
        family_name=family,
        birth_date=_date(bottom[13:19], today, birth=True),
        expiry_date=_date(bottom[21:27], today, birth=False),
        failed_checks=tuple(name for name, (f, d) in checks.items() if not _ok(f, d)),
    )


def _td1(lines: list[str], today: date) -> IdDocument:
    top, middle, bottom = lines
    number, number_digit = top[5:14], top[14]
    if number_digit == "<":  # a long number continues in the optional data (9303 part 5, 4.2.4)
        extra = top[15:30].split("<", 1)[0]
        number, number_digit = number + extra[:-1], extra[-1:] or "<"
    checks = {
        "document_number": (number, number_digit),
        "birth_date": (middle[0:6], middle[6]),
        "expiry_date": (middle[8:14], middle[14]),
        "composite": (top[5:30] + middle[0:7] + middle[8:15] + middle[18:29], middle[29]),
    }
    given, family = _names(bottom)
    return IdDocument(
        kind=IdDocumentKind.TD1,
        issuing_state=top[2:5].replace("<", ""),
        given_names=given,
        family_name=family,
        birth_date=_date(middle[0:6], today, birth=True),
        expiry_date=_date(middle[8:14], today, birth=False),
        failed_checks=tuple(name for name, (f, d) in checks.items() if not _ok(f, d)),
    )
