import hashlib
import sqlite3
from pathlib import Path

import pytest

from agent.errors import DatabaseCorruptError, SchemaTooNewError
from agent.store import db as db_module
from agent.store import journal
from agent.store.db import Database, schema_version_of_code


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_fresh_install_creates_the_schema_in_wal_mode(tmp_path: Path) -> None:
    database = Database(tmp_path / "agent.db")
    was, now = await database.open()
    await database.close()
    assert (was, now) == (0, schema_version_of_code())
    conn = sqlite3.connect(tmp_path / "agent.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"doors", "orders", "outbox", "audit", "spent_tokens", "inbox"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    database = Database(tmp_path / "agent.db")
    await database.open()

    def bad_opening(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO door_openings (door, purpose, requested_at) VALUES (999, 'x', 0)")

    with pytest.raises(sqlite3.IntegrityError):
        await database.run(bad_opening)
    await database.close()


async def test_upgrade_keeps_data_and_applies_pending_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scripts = db_module._migration_scripts()
    extra = (len(real_scripts) + 1, "CREATE TABLE upgrade_probe (x INTEGER);")
    database = Database(tmp_path / "agent.db")
    await database.open()
    await database.run(journal.put_setting, "kept", "yes")
    await database.close()

    monkeypatch.setattr(db_module, "_migration_scripts", lambda: [*real_scripts, extra])
    database = Database(tmp_path / "agent.db")
    was, now = await database.open()
    assert (was, now) == (len(real_scripts), len(real_scripts) + 1)
    assert await database.read(journal.get_setting, "kept") == "yes"
    await database.close()


async def test_a_failing_migration_is_applied_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scripts = db_module._migration_scripts()
    database = Database(tmp_path / "agent.db")
    await database.open()
    await database.close()
    broken = (
        len(real_scripts) + 1,
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    )
    monkeypatch.setattr(db_module, "_migration_scripts", lambda: [*real_scripts, broken])
    with pytest.raises(DatabaseCorruptError):
        await Database(tmp_path / "agent.db").open()
    conn = sqlite3.connect(tmp_path / "agent.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(real_scripts)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchone() is None
    conn.close()


async def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    database = Database(path)
    await database.open()
    await database.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    before = file_digest(path)
    with pytest.raises(SchemaTooNewError) as info:
        await Database(path).open()
    assert "newer" in str(info.value)
    assert file_digest(path) == before


async def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseCorruptError):
        await Database(path).open()


async def test_a_damaged_page_fails_the_integrity_check(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    database = Database(path)
    await database.open()

    def fill(conn: sqlite3.Connection) -> None:
        for i in range(2000):
            journal.put_setting(conn, f"k{i}", "v" * 50)

    await database.run(fill)
    await database.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # scribble over every page's cell area
        data[start + 1000 : start + 1400] = b"\x5a" * 400
    path.write_bytes(bytes(data))
    damaged = Database(path)
    try:
        with pytest.raises(DatabaseCorruptError):
            await damaged.open()
    finally:
        await damaged.close()


async def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    database = Database(tmp_path / "agent.db")
    await database.open()

    def half(conn: sqlite3.Connection) -> None:
        journal.put_setting(conn, "a", "1")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await database.run(half)
    assert await database.read(journal.get_setting, "a") is None
    await database.close()


async def test_audit_entries_cannot_be_updated_or_deleted(tmp_path: Path) -> None:
    database = Database(tmp_path / "agent.db")
    await database.open()
    await database.run(lambda c: journal.append_audit(c, "x", now=1.0))
    with pytest.raises(sqlite3.IntegrityError):
        await database.run(lambda c: c.execute("DELETE FROM audit"))
    with pytest.raises(sqlite3.IntegrityError):
        await database.run(lambda c: c.execute("UPDATE audit SET actor = 'mallory'"))
    await database.close()
