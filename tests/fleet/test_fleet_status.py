"""`locker-admin fleet status` from a real hub database (table and --json)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from hub_sync.hub.ingest import apply_events, raise_alarms
from hub_sync.hub.metrics import render
from hub_sync.hub.status import fleet_status
from hub_sync.hub.store import record_states, record_statuses
from hub_sync.protocol.wire import EventBatch, Header, OutboxEvent, Status, new_message_id
from tests.fleet.conftest import FLEET, state_message


def _admin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from provisioning.cli import main; sys.exit(main())",
         "fleet", "status", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "COLUMNS": "250"},  # rich wraps cells at 80 columns without a tty
    )  # fmt: skip


KPI = {  # a locker's `kpi.snapshot` body as agent/services/kpis.py writes it
    "collected": 10, "collected_within_hold": 9, "expired": 2, "dwell_seconds_sum": 36000.0,
    "dwell_buckets": [[3600, 4], ["+Inf", 10]],
    "returns": {"dropped_off": 3, "collected_by_courier": 1},
    "failed_attempts": {"pickup:CODE_UNKNOWN": 4, "staff_pin:NOT_AUTHORISED": 1},
}  # fmt: skip


async def _seed(conn: asyncpg.Connection) -> None:
    header = Header("events", new_message_id(), FLEET, "d1", 1.0)
    old = {**KPI, "collected": 1, "failed_attempts": {"pickup:CODE_UNKNOWN": 1}}
    events = [OutboxEvent(s, "sim.event", f"t{s}", {}, 1.0) for s in (1, 2, 3, 4, 6)]
    events.append(OutboxEvent(7, "kpi.snapshot", "kpi-7", KPI, 50.0))
    await apply_events(conn, [EventBatch(header, 0, tuple(events))], 5.0)
    # the older snapshot (seq 5) is stored after the newer one (another worker had it): it must
    # not replace it
    late = (OutboxEvent(5, "kpi.snapshot", "kpi-5", old, 40.0),)
    await apply_events(conn, [EventBatch(header, 0, late)], 5.0)
    h2 = Header("events", new_message_id(), FLEET, "d2", 1.0)
    await apply_events(conn, [EventBatch(h2, 0, (OutboxEvent(1, "kpi.snapshot", "k", old, 2.0),
                                                 ))], 5.0)  # fmt: skip
    doors = [{"door": 1, "occupied": True}, {"door": 2, "occupied": False}]
    snapshot = {"doors": doors, "outbox_depth": 3, "trust": {"version": 4, "issued_at": 1.0},
                "versions": {"agent": "0.9.1", "schema": 12}}  # fmt: skip
    await record_states(conn, [(FLEET, "d1", state_message("d1", snapshot, depth=3,
                                                           oldest=-95.0))], 5.0)  # fmt: skip
    off = Status(Header("status", new_message_id(), FLEET, "d2", 1.0), online=False)
    await record_statuses(conn, [off], 5.0)
    await raise_alarms(conn, [(FLEET, "d2", "SEQ_BACKWARDS", "seq 6 re-used")], 5.0)


async def test_fleet_status_shows_each_locker_its_alarms_and_the_json_has_the_same(
    dsn: str,
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await _seed(conn)
    finally:
        await conn.close()
    as_json = await asyncio.to_thread(_admin, "--dsn", dsn, "--fleet", FLEET, "--json")
    assert as_json.returncode == 0, as_json.stderr
    status = json.loads(as_json.stdout)
    by = {lk["locker"]: lk for lk in status["lockers"]}
    assert (by["d1"]["through_seq"], by["d1"]["outbox_depth"], by["d1"]["occupied"]) == (7, 3, 1)
    assert by["d1"]["trust_version"] == 4
    assert by["d1"]["outbox_age_s"] > 95  # now - the oldest unconfirmed event's created_at
    assert by["d1"]["kpis"]["failed_attempts"] == KPI["failed_attempts"]
    assert by["d1"]["kpis"]["dwell_mean_s"] == 3600.0
    assert (by["d1"]["kpis"]["collected_within_hold"], by["d1"]["kpis"]["expired"]) == (9, 2)
    assert by["d1"]["agent_version"] == "0.9.1"
    assert by["d1"]["last_seen_s"] is not None  # its state message
    assert by["d1"]["trust_age_s"] > 0
    assert by["d2"]["alarms"] == ["SEQ_BACKWARDS"]
    assert by["d2"]["offline_s"] is not None
    fleet = status["kpis"]
    assert fleet["failed_attempts"] == {"pickup:CODE_UNKNOWN": 5, "staff_pin:NOT_AUTHORISED": 1}
    assert (fleet["collected"], fleet["returns"]["dropped_off"]) == (11, 6)  # d1 + d2
    assert status["offline_lockers"] == 1
    assert status["events"] == {"sim.event": 5, "kpi.snapshot": 3}
    table = await asyncio.to_thread(_admin, "--dsn", dsn, "--fleet", FLEET)
    assert table.returncode == 0, table.stderr
    for shown in ("SEQ_BACKWARDS", "1/2", "v4", "9/10", "pickup:CODE_UNKNOWN 5", "60 min", "0.9.1"):
        assert shown in table.stdout, shown


async def test_metrics_carry_the_kpis_per_locker_and_per_fleet(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await _seed(conn)
        text = render(await fleet_status(conn, FLEET, time.time())).decode()
    finally:
        await conn.close()
    samples = {
        (m.name, tuple(sorted(s.labels.items()))): s.value
        for m in text_string_to_metric_families(text) for s in m.samples
    }  # fmt: skip
    d1 = (("fleet", FLEET), ("locker", "d1"))
    fl = (("fleet", FLEET),)
    assert samples[("lkhub_locker_failed_attempts", (*d1, ("path", "pickup"),
                                                     ("reason", "CODE_UNKNOWN")))] == 4  # fmt: skip
    assert samples[("lkhub_fleet_failed_attempts", (*fl, ("path", "pickup"),
                                                    ("reason", "CODE_UNKNOWN")))] == 5  # fmt: skip
    assert samples[("lkhub_locker_dwell_mean_seconds", d1)] == 3600
    assert samples[("lkhub_locker_collected_within_hold", d1)] == 9
    assert samples[("lkhub_locker_expired", d1)] == 2
    assert samples[("lkhub_locker_returns", (*d1, ("step", "dropped_off")))] == 3
    assert samples[("lkhub_locker_doors_occupied", d1)] == 1
    assert samples[("lkhub_locker_duplicates", d1)] == 0
    assert samples[("lkhub_locker_outbox_age_seconds", d1)] > 95
    assert samples[("lkhub_locker_offline_seconds", (("fleet", FLEET), ("locker", "d2")))] > 0
    assert samples[("lkhub_lockers_offline", fl)] == 1
    assert samples[("lkhub_fleet_expired", fl)] == 4  # d1 + d2
    assert samples[("lkhub_alarms_open", (*fl, ("kind", "SEQ_BACKWARDS")))] == 1


def test_fleet_status_without_a_database_is_one_line_and_exit_1() -> None:
    done = _admin("--dsn", "postgresql://postgres@127.0.0.1:1/none", "--fleet", FLEET)
    assert done.returncode == 1
    assert done.stderr.startswith("locker-admin: error: hub database")
    assert "Traceback" not in done.stderr
