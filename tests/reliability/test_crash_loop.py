"""50 SIGKILLs of the real `locker-agent run` in the middle of real traffic (see `crash_rig`).

The seed is printed (and in the failure message); `CHAOS_SEED=<n>` replays a run, `CHAOS_KILLS`
changes its length. `bench/chaos.py --kills 1000` is the long run.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.reliability.crash_rig import CrashRig

KILLS = int(os.environ.get("CHAOS_KILLS", "50"))


@pytest.mark.slow
@pytest.mark.timeout(420)
# this loop runs the chaos harness and the in-process reference hub (thousands of signed commands
# and SQLite checks between kills); the agent under test is a child process with its own loop
@pytest.mark.loop_guard(1.0)
async def test_fifty_kills_lose_nothing_and_hand_out_nothing_twice(tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED", str(random.SystemRandom().randrange(2**32))))
    print(f"crash loop seed {seed} (CHAOS_SEED={seed} replays it)")
    started = time.monotonic()
    async with CrashRig(tmp_path, seed) as rig:
        for _ in range(KILLS):
            await rig.cycle()
        await rig.drain()
    f = rig.figures
    print(f"{f.kills} kills in {time.monotonic() - started:.0f} s: {f.as_json()}")
    context = f"seed {seed}: {f.problems[:10]}"
    assert f.kills == KILLS
    # the traffic really happened: pickups of both kinds, loads, commands, returns
    print(f.as_json())
    for op in ("announce", "load", "code", "token", "dno", "return", "collect"):
        assert f.ok[op] > 0, f"no successful {op} in {KILLS} cycles ({context})"
    assert f.check_failures == 0, context
    assert f.double_handouts == 0, context
    assert f.unmatched_spends == 0, context
    assert f.hub_gaps == 0, context
    assert f.duplicated_events == 0, context
    assert f.lost_events == 0, context
    assert f.events_at_hub > 0
    assert not f.problems, context
