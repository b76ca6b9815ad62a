"""What the crash loop measures, and the readers of the agent's and the hub's SQLite files it
measures with (plain sqlite3, read-only: the agent is down, or the file is in WAL mode)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.cli.demo import DEMO_LOCKER_ID
from tests.integration.conftest import hub_events

AGENT_ID = DEMO_LOCKER_ID


@dataclass(slots=True)
class Figures:
    """What a crash loop measured; the JSON line `bench/chaos.py` prints."""

    seed: int
    kills: int = 0
    ops: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # "path status reason"
    double_handouts: int = 0
    unmatched_spends: int = 0
    check_failures: int = 0
    lost_events: int = 0
    duplicated_events: int = 0
    hub_gaps: int = 0
    events_at_hub: int = 0
    restart_s: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ops"], out["ok"] = dict(self.ops), dict(self.ok)
        out["refused"] = dict(self.refused.most_common(12))
        times = sorted(self.restart_s)
        out["restart_s"] = {
            "median": round(times[len(times) // 2], 3) if times else None,
            "max": round(times[-1], 3) if times else None,
        }
        out["problems"] = self.problems[:20]
        return out


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def agent_records(db: Path) -> tuple[dict[str, str], list[str]]:
    """(orders whose parcel a door opening handed out more than once, with the story the audit
    log tells; spent tokens whose opening is missing or belongs to another order)."""
    conn = _ro(db)
    try:
        doubles = {
            str(r[0]): ""
            for r in conn.execute(
                "SELECT order_id FROM door_openings WHERE purpose = 'pickup'"
                " AND order_id IS NOT NULL AND (result IS NULL OR result != 'failed')"
                " GROUP BY order_id HAVING COUNT(*) > 1"
            )
        }
        for order_id in doubles:
            actions = conn.execute(
                "SELECT action, actor FROM audit WHERE order_id = ? ORDER BY seq", (order_id,)
            )
            doubles[order_id] = " > ".join(f"{a}({b})" for a, b in actions)
        unmatched = [
            str(r[0])
            for r in conn.execute(
                "SELECT s.order_id FROM spent_tokens s LEFT JOIN door_openings o"
                " ON o.id = s.opening_id AND o.order_id = s.order_id WHERE o.id IS NULL"
            )
        ]
    finally:
        conn.close()
    return doubles, unmatched


def outbox_depth(db: Path) -> int:
    conn = _ro(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def pending_commands(hub_db: Path) -> int:
    conn = _ro(hub_db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM commands WHERE status = 'pending'")
                   .fetchone()[0])  # fmt: skip
    finally:
        conn.close()


def journal_vs_hub(
    agent_db: Path, hub_db: Path
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], int]:
    """(events the agent journalled that the hub lacks, events the hub holds more often than the
    agent journalled them, events at the hub). An event and its audit entry are written in the
    same transaction with the same kind and body, so the audit log is the agent's record of
    every event it ever queued, confirmed or not."""
    stored = hub_events(hub_db, AGENT_ID)
    at_hub = Counter((e.kind, _canonical(e.body)) for e in stored)
    kinds = {kind for kind, _ in at_hub}
    conn = _ro(agent_db)
    try:
        rows = conn.execute("SELECT action, detail FROM audit").fetchall()
        queued = Counter(
            (str(k), _canonical(json.loads(b)))
            for k, b in conn.execute("SELECT kind, body FROM outbox")
        )
    finally:
        conn.close()
    journalled = Counter(
        (str(a), _canonical(json.loads(d))) for a, d in rows if a in kinds or a in _EVENT_KINDS
    )
    # still queued is not lost: e.g. the checkpoint a clean stop signs after sync has stopped
    return journalled - at_hub - queued, at_hub - journalled, len(stored)


#: kinds only ever written with `journal.record` (event and audit entry together): a journalled
#: one of these that the hub never stored is a lost event even if no other of its kind arrived
_EVENT_KINDS = frozenset(
    {"order.collected", "order.announced", "door.open_interrupted", "order.loaded"}
)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
