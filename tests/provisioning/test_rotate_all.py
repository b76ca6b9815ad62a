"""`locker-admin rotate --all` with `--fleet`: device credentials of every active device, next to
the typed-code key step, on the hub's real PostgreSQL registry.

The enrollment service and the device's CredentialKeeper (which finish a rotation) run in the
lifecycle tests; here the registry row a finished rotation leaves (`done_at`) is written the way
the service writes it, so the `--wait` bar is seen filling for one device and timing out for
another.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from agent.tokens.typed_codes import parse_code_keys
from provisioning import enroll
from tests.provisioning.lifecycle import admin

pytestmark = pytest.mark.timeout(120)
FLEET = "acme"


async def _registry(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        now = time.time()
        for device, state in (("lk-a", "active"), ("lk-b", "active"), ("lk-c", "revoked"),
                              ("lk-d", "pending")):  # fmt: skip
            await conn.execute(
                "INSERT INTO device_registry (fleet, device, site, layout, state, updated_at)"
                " VALUES ($1, $2, 'berlin-1', '{}'::jsonb, $3, $4)",
                FLEET, device, state, now,
            )  # fmt: skip
        for serial, device, revoked in (("a1", "lk-a", None), ("b1", "lk-b", None),
                                        ("c1", "lk-c", now)):  # fmt: skip
            await conn.execute(
                "INSERT INTO device_credentials (fleet, serial, device, cert_pem, broker_user,"
                " issued_at, not_after, revoked_at) VALUES ($1,$2,$3,'',$3,$4,$5,$6)",
                FLEET, serial, device, now, now + 86_400, revoked,
            )  # fmt: skip
    finally:
        await conn.close()


async def _confirm_when_asked(dsn: str, device: str) -> None:
    """What the enrollment service records once `device` uses its new certificate."""
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            done = await conn.execute(
                "UPDATE device_rotations SET new_serial='a2', done_at=$3"
                " WHERE fleet=$1 AND device=$2 AND done_at IS NULL",
                FLEET, device, time.time(),
            )  # fmt: skip
            if done != "UPDATE 0":
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _rotations(dsn: str) -> list[tuple[str, str, bool]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT device, old_serial, done_at IS NOT NULL AS done FROM device_rotations"
            " ORDER BY requested_at"
        )
    finally:
        await conn.close()
    return [(r["device"], r["old_serial"], r["done"]) for r in rows]


async def test_rotate_all_requests_device_credentials_and_waits_for_them(
    dsn: str, tmp_path: Path
) -> None:
    await _registry(dsn)
    enrolled = tmp_path / "enrolled"
    enroll.enroll_device(enrolled, "lk-a", FLEET, "mqtts://hub.invalid:8883")
    fleet = ["--fleet", FLEET, "--dsn", dsn]

    # one run: the typed-code stage and the credentials of the two active devices; lk-a confirms
    # within the wait, lk-b (offline) does not: reported, exit status 1, the others done
    confirm = asyncio.create_task(_confirm_when_asked(dsn, "lk-a"))
    status, out = await admin("rotate", "--all", "--enrolled", str(enrolled), "--step", "stage",
                              *fleet, "--wait", "3")  # fmt: skip
    await asyncio.wait_for(confirm, 5)
    assert status == 1, out
    assert "typed-code key: stage" in out
    assert "device credential: request" in out
    assert "device credential: confirmed" in out
    assert "new credential in use" in out
    assert "no confirmation within 3 s" in out
    assert "rotation: 5 done, 1 failed" in out
    assert len(parse_code_keys((enrolled / "lk-a" / "typed-code.key").read_text())) == 2
    assert await _rotations(dsn) == [("lk-a", "a1", True), ("lk-b", "b1", False)]

    # again, credentials only: lk-a gets a new request, lk-b's is still open (not doubled)
    status, out = await admin("rotate", "--all", *fleet)
    assert status == 0, out
    assert "already under way" in out
    assert "typed-code key" not in out
    assert [r[0] for r in await _rotations(dsn)] == ["lk-a", "lk-b", "lk-a"]

    # nothing to rotate named: a usage error, not a traceback
    status, out = await admin("rotate", "--all")
    assert status == 2
    status, out = await admin("rotate", "--all", "--fleet", "bad fleet!", "--dsn", dsn)
    assert status == 2
