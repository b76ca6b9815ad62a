"""The compressed soak: hours of simulated locker traffic in minutes; memory and descriptors.

Run (with the malloc settings of the systemd unit's `Environment=` lines, which this script
applies to itself unless `--own-environment`):
    .venv/bin/python bench/soak.py [--seconds 600] [--step-minutes 10] [--json]
    .venv/bin/python bench/soak.py --deployed [--seconds 60] [--json]

Default: the agent with the camera pipeline running (simulated camera, real decoders) and its
driver in this process, a real Mosquitto and the reference hub as child processes (see
`tests/reliability/soak_rig.py`). Each round loads 4 parcels and collects them (camera and typed
code), then the agent's clock moves on; the figures are this process's (agent and driver).

`--deployed`: `locker-agent run` as its own process, as the unit starts it, its camera on an MJPEG
stream this process serves (`tests/reliability/deployed_rig.py`); the figures are the agent's
process alone, in wall-clock time.

Before it imports anything heavy, this script drops the page cache of the venv's files (as a
reboot does, and as `make install` does after writing them; pages a running process maps stay),
unless `--as-installed`: the total RSS depends on how the kernel holds those files
(`agent/cli/page_cache.py`, docs/reliability.md "Where the RSS goes").

After warm-up, RSS may grow at most 10 % and descriptors stay flat; the total RSS stays at most
150 MB (the default run, which also holds the driver: its own memory, RssAnon, at most 100 MB
too). The baseline, measured in the same run: a bare interpreter that imports the agent's
libraries (OpenCV, NumPy, zxing-cpp, cryptography, aiohttp, pydantic, paho) and does nothing.
Exit status 1 when a limit is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the rig lives in tests/
from agent.cli.page_cache import drop_page_cache  # the standard library only

if TYPE_CHECKING:
    from tests.reliability.deployed_rig import DeployedAgentRig, DeployedFigures

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "locker-agent.service"
RSS_LIMIT_MB = 150.0  # the total RSS
ANON_LIMIT_MB = 100.0  # the in-process soak's own memory (agent and driver)
RSS_GROWTH = 0.10
FD_SLACK = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--step-minutes", type=float, default=10)
    parser.add_argument("--json", action="store_true", help="one JSON line only")
    parser.add_argument(
        "--deployed", action="store_true", help="measure `locker-agent run` as its own process"
    )
    parser.add_argument(
        "--as-installed",
        action="store_true",
        help="without first dropping the page cache of the venv's files (the default drops it,"
        " as a reboot does): the total RSS then depends on how the kernel cached them",
    )
    parser.add_argument(
        "--own-environment",
        action="store_true",
        help="keep this shell's malloc settings instead of the unit's `Environment=` lines",
    )
    args = parser.parse_args()
    unit_env = unit_environment()
    if not args.own_environment and any(os.environ.get(k) != v for k, v in unit_env.items()):
        # malloc reads its settings at process start: run again as the unit runs the agent
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **unit_env})  # noqa: S606
    page_cache = "as installed"
    if not args.as_installed:  # before this process maps OpenCV, NumPy, cryptography ...
        drop_page_cache(Path(sys.prefix))
        page_cache = "dropped"
    from tests.reliability.deployed_rig import DeployedAgentRig
    from tests.reliability.soak_rig import Soak

    with tempfile.TemporaryDirectory(prefix="locker-soak-") as tmp:
        if args.deployed:
            malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
            rig = DeployedAgentRig(Path(tmp), env=malloc, page_cache=page_cache)
            figures = asyncio.run(_deployed(rig, args.seconds)).summary()
        else:
            soak = Soak(Path(tmp), step_s=args.step_minutes * 60)
            figures = asyncio.run(soak.run(args.seconds)).summary()
    if "rss_mb_max" not in figures:
        print(json.dumps(figures, sort_keys=True))
        return 1
    # 150 MB total in both runs (the default run's process also holds the driver: the scene
    # renderer, the fleet's tools, the hub client); its own memory (RssAnon) bounded too.
    ok = (
        float(figures["rss_mb_max"]) <= RSS_LIMIT_MB  # type: ignore[arg-type]
        and (args.deployed or float(figures["anon_mb_max"]) <= ANON_LIMIT_MB)  # type: ignore[arg-type]
        and float(figures["rss_growth_after_warmup"]) <= RSS_GROWTH  # type: ignore[arg-type]
        and int(figures["fds_end"]) <= int(figures["fds_after_warmup"]) + FD_SLACK  # type: ignore[call-overload]
    )
    # the baseline: a bare interpreter that imports the agent's libraries and does nothing
    floor = library_floor_mb()
    figures["baseline_libraries_mb"] = floor
    figures["ratio_to_baseline"] = round(float(figures["rss_mb_max"]) / floor, 2)  # type: ignore[arg-type]
    figures["ok"] = ok
    figures["malloc_env"] = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    if not args.json:
        print(
            (
                f"{figures['simulated_hours']:.1f} simulated hours in {args.seconds:.0f} s:"
                if "simulated_hours" in figures
                else f"{args.seconds:.0f} s of wall-clock traffic:"
            )
            + f" {figures['pickups_camera']} camera and {figures['pickups_code']} code pickups;"
            f" RSS {figures['rss_mb_after_warmup']} -> {figures['rss_mb_end']} MB"
            f" (max {figures['rss_mb_max']}); fds {figures['fds_after_warmup']} ->"
            f" {figures['fds_end']}; {figures['ratio_to_baseline']} x the bare libraries'"
            f" {floor} MB"
        )
    print(json.dumps(figures, sort_keys=True))
    return 0 if ok else 1


def unit_environment() -> dict[str, str]:
    """The `Environment=` lines of the systemd unit (glibc's malloc settings for the agent)."""
    env = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            env[name] = value
    return env


def library_floor_mb() -> float:
    """VmRSS of a bare interpreter that imports what the agent imports and does nothing else."""
    probe = (
        "import cv2, numpy, zxingcpp, cryptography.hazmat.primitives.asymmetric.ec, aiohttp.web,"
        " pydantic, paho.mqtt.client, sqlite3\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return round(int(out.stdout.split()[-1]) / 1024, 1)


async def _deployed(rig: DeployedAgentRig, seconds: float) -> DeployedFigures:
    async with rig:
        return await rig.run(seconds)


if __name__ == "__main__":
    sys.exit(main())
