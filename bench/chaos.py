"""The long crash loop: `locker-agent run` SIGKILLed N times in the middle of real traffic.

Run: .venv/bin/python bench/chaos.py --kills 1000 [--seed N]

The same rig as `tests/reliability/test_crash_loop.py` (real Mosquitto, reference hub, the agent
as a child process on a real SQLite file; see `tests/reliability/crash_rig.py`). After each kill:
`locker-agent db check`, `locker-agent audit verify`, door openings per order, spent tokens vs
openings, the hub's sequence numbers. At the end the agent drains its outbox and its journal is
compared with the hub's store. Prints progress, the figures, and a final JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the rig lives in tests/
from tests.reliability.crash_rig import CrashRig


async def run(kills: int, seed: int, root: Path) -> dict[str, object]:
    started = time.monotonic()
    # returns are announced by the hub during the run (`return.expect`), as many as are dropped off
    async with CrashRig(root, seed) as rig:
        for n in range(1, kills + 1):
            await rig.cycle()
            if n % 25 == 0 or n == kills:
                f = rig.figures
                print(
                    f"{n} kills, {time.monotonic() - started:.0f} s: double handouts"
                    f" {f.double_handouts}, check failures {f.check_failures},"
                    f" hub gaps {f.hub_gaps}, duplicated {f.duplicated_events}"
                    f" | {json.dumps({'progress': f.as_json()}, sort_keys=True)}",
                    flush=True,
                )
        await rig.drain()
    figures = rig.figures.as_json()
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="locker-chaos-") as tmp:
        figures = asyncio.run(run(args.kills, seed, Path(tmp)))
    print(
        f"kills {figures['kills']}, double handouts {figures['double_handouts']}, lost events"
        f" {figures['lost_events']}, duplicated events {figures['duplicated_events']},"
        f" events at hub {figures['events_at_hub']}, check failures {figures['check_failures']}"
    )
    print(json.dumps(figures, sort_keys=True))
    bad = ("double_handouts", "lost_events", "duplicated_events", "check_failures", "hub_gaps")
    return 1 if any(figures[k] for k in bad) or figures["unmatched_spends"] else 0


if __name__ == "__main__":
    sys.exit(main())
