"""`locker-admin fleet status --dsn ... --fleet F [--json]`: the fleet hub's view of its lockers.

(`locker-admin fleet init` is provisioning/fleet_init.py.)

Read from the hub's PostgreSQL database (hub_sync/hub/status.py, the same numbers as the hub's
`/metrics`): per locker online or offline for how long, last seen, agent version, events stored,
outbox depth, occupancy, installed trust bundle and its age, open alarms and unanswered commands,
and the locker's own KPIs (collected within hold, mean dwell, expiries, returns, failed attempts by
path and reason); per fleet the same summed, orders, events by kind, offline time, dwell time and
SLA of the hub's orders. `--json` prints the same as one JSON object.
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
from provisioning import fleet_init


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


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def _sla(in_time: int, collected: int) -> str:
    return "-" if not collected else f"{in_time}/{collected}"


def render(status: FleetStatus, console: Console) -> None:
    """Print the fleet status as a table, one row per locker."""
    table = Table(title=f"fleet {status.fleet}: {len(status.lockers)} lockers")
    for col in ("locker", "link", "last seen", "agent", "events", "outbox", "doors used", "trust",
                "alarms", "commands", "in hold", "dwell", "expired", "returns",
                "failed attempts"):  # fmt: skip
        table.add_column(col)
    for lk in status.lockers:
        link = "online" if lk.online else f"offline {_age(lk.offline_s)}"
        doors = "-" if lk.doors is None else f"{lk.occupied}/{lk.doors}"
        trust = "-" if lk.trust_version is None else f"v{lk.trust_version}, {_age(lk.trust_age_s)}"
        cmds = str(lk.pending_commands)
        if lk.pending_commands:
            cmds += f" (oldest {_age(lk.oldest_command_s)})"
        outbox = "-" if lk.outbox_depth is None else str(lk.outbox_depth)
        if lk.outbox_depth and lk.outbox_age_s is not None:
            outbox += f" ({_age(lk.outbox_age_s)})"
        k = lk.kpis
        table.add_row(
            lk.locker, link, _age(lk.last_seen_s), lk.agent_version or "-",
            str(lk.through_seq) + (f" ({lk.duplicates} resent)" if lk.duplicates else ""),
            outbox, doors, trust,
            ", ".join(lk.alarms) or "-", cmds,
            "-" if k is None else _sla(k.collected_within_hold, k.collected),
            "-" if k is None else _age(k.dwell_mean_s),
            "-" if k is None else str(k.expired),
            "-" if k is None else _counts(k.returns),
            "-" if k is None else _counts(k.failed_attempts),
        )  # fmt: skip
    console.print(table)
    k = status.kpis
    console.print(f"orders: {status.orders or '-'}   alarms: {status.alarms or '-'}   offline: "
                  f"{status.offline_lockers} lockers, {_age(status.offline_s_sum)} in all;"
                  f" oldest unconfirmed event: {_age(status.outbox_age_max_s)}")  # fmt: skip
    console.print(
        f"lockers' counts: collected within hold {_sla(k.collected_within_hold, k.collected)},"
        f" dwell mean {_age(k.dwell_mean_s)}, expired {k.expired}, returns {_counts(k.returns)},"
        f" failed attempts {_counts(k.failed_attempts)}"
    )
    console.print(
        f"hub orders: collected in time: {status.sla_collected_in_time}, late: "
        f"{status.sla_collected_late}, dwell p50: {_age(status.dwell_p50_s)}"
    )


async def _load(dsn: str, fleet: str) -> FleetStatus:
    conn = await asyncpg.connect(dsn)
    try:
        return await fleet_status(conn, fleet, time.time())
    finally:
        await conn.close()


def main(argv: list[str]) -> int:
    """`locker-admin fleet status|init`: the fleet as the hub database sees it, or its new keys."""
    p = argparse.ArgumentParser(prog="locker-admin fleet")
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("status", help="lockers, alarms and KPIs from the hub's database")
    st.add_argument("--dsn", required=True, help="PostgreSQL DSN of the hub database")
    st.add_argument("--fleet", required=True)
    st.add_argument("--json", action="store_true")
    fleet_init.add_args(sub.add_parser("init", help="create the fleet's keys, all encrypted"))
    ns = p.parse_args(argv)
    if ns.cmd == "init":
        return fleet_init.run(ns)
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
