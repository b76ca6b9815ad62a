"""Counter assistance: ICAO 9303 MRZ (TD1, TD3) and AAMVA PDF417, outcomes only."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.identity.aamva import decode_pdf417, parse_aamva
from agent.identity.errors import IdDocumentError
from agent.identity.id_documents import IdDocumentKind, age_on, assess
from agent.identity.mrz import check_digit, parse_mrz
from agent.identity.names import NameCheck, name_digest
from tests.identity.id_scenes import PERSON, aamva, photographed

# The specimens of ICAO Doc 9303 (part 4 for TD3, part 5 for TD1): published, check digits valid.
TD3 = """P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<
L898902C36UTO7408122F1204159ZE184226B<<<<<10"""
TD1 = """I<UTOD231458907<<<<<<<<<<<<<<<
7408122F1204159UTO<<<<<<<<<<<6
ERIKSSON<<ANNA<MARIA<<<<<<<<<<"""
DAY = date(2010, 1, 1)


def _recipient(given: str, family: str) -> NameCheck:
    salt = os.urandom(16)
    return NameCheck(salt, name_digest(salt, given, family))


@pytest.mark.parametrize(("text", "kind"), [(TD3, IdDocumentKind.TD3), (TD1, IdDocumentKind.TD1)])
def test_the_icao_specimens(text: str, kind: IdDocumentKind) -> None:
    document = parse_mrz(text, today=DAY)
    assert (document.kind, document.issuing_state, document.failed_checks) == (kind, "UTO", ())
    assert (document.given_names, document.family_name) == ("ANNA MARIA", "ERIKSSON")
    assert (document.birth_date, document.expiry_date) == (date(1974, 8, 12), date(2012, 4, 15))
    assist = assess(document, today=DAY, min_age=18, recipient=_recipient("Anna Maria", "Eriksson"))
    assert assist.check_digits_ok
    assert (assist.expired, assist.age_ok, assist.name_matches) == (False, True, True)
    later = assess(document, today=date(2013, 1, 1), recipient=_recipient("Anna", "Eriksson"))
    assert (later.expired, later.age_ok, later.name_matches) == (True, None, False)
    assert "ERIKSSON" not in repr(document)


def _numeric_positions(text: str) -> list[tuple[int, int]]:
    lines = text.splitlines()
    covered = []
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            # TD3 line 2 / TD1 lines 1-2; nationality and sex are outside every check digit
            if char.isdigit() and not (row == 0 and len(line) == 44):
                covered.append((row, col))
    return covered


@given(st.data(), st.sampled_from([TD3, TD1]))
def test_any_changed_digit_fails_a_check(data: st.DataObject, text: str) -> None:
    row, col = data.draw(st.sampled_from(_numeric_positions(text)))
    lines = text.splitlines()
    old = lines[row][col]
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != old]))
    lines[row] = lines[row][:col] + new + lines[row][col + 1 :]
    assert parse_mrz("\n".join(lines), today=DAY).failed_checks != ()


def test_check_digit_examples_and_shapes() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("<<<<<<<<<<<<<<") == "0"
    for bad in ("", TD3.lower(), TD3[:-1], TD1 + "\nEXTRA", TD3.replace("<", " ")):
        with pytest.raises(IdDocumentError):
            parse_mrz(bad, today=DAY)


def test_age_and_century() -> None:
    assert age_on(date(2004, 2, 29), date(2022, 2, 28)) == 17
    assert age_on(date(2004, 2, 29), date(2022, 3, 1)) == 18
    lines = TD3.replace("7408122", "100101" + check_digit("100101")).splitlines()
    lines[1] = lines[1][:-1] + check_digit(lines[1][0:10] + lines[1][13:20] + lines[1][21:43])
    document = parse_mrz("\n".join(lines), today=date(2026, 6, 1))
    assert document.failed_checks == ()
    assert document.birth_date == date(2010, 1, 1)
    assert assess(document, today=date(2026, 6, 1), min_age=18).age_ok is False
    assert assess(document, today=date(2026, 6, 1), min_age=16).age_ok is True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_photographed_aamva_licence(seed: int) -> None:
    payload = aamva(PERSON)
    read = decode_pdf417(photographed(payload, seed))
    assert read == payload
    document = parse_aamva(read)
    assert (document.given_names, document.family_name) == ("ZUZANNA", "PRIVACYOVA")
    assert (document.birth_date, document.expiry_date) == (date(2001, 2, 3), date(2030, 2, 3))
    assist = assess(
        document, today=date(2026, 1, 1), min_age=21, recipient=_recipient("Zuzanna", "Privacyova")
    )
    assert (assist.age_ok, assist.name_matches, assist.expired) == (True, True, False)
    assert assess(document, today=date(2026, 1, 1), min_age=25).age_ok is False
    shown = f"{assist} {document!r}"
    for personal in ("PRIVACYOVA", "ZUZANNA", "2001", "D1234"):
        assert personal not in shown


def test_canadian_dates_and_older_given_name_field() -> None:
    fields = {**PERSON, "DBB": "20010203", "DBA": "20300203", "DCG": "CAN"}
    fields["DCT"] = fields.pop("DAC")
    document = parse_aamva(aamva(fields, kind="ID"))
    assert document.birth_date == date(2001, 2, 3)
    assert document.given_names == "ZUZANNA"


def test_not_aamva() -> None:
    for bad in (b"", b"hello", b"@\n\x1e\rANSI 6360XX", aamva({"DAQ": "1"}), b"@" * 5000):
        with pytest.raises(IdDocumentError):
            parse_aamva(bad)
    assert decode_pdf417(np.full((100, 100), 255, dtype=np.uint8)) is None
