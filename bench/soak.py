"""The compressed soak: hours of simulated locker traffic in minutes; memory and descriptors.

Run, with the malloc settings of the systemd unit (as `tests/reliability/test_soak.py` does):
    env $(sed -n 's/^Environment=//p' deploy/locker-agent.service) \
        .venv/bin/python bench/soak.py [--seconds 600] [--step-minutes 10] [--json]
    ... bench/soak.py --deployed [--seconds 60] [--json]

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

After warm-up, RSS may grow at most 10 % and descriptors stay flat; the deployed agent's total
RSS stays at most 150 MB (the default run: its own memory, RssAnon, at most 100 MB). Exit status
1 when a limit is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the rig lives in tests/
from agent.cli.page_cache import drop_page_cache  # the standard library only

if TYPE_CHECKING:
    from tests.reliability.deployed_rig import DeployedAgentRig, DeployedFigures

RSS_LIMIT_MB = 150.0  # the deployed agent's total RSS
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
    args = parser.parse_args()
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
    # The 150 MB bound is on the agent's process (--deployed); the default run's process also
    # holds the driver, so there the bound is on its own memory (RssAnon) and the total is shown.
    bounded, limit = (
        ("rss_mb_max", RSS_LIMIT_MB) if args.deployed else ("anon_mb_max", ANON_LIMIT_MB)
    )
    ok = (
        float(figures[bounded]) <= limit  # type: ignore[arg-type]
        and float(figures["rss_growth_after_warmup"]) <= RSS_GROWTH  # type: ignore[arg-type]
        and int(figures["fds_end"]) <= int(figures["fds_after_warmup"]) + FD_SLACK  # type: ignore[call-overload]
    )
    figures["ok"] = ok
    figures["malloc_env"] = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    if not args.json:
        print(
            f"{figures.get('simulated_hours', args.seconds / 3600):.1f} hours in"
            f" {args.seconds:.0f} s:"
            f" {figures['pickups_camera']} camera and {figures['pickups_code']} code pickups;"
            f" RSS {figures['rss_mb_after_warmup']} -> {figures['rss_mb_end']} MB"
            f" (max {figures['rss_mb_max']}); fds {figures['fds_after_warmup']} ->"
            f" {figures['fds_end']}"
        )
    print(json.dumps(figures, sort_keys=True))
    return 0 if ok else 1


async def _deployed(rig: DeployedAgentRig, seconds: float) -> DeployedFigures:
    async with rig:
        return await rig.run(seconds)


if __name__ == "__main__":
    sys.exit(main())
