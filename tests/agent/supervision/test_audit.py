"""The audit log: device key, signed checkpoints, and the real `audit verify` CLI on tampered files.

Tampering is done the way an attacker with the file would: drop the append-only triggers, rewrite
or delete rows, (optionally) put the triggers back, then run the command an auditor runs.
"""

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.domain.clock import ManualClock
from agent.store import journal
from agent.store.audit import AuditSigner, DeviceKey, load_or_create_device_key
from agent.store.audit_verify import EXIT_AUDIT_BAD_SIGNATURE, EXIT_AUDIT_OK, EXIT_AUDIT_TAMPERED
from agent.store.db import Database

AGENT = [sys.executable, "-m", "agent"]
TRIGGERS = (
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
)


async def make_log(data_dir: Path, entries: int = 12, *, checkpoint_at_end: bool = True) -> None:
    """A real database with `entries` audit entries and a checkpoint after the 6th (and last)."""
    clock = ManualClock()
    db = Database(data_dir / "agent.db")
    await db.open()
    key = await _key(data_dir)
    signer = AuditSigner(db, key, clock, every_entries=6, every_s=3600)
    try:
        for n in range(entries):
            clock.advance(1)
            await db.run(
                journal.record, "test.event", {"n": n}, now=clock.now(), actor="staff-7", door=n
            )
            await signer.maybe_checkpoint()
        if checkpoint_at_end:
            await signer.checkpoint()
    finally:
        await db.close()


async def _key(data_dir: Path) -> DeviceKey:
    return await asyncio.to_thread(load_or_create_device_key, data_dir / "device_key.pem")


async def verify(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*AGENT, "audit", "verify", "--data-dir", str(data_dir), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


Statement = str | tuple[str, tuple[object, ...]]


def tamper(data_dir: Path, *statements: Statement, restore_triggers: bool = False) -> None:
    conn = sqlite3.connect(data_dir / "agent.db", isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for statement in statements:
        sql, params = (statement, ()) if isinstance(statement, str) else statement
        conn.execute(sql, params)
    if restore_triggers:
        for trigger in TRIGGERS:
            conn.execute(trigger)
    conn.close()


def rows(data_dir: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(data_dir / "agent.db")
    found = [(int(r[0]), str(r[1])) for r in conn.execute("SELECT seq, action FROM audit")]
    conn.close()
    return found


def test_the_device_key_is_created_once_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "device_key.pem"
    first = load_or_create_device_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = load_or_create_device_key(path)
    assert first.kid == second.kid
    assert len(first.kid) == 16


async def test_an_intact_log_verifies_and_checkpoints_land_every_n_entries(
    tmp_path: Path,
) -> None:
    await make_log(tmp_path)
    actions = [a for _, a in rows(tmp_path)]
    # 6 events, checkpoint, 6 events, checkpoint; the one at the end finds nothing new to sign
    assert [n for n, a in enumerate(actions, 1) if a == "audit.checkpoint"] == [7, 14]
    assert actions[-1] == "audit.checkpoint"
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_OK, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["entries"] == len(actions)
    assert report["unsigned_after_last_checkpoint"] == 0

    conn = sqlite3.connect(tmp_path / "agent.db")
    outbox = [r[0] for r in conn.execute("SELECT kind FROM outbox WHERE kind='audit.checkpoint'")]
    conn.close()
    assert len(outbox) == 2  # the hub gets every checkpoint


async def test_time_triggers_a_checkpoint_when_entries_are_few(tmp_path: Path) -> None:
    clock = ManualClock()
    db = Database(tmp_path / "agent.db")
    await db.open()
    try:
        signer = AuditSigner(db, await _key(tmp_path), clock, every_entries=1000, every_s=600)
        assert await signer.maybe_checkpoint() is None  # nothing to sign yet
        await db.run(journal.record, "test.event", {}, now=clock.now())
        assert await signer.maybe_checkpoint() is None  # too soon
        clock.advance(601)
        assert await signer.maybe_checkpoint() == 2
        clock.advance(601)
        assert await signer.maybe_checkpoint() is None  # head is the checkpoint itself
    finally:
        await db.close()


async def test_an_altered_entry_is_named(tmp_path: Path) -> None:
    await make_log(tmp_path)
    tamper(tmp_path, "UPDATE audit SET actor = 'nobody' WHERE seq = 4", restore_triggers=True)
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_TAMPERED
    problems = json.loads(result.stdout)["problems"]
    assert problems == [{"seq": 4, "kind": "altered", "detail": "content does not match its hash"}]
    assert "entry 4" in result.stderr


async def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link(
    tmp_path: Path,
) -> None:
    await make_log(tmp_path)
    conn = sqlite3.connect(tmp_path / "agent.db")
    row = conn.execute("SELECT * FROM audit WHERE seq = 3").fetchone()
    conn.close()
    forged = journal.audit_digest(
        row[7],
        seq=3,
        at=row[1],
        actor="x",
        action=row[3],
        order_id=None,
        door=row[5],
        detail_json=row[6],
    )
    tamper(tmp_path, ("UPDATE audit SET actor = 'x', hash = ? WHERE seq = 3", (forged,)))
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_TAMPERED
    kinds = {(p["seq"], p["kind"]) for p in json.loads(result.stdout)["problems"]}
    assert (4, "broken_link") in kinds
    assert (None, "unprotected") in kinds  # the triggers were left dropped


async def test_a_deleted_entry_is_named(tmp_path: Path) -> None:
    await make_log(tmp_path)
    tamper(tmp_path, "DELETE FROM audit WHERE seq = 5", restore_triggers=True)
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_TAMPERED
    problems = json.loads(result.stdout)["problems"]
    assert problems[0]["seq"] == 6
    assert problems[0]["kind"] == "missing"
    assert "entry 5 missing" in problems[0]["detail"]


async def test_reordered_entries_are_named(tmp_path: Path) -> None:
    await make_log(tmp_path)
    tamper(
        tmp_path,
        "UPDATE audit SET seq = -1 WHERE seq = 8",
        "UPDATE audit SET seq = 8 WHERE seq = 9",
        "UPDATE audit SET seq = 9 WHERE seq = -1",
        restore_triggers=True,
    )
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_TAMPERED
    problems = json.loads(result.stdout)["problems"]
    assert problems[0]["seq"] == 8
    assert {p["kind"] for p in problems} == {"broken_link", "altered"}


async def test_entries_deleted_from_the_end_are_noticed(tmp_path: Path) -> None:
    await make_log(tmp_path)
    head = rows(tmp_path)[-1][0]
    tamper(tmp_path, ("DELETE FROM audit WHERE seq >= ?", (head - 2,)), restore_triggers=True)
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_TAMPERED
    problem = json.loads(result.stdout)["problems"][0]
    assert (problem["seq"], problem["kind"]) == (head - 2, "truncated")


async def test_triggers_removed_through_writable_schema_are_noticed(tmp_path: Path) -> None:
    await make_log(tmp_path)
    conn = sqlite3.connect(tmp_path / "agent.db", isolation_level=None)
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("DELETE FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")
    conn.execute("PRAGMA writable_schema=OFF")
    conn.close()
    conn = sqlite3.connect(tmp_path / "agent.db", isolation_level=None)
    conn.execute("UPDATE audit SET door = 99 WHERE seq = 2")  # no trigger stops it now
    conn.close()
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_TAMPERED
    kinds = [(p["seq"], p["kind"]) for p in json.loads(result.stdout)["problems"]]
    assert kinds == [(2, "altered"), (None, "unprotected")]


async def test_a_bad_checkpoint_signature_is_its_own_exit_status(tmp_path: Path) -> None:
    await make_log(tmp_path)
    conn = sqlite3.connect(tmp_path / "agent.db")
    row = conn.execute("SELECT * FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    conn.close()
    detail = json.loads(row[6])
    signature = bytearray.fromhex(detail["signature"])
    signature[0] ^= 1
    detail["signature"] = signature.hex()
    detail_json = journal.canonical_json(detail)
    # The forger re-hashes the entry so the chain itself stays intact: only the signature fails.
    digest = journal.audit_digest(
        row[7],
        seq=row[0],
        at=row[1],
        actor=row[2],
        action=row[3],
        order_id=row[4],
        door=row[5],
        detail_json=detail_json,
    )
    tamper(
        tmp_path,
        ("UPDATE audit SET detail = ?, hash = ? WHERE seq = ?", (detail_json, digest, row[0])),
        restore_triggers=True,
    )
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_BAD_SIGNATURE, result.stdout
    problems = json.loads(result.stdout)["problems"]
    assert problems == [
        {"seq": row[0], "kind": "bad_signature", "detail": "checkpoint signature does not verify"}
    ]


async def test_a_checkpoint_is_checked_against_the_named_public_key(tmp_path: Path) -> None:
    await make_log(tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = await verify(tmp_path, "--public-key", str(other))
    assert result.returncode == EXIT_AUDIT_BAD_SIGNATURE
    assert "not the device key" in result.stdout


async def test_a_whole_rewritten_chain_contradicts_its_signed_checkpoint(tmp_path: Path) -> None:
    await make_log(tmp_path, checkpoint_at_end=False)
    conn = sqlite3.connect(tmp_path / "agent.db", isolation_level=None)
    for trigger in ("audit_no_update", "audit_no_delete"):
        conn.execute(f"DROP TRIGGER {trigger}")
    # Alter entry 2 and re-hash every later entry so that each link checks out again.
    conn.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 2")
    prev = conn.execute("SELECT hash FROM audit WHERE seq = 1").fetchone()[0]
    for row in conn.execute("SELECT * FROM audit WHERE seq >= 2 ORDER BY seq").fetchall():
        digest = journal.audit_digest(
            prev,
            seq=row[0],
            at=row[1],
            actor=row[2],
            action=row[3],
            order_id=row[4],
            door=row[5],
            detail_json=row[6],
        )
        conn.execute(
            "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row[0])
        )
        prev = digest
    for trigger in TRIGGERS:
        conn.execute(trigger)
    conn.close()
    result = await verify(tmp_path)
    assert result.returncode == EXIT_AUDIT_TAMPERED
    problems = json.loads(result.stdout)["problems"]
    assert [(p["seq"], p["kind"]) for p in problems] == [(7, "rewritten"), (14, "rewritten")]


async def test_a_missing_database_is_a_database_error(tmp_path: Path) -> None:
    result = await verify(tmp_path / "nowhere")
    assert result.returncode == 3
    assert "no such database" in result.stderr
    assert "Traceback" not in result.stderr


async def test_verify_with_a_config_uses_its_data_folder_and_named_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await make_log(data)
    (data / "device_key.pem").rename(data / "signing.pem")
    config = tmp_path / "agent.toml"
    config.write_text(
        '[locker]\ndata_dir = "data"\n\n[audit]\ndevice_key = "signing.pem"\n', encoding="utf-8"
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [*AGENT, "audit", "verify", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_AUDIT_OK, result.stderr
    assert json.loads(result.stdout)["checkpoints"] == 2
