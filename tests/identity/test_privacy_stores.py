"""Nothing personal is kept (issue 15 item 6): after wallet pickups (one handed out, one refused)
at a locker and ID assists (passport MRZ, licence PDF417) at a counter, the test identities'
names, birth dates and document numbers are in no SQLite file (database and WAL), no log line
(DEBUG), no outbox event (what the hub receives) and no HTTP answer."""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from agent.domain.orders import OrderPolicy
from agent.identity.names import name_digest
from agent.identity.simulated_wallet import MadeUpPerson, SimulatedWallet
from tests.identity.id_scenes import PERSON as LICENCE
from tests.identity.test_id_assist import PASSPORT, assist, licence_png, mrz_png, start_counter
from tests.identity.test_wallet_pickup import Locker, start_locker

WALLET_PERSON = MadeUpPerson("Zuzanna Quill", "Privacyova", date(2001, 2, 3), "QX7Z-4411-PRIV")
MINOR = MadeUpPerson("Zuzanna Quill", "Privacyova", date(2015, 2, 3), "QX7Z-9925-MINR")
# every value of the test identities, as text in any of the forms it was ever encoded in
NEEDLES = [
    "zuzanna",
    "quill",
    "privacyova",
    "2001-02-03",
    "2015-02-03",
    "20010203",
    "02032001",
    "qx7z-4411-priv",
    "qx7z-9925-minr",
    "qx7z44117",
    "d1234-5678",
    LICENCE["DBB"].lower(),
    LICENCE["DAQ"].lower(),
]
# the MRZ's YYMMDD birth dates, searched in text only (six digits occur in binary by chance)
TEXT_ONLY = ["010203"]


def found_in(data: bytes | str, needles: list[str]) -> list[str]:
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return [needle for needle in needles if needle in text.lower()]


def database_files(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in data_dir.iterdir() if p.name.startswith("agent.db")}


def outbox_and_audit(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "agent.db") as conn:
        rows = conn.execute("SELECT body FROM outbox UNION ALL SELECT detail FROM audit")
        return "\n".join(str(r[0]) for r in rows)


async def wallet_pickups(locker: Locker, answers: list[str]) -> None:
    salt = os.urandom(16)
    policy = OrderPolicy(
        min_age=18,
        recipient_salt=salt,
        recipient_digest=name_digest(salt, "Zuzanna Quill", "Privacyova"),
    )
    for person, expected in ((MINOR, 403), (WALLET_PERSON, 200)):
        _, code, _, _ = await locker.place(policy)
        wallet = SimulatedWallet(locker.issuer.issue_pid(person, now=locker.now))
        body = {"code": code, "engagement": locker.link.show(wallet)}
        status, answer = await locker.post("/api/v1/pickup/wallet", body)
        assert status == expected, answer
        assert wallet.requested  # the names were disclosed to the locker, in memory
        answers.append(str(answer))


async def test_no_identity_value_is_stored_logged_or_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[str] = []
    locker = await start_locker(tmp_path / "locker")
    try:
        await wallet_pickups(locker, answers)
        checks = await locker.checks()
        assert [c["passed"] for c in checks] == [False, True]
        files = database_files(tmp_path / "locker" / "data")
    finally:
        await locker.http.close()
        await locker.agent.stop()
    counter = await start_counter(tmp_path / "counter")
    try:
        await counter.announce("ORD-P1", policy=OrderPolicy(min_age=18))
        for image in (await mrz_png(PASSPORT, 3), await licence_png(4)):
            status, answer = await assist(counter, "ORD-P1", image)
            assert status == 200, answer
            answers.append(str(answer))
        files |= {
            f"counter-{k}": v for k, v in database_files(tmp_path / "counter" / "data").items()
        }
    finally:
        await counter.http.close()
        await counter.agent.stop()
    assert any(name.endswith("-wal") for name in files)  # the WAL was read while running
    for data_dir in (tmp_path / "locker" / "data", tmp_path / "counter" / "data"):
        files |= {
            f"{data_dir.parent.name}-closed-{k}": v for k, v in database_files(data_dir).items()
        }
        recorded = outbox_and_audit(data_dir)
        assert "identity" in recorded or "id_assist" in recorded or "age" in recorded
        assert found_in(recorded, NEEDLES + TEXT_ONLY) == []
    for name, data in files.items():
        assert found_in(data, NEEDLES) == [], name
    assert found_in(caplog.text, NEEDLES + TEXT_ONLY) == []
    assert found_in("\n".join(answers), NEEDLES + TEXT_ONLY) == []
    assert "wallet proved age 18" in caplog.text  # the log was captured at all
