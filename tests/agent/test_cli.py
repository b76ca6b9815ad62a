"""The real `locker-agent` console script, as an operator runs it."""

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from agent.bootstrap.app import Agent
from agent.cli.demo import seed_orders
from agent.config.loader import load_config, require_explicit_hardware
from agent.errors import ConfigError

AGENT = [sys.executable, "-m", "agent"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SIMULATED = '\n[doors.driver]\ntype = "simulator"\n\n[camera]\nsource = "simulated"\n'


def write_config(tmp_path: Path, port: int, extra: str = "", hardware: str = SIMULATED) -> Path:
    """A config for `locker-agent run`; simulated hardware, said explicitly, by default."""
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[locker]\nid = "LK-E2E-1"\ndata_dir = "data"\n\n[api]\nport = {port}\n{hardware}{extra}',
        encoding="utf-8",
    )
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENT, *args], capture_output=True, text=True, timeout=60, check=False)


async def test_end_to_end_a_parcel_is_collected_from_the_running_agent(tmp_path: Path) -> None:
    port = free_port()
    config_path = write_config(tmp_path, port)
    config = load_config(config_path)
    prepared = Agent(config)  # seeds orders into the same SQLite file the process will use
    await prepared.start()
    orders = await prepared.db.run(
        seed_orders, prepared.typed_code_secret, now=prepared.clock.now(), hold_s=86400
    )
    await prepared.stop()

    process = await asyncio.create_subprocess_exec(
        *AGENT,
        "run",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    async with http.get(url + "/api/v1/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with http.post(
                url + "/api/v1/pickup/code", json={"code": orders[0].code}
            ) as response:
                assert response.status == 200
                assert (await response.json())["door"] == orders[0].door
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr


def test_demo_json_prints_orders_and_the_kiosk_url(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*AGENT, "demo", "--json", "--port", "0", "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(9)]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert "Traceback" not in stderr
    orders, last = lines[:5], lines[5]
    assert all({"order", "door_size", "code"} <= set(o) for o in orders)
    assert {o["door_size"] for o in orders} == {"S", "M", "L"}
    assert last["kiosk_url"].startswith("http://127.0.0.1:")
    assert [(p["role"], len(p["pin"])) for p in lines[6:8]] == [("courier", 6), ("staff", 6)]
    base = last["kiosk_url"].rstrip("/")
    assert lines[8]["screens"] == {
        "kiosk": base + "/",
        "courier": base + "/courier",
        "staff": base + "/staff",
    }
    assert process.returncode == 0


def test_a_bad_config_exits_2_naming_file_key_and_problem(tmp_path: Path) -> None:
    path = write_config(tmp_path, 8080, '\n[typed_codes]\nmax_failures_per_minute = "lots"\n')
    result = run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "typed_codes.max_failures_per_minute" in result.stderr
    assert "Traceback" not in result.stderr

    path.write_text("[locker\n", encoding="utf-8")
    result = run_cli("run", "--config", str(path))
    assert (result.returncode, "not valid TOML" in result.stderr) == (2, True)

    path.write_text("[locker]\nunknown_key = 1\n", encoding="utf-8")
    result = run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert "locker.unknown_key" in result.stderr

    result = run_cli("run", "--config", str(tmp_path / "missing.toml"))
    assert (result.returncode, "file not found" in result.stderr) == (2, True)


def test_run_refuses_simulated_hardware_unless_the_config_says_so(tmp_path: Path) -> None:
    path = write_config(tmp_path, 8080, hardware="")
    result = run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "doors.driver" in result.stderr
    assert "Traceback" not in result.stderr

    path = write_config(tmp_path, 8080, hardware='\n[doors.driver]\ntype = "simulator"\n')
    result = run_cli("run", "--config", str(path))
    assert (result.returncode, "camera.source" in result.stderr) == (2, True)


def test_what_counts_as_hardware_said_explicitly(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    counter = '[locker]\nid = "LK-E2E-1"\nmode = "counter"\n\n[camera]\nenabled = false\n'
    path.write_text(counter, encoding="utf-8")
    require_explicit_hardware(load_config(path), path)  # a counter has no doors
    real = '[locker]\nid = "LK-E2E-1"\n\n[doors.driver]\ntype = "modbus_tcp"\nhost = "10.0.0.2"\n'
    path.write_text(real + '\n[camera]\nsource = "/dev/video0"\n', encoding="utf-8")
    require_explicit_hardware(load_config(path), path)
    path.write_text(real, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"camera\.source"):
        require_explicit_hardware(load_config(path), path)


def test_db_check_and_migrate(tmp_path: Path) -> None:
    path = write_config(tmp_path, 8080)
    result = run_cli("db", "check", "--config", str(path))
    assert result.returncode == 4  # a fresh file has pending migrations
    result = run_cli("db", "migrate", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["integrity"] == "ok"
    result = run_cli("db", "check", "--config", str(path))
    assert result.returncode == 0

    conn = sqlite3.connect(tmp_path / "data" / "agent.db")
    conn.execute("PRAGMA user_version=42")
    conn.close()
    result = run_cli("db", "check", "--config", str(path))
    assert result.returncode == 3
    assert "newer" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_module_and_console_script_agree() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "Exit statuses" in result.stdout
    assert os.path.exists(sys.executable)


def test_token_check_explains_a_code_without_spending_it(tmp_path: Path) -> None:
    from agent.cli.demo import demo_fleet

    fleet = demo_fleet(tmp_path, time.time())
    token = fleet.mint_pickup("ORD-CLI-1", now=time.time(), hold_s=3600)
    result = run_cli("token", "check", token, "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["valid"], report["order_ref"], report["purpose"]) == (
        True,
        "ORD-CLI-1",
        "pickup",
    )
    assert token not in result.stderr

    later = run_cli(
        "token", "check", token, "--data-dir", str(tmp_path), "--at", "2099-01-01T00:00:00Z"
    )
    assert later.returncode == 4
    assert json.loads(later.stdout)["valid"] is False

    garbage = run_cli("token", "check", "LK1:%%%", "--data-dir", str(tmp_path))
    assert (garbage.returncode, json.loads(garbage.stdout)["reason"]) == (4, "DECODE_FAILED")
    bad_time = run_cli("token", "check", token, "--data-dir", str(tmp_path), "--at", "soon")
    assert bad_time.returncode == 2
    assert "Traceback" not in bad_time.stderr


def test_scan_reads_image_files_and_reports_missing_ones(tmp_path: Path) -> None:
    import segno

    image = tmp_path / "code.png"
    segno.make_qr("LK1:HELLO LOCKER", error="m").save(str(image), scale=6, border=4)
    result = run_cli("scan", str(image), str(tmp_path / "missing.png"))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["codes"] == [{"text": "LK1:HELLO LOCKER"}]
    assert lines[0]["ms"] >= 0
    assert lines[1]["codes"] == []
    assert "error" in lines[1]
    assert result.returncode == 4  # not every file had a code
    assert "Traceback" not in result.stderr
