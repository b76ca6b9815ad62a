"""The compressed soak, bounded for CI: `bench/soak.py` as its own process (agent, camera
pipeline, simulated doors; broker and hub as child processes) for about 35 s of wall time,
i.e. several simulated hours of traffic, with the environment of `deploy/locker-agent.service`
(its malloc settings keep freed camera frames from piling up in the heap). RSS flat within 10 %
after warm-up, the process's own memory (RssAnon) at most 100 MB; open descriptors flat; the hub
keeps up."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

SECONDS = float(os.environ.get("SOAK_SECONDS", "35"))
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "soak.py"
UNIT = ROOT / "deploy" / "locker-agent.service"


def unit_environment() -> dict[str, str]:
    """The `Environment=` lines of the systemd unit: the soak runs the agent as it is deployed."""
    env = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            env[name] = value
    return env


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_hours_of_traffic_keep_memory_and_descriptors_flat() -> None:
    deployed = unit_environment()
    assert "MALLOC_MMAP_THRESHOLD_" in deployed
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--seconds", str(SECONDS), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **deployed},
    )  # fmt: skip
    out, err = await proc.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, f"no figures from bench/soak.py:\n{err.decode()[-3000:]}"
    f = json.loads(lines[-1])
    print(f)
    assert f["simulated_hours"] >= 3, f  # hours of traffic, not minutes
    assert f["pickups_camera"] > 0, f
    assert f["pickups_code"] > 0, f
    assert f["refused"] == 0, f
    assert f["outbox_depth_end"] < 50, f  # the hub kept up: events do not pile up
    assert f["fds_end"] <= f["fds_after_warmup"] + 2, f
    assert f["rss_growth_after_warmup"] <= 0.10, f
    # The agent's own memory stays well inside the 150 MB budget. The total RSS also counts the
    # resident pages of OpenCV, NumPy and the other shared libraries, which the kernel's page
    # cache decides: 118-124 MB in one venv, 161 MB in another with identical files
    # (docs/reliability.md); it is reported, and issue 17's 150 MB total is not claimed.
    assert f["anon_mb_max"] <= 100, f"own memory above 100 MB with the camera running: {f}"
