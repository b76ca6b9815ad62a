"""`locker-admin device invite|enroll --csv|approve|revoke|rotate|list`: the device lifecycle.

These commands write the hub's registry (PostgreSQL, `--dsn` or `LOCKER_HUB_DSN`) and wake the
enrollment service (`NOTIFY lk_registry`), which talks to the devices and the broker. Invite codes
are printed once (and as a terminal QR); the hub keeps only their keyed digest.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import segno
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hub_sync.protocol import enrollment as wire
from provisioning import registry, rotation
from provisioning.errors import ExitStatus, ProvisioningError

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TTL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LAYOUTS: Mapping[str, Mapping[str, Any]] = {
    "standard-12": {"groups": [{"size": "S", "count": 8}, {"size": "M", "count": 4, "low": True}]},
    "sim-12": {
        "groups": [{"size": "S", "count": 8}, {"size": "M", "count": 4, "low": True}],
        "driver": {"type": "simulator"},
        "camera": {"source": "simulated"},
    },
}


def add_lifecycle(cmds: Any) -> None:
    """Register the lifecycle subcommands on `locker-admin device`."""
    invite = cmds.add_parser("invite", help="one-time enrollment code for a locker (and a QR)")
    invite.add_argument("locker_id")
    invite.add_argument("--site", required=True)
    invite.add_argument("--layout", required=True, help="a layout name or a JSON/TOML file")
    invite.add_argument("--ttl", default="7d", help="validity: 30m, 12h, 7d (default 7d)")
    invite.add_argument("--auto-approve", action="store_true", help="no approval step")
    invite.add_argument("--reissue", action="store_true", help="replace an open invite")
    invite.add_argument("--no-qr", action="store_true")
    invite.set_defaults(handler=_run(_invite))
    for name, fn, text in (
        ("approve", _approve, "approve a pending enrollment"),
        ("revoke", _revoke, "revoke a device's credentials now"),
    ):
        cmd = cmds.add_parser(name, help=text)
        cmd.add_argument("locker_id")
        cmd.set_defaults(handler=_run(fn))
    rot = cmds.add_parser("rotate", help="rotate a device's credential (or --all)")
    rot.add_argument("locker_id", nargs="?")
    rot.add_argument("--all", action="store_true")
    rot.add_argument("--wait", type=float, default=0.0, help="wait up to S seconds for the devices")
    rot.set_defaults(handler=_run(_rotate))
    lst = cmds.add_parser("list", help="devices in the registry")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_run(_list))
    for cmd in (invite, rot, lst, *(cmds.choices[n] for n in ("approve", "revoke"))):
        cmd.add_argument("--fleet", required=True)
        add_hub_options(cmd)


def add_hub_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--dsn", default=os.environ.get("LOCKER_HUB_DSN"))
    cmd.add_argument("--invite-secret", type=Path, help="the hub's invite secret (hex)")
    cmd.add_argument("--device-ca", type=Path, help="fleet device CA certificate (pin)")


def add_bulk_options(cmd: argparse.ArgumentParser) -> None:
    """`device enroll --csv FILE`: the bulk form of `device enroll`."""
    cmd.add_argument("--csv", type=Path, help="locker_id,site,layout per line: bulk invites")
    cmd.add_argument("--out", type=Path, help="with --csv: new codes go here (0600 CSV)")
    cmd.add_argument("--ttl", default="7d")
    cmd.add_argument("--auto-approve", action="store_true")
    add_hub_options(cmd)


def _run(fn: Callable[[argparse.Namespace, Any], Awaitable[int]]) -> Callable[..., int]:
    def handler(args: argparse.Namespace) -> int:
        if not args.dsn:
            raise ProvisioningError(
                "give --dsn or LOCKER_HUB_DSN (the hub's PostgreSQL)", ExitStatus.USAGE
            )
        if not _ID.match(args.fleet):
            raise ProvisioningError("a fleet id is 1-64 of A-Z a-z 0-9 _ -", ExitStatus.USAGE)

        async def main() -> int:
            try:
                conn = await asyncpg.connect(args.dsn)
            except (OSError, asyncpg.PostgresError) as err:
                raise ProvisioningError(f"hub database: {err}", ExitStatus.FAILED) from err
            try:
                return await fn(args, conn)
            finally:
                await conn.close()

        return asyncio.run(main())

    return handler


def parse_ttl(text: str) -> float:
    m = _TTL.match(text)
    if m is None:
        raise ProvisioningError(f"--ttl {text!r}: use e.g. 30m, 12h, 7d", ExitStatus.USAGE)
    return float(m.group(1)) * _UNITS[m.group(2)]


def load_layout(text: str, base: Path = Path()) -> Mapping[str, Any]:
    if text in LAYOUTS:
        return LAYOUTS[text]
    path = base / text
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ProvisioningError(
            f"layout {text!r}: not a known name ({', '.join(LAYOUTS)}) nor a readable file",
            ExitStatus.INPUT_UNREADABLE,
        ) from err
    try:
        doc = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as err:
        raise ProvisioningError(f"{path}: not JSON/TOML: {err}") from err
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not groups:
        raise ProvisioningError(f"{path}: a layout needs a non-empty `groups` list")
    return doc


def _secret(args: argparse.Namespace) -> bytes:
    if args.invite_secret is None:
        raise ProvisioningError(
            "give --invite-secret (the hub's invite secret file)", ExitStatus.USAGE
        )
    try:
        return bytes.fromhex(args.invite_secret.read_text().strip())
    except OSError as err:
        raise ProvisioningError(
            f"{args.invite_secret}: {err.strerror}", ExitStatus.INPUT_UNREADABLE
        ) from err
    except ValueError as err:
        raise ProvisioningError(f"{args.invite_secret}: not hex") from err


def _pin(args: argparse.Namespace) -> str:
    if args.device_ca is None:
        raise ProvisioningError(
            "give --device-ca (its fingerprint goes into the invite)", ExitStatus.USAGE
        )
    try:
        key = x509.load_pem_x509_certificate(args.device_ca.read_bytes()).public_key()
    except (OSError, ValueError) as err:
        raise ProvisioningError(f"{args.device_ca}: not a PEM certificate") from err
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ProvisioningError(f"{args.device_ca}: the device CA must be P-256")
    return wire.spki_pin(key)


async def _notify(conn: Any) -> None:
    await conn.execute("NOTIFY lk_registry")


async def _invite(args: argparse.Namespace, conn: Any) -> int:
    if not _ID.match(args.locker_id):
        raise ProvisioningError("a locker id is 1-64 of A-Z a-z 0-9 _ -", ExitStatus.USAGE)
    secret, pin, layout = _secret(args), _pin(args), load_layout(args.layout)
    code = wire.new_code()
    done = await registry.create_invite(
        conn,
        fleet=args.fleet,
        device=args.locker_id,
        site=args.site,
        layout=layout,
        digest=wire.code_digest(secret, code),
        now=time.time(),
        ttl_s=parse_ttl(args.ttl),
        auto_approve=args.auto_approve,
        reissue=args.reissue,
    )
    if done.status != "created":
        raise ProvisioningError(
            f"{args.locker_id}: {done.status} already (use --reissue to replace its invite)",
            ExitStatus.OUTPUT_FAILED,
        )
    text = wire.Invite(args.fleet, code, pin).text()
    print(text)
    if not args.no_qr:
        buf = io.StringIO()
        segno.make(text, error="m").terminal(out=buf, compact=True)
        print(buf.getvalue(), file=sys.stderr)
    return 0


def _read_csv(path: Path) -> list[tuple[str, str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ProvisioningError(f"{path}: {err.strerror}", ExitStatus.INPUT_UNREADABLE) from err
    rows: list[tuple[str, str, str]] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or row[0].strip().startswith("#") or row[0].strip() == "locker_id":
            continue
        if len(row) != 3 or not _ID.match(row[0].strip()):
            raise ProvisioningError(f"{path}:{n}: expected locker_id,site,layout")
        rows.append((row[0].strip(), row[1].strip(), row[2].strip()))
    return rows


async def _bulk(args: argparse.Namespace, conn: Any) -> int:
    secret, pin, ttl = _secret(args), _pin(args), parse_ttl(args.ttl)
    rows = _read_csv(args.csv)
    console = Console(stderr=True)
    counts: dict[str, int] = {}
    new_codes: list[tuple[str, str]] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("inviting", total=len(rows))
        for locker, site, layout_text in rows:
            layout = load_layout(layout_text, args.csv.parent)
            code = wire.new_code()
            done = await registry.create_invite(
                conn,
                fleet=args.fleet,
                device=locker,
                site=site,
                layout=layout,
                digest=wire.code_digest(secret, code),
                now=time.time(),
                ttl_s=ttl,
                auto_approve=args.auto_approve,
            )
            counts[done.status] = counts.get(done.status, 0) + 1
            if done.status == "created":
                new_codes.append((locker, wire.Invite(args.fleet, code, pin).text()))
            progress.advance(task)
    if new_codes:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows(new_codes)
    table = Table(title=f"invites for fleet {args.fleet}")
    table.add_column("result")
    table.add_column("lockers", justify="right")
    for status in ("created", "exists", "pending", "active"):
        table.add_row(status, str(counts.get(status, 0)))
    console.print(table)
    print(
        json.dumps(
            {"created": counts.get("created", 0), "total": len(rows), "codes": str(args.out)}
        )
    )
    return 0


async def _approve(args: argparse.Namespace, conn: Any) -> int:
    n = await registry.approve(conn, fleet=args.fleet, device=args.locker_id, now=time.time())
    if n == 0:
        raise ProvisioningError(
            f"{args.locker_id}: no enrollment request waiting", ExitStatus.INPUT_INVALID
        )
    await _notify(conn)
    print(json.dumps({"approved": args.locker_id}))
    return 0


async def _revoke(args: argparse.Namespace, conn: Any) -> int:
    serials = await registry.revoke_device(
        conn, fleet=args.fleet, device=args.locker_id, now=time.time()
    )
    await _notify(conn)
    print(json.dumps({"revoked": args.locker_id, "certificates": serials}))
    return 0


async def _rotate(args: argparse.Namespace, conn: Any) -> int:
    if args.all == (args.locker_id is not None):
        raise ProvisioningError("give a locker id or --all", ExitStatus.USAGE)
    targets = (
        [d["device"] for d in await registry.devices(conn, args.fleet) if d["state"] == "active"]
        if args.all
        else [args.locker_id]
    )
    console = Console(stderr=True)
    asked = 0
    with Progress(console=console, transient=not args.wait) as progress:
        task = progress.add_task("rotation requested", total=len(targets))
        for device in targets:
            asked += await rotation.request(conn, fleet=args.fleet, device=device, now=time.time())
            progress.advance(task)
        await _notify(conn)
        if args.wait > 0:
            done = progress.add_task("rotated", total=len(targets))
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                left = await rotation.pending_count(conn, args.fleet)
                progress.update(done, completed=len(targets) - min(left, len(targets)))
                if left == 0:
                    break
                await asyncio.sleep(0.2)
    left = await rotation.pending_count(conn, args.fleet)
    print(json.dumps({"requested": asked, "devices": len(targets), "pending": left}))
    return 0 if args.wait <= 0 or left == 0 else int(ExitStatus.FAILED)


async def _list(args: argparse.Namespace, conn: Any) -> int:
    rows = await registry.devices(conn, args.fleet)
    if args.json:
        print(json.dumps(rows))
        return 0
    table = Table(title=f"devices of fleet {args.fleet}")
    for col in ("device", "site", "state"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["device"], r["site"], r["state"])
    Console().print(table)
    return 0


def _bulk_handler(args: argparse.Namespace) -> int:
    if args.out is None:
        raise ProvisioningError("--csv needs --out (where the new codes go)", ExitStatus.USAGE)
    return _run(_bulk)(args)


bulk_enroll = _bulk_handler
