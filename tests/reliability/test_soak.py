"""The compressed soak, bounded for CI: `bench/soak.py` as its own process (agent, camera
pipeline, simulated doors; broker and hub as child processes) for about 35 s of wall time,
i.e. several simulated hours of traffic. RSS flat within 10 % after warm-up and at most 150 MB;
open descriptors flat; the hub keeps up."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

SECONDS = float(os.environ.get("SOAK_SECONDS", "35"))
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_hours_of_traffic_keep_memory_and_descriptors_flat() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--seconds", str(SECONDS), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
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
    assert f["rss_mb_max"] <= 150, f"RSS above 150 MB with the camera pipeline running: {f}"
