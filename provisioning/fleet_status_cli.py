"""`locker-admin fleet status --dsn ... --fleet F [--json]`: the fleet hub's view of its lockers.

Read from the hub's PostgreSQL database (hub_sync/hub/status.py, the same numbers as the hub's
`/metrics`): per locker online or offline for how long, events stored, outbox depth, occupancy,
installed trust bundle and its age, open alarms and unanswered commands; per fleet orders, events
by kind, dwell time and SLA. `--json` prints the same as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import asyncpg
from rich.console import Console
from rich.table import Table

from hub_sync.hub.status import FleetStatus, fleet_status


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def render(status: FleetStatus, console: Console) -> None:
    table = Table(title=f"fleet {status.fleet}: {len(status.lockers)} lockers")
    for col in ("locker", "link", "events", "outbox", "doors used", "trust", "alarms", "commands"):
        table.add_column(col)
    for lk in status.lockers:
        link = "online" if lk.online else f"offline {_age(lk.offline_s)}"
        doors = "-" if lk.doors is None else f"{lk.occupied}/{lk.doors}"
        trust = "-" if lk.trust_version is None else f"v{lk.trust_version}, {_age(lk.trust_age_s)}"
        cmds = str(lk.pending_commands)
        if lk.pending_commands:
            cmds += f" (oldest {_age(lk.oldest_command_s)})"
        table.add_row(
            lk.locker, link, str(lk.through_seq),
            "-" if lk.outbox_depth is None else str(lk.outbox_depth), doors, trust,
            ", ".join(lk.alarms) or "-", cmds,
        )  # fmt: skip
    console.print(table)
    console.print(f"orders: {status.orders or '-'}   alarms: {status.alarms or '-'}")
    console.print(
        f"collected in time: {status.sla_collected_in_time}, late: {status.sla_collected_late}, "
        f"dwell p50: {_age(status.dwell_p50_s)}"
    )


async def _load(dsn: str, fleet: str) -> FleetStatus:
    conn = await asyncpg.connect(dsn)
    try:
        return await fleet_status(conn, fleet, time.time())
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="locker-admin fleet")
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("status", help="lockers, alarms and KPIs from the hub's database")
    st.add_argument("--dsn", required=True, help="PostgreSQL DSN of the hub database")
    st.add_argument("--fleet", required=True)
    st.add_argument("--json", action="store_true")
    ns = p.parse_args(argv)
    try:
        status = asyncio.run(_load(ns.dsn, ns.fleet))
    except (OSError, asyncpg.PostgresError) as err:
        print(f"locker-admin: error: hub database: {type(err).__name__}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps(status.as_dict(), sort_keys=True))
    else:
        render(status, Console())
    return 0
