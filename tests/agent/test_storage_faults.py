"""Storage faults: a full disk puts the kiosk out of service with an alarm, and it recovers."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.reasons import Reason
from tests.agent.conftest import start_agent
from tests.contract.schemas import problems


def _mount(where: Path, size: str) -> subprocess.CompletedProcess[bytes]:
    where.mkdir(parents=True)
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False)


@contextlib.asynccontextmanager
async def _small_disk(where: Path, size: str = "3m") -> AsyncIterator[Path]:
    """A real, small filesystem (tmpfs) at `where`: writes past its size fail with ENOSPC."""
    mounted = await asyncio.to_thread(_mount, where, size)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode()[:100]}")
    try:
        yield where
    finally:
        await asyncio.to_thread(_umount, where)


def _fill(disk: Path) -> Path:
    """Write a filler file until the disk is full."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    chunk = b"\0" * 65536
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_is_out_of_service_with_an_alarm_and_recovers(tmp_path: Path) -> None:
    async with _small_disk(tmp_path / "disk") as disk:
        running = await start_agent(disk / "data")
        try:
            filler = await _run_blocking(_fill, disk)
            order = running.orders[0]
            status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
            assert status == 503
            assert body["reason"] == Reason.STORAGE_FAULT
            assert "out of service" in str(body["message"])
            assert "staff" in str(body["message"])
            assert running.sim.pulses == []  # nothing was authorised, no door opened
            status, snapshot = await running.get("/api/v1/status")
            assert status == 200  # reads still work: staff and the hub can see the alarm
            storage = snapshot["storage"]
            assert isinstance(storage, dict)
            assert (storage["ok"], storage["fault"]) == (False, "disk_full")
            async with running.http.get(running.url + "/metrics") as response:
                metrics = await response.text()
            assert "locker_storage_ok 0.0" in metrics

            filler.unlink()  # space returns
            status, body = await running.post("/api/v1/pickup/code", {"code": order.code})
            assert status == 200
            assert running.sim.pulses == [order.door]
            status, snapshot = await running.get("/api/v1/status")
            assert snapshot["storage"]["ok"] is True  # type: ignore[index]
            rows = await running.agent.db.read(
                lambda conn: conn.execute(
                    "SELECT body FROM outbox WHERE kind = 'storage.fault'"
                ).fetchall()
            )
            assert len(rows) == 1  # the hub learns of it once writes work again
            body = json.loads(rows[0][0])
            assert (body["fault"], body["failures"] >= 1) == ("disk_full", True)
            schema = "#/components/schemas/event.storage.fault"
            assert await asyncio.to_thread(problems, schema, body) == []
        finally:
            await running.close()


async def _run_blocking(fn: object, *args: object) -> Path:
    assert callable(fn)
    result = await asyncio.to_thread(fn, *args)
    assert isinstance(result, Path)
    return result


async def _audit_verify(data_dir: Path) -> tuple[int, dict[str, object]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent",
        "audit",
        "verify",
        "--data-dir",
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    report = json.loads(out) if out.strip() else {"stderr": err.decode()}
    return process.returncode, report


def _remount_read_only(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


async def test_audit_verify_works_on_a_read_only_data_folder(tmp_path: Path) -> None:
    async with _small_disk(tmp_path / "disk", size="20m") as disk:
        # a cleanly stopped agent (no WAL left) ...
        running = await start_agent(disk / "clean")
        assert (await running.post("/api/v1/pickup/code", {"code": running.orders[0].code}))[
            0
        ] == 200
        await running.close()
        # ... and a copy of a running one, whose latest entries are only in the WAL
        live = await start_agent(tmp_path / "live")
        try:
            assert (await live.post("/api/v1/pickup/code", {"code": live.orders[0].code}))[0] == 200
            entries = await live.agent.db.read(
                lambda conn: conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
            )
            source = live.agent.config.locker.data_dir
            assert (source / "agent.db-wal").stat().st_size > 0
            copy = disk / "crashed"
            copy.mkdir()
            for name in ("agent.db", "agent.db-wal", "device_key.pem"):
                await asyncio.to_thread(shutil.copyfile, source / name, copy / name)
        finally:
            await live.close()
        await asyncio.to_thread(_remount_read_only, disk)

        status, report = await _audit_verify(disk / "clean")
        assert status == 0, report
        assert report["problems"] == []
        status, report = await _audit_verify(disk / "crashed")
        assert (status, report["entries"]) == (0, entries), report
