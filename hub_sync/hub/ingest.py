"""Storing device events exactly once in PostgreSQL, and the alarms the sequence can raise.

One transaction per batch of messages (any devices). Per device the row in `devices` is locked
(in key order, so two workers never deadlock) and `through_seq` is the highest contiguous seq
stored. Events are inserted with `ON CONFLICT DO NOTHING` on (fleet, device, seq), also when they
arrive ahead of a gap (two workers may take one device's consecutive messages in either order):
`through_seq` then advances over the stored run once the gap is filled. Confirms are built from
what this returns, after the commit.

Alarms (table `alarms`, one open row per device and kind):
- `GAP`: a device's `base` is above what the hub stored: the hub lost events (restored backup).
- `SEQ_BACKWARDS`: an event re-uses a stored seq with other content: the device's outbox went
  back (restored or tampered database). The stored event stays and the other version is kept in
  `event_conflicts` (both are signed by the locker: the hub loses neither). Batches not signed by
  their device never get here (`store.signed_batches`).
- `DUPLICATE_EVENT`: an event (its transaction id) is stored a second time under another seq:
  the device re-inserted outbox rows. Both are stored (the seqs differ); the alarm says which.
Identical duplicates (redelivery after a worker or node died) are only counted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub_sync.hub.db import Conn
from hub_sync.protocol.strict_json import canonical_json
from hub_sync.protocol.wire import EventBatch, OutboxEvent

Key = tuple[str, str]
KPI_KIND = "kpi.snapshot"


@dataclass
class Applied:
    """What one batch did: events stored and duplicates, each device's contiguous seq now
    stored (what to confirm), and the alarms to raise."""

    stored: int = 0
    duplicates: int = 0
    #: per (fleet, device) in the batch: highest contiguous seq now stored
    through: dict[Key, int] = field(default_factory=dict)
    alarms: list[tuple[str, str, str, str]] = field(default_factory=list)


def digest(event: OutboxEvent) -> bytes:
    """SHA-256 of the event's canonical JSON: a seq sent again with other content differs."""
    return hashlib.sha256(canonical_json(event.as_dict())).digest()


async def raise_alarms(conn: Conn, alarms: Sequence[tuple[str, str, str, str]], now: float) -> None:
    """Open each (fleet, device, kind, detail) alarm unless the same kind is already open."""
    if alarms:
        await conn.executemany(
            "INSERT INTO alarms (fleet, device, kind, detail, raised_at) VALUES ($1,$2,$3,$4,$5)"
            " ON CONFLICT (fleet, device, kind) WHERE cleared_at IS NULL DO NOTHING",
            [(*a, now) for a in alarms],
        )


async def apply_events(conn: Conn, batches: Sequence[EventBatch], now: float) -> Applied:
    """Store `batches` in one transaction; what was stored, duplicated, confirmed, alarmed."""
    out = Applied()
    base: dict[Key, int] = {}
    rows: dict[tuple[str, str, int], OutboxEvent] = {}
    for b in batches:
        key = (b.header.fleet, b.header.device)
        base[key] = max(base.get(key, 0), b.base)
        for e in b.events:
            rows[(*key, e.seq)] = e
    keys = sorted(base)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO devices (fleet, device, through_seq)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])"
            " ON CONFLICT DO NOTHING",
            [k[0] for k in keys], [k[1] for k in keys], [base[k] for k in keys],
        )  # fmt: skip
        locked = await conn.fetch(
            "SELECT d.fleet, d.device, d.through_seq FROM devices d"
            " JOIN unnest($1::text[], $2::text[]) AS k(f, d) ON d.fleet = k.f AND d.device = k.d"
            " ORDER BY d.fleet, d.device FOR UPDATE OF d",
            [k[0] for k in keys], [k[1] for k in keys],
        )  # fmt: skip
        through = {(r["fleet"], r["device"]): int(r["through_seq"]) for r in locked}
        for key in keys:
            if base[key] > through[key]:
                out.alarms.append((*key, "GAP", f"hub had {through[key]}, device base {base[key]}"))
                through[key] = base[key]
        new = [k for k in rows if k[2] > through[(k[0], k[1])]]
        inserted: set[tuple[str, str, int]] = set()
        if new:
            evs = [rows[k] for k in new]
            result = await conn.fetch(
                "INSERT INTO events (fleet, device, seq, kind, transaction_id, created_at, body,"
                " digest, stored_at) SELECT f, d, s, k, t, c, b::jsonb, g, $9 FROM unnest("
                " $1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
                " $6::float8[], $7::text[], $8::bytea[]) AS x(f, d, s, k, t, c, b, g)"
                " ON CONFLICT DO NOTHING RETURNING fleet, device, seq",
                [k[0] for k in new], [k[1] for k in new], [k[2] for k in new],
                [e.kind for e in evs], [e.transaction_id for e in evs],
                [e.created_at for e in evs],
                [json.dumps(e.body, separators=(",", ":")) for e in evs],
                [digest(e) for e in evs], now,
            )  # fmt: skip
            inserted = {(r["fleet"], r["device"], int(r["seq"])) for r in result}
        out.stored = len(inserted)
        others = [k for k in rows if k not in inserted]
        out.duplicates = len(others)
        if others:
            await _check_duplicates(conn, others, rows, out, now)
        repeats = Counter((k[0], k[1]) for k in others)
        await _advance(conn, through, keys, repeats)
        await _keep_kpis(conn, [(k, rows[k]) for k in inserted if rows[k].kind == KPI_KIND])
        await _check_transactions(conn, inserted, rows, out)
        out.through = {k: through[k] for k in keys}
        await raise_alarms(conn, out.alarms, now)
    return out


async def _check_duplicates(
    conn: Conn,
    others: list[tuple[str, str, int]],
    rows: dict[tuple[str, str, int], OutboxEvent],
    out: Applied,
    now: float,
) -> None:
    stored = await conn.fetch(
        "SELECT e.fleet, e.device, e.seq, e.digest FROM events e JOIN unnest($1::text[],"
        " $2::text[], $3::bigint[]) AS k(f, d, s) ON e.fleet = k.f AND e.device = k.d"
        " AND e.seq = k.s",
        [k[0] for k in others], [k[1] for k in others], [k[2] for k in others],
    )  # fmt: skip
    seen: set[Key] = set()
    conflicts: list[tuple[str, str, int]] = []
    for r in stored:
        key3 = (r["fleet"], r["device"], int(r["seq"]))
        if bytes(r["digest"]) == digest(rows[key3]):
            continue  # an identical redelivery
        conflicts.append(key3)
        if key3[:2] not in seen:
            seen.add(key3[:2])
            out.alarms.append((*key3[:2], "SEQ_BACKWARDS", f"seq {key3[2]} re-used"))
    if conflicts:
        evs = [rows[k] for k in conflicts]
        await conn.execute(
            "INSERT INTO event_conflicts (fleet, device, seq, kind, transaction_id, created_at,"
            " body, digest, received_at) SELECT f, d, s, k, t, c, b::jsonb, g, $9 FROM unnest("
            " $1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
            " $6::float8[], $7::text[], $8::bytea[]) AS x(f, d, s, k, t, c, b, g)"
            " ON CONFLICT DO NOTHING",
            [k[0] for k in conflicts], [k[1] for k in conflicts], [k[2] for k in conflicts],
            [e.kind for e in evs], [e.transaction_id for e in evs], [e.created_at for e in evs],
            [json.dumps(e.body, separators=(",", ":")) for e in evs], [digest(e) for e in evs],
            now,
        )  # fmt: skip


async def _check_transactions(
    conn: Conn,
    inserted: set[tuple[str, str, int]],
    rows: dict[tuple[str, str, int], OutboxEvent],
    out: Applied,
) -> None:
    """DUPLICATE_EVENT: a newly stored event's transaction id already stored under another seq."""
    if not inserted:
        return
    keys = list(inserted)
    found = await conn.fetch(
        "SELECT DISTINCT k.f, k.d, k.t FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::bigint[]) AS k(f, d, t, s) JOIN events e ON e.fleet = k.f AND e.device = k.d"
        " AND e.transaction_id = k.t AND e.seq <> k.s",
        [k[0] for k in keys], [k[1] for k in keys], [rows[k].transaction_id for k in keys],
        [k[2] for k in keys],
    )  # fmt: skip
    seen: set[Key] = set()
    for r in found:
        if (r["f"], r["d"]) not in seen:
            seen.add((r["f"], r["d"]))
            out.alarms.append((r["f"], r["d"], "DUPLICATE_EVENT", f"transaction {r['t'][:64]}"))


async def _keep_kpis(conn: Conn, stored: list[tuple[tuple[str, str, int], OutboxEvent]]) -> None:
    """Each locker's newest `kpi.snapshot` body onto its `devices` row (an older one never wins)."""
    if stored:
        await conn.executemany(
            "UPDATE devices SET kpi = $3::jsonb, kpi_seq = $4, kpi_at = $5"
            " WHERE fleet = $1 AND device = $2 AND kpi_seq < $4",
            [(f, d, json.dumps(e.body), seq, e.created_at) for (f, d, seq), e in stored],
        )


async def _advance(
    conn: Conn, through: dict[Key, int], keys: list[Key], repeats: Counter[Key]
) -> None:
    """Move each device's `through_seq` over the contiguous run stored after it, and count the
    seqs it sent again (`duplicates`: redeliveries and resends after a lost confirm)."""
    runs = await conn.fetch(
        "SELECT k.f, k.d, max(e.seq) AS top FROM unnest($1::text[], $2::text[], $3::bigint[])"
        " AS k(f, d, t) JOIN LATERAL (SELECT seq, seq - row_number() OVER (ORDER BY seq) AS g"
        " FROM events WHERE fleet = k.f AND device = k.d AND seq > k.t) e ON e.g = k.t"
        " GROUP BY k.f, k.d",
        [k[0] for k in keys], [k[1] for k in keys], [through[k] for k in keys],
    )  # fmt: skip
    for r in runs:
        through[(r["f"], r["d"])] = int(r["top"])
    await conn.execute(
        "UPDATE devices SET through_seq = x.t, duplicates = devices.duplicates + x.n"
        " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS x(f, d, t, n)"
        " WHERE devices.fleet = x.f AND devices.device = x.d",
        [k[0] for k in keys], [k[1] for k in keys], [through[k] for k in keys],
        [repeats[k] for k in keys],
    )  # fmt: skip
