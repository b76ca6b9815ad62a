"""Nothing personal leaves the verifier: not in its result, errors, log or CLI output."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization

from agent.identity import MdocError, require_age, verify_device_response
from tests.identity.conftest import NOW, new_world
from tests.identity.holder import PERSON, PID_NS, tag24

# Every personal value of the test identity, in the spellings a leak could take.
SECRETS = (
    "Privacyova",
    "Zuzanna",
    "Quill",
    "2001-02-03",
    "20010203",
    "QX7Z-4411-PRIV",
    "Nowhere Lane",
    "Testville",
)
ALLOWED_OUTPUT_KEYS = {
    "valid",
    "reason",
    "doctype",
    "issuer_country",
    "age_over",
    "device_auth",
    "detail",
}


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s.lower() in text.lower()]


def test_the_secrets_are_really_in_the_response() -> None:
    """Guards the test itself: the response discloses every value we then look for."""
    world = new_world()
    data = world.present()
    assert all(s.encode() in data for s in SECRETS if s != "20010203")
    assert PERSON["birth_date"].isoformat() == "2001-02-03"


def _forgeries(data: bytes) -> list[bytes]:
    structure = cbor2.loads(data)
    items = structure["documents"][0]["issuerSigned"]["nameSpaces"][PID_NS]
    items[0] = tag24(items[0].value.replace(b"Privacyova", b"Privacyovb"))
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x10
    return [cbor2.dumps(structure), bytes(flipped), data[:-3]]


def test_no_personal_value_in_results_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world = new_world()
    data = world.present(method="mac")
    outcome = verify_device_response(
        data, world.transcript, world.policy, now=NOW, reader_key=world.reader
    )
    seen = [repr(outcome), str(dataclasses.asdict(outcome))]
    for min_age in (18, 65, 30):
        try:
            require_age(outcome, min_age)
        except MdocError as err:
            seen += [str(err), err.detail, repr(err)]
    for forged in _forgeries(data):
        with pytest.raises(MdocError) as caught:
            verify_device_response(
                forged, world.transcript, world.policy, now=NOW, reader_key=world.reader
            )
        seen += [str(caught.value), caught.value.detail, repr(caught.value)]
    seen += [r.getMessage() for r in caplog.records]
    assert _leaks("\n".join(seen)) == []


def test_the_cli_prints_only_the_outcome(tmp_path: Path) -> None:
    world = new_world()
    iaca = tmp_path / "iaca.pem"
    iaca.write_bytes(world.pki.iaca.public_bytes(serialization.Encoding.PEM))
    transcript = tmp_path / "transcript.cbor"
    transcript.write_bytes(world.transcript_array)
    reader = tmp_path / "reader.pem"
    reader.write_bytes(
        world.reader.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    response = tmp_path / "response.cbor"
    outputs = []
    genuine = world.present(method="mac")
    for data, min_age in [
        (genuine, "18"),
        (genuine, "65"),
        *((f, "18") for f in _forgeries(genuine)),
    ]:
        response.write_bytes(data)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "agent",
                "--log-level",
                "DEBUG",
                "identity",
                "mdoc-check",
                str(response),
                "--transcript",
                str(transcript),
                "--iaca",
                str(iaca),
                "--reader-key",
                str(reader),
                "--at",
                "2026-01-01T01:00:00Z",
                "--min-age",
                min_age,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode in (0, 4), done.stderr
        outputs += [done.stdout, done.stderr]

        assert set(json.loads(done.stdout)) == ALLOWED_OUTPUT_KEYS
    assert _leaks("\n".join(outputs)) == []
    assert '"18": true' in outputs[0]


async def test_what_a_check_leaves_behind_holds_no_personal_value() -> None:
    """The audit/outbox record of a wallet check and of a counter check: outcome fields only."""
    from datetime import date

    from agent.identity.id_documents import assess
    from agent.identity.mrz import parse_mrz
    from agent.identity.names import NameCheck, name_digest
    from agent.identity.proximity import AgeRequirement, prove_age
    from agent.identity.record import counter_record, mdoc_record
    from tests.identity.wallet_sim import SimulatedWallet

    world = new_world()
    salt = bytes(range(16))
    need = AgeRequirement(
        18, recipient=NameCheck(salt, name_digest(salt, "Zuzanna Quill", "Privacyova"))
    )
    outcome = await prove_age(SimulatedWallet(world.doc), need, world.policy, now=NOW)
    wallet = mdoc_record(outcome, reason=None, min_age=18, recipient_checked=True).as_dict()
    assert wallet == {
        "passed": True,
        "reason": None,
        "method": "mdoc_signature",
        "document": "eu.europa.ec.eudi.pid.1",
        "issuer_country": "UT",
        "min_age": 18,
        "recipient_checked": True,
    }
    refused = mdoc_record(None, reason="UNDER_AGE", min_age=18).as_dict()
    assert refused["passed"] is False
    mrz = "\n".join(
        (
            "IDUTOQX74411PR0<<<<<<<<<<<<<<<",
            "0102034F3001012UTO<<<<<<<<<<<0",
            "PRIVACYOVA<<ZUZANNA<QUILL<<<<<",
        )
    )
    assist = assess(parse_mrz(mrz, today=date(2026, 1, 1)), today=date(2026, 1, 1), min_age=18)
    counter = counter_record(assist, confirmed_by_staff=True).as_dict()
    assert counter["method"] == "counter_td1"
    assert _leaks(json.dumps([wallet, refused, counter])) == []
