"""Device-credential rotation in the registry: requested by the admin, answered over the device's
own credential topics while the old credential still works, finished when the device reports it
uses the new one (then the old one is revoked)."""

from __future__ import annotations

from dataclasses import dataclass

from hub_sync.hub.db import Conn
from provisioning.errors import ExitStatus, ProvisioningError


@dataclass(frozen=True, slots=True)
class Rotation:
    """A device's open rotation: the serial to replace and, once under way, the nonce it was asked
    with and the serial issued for it."""

    device: str
    requested_at: float
    old_serial: str
    new_serial: str | None
    nonce: str | None


async def request(conn: Conn, *, fleet: str, device: str, now: float) -> bool:
    """Ask `device` to rotate; False when one is already under way. Needs an active device."""
    async with conn.transaction():
        live = await conn.fetchrow(
            "SELECT c.serial FROM device_credentials c JOIN device_registry r"
            " ON r.fleet=c.fleet AND r.device=c.device AND r.state='active'"
            " WHERE c.fleet=$1 AND c.device=$2 AND c.revoked_at IS NULL"
            " ORDER BY c.issued_at DESC LIMIT 1",
            fleet, device,
        )  # fmt: skip
        if live is None:
            raise ProvisioningError(f"{device}: not an active device", ExitStatus.USAGE)
        busy = await conn.fetchval(
            "SELECT 1 FROM device_rotations WHERE fleet=$1 AND device=$2 AND done_at IS NULL",
            fleet, device,
        )  # fmt: skip
        if busy:
            return False
        await conn.execute(
            "INSERT INTO device_rotations (fleet, device, requested_at, old_serial)"
            " VALUES ($1,$2,$3,$4)",
            fleet, device, now, live["serial"],
        )  # fmt: skip
    return True


async def open_rotations(conn: Conn, fleet: str) -> list[Rotation]:
    """The rotations of `fleet` not finished yet, oldest first."""
    rows = await conn.fetch(
        "SELECT device, requested_at, old_serial, new_serial, nonce FROM device_rotations"
        " WHERE fleet=$1 AND done_at IS NULL ORDER BY requested_at",
        fleet,
    )
    return [Rotation(r["device"], float(r["requested_at"]), r["old_serial"], r["new_serial"],
                     r["nonce"]) for r in rows]  # fmt: skip


async def mark(
    conn: Conn,
    fleet: str,
    rot: Rotation,
    *,
    nonce: str | None = None,
    new_serial: str | None = None,
) -> None:
    """Record that `rot` was asked (`nonce`) or answered (`new_serial`); None keeps the value."""
    await conn.execute(
        "UPDATE device_rotations SET nonce=COALESCE($4, nonce), new_serial=COALESCE($5, new_serial)"
        " WHERE fleet=$1 AND device=$2 AND requested_at=$3",
        fleet, rot.device, rot.requested_at, nonce, new_serial,
    )  # fmt: skip


async def unmark(conn: Conn, fleet: str, rot: Rotation) -> None:
    """Forget that `rot` was asked (its message was not sent), so the next reconcile asks again."""
    await conn.execute(
        "UPDATE device_rotations SET nonce=NULL WHERE fleet=$1 AND device=$2 AND requested_at=$3",
        fleet,
        rot.device,
        rot.requested_at,
    )


async def finish(conn: Conn, fleet: str, device: str, new_serial: str, now: float) -> str | None:
    """The device uses `new_serial`: close its rotation; the old serial to revoke (None: none)."""
    row = await conn.fetchrow(
        "UPDATE device_rotations SET done_at=$4 WHERE fleet=$1 AND device=$2 AND new_serial=$3"
        " AND done_at IS NULL RETURNING old_serial",
        fleet, device, new_serial, now,
    )  # fmt: skip
    return None if row is None else str(row["old_serial"])


async def pending_count(conn: Conn, fleet: str) -> int:
    """How many rotations of `fleet` are not finished yet."""
    return int(await conn.fetchval(
        "SELECT count(*) FROM device_rotations WHERE fleet=$1 AND done_at IS NULL", fleet
    ))  # fmt: skip


async def is_open(conn: Conn, fleet: str, device: str) -> bool:
    """A rotation of `device` is requested and not yet confirmed by the device."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM device_rotations WHERE fleet=$1 AND device=$2 AND done_at IS NULL",
        fleet, device,
    ))  # fmt: skip
