"""Timers and limits of docs/protocol.md are real config keys the agent honours (issue 10.8), and
an events envelope carries the time floor persisted when it is sent."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from pathlib import Path

import pytest

from agent.config.hub import HubConfig
from agent.store.journal import persisted_time_floor
from hub_sync.adapters.settings import SyncSettings
from provisioning.fleet import BUNDLE_VALIDITY_S, DemoFleet
from provisioning.keyfiles import load_descriptor, load_private_key
from provisioning.mint import build_bundle
from tests.agent.conftest import RunningAgent
from tests.contract.conftest import start_linked_agent
from tests.contract.mini_hub import MiniHub
from tests.hub_sync.conftest import Broker, wait_for

DOC = Path(__file__).parents[2] / "docs" / "protocol.md"
_ROW = re.compile(r"^\| [^|]+ \| `(\w+)` \| `hub\.(\w+)` \| ([\d.]+) \|", re.MULTILINE)


def _documented() -> list[tuple[str, str, float]]:
    section = DOC.read_text(encoding="utf-8").split("## Timers and limits", 1)[1]
    return [(s, c, float(d)) for s, c, d in _ROW.findall(section.split("\n## ", 1)[0])]


def test_every_documented_timer_is_a_config_key_and_a_sync_setting_with_that_default() -> None:
    rows = _documented()
    assert {c for _, c, _ in rows} >= {
        "batch_size", "inflight_window", "confirm_timeout_s", "confirm_timeout_max_s",
        "state_interval_s", "backoff_min_s", "backoff_max_s", "drain_alarm_minutes",
    }  # fmt: skip
    sync_defaults = {f.name: f.default for f in dataclasses.fields(SyncSettings)}
    for setting, key, default in rows:
        assert HubConfig.model_fields[key].default == default, key
        scale = 60 if key.endswith("_minutes") else 1024 if key.endswith("_kib") else 1
        assert sync_defaults[setting] == default * scale, setting


async def _disable_doors(running: RunningAgent, doors: range) -> None:
    services = running.agent.services
    assert services is not None
    for door in doors:
        await services.staff.set_enabled("staff-1", door, enabled=False, reason="test")


def _sent_seqs(hub: MiniHub) -> list[int]:
    return [e["seq"] for e in hub.events()]


@pytest.mark.slow
async def test_the_agent_honours_batch_size_window_confirm_timeout_and_state_interval(
    tmp_path: Path, broker: Broker, fleet: DemoFleet, mini_hub: MiniHub
) -> None:
    mini_hub.confirming = False  # the hub stores nothing: the device must wait, then resend
    running = await start_linked_agent(
        tmp_path, broker, fleet, batch_size=2, inflight_window=1, confirm_timeout_s=1.0,
        confirm_timeout_max_s=2.0, state_interval_s=1.0,
    )  # fmt: skip
    try:
        await _disable_doors(running, range(1, 8))
        # seq 1 is re-sent after the 1 s confirm timeout (the default would wait 15 s)
        await wait_for(lambda: _sent_seqs(mini_hub).count(1) >= 2, 8, "a resend")
        batches = [m.body["events"] for m in mini_hub.messages("evt")]
        assert all(1 <= len(b) <= 2 for b in batches)
        # window 1 x batch 2: nothing beyond seq 2 goes out while the hub confirms nothing
        assert max(_sent_seqs(mini_hub)) <= 2
        # unchanged state is republished every second (the default is every 5 minutes)
        states = len(mini_hub.messages("state"))
        await wait_for(lambda: len(mini_hub.messages("state")) >= states + 2, 8, "republish")

        mini_hub.confirming = True
        await wait_for(lambda: {"staff.disable_door"} <= {e["kind"] for e in mini_hub.events()}
                       and len([e for e in mini_hub.events() if e["kind"] ==
                                "staff.disable_door"]) >= 7, 15, "the backlog")  # fmt: skip
    finally:
        await running.close()


async def test_an_events_envelope_carries_the_floor_persisted_when_it_is_sent(
    linked_agent: RunningAgent, mini_hub: MiniHub, fleet: DemoFleet
) -> None:
    trust = linked_agent.agent.trust
    assert trust is not None
    await wait_for(lambda: bool(mini_hub.messages("state")), 10, "the first state")
    later = int(time.time()) + 600  # a bundle the hub signed later than anything before
    root = await asyncio.to_thread(load_private_key, fleet.root_private_paths[0])
    entries = [
        await asyncio.to_thread(load_descriptor, fleet.directory / f"{n}.json")
        for n in ("issuing", "command")
    ]
    data = build_bundle(root, entries, version=2, now=later, valid_s=BUNDLE_VALIDITY_S)
    linked_agent.clock.set(later + 1)
    await trust.install(data, source="test")
    assert await linked_agent.agent.db.read(persisted_time_floor) == later

    def installed() -> list[float | None]:
        return [m.body.get("time_floor") for m in mini_hub.messages("evt")
                if any(e["kind"] == "trust.bundle_installed" and e["body"]["version"] == 2
                       for e in m.body["events"])]  # fmt: skip

    await wait_for(lambda: bool(installed()), 10, "the bundle_installed event")
    assert installed()[0] == later
