"""`locker-admin fleet status` from a real hub database (table and --json)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import asyncpg

from hub_sync.hub.ingest import apply_events, raise_alarms
from hub_sync.hub.store import record_states, record_statuses
from hub_sync.protocol.wire import EventBatch, Header, OutboxEvent, Status, new_message_id
from tests.fleet.conftest import FLEET


def _admin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from provisioning.cli import main; sys.exit(main())",
         "fleet", "status", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_fleet_status_shows_each_locker_its_alarms_and_the_json_has_the_same(
    dsn: str,
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        header = Header("events", new_message_id(), FLEET, "d1", 1.0)
        events = tuple(OutboxEvent(s, "sim.event", f"t{s}", {}, 1.0) for s in range(1, 8))
        await apply_events(conn, [EventBatch(header, 0, events)], 5.0)
        state = {"outbox_depth": 3, "doors": [{"occupied": True}, {"occupied": False}],
                 "trust": {"version": 4, "issued_at": 1.0}}  # fmt: skip
        await record_states(conn, [(FLEET, "d1", json.dumps(state).encode())], 5.0)
        off = Status(Header("status", new_message_id(), FLEET, "d2", 1.0), online=False)
        await record_statuses(conn, [off], 5.0)
        await raise_alarms(conn, [(FLEET, "d2", "SEQ_BACKWARDS", "seq 6 re-used")], 5.0)
    finally:
        await conn.close()
    as_json = await asyncio.to_thread(_admin, "--dsn", dsn, "--fleet", FLEET, "--json")
    assert as_json.returncode == 0, as_json.stderr
    status = json.loads(as_json.stdout)
    by = {lk["locker"]: lk for lk in status["lockers"]}
    assert (by["d1"]["through_seq"], by["d1"]["outbox_depth"], by["d1"]["occupied"]) == (7, 3, 1)
    assert by["d1"]["trust_version"] == 4
    assert by["d2"]["alarms"] == ["SEQ_BACKWARDS"]
    assert status["events"] == {"sim.event": 7}
    table = await asyncio.to_thread(_admin, "--dsn", dsn, "--fleet", FLEET)
    assert table.returncode == 0, table.stderr
    assert "SEQ_BACKWARDS" in table.stdout
    assert "1/2" in table.stdout
    assert "v4" in table.stdout


def test_fleet_status_without_a_database_is_one_line_and_exit_1() -> None:
    done = _admin("--dsn", "postgresql://postgres@127.0.0.1:1/none", "--fleet", FLEET)
    assert done.returncode == 1
    assert done.stderr.startswith("locker-admin: error: hub database")
    assert "Traceback" not in done.stderr
