"""`locker-admin hub` end to end: hub run, a device process, send-order, open, status."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hub_sync.device.sim import load_or_create_key
from hub_sync.hub.reference.cli import main
from tests.hub_sync.conftest import FLEET, HUB_PASSWORD, HUB_USER, Broker, wait_for


def _write_keys(tmp_path: Path) -> tuple[Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    priv, pub = tmp_path / "hub.pem", tmp_path / "hub.pub.pem"
    pem = serialization.Encoding.PEM
    priv.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pub.write_bytes(key.public_key().public_bytes(pem, spki))
    return priv, pub


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub_sync.hub.reference.cli", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def _status(db: Path) -> list[dict[str, object]]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["status", "--db", str(db), "--fleet", FLEET, "--json"]) == 0
    rows: list[dict[str, object]] = json.loads(buf.getvalue())
    return rows


async def test_hub_cli_run_send_order_open_and_status(broker: Broker, tmp_path: Path) -> None:
    priv, pub = _write_keys(tmp_path)
    db = tmp_path / "hub.db"
    hub_url = f"mqtt://{HUB_USER}:{HUB_PASSWORD}@127.0.0.1:{broker.port}"
    dev_url = f"mqtt://d1:{broker.passwords['d1']}@127.0.0.1:{broker.port}"
    common = ["--broker", hub_url, "--db", str(db), "--fleet", FLEET]
    device_key = tmp_path / "d1.key.pem"  # the sim makes it; the hub is told its public half
    load_or_create_key(device_key)
    rc, out = await _cli("device-key", "--db", str(db), "--fleet", FLEET, "--device", "d1",
                         "--public-key", str(device_key))  # fmt: skip
    assert rc == 0, out
    hub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub_sync.hub.reference.cli", "run", *common, "--sign-key", str(priv),
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    dev = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub_sync.device.sim", "--broker", dev_url, "--fleet", FLEET,
        "--device", "d1", "--db", str(tmp_path / "d1.db"), "--generate", "50",
        "--command-key", str(pub), "--device-key", str(device_key),
    )  # fmt: skip
    try:
        await wait_for(lambda: any(r["confirmed_seq"] == 50 and r["online"]
                                   for r in _status(db)), 30, "50 events")  # fmt: skip
        order = ["--device", "d1", "--order-id", "o-7", "--size", "M", "--hold-hours", "48"]
        rc, out = await _cli("send-order", *common, *order, "--sign-key", str(priv))
        assert rc == 0, out
        assert '"status": "ok"' in out
        rc, out = await _cli("open", *common, "--device", "d1", "--door", "2", "--reason", "t")
        assert rc == 2  # a remote open without a signing key is refused before sending
        rc, out = await _cli("open", *common, "--device", "d1", "--door", "99", "--reason", "t",
                             "--sign-key", str(priv))  # fmt: skip
        assert rc == 1
        assert "DOOR_UNKNOWN" in out
        signed = [*common, "--device", "d1", "--sign-key", str(priv)]
        rc, out = await _cli("redirect", *signed, "--order-id", "o-7", "--reason", "moved",
                             "--destination", "L-2")  # fmt: skip
        assert (rc, '"status": "ok"' in out) == (0, True), out
        rc, out = await _cli("expect-return", *signed, "--order-ref", "R-1", "--size", "S",
                             "--code-digest", "ab" * 32)  # fmt: skip
        assert (rc, '"status": "ok"' in out) == (0, True), out
        # 50 events, then one per command the device answered (order, open 99, redirect, return)
        await wait_for(lambda: any(r["confirmed_seq"] == 54 for r in _status(db)), 20, "events")
    finally:
        for proc in (dev, hub):
            proc.terminate()
            await proc.wait()
    [row] = _status(db)
    assert row["pending_commands"] == 0
    assert row["online"] is False  # the device said goodbye on SIGTERM
