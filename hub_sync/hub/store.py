"""The fleet hub's other tables: replies, state and status, commands and trust bundles; and
which events batches their devices signed."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub_sync.errors import SignatureError
from hub_sync.hub.db import Conn
from hub_sync.hub.ingest import raise_alarms
from hub_sync.protocol.event_sig import split_signed
from hub_sync.protocol.reply_sig import raw_ed25519_keys, verify_reply
from hub_sync.protocol.strict_json import loads_strict
from hub_sync.protocol.wire import EventBatch, Reply, Status

COMMANDS_CHANNEL = "lk_commands"


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """An unanswered command: its message id, its device and the signed payload to (re)send."""

    message_id: str
    device: str
    payload: bytes


#: the alarm a refused events batch raises for its device, by signature error reason
UNSIGNED_ALARM = "EVENTS_UNSIGNED"
BAD_SIGNATURE_ALARM = "EVENTS_BAD_SIGNATURE"


@dataclass(frozen=True, slots=True)
class RefusedBatch:
    """An events batch not signed by its device: who it names, why, and the alarm it raises."""

    fleet: str
    device: str
    reason: str

    @property
    def alarm(self) -> str:
        """`EVENTS_UNSIGNED` for a batch without a signature, else `EVENTS_BAD_SIGNATURE`."""
        return UNSIGNED_ALARM if self.reason == "SIG_MISSING" else BAD_SIGNATURE_ALARM


async def signed_batches(
    conn: Conn, batches: Sequence[EventBatch]
) -> tuple[list[EventBatch], list[RefusedBatch]]:
    """The batches signed by a key their device has had (`device_key_history`, or one handed
    over to by an `audit.key_rotated` in that batch or an earlier one), and the others.

    Whoever can publish on the broker cannot put events in a locker's name: a refused batch is
    not stored and not confirmed; the device resends its own events."""
    if not batches:
        return [], []
    keys = await _device_keys(conn, {b.header.device for b in batches})
    signed, refused = split_signed(batches, lambda fleet, device: keys[fleet, device])
    return signed, [RefusedBatch(b.header.fleet, b.header.device, why) for b, why in refused]


async def _device_keys(conn: Conn, devices: set[str]) -> defaultdict[tuple[str, str], list[bytes]]:
    """Every key each of `devices` has had, raw, by (fleet, device)."""
    keys: defaultdict[tuple[str, str], list[bytes]] = defaultdict(list)
    for row in await conn.fetch(
        "SELECT fleet, device, public_key FROM device_key_history WHERE device = ANY($1::text[])"
        " UNION SELECT fleet, device, public_key FROM device_keys WHERE device = ANY($1::text[])",
        list(devices),
    ):
        keys[row["fleet"], row["device"]].append(bytes(row["public_key"]))
    return keys


async def record_replies(conn: Conn, replies: Sequence[Reply], now: float) -> list[str]:
    """Record the answers to pending commands; the reasons of the replies refused.

    A reply is taken only when it answers a command this hub sent to that device (same
    `transaction_id`) and is signed by a key the device has had (`device_key_history`, so a
    reply signed just before or after a rotation verifies). Anything else is dropped and the
    command stays pending: the hub re-sends it until the device's own answer arrives. The first
    taken answer to each command wins (a device answers once; re-sends get its cached reply).
    """
    if not replies:
        return []
    commands = {
        (r["fleet"], r["device"], r["message_id"]): r["transaction_id"]
        for r in await conn.fetch(
            "SELECT fleet, device, message_id, transaction_id FROM commands"
            " WHERE message_id = ANY($1::text[])",
            list({r.command_message_id for r in replies}),
        )
    }
    keys = await _device_keys(conn, {r.header.device for r in replies})
    refused: list[str] = []
    taken: list[Reply] = []
    for r in replies:
        h = r.header
        if commands.get((h.fleet, h.device, r.command_message_id)) != r.transaction_id:
            refused.append("UNKNOWN_COMMAND")
            continue
        try:
            verify_reply(raw_ed25519_keys(keys.get((h.fleet, h.device), [])), r)
        except SignatureError as err:
            refused.append(err.reason)
            continue
        taken.append(r)
    if taken:
        await conn.executemany(
            "UPDATE commands SET status = $2, reason = $3, result = $4::jsonb, answered_at = $5"
            " WHERE message_id = $1 AND status = 'pending' AND fleet = $6 AND device = $7",
            [
                (r.command_message_id, "ok" if r.ok else "nack", r.reason,
                 json.dumps(dict(r.result)), now, r.header.fleet, r.header.device)
                for r in taken
            ],
        )  # fmt: skip
    return refused


def trust_of_state(state: Mapping[str, Any]) -> tuple[int | None, float | None]:
    """(installed bundle version, its issued_at) from a state snapshot's `trust` section."""
    trust = state.get("trust")
    if not isinstance(trust, Mapping):
        return None, None
    version, issued = trust.get("version"), trust.get("issued_at")
    ok_v = isinstance(version, int) and not isinstance(version, bool)
    ok_i = isinstance(issued, int | float) and not isinstance(issued, bool)
    return (version if ok_v else None), (float(issued) if ok_i and issued is not None else None)


def snapshot_of(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """The device's snapshot inside a retained `state` message (`{..header, "state": {..},
    "outbox": {"depth", "oldest_created_at"}}`, docs/protocol.md); `{}` when it has none."""
    inner = message.get("state")
    return inner if isinstance(inner, Mapping) else {}


async def record_states(conn: Conn, states: Sequence[tuple[str, str, bytes]], now: float) -> None:
    """Keep each device's latest state message and the trust bundle its snapshot reports."""
    rows = []
    for fleet, device, payload in states:
        obj = loads_strict(payload)
        version, issued = trust_of_state(snapshot_of(obj))
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
    """Record each device's online/offline status (and since when it is offline); an alarm it
    reports is raised."""
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
    """Store a signed command as pending and wake the leader at commit to send it."""
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
    """Record that these commands were sent at `now`."""
    await conn.execute(
        "UPDATE commands SET sent_at = $2 WHERE message_id = ANY($1::text[])", list(ids), now
    )


async def command_outcome(conn: Conn, message_id: str) -> asyncpg.Record | None:
    """(status, reason, result) of one command, or None if there is no such command."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT status, reason, result FROM commands WHERE message_id = $1", message_id
    )
    return row


async def revoked_devices(conn: Conn, fleet: str) -> set[str]:
    """Devices whose credentials `locker-admin device revoke` revoked (docs/provisioning.md)."""
    rows = await conn.fetch(
        "SELECT device FROM device_registry WHERE fleet=$1 AND state='revoked'", fleet
    )
    return {str(r["device"]) for r in rows}
