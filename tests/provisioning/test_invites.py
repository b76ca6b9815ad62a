"""Invites in the hub's registry: keyed digest only, single use, expiry, bulk CSV idempotent."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from pathlib import Path

import asyncpg
import pytest

from hub_sync.protocol import enrollment as wire
from provisioning import registry
from provisioning.errors import ProvisioningError
from tests.provisioning.lifecycle import FLEET, Fleet, admin

LAYOUT = {"groups": [{"size": "S", "count": 4}]}


async def _invite(conn: asyncpg.Connection, secret: bytes, device: str, now: float,
                  ttl: float = 60.0, **kw: bool) -> str:  # fmt: skip
    code = wire.new_code()
    done = await registry.create_invite(
        conn, fleet=FLEET, device=device, site="s", layout=LAYOUT,
        digest=wire.code_digest(secret, code), now=now, ttl_s=ttl, **kw,
    )  # fmt: skip
    assert done.status == "created"
    return code


async def _claim(conn: asyncpg.Connection, secret: bytes, code: str, now: float) -> str:
    try:
        claim = await registry.claim_invite(
            conn, fleet=FLEET, digest=wire.code_digest(secret, code), nonce=wire.new_nonce(),
            csr="csr", now=now,
        )  # fmt: skip
    except registry.RegistryRefusal as err:
        return err.reason
    return claim.device


async def test_invite_is_single_use_expires_and_is_stored_as_a_digest(dsn: str) -> None:
    secret, now = secrets.token_bytes(32), 1_800_000_000.0
    conn = await asyncpg.connect(dsn)
    try:
        code = await _invite(conn, secret, "lk-1", now)
        assert await _claim(conn, secret, code, now + 61) == "CODE_EXPIRED"
        assert await _claim(conn, secret, wire.new_code(), now) == "CODE_UNKNOWN"
        code = await _invite(conn, secret, "lk-1", now, reissue=True)
        assert await _claim(conn, secret, code, now + 1) == "lk-1"
        assert await _claim(conn, secret, code, now + 2) == "CODE_USED"
        # a second secret (another hub) cannot use the code: the digest is keyed
        assert await _claim(conn, secrets.token_bytes(32), code, now + 1) == "CODE_UNKNOWN"
        dump = json.dumps([dict(r) for r in await conn.fetch(
            "SELECT id, device, status, nonce, csr FROM device_invites")], default=str)  # fmt: skip
        raw = await conn.fetch("SELECT code_digest FROM device_invites")
        assert code not in dump
        assert all(code.encode() not in bytes(r["code_digest"]) for r in raw)
        # an active device is not invited again without --reissue
        await registry.record_credential(
            conn, fleet=FLEET, device="lk-1", serial="ab", cert_pem="-", broker_user="lk-1",
            secret_hash=None, now=now, not_after=now + 1,
        )  # fmt: skip
        again = await registry.create_invite(
            conn, fleet=FLEET, device="lk-1", site="s", layout=LAYOUT,
            digest=wire.code_digest(secret, wire.new_code()), now=now, ttl_s=60,
        )  # fmt: skip
        assert again.status == "active"
        serials = await registry.revoke_device(conn, fleet=FLEET, device="lk-1", now=now + 5)
        assert serials == ["ab"]
        with pytest.raises(ProvisioningError):
            await registry.revoke_device(conn, fleet=FLEET, device="nobody", now=now)
    finally:
        await conn.close()


async def test_bulk_csv_is_idempotent(dsn: str, tmp_path: Path) -> None:
    fleet = Fleet.create(tmp_path / "fleet")
    rows = ["locker_id,site,layout"] + [f"lk-{i:04d},site-{i % 7},standard-12" for i in range(300)]
    (tmp_path / "lockers.csv").write_text("\n".join(rows) + "\n")
    argv = ["device", "enroll", "--csv", str(tmp_path / "lockers.csv"), "--out",
            str(tmp_path / "codes.csv"), *fleet.admin_args(dsn)]  # fmt: skip
    status, out = await admin(*argv)
    assert status == 0
    assert json.loads(out.splitlines()[-1]) == {
        "created": 300, "total": 300, "codes": str(tmp_path / "codes.csv")}  # fmt: skip
    codes = (tmp_path / "codes.csv").read_text().splitlines()
    assert len(codes) == 300
    assert (tmp_path / "codes.csv").stat().st_mode & 0o777 == 0o600
    locker, invite = codes[0].split(",")
    assert wire.parse_invite(invite).fleet == FLEET
    status, out = await admin(*argv)  # the re-run creates nothing and keeps the codes
    assert status == 0
    assert json.loads(out.splitlines()[-1])["created"] == 0
    assert len((tmp_path / "codes.csv").read_text().splitlines()) == 300
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM device_invites") == 300
    finally:
        await conn.close()
    del locker


async def test_bad_input_is_a_one_line_error(dsn: str, tmp_path: Path) -> None:
    fleet = Fleet.create(tmp_path / "fleet")
    (tmp_path / "bad.csv").write_text("lk 1,site\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "provisioning.cli", "device", "enroll", "--csv",
        str(tmp_path / "bad.csv"), "--out", str(tmp_path / "c.csv"), *fleet.admin_args(dsn),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 5
    assert err.decode().count("\n") == 1
    assert "expected locker_id,site,layout" in err.decode()
    status, _ = await admin("device", "invite", "lk-1", "--site", "s", "--layout", "nope",
                            *fleet.admin_args(dsn))  # fmt: skip
    assert status == 4


async def test_invite_prints_the_code_once_and_a_terminal_qr(dsn: str, tmp_path: Path) -> None:
    fleet = Fleet.create(tmp_path / "fleet")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "provisioning.cli", "device", "invite", "lk-7", "--site", "s",
        "--layout", "standard-12", "--ttl", "30m", *fleet.admin_args(dsn),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0
    invite = wire.parse_invite(out.decode().strip())
    assert invite.pin == wire.spki_pin(fleet.ca.cert.public_key())  # type: ignore[arg-type]
    qr = err.decode()
    assert qr.count("\n") > 15  # the QR, drawn with block characters
    assert invite.code not in qr
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT created_at, expires_at FROM device_invites")
        assert row is not None
        assert row["expires_at"] - row["created_at"] == 1800
    finally:
        await conn.close()
