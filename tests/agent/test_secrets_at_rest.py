"""Secrets at rest: a private data folder, and the typed-code key outside the database."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.store.secrets import DEFAULT_KEY_FILE
from agent.tokens.typed_codes import code_lookup_key
from tests.agent.conftest import RunningAgent, start_agent


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _settings(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT key, value FROM settings").fetchall())
    finally:
        conn.close()


async def test_the_data_folder_is_private_and_the_key_is_a_file(running: RunningAgent) -> None:
    data = running.agent.config.locker.data_dir
    assert _mode(data) == 0o700
    files = [p for p in data.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"agent.db", "agent.db-wal", "agent.db-shm", DEFAULT_KEY_FILE}
    for path in files:
        assert _mode(path) == 0o600, path
    key = bytes.fromhex((data / DEFAULT_KEY_FILE).read_text().strip())
    assert key == running.agent.typed_code_secret
    assert "typed_code_secret" not in _settings(data / "agent.db")


async def test_existing_files_are_made_private_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    running = await start_agent(data, seed=False)
    await running.close()
    data.chmod(0o755)
    for path in data.iterdir():
        path.chmod(0o644)
    running = await start_agent(data, seed=False)
    try:
        assert _mode(data) == 0o700
        for path in data.iterdir():
            if path.is_file():
                assert _mode(path) == 0o600, path
    finally:
        await running.close()


async def test_a_key_kept_in_the_database_by_an_older_agent_is_moved_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    running = await start_agent(data)
    order, clock = running.orders[0], running.clock
    await running.close()
    # what an older agent left: the key in the settings table, no key file
    key_file = data / DEFAULT_KEY_FILE
    legacy = key_file.read_text().strip()
    key_file.unlink()
    conn = sqlite3.connect(data / "agent.db")
    conn.execute("INSERT INTO settings (key, value) VALUES ('typed_code_secret', ?)", (legacy,))
    conn.commit()
    conn.close()

    running = await start_agent(data, clock, seed=False)
    try:
        assert key_file.read_text().strip() == legacy
        assert _mode(key_file) == 0o600
        assert "typed_code_secret" not in _settings(data / "agent.db")
        status, _ = await running.post("/api/v1/pickup/code", {"code": order.code})
        assert status == 200  # codes made with the old key still open their doors
    finally:
        await running.close()
    # erased, not just unlinked from the table: no page of the file holds it any more
    raw = b"".join(p.read_bytes() for p in data.iterdir() if p.name.startswith("agent.db"))
    assert legacy.encode() not in raw
    assert code_lookup_key(order.code, bytes.fromhex(legacy))  # the key itself is intact


async def test_a_configured_key_file_that_is_missing_refuses_to_start(tmp_path: Path) -> None:
    from agent.bootstrap.app import Agent, DoorHardware
    from agent.cli.demo import demo_config
    from hardware.doors.sim import SimulatedLocker

    config = demo_config(tmp_path / "data", 0)
    config = config.model_copy(
        update={
            "typed_codes": config.typed_codes.model_copy(
                update={"key_file": tmp_path / "absent.key"}
            )
        }
    )
    sim = SimulatedLocker(len(config.doors.layout()))
    agent = Agent(config, hardware=DoorHardware(sim, sim))
    with pytest.raises(ConfigError, match="does not exist"):
        await agent.start()
    await agent.stop()
