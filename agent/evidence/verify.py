"""Verifying an evidence photo: the C2PA checks (`hub_sync.protocol.c2pa_verify`, shared with
the hubs) and, for `locker-admin evidence verify --audit-db`, the photo's place in the
locker's audit log.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from hub_sync.protocol.c2pa_verify import Verdict, verify_photo

__all__ = ["Verdict", "audit_link_problem", "verify_photo"]


def audit_link_problem(conn: sqlite3.Connection, facts: dict[str, Any], sha256: str) -> str | None:
    """None when the photo sits in this audit log both ways, else a reason code.

    The manifest's `audit` entry must exist with that hash (`audit_link_mismatch`), and an
    `evidence.captured` entry must hold this photo's id and SHA-256 (`not_in_audit_log`). The
    chain itself is checked by `locker-agent audit verify`.
    """
    link = facts.get("audit") or {}
    row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (link.get("seq"),)).fetchone()
    if row is None or bytes(row[0]).hex() != link.get("hash"):
        return "audit_link_mismatch"
    for (detail,) in conn.execute(
        "SELECT detail FROM audit WHERE action = 'evidence.captured' AND seq > ?", (link["seq"],)
    ):
        body = json.loads(detail)
        if body.get("photo") == facts.get("photo_id") and body.get("sha256") == sha256:
            return None
    return "not_in_audit_log"
