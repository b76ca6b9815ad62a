"""`locker-admin rotate --all`: rotate keys on every enrolled locker, with a progress bar.

A `RotationTask` is a name and an async function that rotates one locker and returns a short
outcome, raising `ProvisioningError` for a failure that is reported for that locker while the run
goes on. `tasks_for` lists what a run does: today the typed-code key step
(provisioning/code_key_rotation.py); the device-credential rotation of the enrollment tools is
added there as one more task (`RotationTask("device credential", request_one)`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from provisioning import code_key_rotation
from provisioning.errors import ExitStatus, ProvisioningError


@dataclass(frozen=True, slots=True)
class RotationTask:
    """One kind of credential to rotate on every locker: `rotate(locker)` returns a short
    outcome, or raises ProvisioningError (reported for that locker; the run goes on)."""

    name: str
    rotate: Callable[[str], Awaitable[str]]


@dataclass(slots=True)
class RotationReport:
    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)  # (task, locker) -> text
    failed: list[tuple[str, str]] = field(default_factory=list)


def enrolled_lockers(enrolled: Path) -> list[str]:
    """The lockers with a typed-code key under `enrolled`, sorted."""
    if not enrolled.is_dir():
        raise ProvisioningError(f"{enrolled} is not a folder", ExitStatus.INPUT_UNREADABLE)
    key_file = code_key_rotation.CODE_KEY_FILE
    return sorted(p.name for p in enrolled.iterdir() if (p / key_file).is_file())


def tasks_for(ns: argparse.Namespace) -> list[RotationTask]:
    """The tasks of a `rotate --all` run (add the device-credential rotation here)."""
    now, max_hold_s = time.time(), ns.max_hold_hours * 3600

    async def code_key(locker: str) -> str:
        return code_key_rotation.rotate_code_key(
            ns.enrolled / locker, ns.step, now=now, max_hold_s=max_hold_s, force=ns.force
        )

    return [RotationTask(f"typed-code key: {ns.step}", code_key)]


async def rotate_all(
    lockers: Sequence[str], tasks: Sequence[RotationTask], console: Console
) -> RotationReport:
    """Run every task on every locker with a progress bar per task."""
    report = RotationReport()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        for task in tasks:
            bar = progress.add_task(task.name, total=len(lockers))
            for locker in lockers:
                try:
                    report.outcomes[(task.name, locker)] = await task.rotate(locker)
                except ProvisioningError as err:
                    report.outcomes[(task.name, locker)] = f"FAILED: {err}"
                    report.failed.append((task.name, locker))
                progress.advance(bar)
    return report


def render(report: RotationReport, console: Console) -> None:
    table = Table(title=f"rotation: {len(report.outcomes)} done, {len(report.failed)} failed")
    for col in ("locker", "task", "outcome"):
        table.add_column(col)
    for (task, locker), outcome in sorted(report.outcomes.items(), key=lambda i: i[0][::-1]):
        failed = (task, locker) in report.failed
        table.add_row(locker, task, outcome, style="red" if failed else None)
    console.print(table)


def run_all(ns: argparse.Namespace) -> int:
    console = Console()
    report = asyncio.run(rotate_all(enrolled_lockers(ns.enrolled), tasks_for(ns), console))
    render(report, console)
    return int(ExitStatus.FAILED) if report.failed else int(ExitStatus.OK)


def add_args(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--all", action="store_true", required=True, help="every enrolled locker")
    code_key_rotation.add_step_args(cmd)
