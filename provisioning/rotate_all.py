"""`locker-admin rotate --all`: rotate keys on every enrolled locker, with a progress bar.

A `RotationTask` is a name, the lockers it applies to, and an async function that rotates one
locker and returns a short outcome, raising `ProvisioningError` for a failure that is reported for
that locker while the run goes on. `tasks_for` lists what a run does:

- `--enrolled DIR --step STEP`: the typed-code key step on every locker with a key under DIR
  (provisioning/code_key_rotation.py);
- `--fleet F` (with `--dsn` or `LOCKER_HUB_DSN`): the device credential of every active device in
  the hub's registry: a rotation request each (provisioning/rotation.py; the enrollment service
  and the device do the rest), and with `--wait S` a second bar that fills as the devices confirm
  their new credential (exit status 1 if some did not within S seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from provisioning import code_key_rotation, registry, rotation
from provisioning.errors import ExitStatus, ProvisioningError

_FLEET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class RotationTask:
    """One kind of credential to rotate on every locker: `rotate(locker)` returns a short
    outcome, or raises ProvisioningError (reported for that locker; the run goes on)."""

    name: str
    rotate: Callable[[str], Awaitable[str]]
    lockers: Sequence[str] | None = None  # None: the lockers of the run


@dataclass(slots=True)
class RotationReport:
    """What a run did: the outcome per (task, locker), and which of them failed."""

    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)  # (task, locker) -> text
    failed: list[tuple[str, str]] = field(default_factory=list)


def enrolled_lockers(enrolled: Path) -> list[str]:
    """The lockers with a typed-code key under `enrolled`, sorted."""
    if not enrolled.is_dir():
        raise ProvisioningError(f"{enrolled} is not a folder", ExitStatus.INPUT_UNREADABLE)
    key_file = code_key_rotation.CODE_KEY_FILE
    return sorted(p.name for p in enrolled.iterdir() if (p / key_file).is_file())


def code_key_tasks(ns: argparse.Namespace) -> list[RotationTask]:
    """The typed-code key step on every locker with a key under `--enrolled`."""
    if ns.enrolled is None:
        return []
    if ns.step is None:
        raise ProvisioningError("--enrolled needs --step", ExitStatus.USAGE)
    now, max_hold_s = time.time(), ns.max_hold_hours * 3600

    async def code_key(locker: str) -> str:
        return code_key_rotation.rotate_code_key(
            ns.enrolled / locker, ns.step, now=now, max_hold_s=max_hold_s, force=ns.force
        )

    lockers = enrolled_lockers(ns.enrolled)
    return [RotationTask(f"typed-code key: {ns.step}", code_key, lockers)]


async def credential_tasks(ns: argparse.Namespace, conn: Any) -> list[RotationTask]:
    """Device credentials of every active device in the registry: request, then (`--wait`)
    wait for each device's confirmation until one shared deadline."""
    fleet: str = ns.fleet
    devices = [d["device"] for d in await registry.devices(conn, fleet) if d["state"] == "active"]
    deadline = time.monotonic() + ns.wait

    async def request(device: str) -> str:
        asked = await rotation.request(conn, fleet=fleet, device=device, now=time.time())
        await conn.execute("NOTIFY lk_registry")  # wakes the enrollment service
        return "requested" if asked else "already under way"

    async def confirmed(device: str) -> str:
        while await rotation.is_open(conn, fleet, device):
            if time.monotonic() >= deadline:
                raise ProvisioningError(f"no confirmation within {ns.wait:g} s (device offline?)")
            await asyncio.sleep(0.2)
        return "new credential in use, old one revoked"

    tasks = [RotationTask("device credential: request", request, devices)]
    if ns.wait > 0:
        tasks.append(RotationTask("device credential: confirmed", confirmed, devices))
    return tasks


async def rotate_all(
    lockers: Sequence[str], tasks: Sequence[RotationTask], console: Console
) -> RotationReport:
    """Run every task on every locker with a progress bar per task."""
    report = RotationReport()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        for task in tasks:
            targets = lockers if task.lockers is None else task.lockers
            bar = progress.add_task(task.name, total=len(targets))
            for locker in targets:
                try:
                    report.outcomes[(task.name, locker)] = await task.rotate(locker)
                except ProvisioningError as err:
                    report.outcomes[(task.name, locker)] = f"FAILED: {err}"
                    report.failed.append((task.name, locker))
                progress.advance(bar)
    return report


def render(report: RotationReport, console: Console) -> None:
    """The report as a table, failures in red, on `console`."""
    table = Table(title=f"rotation: {len(report.outcomes)} done, {len(report.failed)} failed")
    for col in ("locker", "task", "outcome"):
        table.add_column(col)
    for (task, locker), outcome in sorted(report.outcomes.items(), key=lambda i: i[0][::-1]):
        failed = (task, locker) in report.failed
        table.add_row(locker, task, outcome, style="red" if failed else None)
    console.print(table)


async def _run(ns: argparse.Namespace, console: Console) -> RotationReport:
    tasks = code_key_tasks(ns)
    if ns.fleet is None:
        if not tasks:
            raise ProvisioningError("give --enrolled DIR and/or --fleet F", ExitStatus.USAGE)
        return await rotate_all([], tasks, console)
    if not _FLEET_ID.match(ns.fleet):
        raise ProvisioningError("a fleet id is 1-64 of A-Z a-z 0-9 _ -", ExitStatus.USAGE)
    if not ns.dsn:
        raise ProvisioningError("--fleet needs --dsn or LOCKER_HUB_DSN", ExitStatus.USAGE)
    try:
        conn = await asyncpg.connect(ns.dsn)
    except (OSError, asyncpg.PostgresError) as err:
        raise ProvisioningError(f"hub database: {err}", ExitStatus.FAILED) from err
    try:
        tasks += await credential_tasks(ns, conn)
        return await rotate_all([], tasks, console)
    finally:
        await conn.close()


def run_all(ns: argparse.Namespace) -> int:
    """Run every task on every enrolled locker and print the report; FAILED if any failed."""
    console = Console()
    report = asyncio.run(_run(ns, console))
    render(report, console)
    return int(ExitStatus.FAILED) if report.failed else int(ExitStatus.OK)


def add_args(cmd: argparse.ArgumentParser) -> None:
    """The options of `locker-admin rotate --all`: `--all` and a code-key step's."""
    cmd.add_argument("--all", action="store_true", required=True, help="every enrolled locker")
    cmd.add_argument("--enrolled", type=Path, help="typed-code keys: the hub's enrolled folder")
    cmd.add_argument("--step", choices=code_key_rotation.STEPS, help="typed-code key step")
    cmd.add_argument(
        "--max-hold-hours",
        type=float,
        default=code_key_rotation.DEFAULT_MAX_HOLD_HOURS,
        help="longest hold of an order: retire waits this long after activate",
    )
    cmd.add_argument("--force", action="store_true", help="retire before the wait is over")
    cmd.add_argument("--fleet", help="device credentials: every active device of this fleet")
    cmd.add_argument("--dsn", default=os.environ.get("LOCKER_HUB_DSN"), help="the hub's PostgreSQL")
    cmd.add_argument(
        "--wait", type=float, default=0.0, help="wait up to S seconds for devices to confirm"
    )
