"""The fleet hub's other tables: replies, state and status, commands and trust bundles."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub_sync.hub.db import Conn
from hub_sync.hub.ingest import raise_alarms
from hub_sync.protocol.strict_json import loads_strict
from hub_sync.protocol.wire import Reply, Status

COMMANDS_CHANNEL = "lk_commands"


@dataclass(frozen=True, slots=True)
class PendingCommand:
    message_id: str
    device: str
    payload: bytes


async def record_replies(conn: Conn, replies: Sequence[Reply], now: float) -> None:
    """The first answer to each command wins (a device answers once; re-sends get the cache)."""
    if replies:
        await conn.executemany(
            "UPDATE commands SET status = $2, reason = $3, result = $4::jsonb, answered_at = $5"
            " WHERE message_id = $1 AND status = 'pending' AND fleet = $6 AND device = $7",
            [
                (r.command_message_id, "ok" if r.ok else "nack", r.reason,
                 json.dumps(dict(r.result)), now, r.header.fleet, r.header.device)
                for r in replies
            ],
        )  # fmt: skip


def trust_of_state(state: Mapping[str, Any]) -> tuple[int | None, float | None]:
    """(installed bundle version, its issued_at) from a state snapshot's `trust` section."""
    trust = state.get("trust")
    if not isinstance(trust, Mapping):
        return None, None
    version, issued = trust.get("version"), trust.get("issued_at")
    ok_v = isinstance(version, int) and not isinstance(version, bool)
    ok_i = isinstance(issued, int | float) and not isinstance(issued, bool)
    return (version if ok_v else None), (float(issued) if ok_i and issued is not None else None)


async def record_states(conn: Conn, states: Sequence[tuple[str, str, bytes]], now: float) -> None:
    """Keep each device's latest state snapshot and the trust bundle it reports."""
    rows = []
    for fleet, device, payload in states:
        obj = loads_strict(payload)
        version, issued = trust_of_state(obj)
        rows.append((fleet, device, json.dumps(obj), now, version, issued))
    if rows:
        await conn.executemany(
            "INSERT INTO devices (fleet, device, state, state_at, trust_version, trust_issued_at)"
            " VALUES ($1,$2,$3::jsonb,$4,$5,$6) ON CONFLICT (fleet, device) DO UPDATE SET"
            " state = EXCLUDED.state, state_at = EXCLUDED.state_at,"
            " trust_version = coalesce(EXCLUDED.trust_version, devices.trust_version),"
            " trust_issued_at = coalesce(EXCLUDED.trust_issued_at, devices.trust_issued_at)",
            rows,
        )


async def record_statuses(conn: Conn, statuses: Sequence[Status], now: float) -> None:
    for s in statuses:
        h = s.header
        await conn.execute(
            "INSERT INTO devices (fleet, device, online, status_at, alarm, offline_since)"
            " VALUES ($1, $2, $3::boolean, $4::float8, $5::text,"
            "  CASE WHEN $3::boolean THEN NULL ELSE $4::float8 END)"
            " ON CONFLICT (fleet, device) DO UPDATE SET online = $3::boolean,"
            " status_at = $4::float8, alarm = $5::text,"
            " offline_since = CASE WHEN $3::boolean THEN NULL"
            "   ELSE coalesce(devices.offline_since, $4::float8) END",
            h.fleet, h.device, s.online, now, s.alarm,
        )  # fmt: skip
        if s.alarm:
            await raise_alarms(conn, [(h.fleet, h.device, s.alarm, "reported by the device")], now)


async def add_command(
    conn: Conn, *, message_id: str, fleet: str, device: str,
    transaction_id: str, name: str, payload: bytes, now: float,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO commands (message_id, fleet, device, transaction_id, name, payload,"
        " created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        message_id, fleet, device, transaction_id, name, payload, now,
    )  # fmt: skip
    # wakes the leader at commit (it would otherwise find the command on its next poll)
    await conn.execute(f"NOTIFY {COMMANDS_CHANNEL}")


async def pending_commands(
    conn: Conn, fleet: str, *, device: str | None, resend_before: float
) -> list[PendingCommand]:
    """Unanswered commands due: never sent, or sent before `resend_before` to an online device
    (or to `device`, which just came online)."""
    rows = await conn.fetch(
        "SELECT c.message_id, c.device, c.payload FROM commands c LEFT JOIN devices d"
        " ON d.fleet = c.fleet AND d.device = c.device"
        " WHERE c.fleet = $1 AND c.status = 'pending' AND ($2::text IS NULL OR c.device = $2)"
        " AND (c.sent_at IS NULL OR $2::text IS NOT NULL"
        "      OR (coalesce(d.online, false) AND c.sent_at < $3))"
        " ORDER BY c.created_at LIMIT 5000",
        fleet, device, resend_before,
    )  # fmt: skip
    return [PendingCommand(r["message_id"], r["device"], bytes(r["payload"])) for r in rows]


async def mark_sent(conn: Conn, ids: Sequence[str], now: float) -> None:
    await conn.execute(
        "UPDATE commands SET sent_at = $2 WHERE message_id = ANY($1::text[])", list(ids), now
    )


async def command_outcome(conn: Conn, message_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT status, reason, result FROM commands WHERE message_id = $1", message_id
    )
    return row
