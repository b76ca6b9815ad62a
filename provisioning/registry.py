"""The hub's device registry in PostgreSQL: invites, enrollment requests, credentials, revocation.

Invite codes are stored only as a keyed digest (`hub_sync.protocol.enrollment.code_digest`); an
invite is used by the first request that names it (single use) and only before it expires. A
locker's registry row moves invited -> pending -> active -> revoked; a revoked locker may be
invited again (replacement hardware) and becomes active with new credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub_sync.hub.db import Conn
from hub_sync.hub.ingest import raise_alarms
from provisioning.errors import ExitStatus, ProvisioningError, RegistryRefusal

REVOKED_ALARM = "DEVICE_REVOKED"


@dataclass(frozen=True, slots=True)
class InviteResult:
    """What `create_invite` did: `created` (until `expires_at`), `exists` (an open invite, until
    `expires_at`), or the state of a device that needs none (`active`, `pending`)."""

    device: str
    status: str  # created | exists | active
    expires_at: float | None = None


async def create_invite(
    conn: Conn,
    *,
    fleet: str,
    device: str,
    site: str,
    layout: Mapping[str, Any],
    digest: bytes,
    now: float,
    ttl_s: float,
    auto_approve: bool = False,
    reissue: bool = False,
) -> InviteResult:
    """Invite `device`, or report why not (idempotent: an open invite or an active device stays)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT state FROM device_registry WHERE fleet=$1 AND device=$2 FOR UPDATE",
            fleet, device,
        )  # fmt: skip
        if row is not None and row["state"] in ("active", "pending") and not reissue:
            return InviteResult(device, str(row["state"]))
        open_invite = await conn.fetchrow(
            "SELECT expires_at FROM device_invites WHERE fleet=$1 AND device=$2"
            " AND status='open' AND expires_at > $3",
            fleet, device, now,
        )  # fmt: skip
        if open_invite is not None and not reissue:
            return InviteResult(device, "exists", float(open_invite["expires_at"]))
        await conn.execute(
            "UPDATE device_invites SET status='cancelled' WHERE fleet=$1 AND device=$2"
            " AND status IN ('open','pending','approved')",
            fleet, device,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO device_invites (fleet, device, code_digest, created_at, expires_at,"
            " auto_approve) VALUES ($1,$2,$3,$4,$5,$6)",
            fleet, device, digest, now, now + ttl_s, auto_approve,
        )  # fmt: skip
        state = row["state"] if row is not None and row["state"] == "active" else "invited"
        await conn.execute(
            "INSERT INTO device_registry (fleet, device, site, layout, state, updated_at)"
            " VALUES ($1,$2,$3,$4::jsonb,$5,$6) ON CONFLICT (fleet, device) DO UPDATE"
            " SET site=$3, layout=$4::jsonb, state=$5, updated_at=$6",
            fleet, device, site, json.dumps(dict(layout)), state, now,
        )  # fmt: skip
    return InviteResult(device, "created", now + ttl_s)


@dataclass(frozen=True, slots=True)
class Claim:
    """An invite a request has just used: the locker, its site and door layout, and whether it is
    approved without an admin."""

    invite_id: int
    device: str
    site: str
    layout: Mapping[str, Any]
    auto_approve: bool


async def claim_invite(
    conn: Conn,
    *,
    fleet: str,
    digest: bytes,
    nonce: str,
    csr: str,
    now: float,
    device_key_proof: Mapping[str, Any] | None = None,
) -> Claim:
    """Use the invite with `digest` for this request (its CSR and device-key proof are kept for
    the answer); raises `RegistryRefusal` with the reason."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT i.id, i.device, i.status, i.expires_at, i.nonce, i.auto_approve, r.site,"
            " r.layout FROM device_invites i JOIN device_registry r"
            " ON r.fleet=i.fleet AND r.device=i.device"
            " WHERE i.fleet=$1 AND i.code_digest=$2 FOR UPDATE OF i",
            fleet, digest,
        )  # fmt: skip
        if row is None:
            raise RegistryRefusal("CODE_UNKNOWN")
        if row["status"] != "open":
            if row["nonce"] == nonce and row["status"] in ("pending", "approved", "done"):
                raise RegistryRefusal("DUPLICATE")  # the same request again: nothing to do
            raise RegistryRefusal("CODE_USED")
        if float(row["expires_at"]) <= now:
            raise RegistryRefusal("CODE_EXPIRED")
        await conn.execute(
            "UPDATE device_invites SET status='pending', nonce=$2, csr=$3, used_at=$4,"
            " device_key_proof=$5 WHERE id=$1",
            row["id"], nonce, csr, now,
            None if device_key_proof is None else json.dumps(dict(device_key_proof)),
        )  # fmt: skip
        await conn.execute(
            "UPDATE device_registry SET state='pending', updated_at=$3"
            " WHERE fleet=$1 AND device=$2 AND state <> 'active'",
            fleet, row["device"], now,
        )  # fmt: skip
    return Claim(int(row["id"]), str(row["device"]), str(row["site"]), json.loads(row["layout"]),
                 bool(row["auto_approve"]))  # fmt: skip


async def approve(conn: Conn, *, fleet: str, device: str, now: float) -> int:
    """Approve the pending request of `device`; how many were approved (0: none pending)."""
    result = await conn.execute(
        "UPDATE device_invites SET status='approved', approved_at=$3"
        " WHERE fleet=$1 AND device=$2 AND status='pending'",
        fleet, device, now,
    )  # fmt: skip
    return int(result.split()[-1])


@dataclass(frozen=True, slots=True)
class Approved:
    """An approved request not answered yet: the locker, its CSR and nonce, its site and layout,
    and its device key's proof of possession (None: a request from before there was one)."""

    invite_id: int
    device: str
    nonce: str
    csr: str
    site: str
    layout: Mapping[str, Any]
    device_key_proof: Mapping[str, Any] | None = None


async def approved_unanswered(conn: Conn, fleet: str) -> list[Approved]:
    """The approved requests of `fleet` that still wait for their credential, oldest first."""
    rows = await conn.fetch(
        "SELECT i.id, i.device, i.nonce, i.csr, r.site, r.layout, i.device_key_proof"
        " FROM device_invites i"
        " JOIN device_registry r ON r.fleet=i.fleet AND r.device=i.device"
        " WHERE i.fleet=$1 AND i.status='approved' ORDER BY i.id",
        fleet,
    )
    return [
        Approved(
            int(r["id"]),
            str(r["device"]),
            str(r["nonce"]),
            str(r["csr"]),
            str(r["site"]),
            json.loads(r["layout"]),
            None if r["device_key_proof"] is None else json.loads(r["device_key_proof"]),
        )
        for r in rows
    ]


async def refuse_approved(conn: Conn, invite_id: int, now: float) -> None:
    """Close an approved request that cannot be answered (it is refused): the invite is spent."""
    await conn.execute(
        "UPDATE device_invites SET status='cancelled', answered_at=$2 WHERE id=$1", invite_id, now
    )


async def record_credential(
    conn: Conn,
    *,
    fleet: str,
    device: str,
    serial: str,
    cert_pem: str,
    broker_user: str,
    secret_hash: str | None,
    now: float,
    not_after: float,
    invite_id: int | None = None,
) -> None:
    """Store a new credential and make the device active (in one transaction)."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO device_credentials (fleet, serial, device, cert_pem, broker_user,"
            " secret_hash, issued_at, not_after) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
            fleet, serial, device, cert_pem, broker_user, secret_hash, now, not_after,
        )  # fmt: skip
        await conn.execute(
            "UPDATE device_registry SET state='active', updated_at=$3, revoked_at=NULL"
            " WHERE fleet=$1 AND device=$2",
            fleet, device, now,
        )  # fmt: skip
        if invite_id is not None:
            await conn.execute(
                "UPDATE device_invites SET status='done', answered_at=$2 WHERE id=$1",
                invite_id, now,
            )  # fmt: skip
        await conn.execute(
            "UPDATE alarms SET cleared_at=$3 WHERE fleet=$1 AND device=$2 AND kind=$4"
            " AND cleared_at IS NULL",
            fleet, device, now, REVOKED_ALARM,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Credential:
    """A device credential: its certificate serial, broker user and (for NATS) password hash."""

    device: str
    serial: str
    broker_user: str
    secret_hash: str | None
    cert_pem: str
    revoked_at: float | None = None


async def _credentials(conn: Conn, fleet: str, *, revoked: bool) -> list[Credential]:
    rows = await conn.fetch(
        "SELECT device, serial, broker_user, secret_hash, cert_pem, revoked_at"
        " FROM device_credentials WHERE fleet=$1 AND (revoked_at IS NOT NULL) = $2"
        " ORDER BY device, issued_at, serial",
        fleet, revoked,
    )  # fmt: skip
    return [Credential(r["device"], r["serial"], r["broker_user"], r["secret_hash"],
                       r["cert_pem"], r["revoked_at"]) for r in rows]  # fmt: skip


async def live_credentials(conn: Conn, fleet: str) -> list[Credential]:
    """The credentials of `fleet` not revoked (what the broker must accept)."""
    return await _credentials(conn, fleet, revoked=False)


async def revoked_credentials(conn: Conn, fleet: str) -> list[Credential]:
    """The revoked credentials of `fleet` (what the broker must refuse)."""
    return await _credentials(conn, fleet, revoked=True)


async def revoke_serials(conn: Conn, *, fleet: str, serials: Sequence[str], now: float) -> None:
    """Revoke the credentials with `serials` (e.g. the old one after a rotation) at `now`."""
    await conn.execute(
        "UPDATE device_credentials SET revoked_at=$3 WHERE fleet=$1 AND serial = ANY($2::text[])"
        " AND revoked_at IS NULL",
        fleet, list(serials), now,
    )  # fmt: skip


async def revoke_device(conn: Conn, *, fleet: str, device: str, now: float) -> list[str]:
    """Revoke every credential of `device`, cancel its invites, alarm; the serials revoked."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE device_registry SET state='revoked', revoked_at=$3, updated_at=$3"
            " WHERE fleet=$1 AND device=$2 RETURNING device",
            fleet, device, now,
        )  # fmt: skip
        if row is None:
            raise ProvisioningError(f"no device {device!r} in fleet {fleet!r}", ExitStatus.USAGE)
        serials = await conn.fetch(
            "UPDATE device_credentials SET revoked_at=$3 WHERE fleet=$1 AND device=$2"
            " AND revoked_at IS NULL RETURNING serial",
            fleet, device, now,
        )  # fmt: skip
        await conn.execute(
            "UPDATE device_invites SET status='cancelled' WHERE fleet=$1 AND device=$2"
            " AND status IN ('open','pending','approved')",
            fleet, device,
        )  # fmt: skip
        await raise_alarms(conn, [(fleet, device, REVOKED_ALARM, "credentials revoked")], now)
    return [str(r["serial"]) for r in serials]


async def devices(conn: Conn, fleet: str) -> list[dict[str, Any]]:
    """The devices of `fleet` with their site, state and last change (for `device list`)."""
    rows = await conn.fetch(
        "SELECT device, site, state, updated_at FROM device_registry WHERE fleet=$1 ORDER BY 1",
        fleet,
    )
    return [dict(r) for r in rows]
